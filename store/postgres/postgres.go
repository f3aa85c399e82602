package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kithhq/kith"
)

// DB is the PostgreSQL store. It implements kith.EventLog,
// kith.EventReader, kith.SourceStore, kith.KeyStore, kith.UserStore,
// kith.SessionStore, kith.AuditLog, kith.OfferStore, kith.ConsentStore and
// the profile processor's store and reader. Several DBs, in one process or
// on several nodes, may share one database.
type DB struct {
	pool *pgxpool.Pool
	// appendLock is the advisory lock every append transaction takes
	// before it numbers its events: the events table's oid under a fixed
	// prefix, so stores in two schemas of one database do not contend.
	appendLock int64

	// Group commit: Append hands requests to the writer goroutine.
	mu      sync.RWMutex // guards closed against sends on appends
	closed  bool
	appends chan *appendReq
	done    chan struct{}
	// Group commit of audit records (audit.go).
	audits       chan *auditReq
	auditWriters sync.WaitGroup

	maxCommitEvents int
	onCommit        func(events int, took time.Duration)
	partitions      int // of the log (partitions.go)
}

// Options tune a DB. The zero value is the default.
type Options struct {
	// MaxCommitEvents caps the events that one group commit writes (default 8192).
	MaxCommitEvents int
	// OnCommit, when set, is called by the writer after each group commit
	// with the number of events it wrote and how long the commit took.
	OnCommit func(events int, took time.Duration)
	// OnQuery, when set, is called after every statement or pipelined
	// batch with its kind (select, insert, update, delete, with, batch…)
	// and how long it took, network included.
	OnQuery func(kind string, took time.Duration)
	// MaxConns is the size of the connection pool (default 16). The append
	// writer holds one connection while it commits; every other call
	// borrows one for its statement or transaction.
	MaxConns int32
	// AllowAsyncCommit lets Open proceed when the server acknowledges
	// commits before they reach disk (synchronous_commit or fsync off).
	// Acknowledged events may then be lost in a crash of the server; by
	// default Open refuses.
	AllowAsyncCommit bool
}

// Default sizes.
const (
	auditWriters           = 4
	defaultMaxCommitEvents = 8192
	defaultMaxConns        = 16
)

// lockPrefix is the high half of the keys of the store's advisory locks
// ("kith" in ASCII).
const lockPrefix = int64(0x6b697468) << 32

// Open connects to the database named by url (a postgres:// URL or a
// key=value string, as libpq takes; a search_path parameter selects the
// schema), runs the migrations it has not run yet and starts the append
// writer. It refuses a server that acknowledges commits before they are
// durable, unless opt.AllowAsyncCommit.
func Open(ctx context.Context, url string, opt Options) (_ *DB, err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = opt.MaxConns
	if opt.OnQuery != nil {
		cfg.ConnConfig.Tracer = tracer{observe: opt.OnQuery}
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	err = migrate(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		return nil, err
	}
	db := &DB{
		pool:            pool,
		appends:         make(chan *appendReq, 1024),
		done:            make(chan struct{}),
		audits:          make(chan *auditReq, 1024),
		maxCommitEvents: opt.MaxCommitEvents,
		onCommit:        opt.OnCommit,
	}
	if db.maxCommitEvents <= 0 {
		db.maxCommitEvents = defaultMaxCommitEvents
	}
	if err := db.checkDurable(ctx, opt.AllowAsyncCommit); err != nil {
		return nil, err
	}
	var oid int64
	if err := pool.QueryRow(ctx, `SELECT 'events'::regclass::oid::bigint`).Scan(&oid); err != nil {
		return nil, fmt.Errorf("postgres: find the events table: %w", err)
	}
	db.appendLock = lockPrefix | oid
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM partitions`).Scan(&db.partitions); err != nil {
		return nil, fmt.Errorf("postgres: count the log's partitions: %w", err)
	}
	if db.partitions < 1 {
		return nil, fmt.Errorf("postgres: the partitions table is empty: the log needs at least one partition")
	}
	go db.writeLoop()
	// A few writers: a read waits for its record, and one writer would
	// queue every read behind the round trip in flight.
	for range auditWriters {
		db.auditWriters.Add(1)
		go db.auditLoop()
	}
	return db, nil
}

// checkDurable refuses a server that would acknowledge an append before it
// is on disk.
func (db *DB) checkDurable(ctx context.Context, allowAsync bool) error {
	sync, err := db.Durability(ctx)
	if err != nil {
		return err
	}
	var fsync string
	if err := db.pool.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil {
		return fmt.Errorf("postgres: read fsync: %w", err)
	}
	if (sync == "off" || fsync == "off") && !allowAsync {
		return fmt.Errorf("postgres: the server acknowledges commits before they are on disk (synchronous_commit=%s, fsync=%s), "+
			"so an acknowledged event could be lost in a crash; turn both on, or set Options.AllowAsyncCommit", sync, fsync)
	}
	return nil
}

// Migrate runs the store's migrations on the database named by url and
// returns, without starting anything: the work of `kith migrate`. Open
// runs them too, so calling Migrate first is optional.
func Migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrate(ctx, conn)
}

// Close flushes pending appends, waits for the writer and closes the pool.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.appends)
	close(db.audits)
	db.mu.Unlock()
	<-db.done
	db.auditWriters.Wait()
	db.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Ready reports whether the store can serve: the database answers.
func (db *DB) Ready(ctx context.Context) error { return db.Ping(ctx) }

// Durability returns the server's synchronous_commit setting as the
// store's connections see it: "on" (the default), "remote_apply",
// "remote_write" or "local" when a commit waits for the local WAL flush
// before it is acknowledged, "off" when it does not.
func (db *DB) Durability(ctx context.Context) (string, error) {
	var s string
	if err := db.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&s); err != nil {
		return "", fmt.Errorf("postgres: read synchronous_commit: %w", err)
	}
	return s, nil
}

// PostgreSQL error codes the store tells apart (Appendix A of its manual).
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeBadCharacter         = "22021" // character_not_in_repertoire: NUL, invalid UTF-8
)

// classify maps PostgreSQL error codes to Kith's error codes.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &kith.Error{Code: kith.ENOTFOUND, Message: what + " not found"}
	}
	if u := unreachable(err); u != err {
		return u
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return &kith.Error{Code: kith.ECONFLICT, Message: what + " already exists"}
		case codeBadCharacter:
			return &kith.Error{Code: kith.EINVALID, Message: "text with a character the database cannot store (NUL or invalid UTF-8)"}
		}
	}
	return err
}

// unreachable classifies err as EUNAVAILABLE when it says the server
// cannot be reached or is going away — a refused or broken connection, a
// server shutting down, starting or out of connections — so that callers
// answer "try again" (503) rather than "internal error". Other errors are
// returned as they are.
func unreachable(err error) error {
	if err == nil || kith.ErrorCode(err) == kith.EUNAVAILABLE {
		return err
	}
	down := false
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &pe):
		// Class 08: connection exceptions; 57P01–57P03: administrator
		// shutdown, crash shutdown, cannot connect now; 53300: too many
		// connections.
		down = strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	case errors.As(err, &ce), errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		down = true
	default:
		var ne net.Error
		down = errors.As(err, &ne) && !errors.Is(err, context.Canceled) || pgconn.SafeToRetry(err)
	}
	if !down {
		return err
	}
	return fmt.Errorf("%w: %w", kith.Errorf(kith.EUNAVAILABLE, "the database (PostgreSQL) is unreachable; try again"), err)
}

// errStale says that a transaction read something that a concurrent one
// changed before this one could lock it; running it again reads afresh.
var errStale = errors.New("postgres: a concurrent transaction changed what this one read")

// retryable reports whether running the whole transaction again may
// succeed: PostgreSQL chose it as a deadlock or serialization victim, or
// the store found its reads stale.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == codeSerializationFailure || pe.Code == codeDeadlockDetected
	}
	return errors.Is(err, errStale)
}

// maxAttempts bounds how often inTx runs a transaction that keeps losing.
const maxAttempts = 5

// inTx runs fn in a READ COMMITTED transaction and commits it. A
// transaction that loses a deadlock or a race is rolled back and run
// again, up to maxAttempts times, so fn must be safe to run more than
// once. An error fn returns is returned as it is.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := range maxAttempts {
		if attempt > 0 {
			// Back off a little, with jitter, so that the two losers of a
			// deadlock do not meet again at once.
			pause := time.Duration(attempt)*10*time.Millisecond + rand.N(10*time.Millisecond)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return err
			}
		}
		if err = db.tryTx(ctx, fn); err == nil || !retryable(err) {
			return unreachable(err)
		}
	}
	return fmt.Errorf("%w: %w", kith.Errorf(kith.EUNAVAILABLE, "the database refused the transaction %d times; try again", maxAttempts), err)
}

func (db *DB) tryTx(ctx context.Context, fn func(pgx.Tx) error) (err error) {
	// READ COMMITTED whatever the server's default: the lock protocols
	// (events.go, profiles.go) rely on each statement reading afresh after
	// the locks before it were granted.
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	// Once fn is done, the commit is not abandoned half way because the
	// caller stopped waiting: its outcome would be unknown.
	if err = tx.Commit(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// Times are stored as Unix nanoseconds, which hold 1678 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64).Add(time.Second)
	maxTime = time.Unix(0, math.MaxInt64).Add(-time.Second)
)

func checkTime(t time.Time, field string) error {
	if !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) {
		return kith.Invalid(field, "time %s is outside the range the store keeps (%d to %d)", t.Format(time.RFC3339), minTime.Year()+1, maxTime.Year()-1)
	}
	return nil
}

// nanos is a time as stored: Unix nanoseconds, NULL for the zero time.
func nanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// checkText refuses text that PostgreSQL cannot store in a text column —
// NUL characters and invalid UTF-8, which SQLite keeps — before it reaches
// a statement, where it would fail the whole transaction.
func checkText(s, field string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return kith.Invalid(field, "contains a NUL character")
	}
	if !utf8.ValidString(s) {
		return kith.Invalid(field, "is not valid UTF-8")
	}
	return nil
}

// storable returns free text (a reason, an audit detail, a search key)
// with NUL characters and invalid UTF-8 replaced by U+FFFD: refusing it
// would cost more than the character. Keys and ids are checked instead.
func storable(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
