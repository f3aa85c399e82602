package audience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
)

// A new audience's backfill reads people while their events still come:
// what it read before a change must not be recorded over what the live
// evaluation decided from the changed person. Everyone turns gold after
// "Gold"'s backfill has read them as silver and before it records them;
// in the end everyone is a member.
func TestBackfillDoesNotUndoLiveChanges(t *testing.T) {
	l := newLive(t)
	ctx := context.Background()
	const people = 1200 // pages of 500: the hook runs three times
	appendTier := func(tier string) error {
		evs := make([]kith.Event, 0, people)
		for i := range people {
			l.n++
			payload, _ := json.Marshal(map[string]any{"type": "identify", "userId": fmt.Sprint("u", i),
				"traits": map[string]any{"tier": tier}})
			evs = append(evs, kith.Event{MessageID: fmt.Sprint("m-", l.n), Type: kith.TypeIdentify, SourceID: "src_shop",
				Channel: kith.KindWeb, UserID: fmt.Sprint("u", i), Timestamp: l.now, ReceivedAt: l.now, Payload: payload})
		}
		_, err := l.db.Append(ctx, evs)
		return err
	}
	if err := appendTier("silver"); err != nil {
		t.Fatal(err)
	}
	l.settle()

	// On the backfill's goroutine, once it has read its first page: the
	// live path applies and records everyone's change.
	var once sync.Once
	audience.SetScanHook(func() {
		once.Do(func() {
			if err := appendTier("gold"); err != nil {
				t.Error(err)
				return
			}
			for {
				n, err := l.proc.Step(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					break
				}
			}
			if err := l.eng.Flush(ctx); err != nil {
				t.Error(err)
			}
		})
	})
	defer audience.SetScanHook(nil)
	id := l.create("Gold", `traits.tier == "gold"`)
	l.settle()
	if got := l.members(id); got != people {
		t.Errorf("%d members of Gold, want all %d: the backfill recorded people as it read them before they changed", got, people)
	}
}
