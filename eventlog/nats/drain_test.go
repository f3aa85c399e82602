package nats

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// Drain hands a partition's events to the sink in order; a failing sink
// gets the same events again, nothing overtakes them; acknowledged
// messages leave Pending.
func TestDrainAndPending(t *testing.T) {
	url, monitor := testServer(t)
	opt := testOptions(t, url, monitor)
	l, err := Open(context.Background(), url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	events := makeEvents("drain", 300, 17)
	if _, err := l.Append(ctx, slices.Clone(events)); err != nil {
		t.Fatal(err)
	}
	const p = 3
	var want []string
	for _, e := range events {
		if e.Partition(l.Partitions()) == p {
			want = append(want, e.MessageID)
		}
	}
	if len(want) == 0 {
		t.Fatal("no events in the partition under test")
	}
	inStream := func(p int) uint64 {
		var n uint64
		for _, m := range readAll(t, url, opt) {
			if m.subject == l.Subject(p) {
				n++
			}
		}
		return n
	}
	if n, err := l.Pending(ctx, p); err != nil || n == 0 || n != inStream(p) {
		t.Errorf("Pending before any drainer = %d, %v; want the partition's %d messages", n, err, inStream(p))
	}
	if _, err := l.Pending(ctx, l.Partitions()); !kith.IsCode(err, kith.EINVALID) {
		t.Errorf("Pending of a partition out of range: %v, want invalid", err)
	}

	var mu sync.Mutex
	var got []string
	failed := false
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Drain(dctx, p, func(_ context.Context, evs []kith.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if !failed {
				failed = true
				return errors.New("the store is away")
			}
			for _, e := range evs {
				got = append(got, e.MessageID)
			}
			return nil
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		pending, err := l.Pending(ctx, p)
		if n >= len(want) && err == nil && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s the sink has %d of %d events, %d messages pending (%v)", n, len(want), pending, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-done
	if !slices.Equal(got, want) {
		t.Errorf("the sink saw %v, want %v", got, want)
	}
	// Another partition's messages are all still pending.
	q := (p + 1) % l.Partitions()
	if n, err := l.Pending(ctx, q); err != nil || n != inStream(q) {
		t.Errorf("Pending of an undrained partition = %d, %v; want its %d messages", n, err, inStream(q))
	}
}
