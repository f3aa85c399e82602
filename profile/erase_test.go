package profile

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// Erase removes a person's profiles as the processor's one writer: with
// the cache on, a later event of the same identifiers makes a new profile
// rather than finding the erased one in memory; a failure inside the
// transaction removes nothing.
func TestProcessorErase(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	p := NewProcessor(db, testConfig(true, 100), quietLog(), nil)
	evs := appendEvents(t, db, events(1,
		spec{kith.TypeTrack, kith.KindWeb, "", "dev-1", 0, `{"event":"Viewed"}`},
		spec{kith.TypeIdentify, kith.KindWeb, "u1", "dev-1", time.Minute, `{"traits":{"email":"u1@example.com"}}`},
		spec{kith.TypeTrack, kith.KindWeb, "u2", "", 2 * time.Minute, `{"event":"Viewed"}`}))
	if _, err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	u1 := holder(t, db, kith.IDUserID, "u1").ID

	boom := errors.New("boom")
	if _, err := p.Erase(ctx, []string{u1}, func(context.Context, kith.ErasedProfiles) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Erase with a failing step: %v", err)
	}
	if got := holder(t, db, kith.IDUserID, "u1").ID; got != u1 {
		t.Fatalf("after a failed erasure u1 is %s, want %s still", got, u1)
	}

	var seen kith.ErasedProfiles
	got, err := p.Erase(ctx, []string{u1}, func(_ context.Context, e kith.ErasedProfiles) error { seen = e; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Seqs, []int64{evs[0].Seq, evs[1].Seq}) || got.Profiles != 1 || !slices.Equal(seen.Seqs, got.Seqs) {
		t.Errorf("Erase = %+v (then saw %+v), want u1's two events", got, seen)
	}
	if ids, err := db.ProfileIDsFor(ctx, kith.Identifier{Type: kith.IDEmail, Value: "u1@example.com"}); err != nil || len(ids) != 0 {
		t.Errorf("the e-mail after the erasure is held by %v, %v", ids, err)
	}
	// The person comes back: a new profile, not the cached one; and a
	// placeholder left in the log makes nothing.
	appendEvents(t, db, events(10, spec{kith.TypeTrack, kith.KindWeb, "u1", "", 3 * time.Minute, `{"event":"Viewed"}`}))
	placeholder := events(20, spec{kith.TypeTrack, kith.KindWeb, "", "", 4 * time.Minute, `{}`})
	placeholder[0].SourceID, placeholder[0].MessageID = kith.ErasedSource, "erased-x"
	appendEvents(t, db, placeholder)
	before, _ := db.CountProfiles(ctx)
	if _, err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	back := holder(t, db, kith.IDUserID, "u1")
	if back.ID == u1 || back.Events != 1 {
		t.Errorf("u1 came back as %s with %d events, want a new profile with 1", back.ID, back.Events)
	}
	if after, _ := db.CountProfiles(ctx); after != before+1 {
		t.Errorf("profiles went from %d to %d, want one more (u1's), none for the placeholder", before, after)
	}
}
