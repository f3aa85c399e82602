package audience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/kithhq/kith"
)

// BenchmarkEvaluate50 measures what the engine adds per changed profile
// with 50 saved audiences over ten traits, when the change moves the
// person in or out of none of them: read the profile, evaluate every
// audience, compare with the recorded memberships. (A move costs a
// membership write and an event besides.)
//
//	go test ./audience -run '^$' -bench Evaluate50
func BenchmarkEvaluate50(b *testing.B) {
	l := newLive(&testing.T{})
	ctx := context.Background()
	for i := range 50 {
		if _, err := l.svc.Create(ctx, fmt.Sprint("a", i), fmt.Sprintf(`traits.score%d > %d`, i%10, i%7)); err != nil {
			b.Fatal(err)
		}
	}
	const people = 1000
	var evs []kith.Event
	for i := range people {
		traits := map[string]any{}
		for k := range 10 {
			traits[fmt.Sprint("score", k)] = (i + k) % 9
		}
		body, _ := json.Marshal(map[string]any{"type": "identify", "userId": fmt.Sprint("u", i), "traits": traits})
		evs = append(evs, kith.Event{MessageID: fmt.Sprint("m-", i), Type: kith.TypeIdentify, SourceID: "src_shop", Channel: kith.KindWeb,
			UserID: fmt.Sprint("u", i), Timestamp: l.now, ReceivedAt: l.now, Payload: body})
	}
	if _, err := l.db.Append(ctx, evs); err != nil {
		b.Fatal(err)
	}
	l.changed = nil
	for {
		n, err := l.proc.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	ids := l.changed
	for _, id := range ids { // the first evaluation records everyone's memberships
		if err := l.eng.Evaluate(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if err := l.eng.Evaluate(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/profile")
}
