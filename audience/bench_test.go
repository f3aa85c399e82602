package audience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/computed"
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

// BenchmarkLive50 measures what live audiences add to processing, per
// event: 50 saved audiences, five over each of five traits and five
// computed traits, and events that each change one of those ten, so that
// every event touches five audiences. The events (over 5,000 people, sent
// in chunks of 1,000 as traffic arrives, so that nearly every event is a
// profile of its own in its batch) are processed twice on fresh embedded
// stores, configured as kith serve configures them: without audiences,
// and with them, until the engine has evaluated every change and the
// processor has applied the entry and exit events it appended.
//
// In "steady" each event moves a value (0 to 99) one step up or down, so a
// person crosses one of the five thresholds (10, 30, 50, 70, 90) now and
// then, as people drift into and out of audiences; in "churn" each value
// is drawn anew, so nearly every event moves someone in or out of two
// audiences, and each announcement is one more event to process.
//
//	go test ./audience -run '^$' -bench Live50 -benchtime 3x
//
// extra-µs/event is the difference in wall time per event; eval-µs/event
// the engine's own part (picking the audiences, reading the person,
// evaluating, reading and writing memberships, appending announcements),
// of which take-µs/event runs on the processor's goroutine; moves/event
// the entries and exits per event. The rest of the difference is the
// processor's: folding the computed traits, longer documents, and
// applying the announcements.
func BenchmarkLive50(b *testing.B) {
	for _, mode := range []string{"steady", "churn"} {
		b.Run(mode, func(b *testing.B) { benchLive50(b, mode == "churn") })
	}
}

func benchLive50(b *testing.B, churn bool) {
	servedGC(b)
	const people, events, chunk = 5000, 40000, 1000
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	state := make([][10]int, people)
	event := func(i, u, dim, v int) kith.Event {
		user := fmt.Sprint("u", u)
		at := base.Add(time.Duration(i) * time.Second)
		body := map[string]any{"type": "identify", "userId": user, "traits": map[string]any{fmt.Sprint("score", dim): v}}
		typ := kith.TypeIdentify
		if dim >= 5 {
			typ = kith.TypeTrack
			body = map[string]any{"type": "track", "userId": user, "event": fmt.Sprint("Signal ", dim), "properties": map[string]any{"v": v}}
		}
		payload, _ := json.Marshal(body)
		return kith.Event{MessageID: fmt.Sprint("m-", i), Type: typ, SourceID: "src_shop", Channel: kith.KindWeb,
			UserID: user, Timestamp: at, ReceivedAt: at, Payload: payload}
	}
	// Where everyone starts, loaded before the clock starts.
	var start []kith.Event
	for u := range people {
		for dim := range 10 {
			state[u][dim] = r.IntN(100)
			start = append(start, event(len(start), u, dim, state[u][dim]))
		}
	}
	var evs []kith.Event
	for i := range events {
		u, dim := r.IntN(people), r.IntN(10)
		v := r.IntN(100)
		if !churn {
			v = min(99, max(0, state[u][dim]+[]int{-1, 1}[r.IntN(2)]))
		}
		state[u][dim] = v
		evs = append(evs, event(len(start)+i, u, dim, v))
	}
	type result struct {
		took, changed, flush time.Duration
		moves                int
	}
	run := func(withAudiences bool) result {
		l := newLive(&testing.T{}, true)
		l.now = base.Add(time.Duration(len(start)+events) * time.Second)
		ctx := context.Background()
		var res result
		if _, err := l.db.Append(ctx, start); err != nil {
			b.Fatal(err)
		}
		l.settle()
		if withAudiences {
			for k := 5; k < 10; k++ {
				l.define(kith.ComputedTraitDef{Name: fmt.Sprint("signal", k), Function: computed.Last, Event: fmt.Sprint("Signal ", k), Property: "v"})
			}
			for i := range 50 {
				dim, th := i/5, i%5
				x := fmt.Sprintf(`traits.score%d > %d`, dim, 10+20*th)
				if dim >= 5 {
					x = fmt.Sprintf(`computed.signal%d > %d`, dim, 10+20*th)
				}
				l.create(fmt.Sprint("a", i), x)
			}
			l.settle()
			l.timeChanged = &res.changed
		} else {
			l.eng = nil
		}
		before := 0
		if withAudiences {
			before = l.moves()
		}
		start := time.Now()
		for i := 0; i < len(evs); i += chunk {
			if _, err := l.db.Append(ctx, evs[i:i+chunk]); err != nil {
				b.Fatal(err)
			}
			for {
				n, err := l.proc.Step(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 && (l.eng == nil || l.eng.Pending() == 0) {
					break
				}
				if l.eng != nil {
					t := time.Now()
					if err := l.eng.Flush(ctx); err != nil {
						b.Fatal(err)
					}
					res.flush += time.Since(t)
				}
			}
		}
		res.took = time.Since(start)
		if withAudiences {
			res.moves = l.moves() - before
			if res.moves == 0 {
				b.Fatal("no entries or exits: the audiences were not evaluated")
			}
		}
		return res
	}
	var without, with result
	for range b.N {
		w := run(false)
		without.took += w.took
		a := run(true)
		with.took += a.took
		with.changed += a.changed
		with.flush += a.flush
		with.moves += a.moves
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N*events) }
	b.ReportMetric(per(without.took), "µs/event-without")
	b.ReportMetric(per(with.took), "µs/event-with")
	b.ReportMetric(per(with.took)-per(without.took), "extra-µs/event")
	b.ReportMetric(per(with.changed+with.flush), "eval-µs/event")
	b.ReportMetric(per(with.changed), "take-µs/event")
	b.ReportMetric(float64(with.moves)/float64(b.N*events), "moves/event")
}

// servedGC collects garbage as kith serve does (GOGC=400 unless GOGC is
// set) for the length of a benchmark.
func servedGC(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(400)
		b.Cleanup(func() { debug.SetGCPercent(old) })
	}
}
