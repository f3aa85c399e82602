package profile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// Events from before 1970 have negative times; their timeline still pages.
func TestTimelinePagesBefore1970(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	var evs []kith.Event
	for i := range 3 {
		ts := time.Date(1960, 1, 1+i, 0, 0, 0, 0, time.UTC)
		evs = append(evs, kith.Event{SourceID: "src", MessageID: fmt.Sprint("old-", i), Type: kith.TypeTrack, Channel: kith.KindStore,
			UserID: "u-1960", Timestamp: ts, ReceivedAt: time.Now(), Payload: []byte(`{"event":"Bought"}`)})
	}
	appendEvents(t, db, evs)
	p := NewProcessor(db, testConfig(true, 100), quietLog(), nil)
	if _, err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	svc := NewService(db, p)
	v, _, err := svc.Lookup(ctx, kith.IDUserID, "u-1960")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor := ""
	for range 5 {
		page, err := svc.Timeline(ctx, v.ID, cursor, 1)
		if err != nil {
			t.Fatalf("page after cursor %q: %v", cursor, err)
		}
		for _, e := range page.Events {
			got = append(got, e.MessageID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if want := "[old-2 old-1 old-0]"; fmt.Sprint(got) != want {
		t.Errorf("timeline %v, want %s", got, want)
	}
}
