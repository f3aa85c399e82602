package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

func runMatches(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Matches/AddAndRead", testMatchesAddAndRead},
		{"Matches/Decide", testMatchesDecide},
		{"Matches/ConcurrentDecide", testMatchesConcurrentDecide},
	})
}

func matchPair(id string, p float64) *kith.MatchPair {
	return &kith.MatchPair{ID: id, Left: "prf_a" + id, Right: "prf_b" + id, Probability: p,
		Evidence: []byte(`{"fields":[{"field":"surname","weight":7.5}]}`), Status: kith.MatchPending, CreatedAt: at(0)}
}

func testMatchesAddAndRead(t *testing.T, s Store) {
	ctx := context.Background()
	want := matchPair("mp_1", 0.7)
	got, created, err := s.AddMatchPair(ctx, want)
	if err != nil || !created {
		t.Fatalf("AddMatchPair = %v, %v", created, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	// A pair is stored once: a second proposal finds the first.
	again := matchPair("mp_1", 0.99)
	got, created, err = s.AddMatchPair(ctx, again)
	if err != nil || created || got.Probability != 0.7 {
		t.Errorf("second AddMatchPair = %+v, %v, %v", got, created, err)
	}
	for i, p := range []float64{0.9, 0.6} {
		if _, _, err := s.AddMatchPair(ctx, matchPair(fmt.Sprint("mp_", i+2), p)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.MatchPairs(ctx, kith.MatchPending, 10)
	if err != nil || len(list) != 3 || list[0].ID != "mp_2" || list[2].ID != "mp_3" {
		t.Errorf("MatchPairs = %+v, %v; want most probable first", list, err)
	}
	if list, _ := s.MatchPairs(ctx, kith.MatchPending, 2); len(list) != 2 {
		t.Errorf("limit 2 gave %d", len(list))
	}
	if list, _ := s.MatchPairs(ctx, kith.MatchMerged, 10); len(list) != 0 {
		t.Errorf("merged pairs: %+v", list)
	}
	if _, err := s.MatchPair(ctx, "mp_none"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("MatchPair(mp_none): %v", err)
	}
}

func testMatchesDecide(t *testing.T, s Store) {
	ctx := context.Background()
	if _, _, err := s.AddMatchPair(ctx, matchPair("mp_1", 0.7)); err != nil {
		t.Fatal(err)
	}
	d := kith.MatchPair{Status: kith.MatchMerged, Reason: "accepted", DecidedAt: at(time.Hour), DecidedBy: "user:ann", MergeEvent: "match-1"}
	got, err := s.DecideMatchPair(ctx, "mp_1", kith.MatchPending, d)
	if err != nil || got.Status != kith.MatchMerged || got.DecidedBy != "user:ann" || !got.DecidedAt.Equal(at(time.Hour)) || got.MergeEvent != "match-1" {
		t.Fatalf("DecideMatchPair = %+v, %v", got, err)
	}
	got, err = s.DecideMatchPair(ctx, "mp_1", kith.MatchPending, kith.MatchPair{Status: kith.MatchRejected, DecidedAt: at(2 * time.Hour), DecidedBy: "user:bob"})
	if !kith.IsCode(err, kith.ECONFLICT) || got == nil || got.Status != kith.MatchMerged {
		t.Errorf("deciding a decided pair: %+v, %v", got, err)
	}
	if _, err := s.DecideMatchPair(ctx, "mp_none", kith.MatchPending, d); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("deciding a missing pair: %v", err)
	}
}

func testMatchesConcurrentDecide(t *testing.T, s Store) {
	ctx := context.Background()
	if _, _, err := s.AddMatchPair(ctx, matchPair("mp_1", 0.7)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 20 {
		wg.Go(func() {
			_, err := s.DecideMatchPair(ctx, "mp_1", kith.MatchPending, kith.MatchPair{Status: kith.MatchRejected, DecidedAt: at(0), DecidedBy: fmt.Sprint("user:", i)})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if !kith.IsCode(err, kith.ECONFLICT) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d stewards decided one pair; want 1", won)
	}
}
