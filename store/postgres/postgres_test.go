package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/postgres"
	"github.com/kithhq/kith/store/storetest"
)

// The tests need a PostgreSQL server in which they may create schemas.
const envURL = "KITH_TEST_POSTGRES"

// required reports whether CI asked for a dependency (KITH_TEST_REQUIRE),
// in which case its absence fails the test instead of skipping it.
func required(what string) bool {
	for _, w := range strings.Split(os.Getenv("KITH_TEST_REQUIRE"), ",") {
		if strings.TrimSpace(w) == what {
			return true
		}
	}
	return false
}

// serverURL returns the test server's URL, or skips the test (fails it if
// CI required PostgreSQL).
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u != "" {
		return u
	}
	why := envURL + " is not set; set it to a database the tests may create schemas in, " +
		"e.g. " + envURL + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable', or run .ci/run"
	if required("postgres") {
		t.Fatalf("postgres required by KITH_TEST_REQUIRE but unavailable: %s", why)
	}
	t.Skipf("postgres unavailable: %s", why)
	return ""
}

// withSearchPath returns the server URL with its search_path set to schema.
func withSearchPath(t testing.TB, server, schema string) string {
	t.Helper()
	if strings.HasPrefix(server, "postgres://") || strings.HasPrefix(server, "postgresql://") {
		u, err := url.Parse(server)
		if err != nil {
			t.Fatalf("%s: %v", envURL, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return server + " search_path=" + schema
}

// newSchema creates an empty schema, dropped when the test ends, and
// returns a URL whose connections use it.
func newSchema(t testing.TB) string {
	t.Helper()
	server := serverURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := fmt.Sprintf("kith_test_%d_%s", os.Getpid(), hex.EncodeToString(b))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		if required("postgres") {
			t.Fatalf("postgres required by KITH_TEST_REQUIRE but unreachable: %v", err)
		}
		t.Skipf("postgres at %s unreachable: %v", envURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, server, schema)
}

// open opens a store on url and closes it when the test ends.
func open(t testing.TB, url string, opt postgres.Options) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestContract(t *testing.T) {
	serverURL(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return open(t, newSchema(t), postgres.Options{})
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

func readAll(t *testing.T, db *postgres.DB) []kith.Event {
	t.Helper()
	events, err := db.ReadEvents(context.Background(), 0, -1)
	if err != nil {
		t.Fatalf("ReadEvents: %v", err)
	}
	return events
}

// An acknowledged append is a committed transaction, and the server waits
// for the WAL flush before acknowledging a commit. The store refuses a
// server that does not, unless told otherwise.
func TestDurability(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	db := open(t, url, postgres.Options{})
	got, err := db.Durability(ctx)
	if err != nil {
		t.Fatalf("Durability: %v", err)
	}
	if got == "off" {
		t.Errorf("Durability = %q on a store that opened", got)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}

	async := withRuntimeParam(url, "synchronous_commit", "off")
	if db, err := postgres.Open(ctx, async, postgres.Options{}); err == nil {
		db.Close()
		t.Errorf("Open with synchronous_commit=off succeeded; want a refusal")
	}
	allowed := open(t, async, postgres.Options{AllowAsyncCommit: true})
	if got, err := allowed.Durability(ctx); err != nil || got != "off" {
		t.Errorf("Durability with synchronous_commit=off allowed = %q, %v; want off", got, err)
	}
}

func withRuntimeParam(u, key, value string) string {
	if strings.Contains(u, "://") {
		return u + "&" + key + "=" + value
	}
	return u + " " + key + "=" + value
}

// Nodes starting at once run the migrations once: the others wait for the
// schema's migration lock and find them applied.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	const nodes = 4
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	// Again, and through Open: nothing left to do.
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	db := open(t, url, postgres.Options{})
	if _, err := db.Append(ctx, []kith.Event{event("src_1", "m1")}); err != nil {
		t.Fatalf("Append after migrating: %v", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	// Every migration file, by its number: the numbers need not follow
	// one another.
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v, %v", files, err)
	}
	var want []int32
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		want = append(want, int32(v))
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, versions); diff != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", diff)
	}
}

// Two nodes appending to one database while a follower reads with a
// cursor: seq order is commit order across nodes, so the follower misses
// nothing. Each node's writer commits on its own; only the advisory lock
// keeps them from numbering events out of commit order.
func TestTwoNodesAppendInCommitOrder(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	nodes := []*postgres.DB{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	const clients, calls, perCall = 8, 20, 5
	done := make(chan struct{})
	var followed []kith.Event
	var follower sync.WaitGroup
	follower.Go(func() {
		var after int64
		for {
			finished := false
			select {
			case <-done:
				finished = true
			default:
			}
			page, err := nodes[1].ReadEvents(ctx, after, 13)
			if err != nil {
				t.Errorf("follower: %v", err)
				return
			}
			if len(page) == 0 {
				if finished {
					return
				}
				continue
			}
			followed = append(followed, page...)
			after = page[len(page)-1].Seq
		}
	})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			node := nodes[c%2]
			for call := range calls {
				var batch []kith.Event
				for i := range perCall {
					batch = append(batch, event("src_1", fmt.Sprintf("c%d-%d-%d", c, call, i)))
				}
				if res, err := node.Append(ctx, batch); err != nil || res.Appended != perCall {
					t.Errorf("client %d: Append = %+v, %v", c, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	follower.Wait()
	all := readAll(t, nodes[0])
	if len(all) != clients*calls*perCall {
		t.Fatalf("log holds %d events, want %d", len(all), clients*calls*perCall)
	}
	seqs := func(evs []kith.Event) []int64 {
		out := make([]int64, len(evs))
		for i, e := range evs {
			out[i] = e.Seq
		}
		return out
	}
	if diff := cmp.Diff(seqs(all), seqs(followed)); diff != "" {
		t.Errorf("the follower missed or repeated events (-stored +followed):\n%s", diff)
	}
}

func TestEventByMessageIDAndCount(t *testing.T) {
	ctx := context.Background()
	db := open(t, newSchema(t), postgres.Options{})
	if _, err := db.Append(ctx, []kith.Event{event("src_1", "a"), event("src_1", "b"), event("src_2", "a")}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	for _, want := range readAll(t, db) {
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
	if n, err := db.CountEvents(ctx); err != nil || n != 3 {
		t.Errorf("CountEvents = %d, %v; want 3", n, err)
	}
}

// PostgreSQL keeps nanoseconds too: times are BIGINT Unix nanoseconds.
func TestNanosecondTimes(t *testing.T) {
	ctx := context.Background()
	db := open(t, newSchema(t), postgres.Options{})
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
}

// Text PostgreSQL cannot store is refused before it joins a group commit,
// so it fails its own request only.
func TestUnstorableTextRefused(t *testing.T) {
	ctx := context.Background()
	db := open(t, newSchema(t), postgres.Options{})
	const clients = 16
	errs := make([]error, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			e := event("src_1", fmt.Sprintf("c%02d", c))
			switch c {
			case 0:
				e.MessageID = "nul\x00inside"
			case 1:
				e.UserID = "bad \xff utf-8"
			}
			<-start
			_, errs[c] = db.Append(ctx, []kith.Event{e})
		})
	}
	close(start)
	wg.Wait()
	for c, err := range errs {
		switch {
		case c < 2 && !kith.IsCode(err, kith.EINVALID):
			t.Errorf("client %d with unstorable text: %v, want code %q", c, err, kith.EINVALID)
		case c >= 2 && err != nil:
			t.Errorf("client %d: %v; it failed with another client's bad event", c, err)
		}
	}
	if n := len(readAll(t, db)); n != clients-2 {
		t.Errorf("log holds %d events, want %d", n, clients-2)
	}
	// Free text is kept with U+FFFD in place of what cannot be stored.
	rec := kith.AuditRecord{Actor: kith.Actor{Kind: kith.ActorSystem}, Action: kith.AuditProfileSearch, Detail: "q=a\x00b"}
	if err := db.AppendAudit(ctx, rec); err != nil {
		t.Fatalf("AppendAudit with a NUL: %v", err)
	}
	got, err := db.Audit(ctx, kith.AuditFilter{})
	if err != nil || len(got) != 1 || got[0].Detail != "q=a\uFFFDb" {
		t.Errorf("Audit = %+v, %v; want one record with detail %q", got, err, "q=a\uFFFDb")
	}
}

func TestAppendAfterClose(t *testing.T) {
	db, err := postgres.Open(context.Background(), newSchema(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := db.Append(context.Background(), []kith.Event{event("src_1", "m1")}); !kith.IsCode(err, kith.EUNAVAILABLE) {
		t.Errorf("Append after Close: %v, want code %q", err, kith.EUNAVAILABLE)
	}
}

// Concurrent appends share commits.
func TestGroupCommit(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	db := open(t, newSchema(t), postgres.Options{OnCommit: func(n int, _ time.Duration) {
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
	}})
	const clients = 64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range clients {
		wg.Go(func() {
			<-start
			if _, err := db.Append(context.Background(), []kith.Event{event("src_1", fmt.Sprint("m", c))}); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range sizes {
		total += n
	}
	if total != clients {
		t.Errorf("commits wrote %d events, want %d", total, clients)
	}
	if len(sizes) >= clients {
		t.Errorf("%d commits for %d concurrent appends; want fewer", len(sizes), clients)
	}
}

// Two transactions on two nodes see that no profile holds an identifier
// and both would create a profile for it. The second to link it finds the
// first's link under the identity key's lock, is run again, and then
// joins the first's profile: one person, one profile. With Preload, as
// the processor calls it, the link is buffered and the identity key
// claimed at commit, with the same outcome.
func TestConcurrentFirstSighting(t *testing.T) {
	for _, preload := range []bool{false, true} {
		t.Run(fmt.Sprint("preload=", preload), func(t *testing.T) { testConcurrentFirstSighting(t, preload) })
	}
}

func testConcurrentFirstSighting(t *testing.T, preload bool) {
	ctx := context.Background()
	url := newSchema(t)
	nodes := []*postgres.DB{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	id := kith.Identifier{Type: kith.IDEmail, Value: "ann@example.com"}
	var bothRead sync.WaitGroup
	bothRead.Add(2)
	var attempts [2]atomic.Int32
	var wg sync.WaitGroup
	for n := range nodes {
		wg.Go(func() {
			err := nodes[n].Update(ctx, func(tx kith.ProfileTx) error {
				if preload {
					if err := tx.(profile.Preloader).Preload(ctx, []kith.Identifier{id}); err != nil {
						return err
					}
				}
				found, err := tx.ProfilesFor(ctx, []kith.Identifier{id})
				if err != nil {
					return err
				}
				if attempts[n].Add(1) == 1 {
					bothRead.Done()
					bothRead.Wait()
				}
				target := fmt.Sprintf("prf_%d", n)
				if ps := found[id]; len(ps) > 0 {
					target = ps[0]
				} else {
					p := &kith.Profile{ID: target, CreatedSeq: int64(n + 1), CreatedAt: t0, UpdatedAt: t0}
					if err := tx.PutProfile(ctx, p); err != nil {
						return err
					}
				}
				return tx.AddLink(ctx, kith.Link{Identifier: id, ProfileID: target, Seq: int64(n + 1), MessageID: "m", SourceID: "s", At: t0})
			})
			if err != nil {
				t.Errorf("node %d: Update: %v", n, err)
			}
		})
	}
	wg.Wait()
	holders, err := nodes[0].ProfileIDsFor(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(holders) != 1 {
		t.Errorf("%s is held by %v after two nodes saw it first; want one profile", id, holders)
	}
	if a, b := attempts[0].Load(), attempts[1].Load(); a+b != 3 {
		t.Errorf("transactions ran %d and %d times; want one of them run again", a, b)
	}
}

// Two transactions lock two profiles in opposite orders: PostgreSQL
// breaks the deadlock by aborting one, and the store runs it again.
func TestDeadlockRetried(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	db := open(t, url, postgres.Options{})
	for _, id := range []string{"prf_a", "prf_b"} {
		if err := db.Update(ctx, func(tx kith.ProfileTx) error {
			return tx.PutProfile(ctx, &kith.Profile{ID: id, CreatedAt: t0, UpdatedAt: t0})
		}); err != nil {
			t.Fatal(err)
		}
	}
	var bothLocked sync.WaitGroup
	bothLocked.Add(2)
	var runs atomic.Int32
	var wg sync.WaitGroup
	for i, order := range [][2]string{{"prf_a", "prf_b"}, {"prf_b", "prf_a"}} {
		first := atomic.Bool{}
		first.Store(true)
		wg.Go(func() {
			err := db.Update(ctx, func(tx kith.ProfileTx) error {
				runs.Add(1)
				if _, err := tx.Profile(ctx, order[0]); err != nil {
					return err
				}
				if first.Swap(false) {
					bothLocked.Done()
					bothLocked.Wait()
				}
				p, err := tx.Profile(ctx, order[1])
				if err != nil {
					return err
				}
				p.Events += 1 + i
				return tx.PutProfile(ctx, p)
			})
			if err != nil {
				t.Errorf("transaction %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n < 3 {
		t.Errorf("transactions ran %d times; want a deadlock victim run again", n)
	}
	for id, want := range map[string]int{"prf_a": 2, "prf_b": 1} {
		p, err := db.Profile(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Events != want {
			t.Errorf("%s has Events %d, want %d: each transaction's change applied once", id, p.Events, want)
		}
	}
}

// An error fn returns is returned as it is, never retried.
func TestUpdateErrorNotRetried(t *testing.T) {
	db := open(t, newSchema(t), postgres.Options{})
	mine := errors.New("mine")
	runs := 0
	err := db.Update(context.Background(), func(kith.ProfileTx) error { runs++; return mine })
	if err != mine || runs != 1 {
		t.Errorf("Update = %v after %d runs; want the function's own error after one", err, runs)
	}
}

// BenchmarkAppend measures the durable event log under concurrent
// 100-event appends, as ingestion requests make them.
func BenchmarkAppend(b *testing.B) {
	const batchSize = 100
	db := open(b, newSchema(b), postgres.Options{})
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
