package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/store/sqlite"
	"github.com/kithhq/kith/store/storetest"
)

// openManual opens the store in dir; the caller closes it.
func openManual(t testing.TB, dir string, opt sqlite.Options) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir, opt)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return db
}

// open opens the store in dir and closes it when the test ends.
func open(t testing.TB, dir string, opt sqlite.Options) *sqlite.DB {
	t.Helper()
	db := openManual(t, dir, opt)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func mustClose(t *testing.T, db *sqlite.DB) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return open(t, t.TempDir(), sqlite.Options{})
	})
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func event(sourceID, messageID string) kith.Event {
	return kith.Event{
		MessageID:  messageID,
		Type:       kith.TypeTrack,
		SourceID:   sourceID,
		Channel:    kith.KindWeb,
		UserID:     "user-" + messageID,
		Timestamp:  t0,
		ReceivedAt: t0.Add(time.Second),
		Payload:    fmt.Appendf(nil, `{"type":"track","messageId":%q}`, messageID),
	}
}

func readAll(t *testing.T, db *sqlite.DB) []kith.Event {
	t.Helper()
	events, err := db.ReadEvents(context.Background(), 0, 1<<30)
	if err != nil {
		t.Fatalf("ReadEvents: %v", err)
	}
	return events
}

// The store promises that an acknowledged event survives a power loss: every
// commit is fsync'd to the write-ahead log.
func TestDurabilitySettings(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir(), sqlite.Options{})
	db.SyncMembershipsWithLog(true)
	check := func(when string) {
		t.Helper()
		sync, err := db.Synchronous(ctx)
		if err != nil {
			t.Fatalf("Synchronous: %v", err)
		}
		if sync != "FULL" {
			t.Errorf("%s: synchronous = %q, want %q", when, sync, "FULL")
		}
		mode, err := db.JournalMode(ctx)
		if err != nil {
			t.Fatalf("JournalMode: %v", err)
		}
		if mode != "wal" {
			t.Errorf("%s: journal_mode = %q, want %q", when, mode, "wal")
		}
	}
	check("after open")
	if _, err := db.Append(ctx, []kith.Event{event("src_1", "m1")}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	check("after a commit")
}

// SQLite keeps nanoseconds, more than the contract suite asks for.
func TestNanosecondTimes(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir(), sqlite.Options{})
	e := event("src_1", "m1")
	e.Timestamp = t0.Add(1)
	e.OriginalTimestamp = t0.Add(999_999_999)
	e.SentAt = t0.Add(123_456_789)
	e.ReceivedAt = t0.Add(time.Second + 7)
	if _, err := db.Append(ctx, []kith.Event{e}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	got := readAll(t, db)
	if len(got) != 1 {
		t.Fatalf("read %d events, want 1", len(got))
	}
	e.Seq = got[0].Seq
	if diff := cmp.Diff(e, got[0]); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"Timestamp", got[0].Timestamp, e.Timestamp},
		{"OriginalTimestamp", got[0].OriginalTimestamp, e.OriginalTimestamp},
		{"SentAt", got[0].SentAt, e.SentAt},
		{"ReceivedAt", got[0].ReceivedAt, e.ReceivedAt},
	} {
		if f.got.Nanosecond() != f.want.Nanosecond() {
			t.Errorf("%s nanoseconds = %d, want %d", f.name, f.got.Nanosecond(), f.want.Nanosecond())
		}
	}

	src := &kith.Source{ID: "src_1", Name: "site", Kind: kith.KindWeb, WriteKey: "wk-0000000001", CreatedAt: t0.Add(42)}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatalf("CreateSource: %v", err)
	}
	revoked, err := db.RevokeSource(ctx, src.ID, t0.Add(43))
	if err != nil {
		t.Fatalf("RevokeSource: %v", err)
	}
	if got, want := revoked.CreatedAt.Nanosecond(), 42; got != want {
		t.Errorf("CreatedAt nanoseconds = %d, want %d", got, want)
	}
	if got, want := revoked.RevokedAt.Nanosecond(), 43; got != want {
		t.Errorf("RevokedAt nanoseconds = %d, want %d", got, want)
	}
}

func TestEventByMessageIDAndCount(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir(), sqlite.Options{})
	events := []kith.Event{event("src_1", "a"), event("src_1", "b"), event("src_2", "a")}
	if _, err := db.Append(ctx, events); err != nil {
		t.Fatalf("Append: %v", err)
	}
	stored := readAll(t, db)
	for _, want := range stored {
		got, err := db.EventByMessageID(ctx, want.SourceID, want.MessageID)
		if err != nil {
			t.Fatalf("EventByMessageID(%s, %s): %v", want.SourceID, want.MessageID, err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("EventByMessageID(%s, %s) (-want +got):\n%s", want.SourceID, want.MessageID, diff)
		}
	}
	if _, err := db.EventByMessageID(ctx, "src_2", "b"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("EventByMessageID of an absent event: %v, want code %q", err, kith.ENOTFOUND)
	}
	n, err := db.CountEvents(ctx)
	if err != nil {
		t.Fatalf("CountEvents: %v", err)
	}
	if n != 3 {
		t.Errorf("CountEvents = %d, want 3", n)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openManual(t, dir, sqlite.Options{})
	src := &kith.Source{ID: "src_1", Name: "site", Kind: kith.KindWeb, WriteKey: "wk-0000000001", CreatedAt: t0}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatalf("CreateSource: %v", err)
	}
	key := &kith.APIKey{ID: "key_1", Name: "admin", Scopes: []kith.Scope{kith.ScopeAdmin}, Hash: []byte("hash"),
		Hint: "kith_abcd", CreatedAt: t0}
	if err := db.CreateAPIKey(ctx, key); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	var sent []kith.Event
	for i := range 10 {
		sent = append(sent, event("src_1", fmt.Sprintf("m%02d", i)))
	}
	if _, err := db.Append(ctx, sent); err != nil {
		t.Fatalf("Append: %v", err)
	}
	before := readAll(t, db)
	mustClose(t, db)

	db = open(t, dir, sqlite.Options{})
	if diff := cmp.Diff(before, readAll(t, db)); diff != "" {
		t.Errorf("events after reopen (-before +after):\n%s", diff)
	}
	srcs, err := db.Sources(ctx)
	if err != nil {
		t.Fatalf("Sources: %v", err)
	}
	if diff := cmp.Diff([]kith.Source{*src}, srcs); diff != "" {
		t.Errorf("sources after reopen (-want +got):\n%s", diff)
	}
	keys, err := db.APIKeys(ctx)
	if err != nil {
		t.Fatalf("APIKeys: %v", err)
	}
	if diff := cmp.Diff([]kith.APIKey{*key}, keys); diff != "" {
		t.Errorf("API keys after reopen (-want +got):\n%s", diff)
	}

	// Dedupe outlives the process, and the log carries on after its end.
	res, err := db.Append(ctx, append(sent[:3:3], event("src_1", "new")))
	if err != nil {
		t.Fatalf("Append after reopen: %v", err)
	}
	if diff := cmp.Diff(kith.AppendResult{Appended: 1, Duplicates: 3}, res); diff != "" {
		t.Errorf("Append after reopen (-want +got):\n%s", diff)
	}
	after := readAll(t, db)
	if len(after) != len(before)+1 {
		t.Fatalf("%d events after reopen and append, want %d", len(after), len(before)+1)
	}
	if last, prev := after[len(after)-1].Seq, before[len(before)-1].Seq; last <= prev {
		t.Errorf("Seq after reopen = %d, want > %d", last, prev)
	}
}

func TestAppendAfterClose(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openManual(t, dir, sqlite.Options{})
	mustClose(t, db)
	res, err := db.Append(ctx, []kith.Event{event("src_1", "late")})
	if !kith.IsCode(err, kith.EUNAVAILABLE) {
		t.Errorf("Append after Close: %v, want code %q", err, kith.EUNAVAILABLE)
	}
	if res != (kith.AppendResult{}) {
		t.Errorf("Append after Close result = %+v, want zero", res)
	}
	db = open(t, dir, sqlite.Options{})
	if got := readAll(t, db); len(got) != 0 {
		t.Errorf("log holds %v after an Append refused at Close, want nothing", got)
	}
}

// Close waits for the appends already handed to the writer: what was
// acknowledged is stored, and what was refused is not.
func TestCloseFlushesAppendsInFlight(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var commits atomic.Int64
	db := openManual(t, dir, sqlite.Options{OnCommit: func(int, time.Duration) {
		commits.Add(1)
		// A slow writer, so that requests queue up behind it and are
		// still waiting when Close begins.
		time.Sleep(2 * time.Millisecond)
	}})

	const clients, perCall = 64, 5
	const maxCallsEach = 10000
	var (
		mu           sync.Mutex
		acked        = map[string]bool{}
		refused      []error
		closing      atomic.Bool
		ackedInClose atomic.Int64
		wg           sync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			for call := range maxCallsEach {
				batch := make([]kith.Event, perCall)
				for i := range batch {
					batch[i] = event("src_1", fmt.Sprintf("c%02d-%05d-%d", c, call, i))
				}
				_, err := db.Append(ctx, batch)
				mu.Lock()
				if err != nil {
					refused = append(refused, err)
					mu.Unlock()
					return
				}
				if closing.Load() {
					ackedInClose.Add(1)
				}
				for _, e := range batch {
					acked[e.MessageID] = true
				}
				mu.Unlock()
			}
			t.Errorf("client %d: no Append refused after %d calls", c, maxCallsEach)
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for commits.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d commits after 10s", commits.Load())
		}
		time.Sleep(time.Millisecond)
	}
	closing.Store(true)
	mustClose(t, db)
	wg.Wait()

	if ackedInClose.Load() == 0 {
		t.Errorf("no Append was acknowledged after Close began; the test did not catch appends in flight")
	}
	if len(refused) != clients {
		t.Errorf("%d Appends refused, want one per client (%d)", len(refused), clients)
	}
	for _, err := range refused {
		if !kith.IsCode(err, kith.EUNAVAILABLE) {
			t.Errorf("Append during Close: %v, want code %q", err, kith.EUNAVAILABLE)
		}
	}

	db = open(t, dir, sqlite.Options{})
	stored := map[string]bool{}
	for _, e := range readAll(t, db) {
		stored[e.MessageID] = true
	}
	missing, extra := 0, 0
	for id := range acked {
		if !stored[id] {
			missing++
		}
	}
	for id := range stored {
		if !acked[id] {
			extra++
		}
	}
	if missing > 0 || extra > 0 {
		t.Errorf("after reopen: %d acknowledged events missing, %d unacknowledged events stored (acknowledged %d, stored %d)",
			missing, extra, len(acked), len(stored))
	}
	t.Logf("%d events acknowledged, %d Appends acknowledged after Close began", len(acked), ackedInClose.Load())
}

// Concurrent appends share commits: one fsync for many requests.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	var (
		mu    sync.Mutex
		sizes []int
	)
	db := open(t, t.TempDir(), sqlite.Options{OnCommit: func(events int, _ time.Duration) {
		mu.Lock()
		sizes = append(sizes, events)
		mu.Unlock()
	}})

	const clients, maxRounds = 64, 50
	appends, grouped := 0, false
	for round := 0; round < maxRounds && !grouped; round++ {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				<-start
				if _, err := db.Append(ctx, []kith.Event{event("src_1", fmt.Sprintf("r%02d-c%02d", round, c))}); err != nil {
					t.Errorf("Append: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		appends += clients
		mu.Lock()
		for _, n := range sizes {
			if n > 1 {
				grouped = true
			}
		}
		mu.Unlock()
	}

	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range sizes {
		total += n
	}
	if total != appends {
		t.Errorf("commits wrote %d events, want %d", total, appends)
	}
	if !grouped {
		t.Fatalf("%d rounds of %d concurrent single-event appends: no commit held more than one event", maxRounds, clients)
	}
	if len(sizes) >= appends {
		t.Errorf("%d commits for %d appends, want fewer", len(sizes), appends)
	}
	if n := len(readAll(t, db)); n != appends {
		t.Errorf("log holds %d events, want %d", n, appends)
	}
}

// Appends that share a commit are still separate requests: one that the
// database refuses must not fail the others.
func TestFailedAppendDoesNotFailItsGroup(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir(), sqlite.Options{})
	const clients = 32
	errs := make([]error, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			e := event("src_1", fmt.Sprintf("c%02d", c))
			if c == 0 {
				e.Payload = nil
			}
			<-start
			_, errs[c] = db.Append(ctx, []kith.Event{e})
		})
	}
	close(start)
	wg.Wait()
	for c, err := range errs[1:] {
		if err != nil {
			t.Errorf("client %d: Append: %v; it failed with another client's bad event", c+1, err)
		}
	}
	if n := len(readAll(t, db)); n < clients-1 {
		t.Errorf("log holds %d events, want at least %d", n, clients-1)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for i := range 3 {
		db := openManual(t, dir, sqlite.Options{})
		src := &kith.Source{ID: fmt.Sprintf("src_%d", i), Name: fmt.Sprintf("site-%d", i), Kind: kith.KindWeb,
			WriteKey: fmt.Sprintf("wk-%010d", i), CreatedAt: t0.Add(time.Duration(i) * time.Hour)}
		if err := db.CreateSource(ctx, src); err != nil {
			t.Fatalf("open %d: CreateSource: %v", i, err)
		}
		srcs, err := db.Sources(ctx)
		if err != nil {
			t.Fatalf("open %d: Sources: %v", i, err)
		}
		if len(srcs) != i+1 {
			t.Errorf("open %d: %d sources, want %d", i, len(srcs), i+1)
		}
		mustClose(t, db)
	}
}

// BenchmarkAppend measures the durable event log under concurrent
// 100-event appends, as ingestion requests make them.
func BenchmarkAppend(b *testing.B) {
	const batchSize = 100
	db := open(b, b.TempDir(), sqlite.Options{})
	payload := []byte(`{"type":"track","event":"Order Completed","properties":{"total":42.5,"currency":"EUR"},"context":{"library":{"name":"analytics.js"}}}`)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		batch := make([]kith.Event, batchSize)
		for pb.Next() {
			n := next.Add(1)
			now := time.Now()
			for i := range batch {
				batch[i] = kith.Event{MessageID: fmt.Sprintf("bench-%d-%d", n, i), Type: kith.TypeTrack,
					SourceID: "src_bench", Channel: kith.KindWeb, AnonymousID: "anon", Timestamp: now,
					ReceivedAt: now, Payload: payload}
			}
			if _, err := db.Append(ctx, batch); err != nil {
				b.Errorf("Append: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "events/s")
}

// Memberships commit without an fsync of their own; the log's writer is
// handed back fsync'ing every commit, whether the write succeeded or not.
func TestMembershipsLeaveTheLogFsyncing(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir(), sqlite.Options{})
	check := func(when string) {
		t.Helper()
		if got, err := db.Synchronous(ctx); err != nil || got != "FULL" {
			t.Fatalf("%s: synchronous = %s, %v; want FULL", when, got, err)
		}
	}
	if _, err := db.SetMembershipsMany(ctx, map[string]map[string]bool{"prf_1": {"aud_a": true}}, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	check("after recording memberships")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.SetMembershipsMany(cancelled, map[string]map[string]bool{"prf_1": {"aud_b": true}}, time.Unix(2, 0)); err == nil {
		t.Error("recording with a cancelled context succeeded")
	}
	check("after a failed recording")
	got, err := db.MembershipsOf(ctx, "prf_1")
	if err != nil || len(got) != 1 || got[0] != "aud_a" {
		t.Errorf("memberships %v, %v; want only aud_a", got, err)
	}
}
