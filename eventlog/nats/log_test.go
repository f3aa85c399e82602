package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kithhq/kith"
)

func TestAppendRoundTrip(t *testing.T) {
	l, opt := openTest(t)
	url, _ := testServer(t)
	ctx := context.Background()

	var want []kith.Event
	for r := range 3 {
		events := makeEvents(fmt.Sprintf("rt%d", r), 100, 13)
		res, err := l.Append(ctx, events)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if res != (kith.AppendResult{Appended: len(events)}) {
			t.Errorf("Append = %+v, want %d appended", res, len(events))
		}
		want = append(want, events...)
	}

	msgs := readAll(t, url, opt)
	var got []kith.Event
	perPerson := map[string][]string{}
	for _, m := range msgs {
		for _, e := range m.events {
			if want := l.Subject(e.Partition(l.Partitions())); m.subject != want {
				t.Errorf("event %s of person %q is on %s, want %s", e.MessageID, e.PersonKey(), m.subject, want)
			}
			got = append(got, e)
			perPerson[e.PersonKey()] = append(perPerson[e.PersonKey()], e.MessageID)
		}
	}
	// The stream interleaves partitions; compare as sets, then check order per person.
	byID := map[string]kith.Event{}
	for _, e := range got {
		byID[e.MessageID] = e
	}
	if len(got) != len(want) || len(byID) != len(want) {
		t.Fatalf("read %d events (%d distinct), want %d", len(got), len(byID), len(want))
	}
	wantPerPerson := map[string][]string{}
	for _, w := range want {
		if diff := cmp.Diff(w, byID[w.MessageID]); diff != "" {
			t.Errorf("event %s (-appended +read):\n%s", w.MessageID, diff)
		}
		wantPerPerson[w.PersonKey()] = append(wantPerPerson[w.PersonKey()], w.MessageID)
	}
	if diff := cmp.Diff(wantPerPerson, perPerson); diff != "" {
		t.Errorf("order of each person's events (-appended +read):\n%s", diff)
	}
	// One message per partition touched per Append.
	if len(msgs) > 3*l.Partitions() {
		t.Errorf("%d messages for 3 appends over %d partitions", len(msgs), l.Partitions())
	}
}

func TestAppendRetryDedupes(t *testing.T) {
	l, _ := openTest(t)
	ctx := context.Background()
	events := makeEvents("retry", 100, 20)
	if _, err := l.Append(ctx, events); err != nil {
		t.Fatal(err)
	}
	before := streamMsgs(t, l)
	res, err := l.Append(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if want := (kith.AppendResult{Duplicates: len(events)}); res != want {
		t.Errorf("retried Append = %+v, want %+v", res, want)
	}
	if after := streamMsgs(t, l); after != before {
		t.Errorf("stream holds %d messages after the retry, %d before", after, before)
	}
	// A request that differs (one more event) is not a duplicate in the
	// partitions it changes; the consumer's unique (source, messageId) drops
	// the copies there.
	res, err = l.Append(ctx, append(events, makeEvents("retry-more", 1, 1)...))
	if err != nil {
		t.Fatal(err)
	}
	if res.Appended+res.Duplicates != len(events)+1 || res.Appended == 0 || res.Duplicates == 0 {
		t.Errorf("changed request: Append = %+v, want some appended and some duplicates", res)
	}
}

// TestAppendLargeBatch appends 2 MB for one person, more than the server's
// 1 MB max_payload: Append splits the partition's events over messages.
func TestAppendLargeBatch(t *testing.T) {
	l, opt := openTest(t)
	url, _ := testServer(t)
	ctx := context.Background()
	events := makeEvents("big", 400, 1)
	pad := strings.Repeat("x", 5000)
	for i := range events {
		events[i].Payload = fmt.Appendf(nil, `{"messageId":%q,"pad":%q}`, events[i].MessageID, pad)
	}
	res, err := l.Append(ctx, events)
	if err != nil {
		t.Fatalf("Append of %d KB: %v", 400*5, err)
	}
	if res.Appended != len(events) {
		t.Errorf("Append = %+v, want %d appended", res, len(events))
	}
	msgs := readAll(t, url, opt)
	if len(msgs) < 3 {
		t.Errorf("%d messages, want at least 3 for 2.7 MB of encoded events", len(msgs))
	}
	var ids []string
	for _, m := range msgs {
		for _, e := range m.events {
			ids = append(ids, e.MessageID)
		}
	}
	var want []string
	for _, e := range events {
		want = append(want, e.MessageID)
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("events read back (-appended +read):\n%s", diff)
	}
	res, err = l.Append(ctx, events)
	if err != nil || res.Duplicates != len(events) {
		t.Errorf("retried large Append = %+v, %v; want all duplicates", res, err)
	}

	// One event larger than a message can hold is refused, not split.
	huge := makeEvents("huge", 1, 1)
	huge[0].Payload = make([]byte, 1<<20)
	if _, err := l.Append(ctx, huge); !kith.IsCode(err, kith.ETOOLARGE) {
		t.Errorf("Append of a 1 MB event: %v, want %s", err, kith.ETOOLARGE)
	}
}

func TestDurability(t *testing.T) {
	l, opt := openTest(t)
	url, monitor := testServer(t)
	ctx := context.Background()

	d, err := l.CheckDurability(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Durability{SyncAlways: true, PersistMode: "default", Storage: "file", Replicas: 1, ServerVersion: d.ServerVersion}); d != want || !d.Durable() {
		t.Errorf("CheckDurability = %+v, want %+v (durable)", d, want)
	}

	t.Run("no monitor URL", func(t *testing.T) {
		o := opt
		o.MonitorURL = ""
		if l, err := Open(ctx, url, o); err == nil {
			l.Close()
			t.Error("Open without MonitorURL succeeded; it cannot check sync_always")
		}
	})

	t.Run("async persist mode", func(t *testing.T) {
		o := testOptions(t, url, monitor)
		nc, err := natsgo.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		// An operator relaxed the stream: on a sync-always server it is
		// acknowledged before it is written.
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name: o.Stream, Subjects: []string{o.SubjectPrefix + ".>"}, Storage: jetstream.FileStorage,
			PersistMode: jetstream.AsyncPersistMode,
		}); err != nil {
			t.Fatal(err)
		}
		_, err = Open(ctx, url, o)
		if !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "persist_mode") {
			t.Fatalf("Open on an async stream: %v, want ErrNotDurable naming persist_mode", err)
		}
		t.Logf("Open refused: %v", err)
		// Open must not have changed the operator's setting back.
		s, err := js.Stream(ctx, o.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if pm := s.CachedInfo().Config.PersistMode; pm != jetstream.AsyncPersistMode {
			t.Errorf("persist mode after Open = %v, want still async", pm)
		}
		o.AllowUnsynced = true
		l2, err := Open(ctx, url, o)
		if err != nil {
			t.Fatalf("Open with AllowUnsynced: %v", err)
		}
		defer l2.Close()
		d, err := l2.CheckDurability(ctx)
		if err != nil || d.Durable() || d.PersistMode != "async" {
			t.Errorf("CheckDurability on the async stream = %+v, %v", d, err)
		}
	})

	t.Run("server without sync_always", func(t *testing.T) {
		// What a server without sync_interval: always reports; the server
		// side is covered by TestAppendOutage's own server when it runs.
		d := Durability{PersistMode: "default", Storage: "file", ServerVersion: "2.9.10"}
		if d.Durable() || !strings.Contains(d.Problem(), "sync_interval: always") {
			t.Errorf("Durability %+v: Durable %v, Problem %q", d, d.Durable(), d.Problem())
		}
	})
}

func TestOpenRefusesOtherPartitionCount(t *testing.T) {
	l, opt := openTest(t)
	url, _ := testServer(t)
	l.Close()
	opt.Partitions = 16
	_, err := Open(context.Background(), url, opt)
	if !kith.IsCode(err, kith.ECONFLICT) || !strings.Contains(err.Error(), "8 partitions") {
		t.Fatalf("Open with 16 partitions on an 8-partition stream: %v, want %s naming 8", err, kith.ECONFLICT)
	}
	opt.Partitions = 8
	l2, err := Open(context.Background(), url, opt)
	if err != nil {
		t.Fatalf("reopen with the recorded count: %v", err)
	}
	l2.Close()
}

func TestAppendConcurrent(t *testing.T) {
	l, opt := openTest(t)
	url, _ := testServer(t)
	const goroutines, appends, size = 16, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*appends)
	for g := range goroutines {
		wg.Go(func() {
			for a := range appends {
				events := makeEvents(fmt.Sprintf("c%d-%d", g, a), size, 7)
				res, err := l.Append(context.Background(), events)
				if err == nil && res.Appended != size {
					err = fmt.Errorf("Append = %+v, want %d appended", res, size)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	seen := map[string]bool{}
	for _, m := range readAll(t, url, opt) {
		for _, e := range m.events {
			n++
			seen[e.MessageID] = true
		}
	}
	if want := goroutines * appends * size; n != want || len(seen) != want {
		t.Errorf("read %d events (%d distinct), want %d", n, len(seen), want)
	}
}

func TestAppendCanceledContext(t *testing.T) {
	l, _ := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, makeEvents("cancel", 1, 1)); !kith.IsCode(err, kith.EUNAVAILABLE) {
		t.Errorf("Append with a canceled context: %v, want %s", err, kith.EUNAVAILABLE)
	}
	if res, err := l.Append(context.Background(), nil); err != nil || res != (kith.AppendResult{}) {
		t.Errorf("Append(nil) = %+v, %v", res, err)
	}
}
