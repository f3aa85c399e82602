package profile

import (
	"context"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// Applied is a position every event up to which is applied.
func TestApplied(t *testing.T) {
	db := openStore(t)
	p := NewProcessor(db, testConfig(false, 2), quietLog(), nil)
	evs := appendEvents(t, db, events(1, spec{kith.TypeIdentify, kith.KindWeb, "u1", "", 0, ""},
		spec{kith.TypeIdentify, kith.KindWeb, "u2", "", time.Second, ""}, spec{kith.TypeIdentify, kith.KindWeb, "u3", "", 2 * time.Second, ""}))
	if a, err := p.Applied(context.Background()); err != nil || a != 0 {
		t.Fatalf("before processing: %d, %v", a, err)
	}
	if _, err := p.Step(context.Background()); err != nil { // a batch of two
		t.Fatal(err)
	}
	if a, _ := p.Applied(context.Background()); a != evs[1].Seq {
		t.Errorf("after one batch: %d, want %d", a, evs[1].Seq)
	}
	drain(t, p)
	if a, _ := p.Applied(context.Background()); a != evs[2].Seq {
		t.Errorf("caught up: %d, want %d", a, evs[2].Seq)
	}
}
