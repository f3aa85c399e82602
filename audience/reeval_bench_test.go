package audience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// BenchmarkReevaluate measures evaluating one audience again over every
// profile, as the minute's sweep of a time-dependent audience does: read
// each profile, decide, compare with the recorded memberships (a tenth
// of them move). The profiles (KITH_BENCH_PROFILES, default 100,000; the
// target is a million in under 5 seconds) are bulk-loaded, each with five
// traits, two purchases and a computed trait.
//
//	KITH_BENCH_PROFILES=1000000 go test ./audience -run '^$' -bench Reevaluate -benchtime 3x -timeout 30m
func BenchmarkReevaluate(b *testing.B) {
	servedGC(b)
	n := 100_000
	if v := os.Getenv("KITH_BENCH_PROFILES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	l := newLive(&testing.T{}, true)
	ctx := context.Background()
	l.define(kith.ComputedTraitDef{Name: "orders_90d", Function: "count", Event: "Order Completed", Window: "90d"})
	r := rand.New(rand.NewPCG(3, 4))
	plans := []string{"internet", "mobile", "tv", "bundle"}
	const page = 10_000
	for i := 0; i < n; i += page {
		err := l.db.Update(ctx, func(tx kith.ProfileTx) error {
			for j := i; j < min(n, i+page); j++ {
				at := l.now.Add(-time.Duration(r.IntN(400*24)) * time.Hour)
				p := &kith.Profile{ID: fmt.Sprintf("prf_%08d", j), CreatedAt: at, UpdatedAt: at, Events: 5,
					Traits: map[string]kith.Trait{}, Channels: map[kith.Kind]*kith.ChannelSeen{kith.KindWeb: {First: at, Last: at, Events: 5}},
					Intents: map[string]*kith.Intent{}}
				for k, v := range map[string]any{"plan": plans[r.IntN(4)], "age": 18 + r.IntN(60), "city": fmt.Sprint("city", r.IntN(100)),
					"first_name": "Ann", "last_name": fmt.Sprint("Lee", j)} {
					raw, _ := json.Marshal(v)
					p.Traits[k] = kith.Trait{Value: raw, SourceID: "src_crm", Channel: kith.KindWeb, Time: at, Seq: int64(j)}
				}
				for k := range 2 {
					p.Purchases = append(p.Purchases, kith.Purchase{At: at.Add(time.Duration(k) * time.Hour), Amount: float64(10 + r.IntN(200)),
						SourceID: "src_shop", Channel: kith.KindWeb, Seq: int64(j)})
				}
				p.Computed = map[string]*kith.Aggregate{"orders_90d": {Parts: []kith.AggregatePart{{T: at.Unix() - at.Unix()%15187, N: 2}}}}
				if err := tx.PutProfile(ctx, p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	a, err := l.svc.Create(ctx, "Young internet", `traits.plan == "internet" and traits.age < 40 and computed.orders_90d >= 1`)
	if err != nil {
		b.Fatal(err)
	}
	id := a.ID
	for { // the first evaluation, as a new audience's backfill
		if p := l.eng.Progress(id); p != nil && p.Done {
			if p.Error != "" {
				b.Fatal(p.Error)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.ResetTimer()
	for i := range b.N {
		// A tenth of the people move: the first evaluation wrote everyone
		// who matches; move the clock so that some orders leave the window.
		l.now = l.now.Add(time.Duration(i+1) * 9 * 24 * time.Hour)
		if err := l.eng.Reevaluate(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	size, _ := l.db.AudienceSize(ctx, id)
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/reevaluation")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "µs/profile")
	b.ReportMetric(float64(size), "members")
}
