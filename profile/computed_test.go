package profile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/computed"
)

func computedSet(t *testing.T, now time.Time, defs ...kith.ComputedTraitDef) *computed.Set {
	t.Helper()
	s := computed.NewSet()
	s.SetClock(func() time.Time { return now })
	for _, d := range defs {
		pd, err := computed.Parse(d)
		if err != nil {
			t.Fatal(err)
		}
		s.Put(pd)
	}
	return s
}

var (
	ordersDef = kith.ComputedTraitDef{Name: "orders", Function: computed.Count, Event: "Order Completed"}
	spendDef  = kith.ComputedTraitDef{Name: "spend", Function: computed.Sum, Event: "Order Completed", Property: "revenue"}
	topDef    = kith.ComputedTraitDef{Name: "top_category", Function: computed.MostFrequent, Event: "Product Viewed", Property: "category"}
)

func order(user, anon string, at time.Duration, revenue float64) spec {
	return spec{kith.TypeTrack, kith.KindWeb, user, anon, at, fmt.Sprintf(`{"event":"Order Completed","properties":{"revenue":%g}}`, revenue)}
}

func values(t *testing.T, s *computed.Set, p *kith.Profile) map[string]any {
	t.Helper()
	return s.Values(p, t0.Add(24*time.Hour))
}

// Computed traits follow events as they are applied, combine when profiles
// merge, come apart when the merge is undone, and say what they touched.
func TestComputedTraitsFollowEvents(t *testing.T) {
	ctx := context.Background()
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			db := openStore(t)
			cfg := testConfig(cache, 100)
			cfg.Computed = computedSet(t, t0.Add(24*time.Hour), ordersDef, spendDef, topDef)
			var done []BatchDone
			p := NewProcessor(db, cfg, quietLog(), func(b BatchDone) { done = append(done, b) })
			appendEvents(t, db, events(1,
				order("", "a1", 0, 30),
				spec{kith.TypeTrack, kith.KindWeb, "", "a1", time.Minute, `{"event":"Product Viewed","properties":{"category":"shoes"}}`},
				order("u1", "a2", time.Hour, 12.5),
				spec{kith.TypeTrack, kith.KindApp, "u1", "a2", 2 * time.Hour, `{"event":"Product Viewed","properties":{"category":"hats"}}`},
				spec{kith.TypeTrack, kith.KindApp, "u1", "a2", 3 * time.Hour, `{"event":"Product Viewed","properties":{"category":"hats"}}`},
			))
			drain(t, p)
			a1, u1 := holder(t, db, kith.IDAnonymousID, "a1"), holder(t, db, kith.IDUserID, "u1")
			if got := values(t, cfg.Computed, a1); got["orders"] != 1 || got["spend"] != 30.0 || got["top_category"] != "shoes" {
				t.Errorf("a1's computed traits = %v", got)
			}
			if got := values(t, cfg.Computed, u1); got["orders"] != 1 || got["spend"] != 12.5 || got["top_category"] != "hats" {
				t.Errorf("u1's computed traits = %v", got)
			}
			last := done[len(done)-1]
			if !last.Touched[u1.ID]["computed.top_category"] || !last.Touched[u1.ID]["computed.orders"] || last.Profiles[u1.ID] == nil {
				t.Errorf("the batch did not report what it touched of u1: %v", last.Touched[u1.ID])
			}

			// One event links a1 and u1: the survivor holds both states.
			link := appendEvents(t, db, events(10, order("u1", "a1", 4*time.Hour, 7.5)))
			drain(t, p)
			merged := holder(t, db, kith.IDUserID, "u1")
			if got := values(t, cfg.Computed, merged); got["orders"] != 3 || got["spend"] != 50.0 || got["top_category"] != "hats" {
				t.Errorf("merged computed traits = %v, want 3 orders, 50 spent, hats", got)
			}
			if tc := done[len(done)-1].Touched; !tc[merged.ID]["*"] {
				t.Errorf("a merge did not touch everything of the survivor: %v", tc)
			}

			// Undoing the merge rebuilds each side from its events.
			m := mergeBy(t, db, kith.Identifier{Type: kith.IDUserID, Value: "u1"}, link[0].Seq)
			if _, err := p.UndoMerge(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			a1, u1 = holder(t, db, kith.IDAnonymousID, "a1"), holder(t, db, kith.IDUserID, "u1")
			ga, gu := values(t, cfg.Computed, a1), values(t, cfg.Computed, u1)
			if ga["orders"].(int)+gu["orders"].(int) != 3 || ga["spend"].(float64)+gu["spend"].(float64) != 50 || ga["top_category"] != "shoes" || gu["top_category"] != "hats" {
				t.Errorf("after the undo: a1 %v, u1 %v", ga, gu)
			}
		})
	}
}

// A trait defined after the events were applied is rebuilt from each
// profile's timeline, and then kept current like the others.
func TestRecomputeBackfillsANewTrait(t *testing.T) {
	ctx := context.Background()
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			db := openStore(t)
			cfg := testConfig(cache, 100)
			cfg.Computed = computedSet(t, t0.Add(24*time.Hour))
			var done []BatchDone
			p := NewProcessor(db, cfg, quietLog(), func(b BatchDone) { done = append(done, b) })
			appendEvents(t, db, events(1, order("u1", "", 0, 10), order("u1", "", time.Hour, 5), order("u2", "", time.Hour, 1),
				order("", "a3", 0, 2)))
			drain(t, p)
			u1 := holder(t, db, kith.IDUserID, "u1")
			if len(u1.Computed) != 0 {
				t.Fatalf("a computed trait before any was defined: %v", u1.Computed)
			}

			pd, err := computed.Parse(spendDef)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Computed.Put(pd)
			// A live event arrives before the backfill reaches u1: counted once.
			appendEvents(t, db, events(10, order("u1", "", 2*time.Hour, 100)))
			drain(t, p)
			ps, err := db.ScanProfiles(ctx, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{"prf_unknown"}
			for _, x := range ps {
				ids = append(ids, x.ID)
			}
			n, err := p.Recompute(ctx, ids, []string{"spend"})
			if err != nil || n != len(ps) {
				t.Fatalf("Recompute = %d, %v; want %d profiles", n, err, len(ps))
			}
			if b := done[len(done)-1]; len(b.Changed) != len(ps) || !b.Touched[u1.ID]["computed.spend"] {
				t.Errorf("the backfill reported %+v", b)
			}
			want := map[string]float64{"u1": 115, "u2": 1}
			for user, spent := range want {
				if got := values(t, cfg.Computed, holder(t, db, kith.IDUserID, user))["spend"]; got != spent {
					t.Errorf("%s spent %v, want %v", user, got, spent)
				}
			}
			// And live from then on.
			appendEvents(t, db, events(20, order("u2", "", 3*time.Hour, 4)))
			drain(t, p)
			if got := values(t, cfg.Computed, holder(t, db, kith.IDUserID, "u2"))["spend"]; got != 5.0 {
				t.Errorf("u2 spent %v after a live order, want 5", got)
			}
		})
	}
}
