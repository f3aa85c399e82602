package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kithhq/kith"
	analytics "github.com/segmentio/analytics-go/v3"
)

// recorder is an analytics-go callback that remembers what the client
// believes it delivered.
type recorder struct {
	mu        sync.Mutex
	delivered []string
	failed    []error
}

func (r *recorder) Success(m analytics.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered = append(r.delivered, messageID(m))
}

func (r *recorder) Failure(m analytics.Message, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Errorf("%s: %w", messageID(m), err))
}

func messageID(m analytics.Message) string {
	switch m := m.(type) {
	case analytics.Identify:
		return m.MessageId
	case analytics.Track:
		return m.MessageId
	case analytics.Page:
		return m.MessageId
	case analytics.Alias:
		return m.MessageId
	}
	return "?"
}

// TestAnalyticsGo sends identify, track, page and alias with Segment's own
// Go client, unmodified except for its endpoint, and checks each is stored
// once with its type, ids and corrected time.
func TestAnalyticsGo(t *testing.T) {
	m := startMain(t, nil)
	rec := &recorder{}
	client, err := analytics.NewWithConfig(testWriteKey, analytics.Config{
		Endpoint:  m.URL(),
		Interval:  50 * time.Millisecond,
		BatchSize: 3,
		Callback:  rec,
		Logger:    testLogger{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	msgs := []analytics.Message{
		analytics.Page{MessageId: "go-1", AnonymousId: "anon-go", Name: "Car insurance", Timestamp: ts,
			Properties: analytics.NewProperties().SetURL("https://insurer.example/car").SetPath("/car")},
		analytics.Identify{MessageId: "go-2", AnonymousId: "anon-go", UserId: "member-7", Timestamp: ts.Add(time.Minute),
			Traits: analytics.NewTraits().SetEmail("Member7@Example.com").SetPhone("+1 415 555 0107").SetName("Ann Seven")},
		analytics.Track{MessageId: "go-3", UserId: "member-7", Event: "Quote Requested", Timestamp: ts.Add(2 * time.Minute),
			Properties: analytics.NewProperties().SetCategory("car insurance")},
		analytics.Alias{MessageId: "go-4", PreviousId: "anon-go", UserId: "member-7", Timestamp: ts.Add(3 * time.Minute)},
	}
	for _, msg := range msgs {
		if err := client.Enqueue(msg); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatalf("close client: %v", err)
	}
	if len(rec.failed) > 0 {
		t.Fatalf("client reported failures: %v", rec.failed)
	}
	if len(rec.delivered) != len(msgs) {
		t.Fatalf("client delivered %v, want %d messages", rec.delivered, len(msgs))
	}

	evs, err := m.DB.ReadEvents(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for _, e := range evs {
		got = append(got, row{e.MessageID, string(e.Type), e.UserID, e.AnonymousID, e.Channel})
		if e.SentAt.IsZero() || e.OriginalTimestamp.IsZero() {
			t.Errorf("%s: sentAt %v, original timestamp %v; the Go client sends both", e.MessageID, e.SentAt, e.OriginalTimestamp)
		}
		// The client's clock is this machine's: the corrected time is the
		// original one minus the time it sat in the client's queue, give or take.
		if d := e.Timestamp.Sub(e.ReceivedAt.Add(-e.SentAt.Sub(e.OriginalTimestamp))); d != 0 {
			t.Errorf("%s: timestamp not corrected by sentAt (off by %s)", e.MessageID, d)
		}
	}
	want := []row{
		{"go-1", "page", "", "anon-go", kith.KindServer},
		{"go-2", "identify", "member-7", "anon-go", kith.KindServer},
		{"go-3", "track", "member-7", "", kith.KindServer},
		{"go-4", "alias", "member-7", "", kith.KindServer},
	}
	// The client batches; order within the log follows delivery, so compare as sets.
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
}

type row struct {
	ID, Type, User, Anon string
	Channel              kith.Kind
}

// testLogger sends the client's log to the test's.
type testLogger struct{ t *testing.T }

func (l testLogger) Logf(format string, args ...any)   { l.t.Logf(format, args...) }
func (l testLogger) Errorf(format string, args ...any) { l.t.Logf("ERROR "+format, args...) }
