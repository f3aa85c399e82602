package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
)

func runAudienceSizes(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"AudienceSizes/RecordAndRead", testAudienceSizesRecordAndRead},
		{"AudienceSizes/RecordedOnce", testAudienceSizesRecordedOnce},
		{"AudienceSizes/ConcurrentRecord", testAudienceSizesConcurrent},
	})
}

func sizes(s Store, id string, since time.Time) ([]kith.AudienceSize, error) {
	return s.AudienceSizes(context.Background(), id, since)
}

func testAudienceSizesRecordAndRead(t *testing.T, s Store) {
	ctx := context.Background()
	// Recorded out of order: read back oldest first.
	for _, r := range []struct {
		at    time.Time
		sizes map[string]int
	}{
		{at(2 * time.Hour), map[string]int{"aud_a": 6}},
		{at(0), map[string]int{"aud_a": 3, "aud_b": 5}},
		{at(time.Hour), map[string]int{"aud_a": 4, "aud_b": 0}},
	} {
		if err := s.RecordAudienceSizes(ctx, r.at, r.sizes); err != nil {
			t.Fatalf("RecordAudienceSizes(%s): %v", r.at, err)
		}
	}
	if err := s.RecordAudienceSizes(ctx, at(3*time.Hour), nil); err != nil {
		t.Errorf("RecordAudienceSizes of nothing: %v", err)
	}
	for _, c := range []struct {
		id    string
		since time.Time
		want  []kith.AudienceSize
	}{
		{"aud_a", at(-time.Hour), []kith.AudienceSize{{At: at(0), Size: 3}, {At: at(time.Hour), Size: 4}, {At: at(2 * time.Hour), Size: 6}}},
		// since is included.
		{"aud_a", at(time.Hour), []kith.AudienceSize{{At: at(time.Hour), Size: 4}, {At: at(2 * time.Hour), Size: 6}}},
		{"aud_a", at(3 * time.Hour), nil},
		{"aud_b", at(0), []kith.AudienceSize{{At: at(0), Size: 5}, {At: at(time.Hour), Size: 0}}},
		{"aud_none", at(0), nil},
	} {
		got, err := sizes(s, c.id, c.since)
		if err != nil {
			t.Errorf("AudienceSizes(%s, %s): %v", c.id, c.since, err)
			continue
		}
		if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("AudienceSizes(%s, %s) (-want +got):\n%s", c.id, c.since, diff)
		}
	}
}

// A moment already recorded keeps its size; the audiences new to that
// moment are added.
func testAudienceSizesRecordedOnce(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.RecordAudienceSizes(ctx, at(0), map[string]int{"aud_a": 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAudienceSizes(ctx, at(0), map[string]int{"aud_a": 9, "aud_b": 1}); err != nil {
		t.Fatalf("recording a moment again: %v", err)
	}
	if got, err := sizes(s, "aud_a", at(0)); err != nil || !cmp.Equal(got, []kith.AudienceSize{{At: at(0), Size: 3}}) {
		t.Errorf("aud_a = %+v, %v; want the first recording only", got, err)
	}
	if got, err := sizes(s, "aud_b", at(0)); err != nil || !cmp.Equal(got, []kith.AudienceSize{{At: at(0), Size: 1}}) {
		t.Errorf("aud_b = %+v, %v; want its size", got, err)
	}
}

// Nodes recording the same moment at once leave one size.
func testAudienceSizesConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if err := s.RecordAudienceSizes(ctx, at(time.Minute), map[string]int{"aud_a": 10 + i, "aud_b": 20 + i}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, id := range []string{"aud_a", "aud_b"} {
		if got, err := sizes(s, id, at(0)); err != nil || len(got) != 1 || !got[0].At.Equal(at(time.Minute)) {
			t.Errorf("%s after concurrent recordings = %+v, %v; want one size", id, got, err)
		}
	}
}
