package profile

import (
	"fmt"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

func TestHeldFilter(t *testing.T) {
	f := newHeldFilter()
	id := func(i int) kith.Identifier {
		return kith.Identifier{Type: kith.IDEmail, Value: fmt.Sprintf("p%d@example.com", i)}
	}
	for i := range 1000 {
		f.add(id(i))
	}
	if f.heldByNobody(id(5000)) {
		t.Fatal("an unfilled filter ruled an identifier out")
	}
	f.ready.Store(true)
	for i := range 1000 {
		if f.heldByNobody(id(i)) {
			t.Fatalf("%v was added, and ruled out", id(i))
		}
	}
	// Type and value are hashed apart: "a" + "b\x00c" is not "a\x00b" + "c".
	f.add(kith.Identifier{Type: "ab", Value: "c"})
	if !f.heldByNobody(kith.Identifier{Type: "a", Value: "bc"}) {
		t.Error("a:bc taken for ab:c")
	}
	maybe := 0
	for i := 1000; i < 101000; i++ {
		if !f.heldByNobody(id(i)) {
			maybe++
		}
	}
	if maybe > 10 {
		t.Errorf("%d of 100,000 identifiers never added are 'maybe held'", maybe)
	}
}

// A processor whose filter was filled from the store links an event to
// the profile that held its identifier before the processor started, and
// one linked by the processor itself; an undone merge drops the filter.
func TestHeldFilterWithTheStore(t *testing.T) {
	db := openStore(t)
	first := NewProcessor(db, testConfig(false, 100), quietLog(), nil)
	appendEvents(t, db, events(1,
		spec{kith.TypeIdentify, kith.KindWeb, "u1", "a1", time.Hour, ""},
		spec{kith.TypeIdentify, kith.KindWeb, "u2", "a2", time.Hour, ""},
	))
	drain(t, first)

	p := NewProcessor(db, testConfig(true, 100), quietLog(), nil)
	appendEvents(t, db, events(3, spec{kith.TypeIdentify, kith.KindWeb, "u3", "a3", 2 * time.Hour, ""}))
	drain(t, p) // starts filling the filter
	f := p.cache.filter
	if f == nil {
		t.Fatal("no filter with the cache on the embedded store")
	}
	waitFor(t, "the filter to be filled", func() bool { return f.ready.Load() })
	for _, id := range []kith.Identifier{{Type: kith.IDUserID, Value: "u1"}, {Type: kith.IDAnonymousID, Value: "a2"},
		{Type: kith.IDUserID, Value: "u3"}} {
		if f.heldByNobody(id) {
			t.Errorf("the filter rules out %v, which a profile holds", id)
		}
	}
	p.cache.reset() // nothing in the cache: what is held comes from the filter and the store
	appendEvents(t, db, events(4,
		spec{kith.TypeTrack, kith.KindApp, "u1", "", 3 * time.Hour, `{"event":"Opened"}`},
		spec{kith.TypeTrack, kith.KindApp, "", "a3", 3 * time.Hour, `{"event":"Opened"}`},
		spec{kith.TypeTrack, kith.KindApp, "u4", "", 3 * time.Hour, `{"event":"Opened"}`},
	))
	drain(t, p)
	for value, want := range map[string]int{"u1": 2, "u3": 2, "u4": 1} {
		if got := holder(t, db, kith.IDUserID, value); got.Events != want {
			t.Errorf("%s's profile has %d events, want %d", value, got.Events, want)
		}
	}
	if f.heldByNobody(kith.Identifier{Type: kith.IDUserID, Value: "u4"}) {
		t.Error("a link the processor made is not in the filter")
	}
}
