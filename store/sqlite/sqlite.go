package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kithhq/kith"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrations embed.FS

// The store keeps two SQLite databases in the data directory, each with its
// own writer, so that appending to the log and folding it into profiles run
// side by side rather than taking turns on one write lock:
//   - FileName (kith.db): the event log, sources and API keys, and other
//     primary data (users, audiences, consent decisions, contact points and
//     relationships); every commit is fsync'd (synchronous=FULL) because an
//     acknowledged event is a promise.
//   - ProfilesFileName (profiles.db): identity graph, profiles, timelines and
//     the processors' cursors, all derived from the log. Its cursor commits
//     with the changes it caused, so a crash loses neither nor doubles one.
//   - AuditFileName (audit.db): who read or changed what, with a writer of
//     its own so recording a read never queues behind ingestion.
//   - OffersFileName (offers.db): the offer catalog, grants and
//     redemptions; fsync'd like the log, with its own writer.
const (
	FileName         = "kith.db"
	ProfilesFileName = "profiles.db"
)

// DB is the embedded store. It implements kith.EventLog, kith.EventReader,
// kith.SourceStore, kith.KeyStore, kith.UserStore, kith.SessionStore,
// kith.AuditLog, kith.OfferStore, kith.ConsentStore and the profile
// processor's store.
type DB struct {
	path string
	w    *sql.DB // kith.db: exactly one connection, every write goes through it
	r    *sql.DB // kith.db: read-only pool
	pw   *sql.DB // profiles.db: exactly one connection
	pr   *sql.DB // profiles.db: read-only pool
	aw   *sql.DB // audit.db: exactly one connection
	ar   *sql.DB // audit.db: read-only pool
	ow   *sql.DB // offers.db: exactly one connection
	or   *sql.DB // offers.db: read-only pool
	// lazyMembers: memberships commit without an fsync of their own
	// (SyncMembershipsWithLog).
	lazyMembers atomic.Bool
	pwp         prepared // hot statements on pw
	prp         prepared // hot statements on pr
	owp         prepared // the ledger's statements on ow
	orp         prepared // offer reads on or

	// Group commit: Append hands requests to the writer goroutine.
	mu      sync.RWMutex // guards closed against sends on appends
	closed  bool
	appends chan *appendReq
	done    chan struct{}

	// Group commit of the audit trail, the same way.
	audits          chan *auditReq
	auditDone       chan struct{}
	checkpointsDone chan struct{}

	// The offer ledger's operations, grouped by its writer.
	ledgerReqs chan *ledgerReq
	ledgerDone chan struct{}

	// MaxCommitEvents caps the events one group commit takes.
	maxCommitEvents int
	onCommit        func(events int, took time.Duration)
}

// Options tune a DB. The zero value is the default.
type Options struct {
	// MaxCommitEvents caps the events that one group commit writes (default 8192).
	MaxCommitEvents int
	// OnCommit, when set, is called by the writer after each group commit
	// with the number of events it wrote and how long the commit took.
	OnCommit func(events int, took time.Duration)
}

// openPair opens a database file as one write connection and a read pool.
// writerPragmas are added to the write connection's.
func openPair(path, synchronous string, cacheMB int, writerPragmas ...string) (w, r *sql.DB, err error) {
	dsn := func(cacheKB int, extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{
			"busy_timeout(10000)",
			"journal_mode(WAL)",
			"synchronous(" + synchronous + ")",
			"foreign_keys(ON)",
			"cache_size(-" + strconv.Itoa(cacheKB) + ")",
			// Checkpoint every 40 MB of WAL rather than 4 MB: fewer,
			// larger checkpoints inside commits.
			"wal_autocheckpoint(10000)",
		}, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	if w, err = sql.Open("sqlite", dsn(cacheMB*1024, writerPragmas...)+"&_txlock=immediate"); err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The page cache is per connection: readers keep a small one each and
	// share the OS cache.
	if r, err = sql.Open("sqlite", dsn(16*1024, "query_only(1)")); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return w, r, nil
}

// writerCheckpoint is the WAL size, in pages (200 MB), past which a commit
// of the log or of profiles checkpoints itself, when the checkpoints run
// beside the writers have fallen behind.
const writerCheckpoint = "wal_autocheckpoint(50000)"

// walSizeLimit truncates a WAL that grew past 64 MB (an import's) when it
// starts over, rather than keeping the file at its largest.
const walSizeLimit = "journal_size_limit(67108864)"

// Open opens (creating if needed) the store in dir and runs its migrations.
func Open(ctx context.Context, dir string, opt Options) (_ *DB, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db := &DB{
		path:            filepath.Join(dir, FileName),
		appends:         make(chan *appendReq, 1024),
		done:            make(chan struct{}),
		audits:          make(chan *auditReq, 1024),
		auditDone:       make(chan struct{}),
		checkpointsDone: make(chan struct{}),
		ledgerReqs:      make(chan *ledgerReq, 1024),
		ledgerDone:      make(chan struct{}),
		maxCommitEvents: opt.MaxCommitEvents,
		onCommit:        opt.OnCommit,
	}
	if db.maxCommitEvents <= 0 {
		db.maxCommitEvents = 8192
	}
	defer func() {
		if err != nil {
			db.closeAll()
		}
	}()
	// FULL: every commit of the log fsyncs the WAL, so an acknowledged event
	// survives a power loss, not just a process crash.
	// The log's and the profiles' WALs are copied into their files beside
	// the writers (see checkpoints); a commit checkpoints only if the WAL
	// has passed writerCheckpoint's size, when they have fallen behind.
	if db.w, db.r, err = openPair(db.path, "FULL", 64, writerCheckpoint, walSizeLimit); err != nil {
		return nil, err
	}
	// NORMAL: derived state; a power loss may forget the latest batches
	// together with their cursor, and they are folded again from the log.
	// Profiles are updated all over the file: a large page cache saves a
	// read for most of them.
	// temp_store MEMORY: a statement that inserts many rows keeps the
	// pages it changed in a statement journal, to undo itself alone; in a
	// file, writing it was a tenth of processing.
	if db.pw, db.pr, err = openPair(filepath.Join(dir, ProfilesFileName), "NORMAL", 512, "temp_store(MEMORY)", writerCheckpoint, walSizeLimit); err != nil {
		return nil, err
	}
	// NORMAL: a record of who read a profile is in the WAL before the data
	// leaves, so it survives a crash of Kith; a power loss may forget the
	// last moments. fsync'ing every group commit doubled lookup latency
	// (docs/console-and-audit.md has the figures).
	if db.aw, db.ar, err = openPair(filepath.Join(dir, AuditFileName), "NORMAL", 8); err != nil {
		return nil, err
	}
	// FULL: a grant or a redemption is a promise, like an acknowledged event.
	if db.ow, db.or, err = openPair(filepath.Join(dir, OffersFileName), "FULL", 16); err != nil {
		return nil, err
	}
	if err = migrate(ctx, db.w, "migrations/events"); err != nil {
		return nil, err
	}
	if err = migrate(ctx, db.pw, "migrations/profiles"); err != nil {
		return nil, err
	}
	if err = migrate(ctx, db.aw, "migrations/audit"); err != nil {
		return nil, err
	}
	if err = migrate(ctx, db.ow, "migrations/offers"); err != nil {
		return nil, err
	}
	// Reads wait for their audit record and redemptions for the ledger's
	// commit: their checkpoints run beside the writers (see checkpoints)
	// rather than inside a commit.
	for _, w := range []*sql.DB{db.aw, db.ow} {
		if _, err = w.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
			return nil, fmt.Errorf("checkpoints beside the writer: %w", err)
		}
	}
	if db.pwp, err = prepare(ctx, db.pw, hotQueries); err != nil {
		return nil, err
	}
	if db.prp, err = prepare(ctx, db.pr, hotQueries); err != nil {
		return nil, err
	}
	if db.owp, err = prepare(ctx, db.ow, ledgerQueries); err != nil {
		return nil, err
	}
	if db.orp, err = prepare(ctx, db.or, offerReadQueries); err != nil {
		return nil, err
	}
	go db.writeLoop()
	go db.auditLoop()
	go db.checkpoints()
	go db.ledgerLoop()
	return db, nil
}

func (db *DB) closeAll() error {
	db.pwp.close()
	db.prp.close()
	db.owp.close()
	db.orp.close()
	var errs []error
	for _, c := range []*sql.DB{db.r, db.w, db.pr, db.pw, db.ar, db.aw, db.or, db.ow} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// submit hands a request to a writer goroutine's queue, unless the store
// is closing (its queues are closed under mu) or ctx ends first.
func submit[T any](ctx context.Context, db *DB, queue chan<- T, req T) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return kith.Errorf(kith.EUNAVAILABLE, "the store is closing")
	}
	select {
	case queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// prq returns the profiles read pool with its prepared statements.
func (db *DB) prq() querier { return dbQuerier{db.pr, db.prp} }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close flushes pending appends, waits for the writer and closes the database.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.appends)
	close(db.audits)
	close(db.ledgerReqs)
	db.mu.Unlock()
	<-db.done
	<-db.auditDone
	<-db.ledgerDone
	<-db.checkpointsDone
	// Fold the WAL into the main file so a cold start reads one file.
	_, _ = db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	_, _ = db.pw.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	_, _ = db.aw.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	_, _ = db.ow.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return db.closeAll()
}

// Synchronous returns the synchronous setting of the connection that commits
// writes, as SQLite reports it: "FULL" when every commit is fsync'd.
func (db *DB) Synchronous(ctx context.Context) (string, error) {
	var n int
	if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n); err != nil {
		return "", fmt.Errorf("read synchronous: %w", err)
	}
	switch n {
	case 0:
		return "OFF", nil
	case 1:
		return "NORMAL", nil
	case 2:
		return "FULL", nil
	case 3:
		return "EXTRA", nil
	}
	return strconv.Itoa(n), nil
}

// Ready reports whether the store can serve: its write connection answers.
func (db *DB) Ready(ctx context.Context) error {
	_, err := db.Synchronous(ctx)
	return err
}

// JournalMode returns the journal mode of the write connection ("wal").
func (db *DB) JournalMode(ctx context.Context) (string, error) {
	var m string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&m); err != nil {
		return "", fmt.Errorf("read journal_mode: %w", err)
	}
	return m, nil
}

// migrate applies the numbered .sql files in dir that db has not seen yet.
func migrate(ctx context.Context, db *sql.DB, dir string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: bad migration name %s", base)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", v).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", v, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// classify maps SQLite error codes to Kith's error codes.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &kith.Error{Code: kith.ENOTFOUND, Message: what + " not found"}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &kith.Error{Code: kith.ECONFLICT, Message: what + " already exists"}
		}
	}
	return err
}

func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}
