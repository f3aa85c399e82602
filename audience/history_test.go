package audience_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
)

// Every saved audience's size is recorded at the engine's clock, to the
// minute, once a minute however often it is asked, and read back oldest
// first.
func TestRecordSizes(t *testing.T) {
	l := newLive(t)
	ctx := context.Background()
	for i := range 5 {
		l.send(kith.TypeIdentify, fmt.Sprint("u", i), map[string]any{"traits": map[string]any{"plan": []string{"internet", "tv"}[i%2]}})
	}
	internet := l.create("Internet", `traits.plan == "internet"`)
	tv := l.create("TV", `traits.plan == "tv"`)
	start := l.now
	l.now = start.Add(30 * time.Second)
	if err := l.eng.RecordSizes(ctx); err != nil {
		t.Fatal(err)
	}
	// Two people move to TV ten minutes later.
	l.now = start.Add(10*time.Minute + 5*time.Second)
	for _, u := range []string{"u0", "u2"} {
		l.send(kith.TypeIdentify, u, map[string]any{"traits": map[string]any{"plan": "tv"}})
	}
	if err := l.eng.RecordSizes(ctx); err != nil {
		t.Fatal(err)
	}
	// Later in the same minute: the minute is recorded already.
	l.now = start.Add(10*time.Minute + 50*time.Second)
	l.send(kith.TypeIdentify, "u4", map[string]any{"traits": map[string]any{"plan": "tv"}})
	if err := l.eng.RecordSizes(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id    string
		since time.Time
		want  []kith.AudienceSize
	}{
		{internet, start.Add(-24 * time.Hour), []kith.AudienceSize{{At: start, Size: 3}, {At: start.Add(10 * time.Minute), Size: 1}}},
		{tv, start.Add(-24 * time.Hour), []kith.AudienceSize{{At: start, Size: 2}, {At: start.Add(10 * time.Minute), Size: 4}}},
		{tv, start.Add(time.Minute), []kith.AudienceSize{{At: start.Add(10 * time.Minute), Size: 4}}},
	} {
		got, err := l.svc.History(ctx, c.id, c.since)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("History(%s, %s) (-want +got):\n%s", c.id, c.since.Format(time.TimeOnly), diff)
		}
	}
	if n := l.members(tv); n != 5 {
		t.Errorf("TV has %d members now, want 5 (the history keeps the minute's first size)", n)
	}
}

func TestHistoryOfNoAudience(t *testing.T) {
	l := newLive(t)
	if _, err := l.svc.History(context.Background(), "aud_none", time.Time{}); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("History(aud_none) = %v, want ENOTFOUND", err)
	}
	// A service that saves no audiences has none to tell of.
	previews := audience.New(l.db, nil, nil, nil)
	if _, err := previews.History(context.Background(), "aud_none", time.Time{}); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("History without saved audiences = %v, want ENOTFOUND", err)
	}
}
