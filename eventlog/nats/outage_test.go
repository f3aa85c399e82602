package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/eventlog/nats/natstest"
)

func TestOpenRefusesUnsyncedServer(t *testing.T) {
	srv := natstest.Start(t, false)
	_, err := Open(context.Background(), srv.URL, Options{MonitorURL: srv.Monitor})
	if !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "sync_interval: always") {
		t.Fatalf("Open on a server without sync_interval: always: %v, want ErrNotDurable naming the setting", err)
	}
	t.Logf("Open refused: %v", err)
	l, err := Open(context.Background(), srv.URL, Options{MonitorURL: srv.Monitor, AllowUnsynced: true})
	if err != nil {
		t.Fatalf("Open with AllowUnsynced: %v", err)
	}
	l.Close()
}

func TestAppendOutage(t *testing.T) {
	srv := natstest.Start(t, true)
	ctx := context.Background()
	l, err := Open(ctx, srv.URL, Options{MonitorURL: srv.Monitor, AckTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before := makeEvents("before", 100, 10)
	if _, err := l.Append(ctx, before); err != nil {
		t.Fatalf("Append before the outage: %v", err)
	}

	// A server that takes the messages but never answers (stopped, not
	// dead: the connection stays up): Append gives up when ctx ends.
	if err := srv.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err = l.Append(actx, makeEvents("hung", 100, 10))
	cancel()
	took := time.Since(start)
	srv.Signal(syscall.SIGCONT)
	if !kith.IsCode(err, kith.EUNAVAILABLE) || took > time.Second {
		t.Fatalf("Append to a hung server: %v after %v, want %s when ctx ends (300 ms)", err, took, kith.EUNAVAILABLE)
	}
	t.Logf("Append to a hung server: %v after %v", err, took.Round(time.Millisecond))

	srv.Stop()
	for i := range 5 {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		_, err := l.Append(actx, makeEvents(fmt.Sprint("down", i), 100, 10))
		cancel()
		took := time.Since(start)
		if !kith.IsCode(err, kith.EUNAVAILABLE) || !strings.Contains(err.Error(), "the event log (NATS) is unreachable") {
			t.Fatalf("Append %d while the server is down: %v, want %s", i, err, kith.EUNAVAILABLE)
		}
		if took > time.Second {
			t.Errorf("Append %d while the server is down took %v, want it to fail at once", i, took)
		}
		if i == 0 {
			t.Logf("Append while down: %v after %v", err, took)
		}
	}
	if _, err := Open(ctx, srv.URL, Options{MonitorURL: srv.Monitor}); !kith.IsCode(err, kith.EUNAVAILABLE) {
		t.Errorf("Open while the server is down: %v, want %s", err, kith.EUNAVAILABLE)
	}

	srv.Start()
	restarted := time.Now()
	after := makeEvents("after", 100, 10)
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		res, err := l.Append(actx, after)
		cancel()
		if err == nil {
			if res.Appended+res.Duplicates != len(after) {
				t.Errorf("Append after the restart = %+v", res)
			}
			t.Logf("Append succeeded %v after the restart", time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Since(restarted) > 15*time.Second {
			t.Fatalf("Append still fails 15 s after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// What was acknowledged before the crash survived it.
	// The "hung" request's messages may or may not have been stored.
	if got, want := streamMsgs(t, l), uint64(3*l.Partitions()); got < uint64(l.Partitions()) || got > want {
		t.Errorf("stream holds %d messages after the crash, want %d to %d", got, l.Partitions(), want)
	}
	res, err := l.Append(ctx, before)
	if err != nil || res.Duplicates != len(before) {
		t.Errorf("retry of the pre-crash request = %+v, %v; want all duplicates (the dedupe window survives a restart)", res, err)
	}
}
