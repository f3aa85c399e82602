package postgres

// Profile transactions (Process and Update) and the locks they take.
//
// SQLite runs one profile transaction at a time. Here several may run at
// once, on several nodes, and touch the same people; PostgreSQL's READ
// COMMITTED isolation reads afresh at every statement, and these locks
// make what a transaction read stay true until it commits. In the order a
// transaction takes them:
//
//  1. Its cursor's row (Process only), with SELECT … FOR UPDATE, inserted
//     first if missing, before fn runs. Processors of one cursor on any
//     node take turns, and ProfileTx.Cursor reads what the last committed
//     batch left.
//  2. Profile rows, with SELECT … FOR UPDATE. A profile's row stands for
//     everything about the person: a transaction locks it before reading
//     what a decision rests on (Profile, Identifiers, Cluster, the holders
//     ProfilesFor returns) and before changing the profile, its identifiers,
//     timeline, conflicts or do-not-link rules. Each call locks what it
//     needs in one statement, in id order. A lock is kept to the end of the
//     transaction and not asked for again. Preload (overlay.go), which the
//     processor calls first, locks the holders of every identifier of its
//     batch in one statement, in id order, so most batches take all their
//     profile locks at once.
//  3. Identity key rows (identity_keys), only when linking identifiers
//     that ProfilesFor (or Preload) found no profile holding: inserted if
//     missing, then locked, in key order, then the identifiers' holders
//     are read again. AddLink does this at once; after Preload it is done
//     for all of them when the buffered links are sent, before they are
//     inserted. If another transaction linked one meanwhile, this one
//     planned on stale reads and fails with errStale; inTx runs it again,
//     and it then finds the holder instead of creating a second profile
//     for one person.
//
// Why ProfilesFor locks the holders it found and reads again: between
// reading that P holds identifier X and locking P, another transaction may
// absorb P and move X to the survivor. Once every holder returned is
// locked, the holders of X stay put until commit: removing or moving X
// needs its holder's lock (Absorb, DeleteProfiles), and linking X to one
// more profile needs a holder's lock (the linker resolved X first) or, if
// there was none, X's identity key lock.
//
// Within one call locks go cursor, then profiles in id order, then
// identity keys in key order. Across the calls of a transaction profiles are locked in
// the order the processor asks for them, which the store cannot sort: two
// transactions that need two people in opposite orders can deadlock.
// PostgreSQL detects it (after deadlock_timeout, 1 s by default) and aborts
// one with 40P01, which inTx runs again. Appends (the log's advisory lock)
// and ChangeUser (user rows) never hold a profile lock while waiting for
// one, so they take no part in such cycles.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kithhq/kith"
)

// querier is what a transaction and the pool both offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Process runs fn in one transaction that also moves the named cursor to
// seq: the cursor's row is locked before fn runs, so processors of one
// cursor on several nodes take turns, and it moves in the same commit as
// the changes. fn may run more than once, if PostgreSQL aborts a try to
// break a deadlock; an error from fn rolls back and is returned as it is.
func (db *DB) Process(ctx context.Context, cursor string, seq int64, fn func(kith.ProfileTx) error) error {
	return db.ProcessCursors(ctx, map[string]int64{cursor: seq}, fn)
}

// ProcessCursors is Process for several cursors: their rows are locked in
// name order before fn runs, and each moves to its position in the same
// commit as fn's changes.
func (db *DB) ProcessCursors(ctx context.Context, moves map[string]int64, fn func(kith.ProfileTx) error) error {
	names := slices.Sorted(maps.Keys(moves))
	seqs := make([]int64, len(names))
	for i, n := range names {
		seqs[i] = moves[n]
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(qCustomPlans)
		b.Queue(`INSERT INTO cursors (name, seq) SELECT unnest($1::text[]), 0 ON CONFLICT DO NOTHING`, names)
		b.Queue(`SELECT name, seq FROM cursors WHERE name = ANY($1) ORDER BY name FOR UPDATE`, names)
		br := tx.SendBatch(ctx, b)
		cursors := make(map[string]int64, len(names))
		_, err := br.Exec()
		if err == nil {
			_, err = br.Exec()
		}
		if err == nil {
			var rows pgx.Rows
			if rows, err = br.Query(); err == nil {
				var name string
				var cur int64
				_, err = pgx.ForEachRow(rows, []any{&name, &cur}, func() error {
					cursors[name] = cur
					return nil
				})
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("lock cursors %v: %w", names, err)
		}
		ptx := newProfileTx(tx)
		ptx.cursors = cursors
		if err := fn(ptx); err != nil {
			return err
		}
		// The buffered writes and the cursors' moves: one round trip.
		b = &pgx.Batch{}
		read, err := ptx.queueFlush(ctx, b)
		if err != nil {
			return err
		}
		b.Queue(`UPDATE cursors SET seq = m.seq FROM unnest($1::text[], $2::bigint[]) AS m (name, seq)
			WHERE cursors.name = m.name`, names, seqs)
		br = tx.SendBatch(ctx, b)
		err = read(br)
		if err == nil {
			if _, err = br.Exec(); err != nil {
				err = fmt.Errorf("move cursors %v: %w", names, err)
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// Update runs fn in one transaction without moving a cursor: explicit
// decisions such as an undone merge. Like every commit here it is durable
// when it returns. fn may run more than once, as in Process.
func (db *DB) Update(ctx context.Context, fn func(kith.ProfileTx) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, qCustomPlans); err != nil {
			return fmt.Errorf("plan cache mode: %w", err)
		}
		ptx := newProfileTx(tx)
		if err := fn(ptx); err != nil {
			return err
		}
		return ptx.flush(ctx)
	})
}

// Cursor returns the named processor cursor as committed (0 if never moved).
func (db *DB) Cursor(ctx context.Context, name string) (int64, error) {
	return cursor(ctx, db.pool, name)
}

func cursor(ctx context.Context, q querier, name string) (int64, error) {
	var seq int64
	err := q.QueryRow(ctx, "SELECT seq FROM cursors WHERE name = $1", name).Scan(&seq)
	if err == pgx.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cursor %s: %w", name, err)
	}
	return seq, nil
}

// qCustomPlans has the transaction plan every statement for its
// parameters. The profile statements look rows up by arrays of keys; a
// generic plan, chosen once while a table was small, would go on scanning
// it whole after it grew.
const qCustomPlans = `SELECT set_config('plan_cache_mode', 'force_custom_plan', true)`

// profileTx implements kith.ProfileTx on one pgx.Tx.
type profileTx struct {
	tx pgx.Tx
	// locked holds the profiles whose rows this transaction has locked (or
	// asked to lock and found no row for: there is nothing to change).
	locked map[string]bool
	// unheld holds identifiers ProfilesFor last found no profile holding;
	// linking one claims its identity key first.
	unheld  map[kith.Identifier]bool
	pending []timelineRow // not yet inserted

	// The cursor Process locked, as it read it.
	cursors map[string]int64 // locked by Process, as read under the lock

	overlay // set up by Preload (overlay.go)
}

type timelineRow struct {
	profileID string
	ts, seq   int64
	warnings  *string
}

func newProfileTx(tx pgx.Tx) *profileTx {
	return &profileTx{tx: tx, locked: map[string]bool{}, unheld: map[kith.Identifier]bool{}}
}

// toLock returns the profiles of ids this transaction has not locked, sorted.
func (t *profileTx) toLock(ids []string) []string {
	var need []string
	for _, id := range ids {
		if !t.locked[id] {
			need = append(need, id)
		}
	}
	slices.Sort(need)
	return slices.Compact(need)
}

// qLock locks profile rows in id order.
const qLock = `SELECT id FROM profiles WHERE id = ANY($1) ORDER BY id FOR UPDATE`

// lock takes the row locks of the profiles it does not hold yet, in id order.
func (t *profileTx) lock(ctx context.Context, ids ...string) error {
	need := t.toLock(ids)
	if len(need) == 0 {
		return nil
	}
	if _, err := t.tx.Exec(ctx, qLock, need); err != nil {
		return fmt.Errorf("lock profiles: %w", err)
	}
	for _, id := range need {
		t.locked[id] = true
	}
	return nil
}

func (t *profileTx) Cursor(ctx context.Context, name string) (int64, error) {
	if seq, ok := t.cursors[name]; ok {
		return seq, nil // read under its lock; moved only at commit
	}
	return cursor(ctx, t.tx, name)
}

const profileCols = "id, created_seq, created_at, updated_at, merged_into, doc"

func scanProfile(row pgx.Row) (*kith.Profile, error) {
	var p kith.Profile
	var created, updated int64
	var merged *string
	var doc []byte
	if err := row.Scan(&p.ID, &p.CreatedSeq, &created, &updated, &merged, &doc); err != nil {
		return nil, err
	}
	if err := kith.DecodeProfileDoc(doc, &p); err != nil {
		return nil, fmt.Errorf("profile %s: corrupt document: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	if merged != nil {
		p.MergedInto = *merged
	}
	return &p, nil
}

func collectProfiles(rows pgx.Rows) ([]*kith.Profile, error) {
	defer rows.Close()
	var out []*kith.Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Profile loads a profile and locks its row. After Preload, a profile
// the transaction has locked is served from memory, as last read or put.
func (t *profileTx) Profile(ctx context.Context, id string) (*kith.Profile, error) {
	if p, ok := t.profiles[id]; ok {
		return p, nil
	}
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	p, err := scanProfile(t.tx.QueryRow(ctx, "SELECT "+profileCols+" FROM profiles WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return nil, classify(err, "profile "+id)
	}
	t.locked[id] = true
	if t.on {
		t.profiles[id] = p
	}
	return p, nil
}

// PutProfile inserts or replaces a profile; either locks its row. After
// Preload it is buffered (overlay.go).
func (t *profileTx) PutProfile(ctx context.Context, p *kith.Profile) error {
	if t.on {
		t.putProfile(p)
		return nil
	}
	doc := kith.AppendProfileDoc(make([]byte, 0, 2048), p)
	var s1, s2, merged *string
	if len(p.SearchKeys) > 0 {
		s := storable(p.SearchKeys[0])
		s1 = &s
	}
	if len(p.SearchKeys) > 1 {
		s := storable(p.SearchKeys[1])
		s2 = &s
	}
	if p.MergedInto != "" {
		merged = &p.MergedInto
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO profiles (id, created_seq, created_at, updated_at, merged_into, search1, search2, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET created_seq = excluded.created_seq, created_at = excluded.created_at,
			updated_at = excluded.updated_at, merged_into = excluded.merged_into,
			search1 = excluded.search1, search2 = excluded.search2, doc = excluded.doc`,
		p.ID, p.CreatedSeq, p.CreatedAt.UnixNano(), p.UpdatedAt.UnixNano(), merged, s1, s2, doc)
	if err != nil {
		return fmt.Errorf("put profile %s: %w", p.ID, classify(err, "profile "+p.ID))
	}
	t.locked[p.ID] = true
	return nil
}

// maxHolderReads bounds the read-lock-read rounds of ProfilesFor.
const maxHolderReads = 8

// ProfilesFor returns the current profiles holding each identifier, with
// their rows locked: it reads the holders, locks those it does not hold
// yet and reads again, until every holder is locked (see the top of this
// file). After Preload, identifiers it knows are answered from memory.
func (t *profileTx) ProfilesFor(ctx context.Context, ids []kith.Identifier) (map[kith.Identifier][]string, error) {
	if len(ids) == 0 {
		return map[kith.Identifier][]string{}, nil
	}
	if found, ok := t.knownHolders(ids); ok {
		return found, nil
	}
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	q, args := holdersQuery(ids)
	found, err := collectHolders(t.tx.Query(ctx, q, args...))
	for range maxHolderReads {
		if err != nil {
			return nil, fmt.Errorf("profiles for %s: %w", ids[0], err)
		}
		var holders []string
		for _, ps := range found {
			holders = append(holders, ps...)
		}
		need := t.toLock(holders)
		if len(need) == 0 {
			for _, id := range ids {
				if len(found[id]) == 0 {
					t.unheld[id] = true
				} else {
					delete(t.unheld, id)
				}
				if t.on {
					t.holders[id] = slices.Clone(found[id])
				}
			}
			return found, nil
		}
		// Lock, then read again with a snapshot taken after the locks:
		// one round trip.
		b := &pgx.Batch{}
		b.Queue(qLock, need)
		b.Queue(q, args...)
		br := t.tx.SendBatch(ctx, b)
		if _, err = br.Exec(); err == nil {
			for _, id := range need {
				t.locked[id] = true
			}
			found, err = collectHolders(br.Query())
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("profiles for %s: %w", ids[0], err)
	}
	return nil, fmt.Errorf("profiles for %s: holders kept changing: %w", ids[0], errStale)
}

// holdersQuery reads the profiles holding any of ids.
func holdersQuery(ids []kith.Identifier) (string, []any) {
	types, values := make([]string, len(ids)), make([][]byte, len(ids))
	for i, id := range ids {
		types[i], values[i] = id.Type, []byte(id.Value)
	}
	return `SELECT DISTINCT i.type, i.value, i.profile_id FROM identifiers i
		JOIN unnest($1::text[], $2::bytea[]) AS q (type, value) ON i.type = q.type AND i.value = q.value
		ORDER BY i.profile_id`, []any{types, values}
}

func collectHolders(rows pgx.Rows, err error) (map[kith.Identifier][]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[kith.Identifier][]string{}
	for rows.Next() {
		var id kith.Identifier
		var value []byte
		var p string
		if err := rows.Scan(&id.Type, &value, &p); err != nil {
			return nil, err
		}
		id.Value = string(value)
		out[id] = append(out[id], p)
	}
	return out, rows.Err()
}

// Identifiers returns the identifiers a profile holds, with its row locked.
func (t *profileTx) Identifiers(ctx context.Context, profileID string) ([]kith.Identifier, error) {
	if ids, ok := t.idents[profileID]; ok {
		return slices.Clone(ids), nil
	}
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	if err := t.lock(ctx, profileID); err != nil {
		return nil, err
	}
	ls, err := links(ctx, t.tx, profileID)
	if err != nil {
		return nil, err
	}
	out := make([]kith.Identifier, len(ls))
	for i, l := range ls {
		out[i] = l.Identifier
	}
	if t.on {
		t.idents[profileID] = slices.Clone(out)
	}
	return out, nil
}

func links(ctx context.Context, q querier, profileID string) ([]kith.Link, error) {
	rows, err := q.Query(ctx, `SELECT type, value, seq, message_id, source_id, at FROM identifiers
		WHERE profile_id = $1 ORDER BY seq, type, value`, profileID)
	if err != nil {
		return nil, fmt.Errorf("identifiers of %s: %w", profileID, err)
	}
	defer rows.Close()
	var out []kith.Link
	for rows.Next() {
		l := kith.Link{ProfileID: profileID}
		var value []byte
		var at int64
		if err := rows.Scan(&l.Type, &value, &l.Seq, &l.MessageID, &l.SourceID, &at); err != nil {
			return nil, fmt.Errorf("identifiers of %s: %w", profileID, err)
		}
		l.Value, l.At = string(value), time.Unix(0, at).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("identifiers of %s: %w", profileID, err)
	}
	return out, nil
}

// AddLink attaches an identifier to a profile, under the profile's lock;
// linking one already held is a no-op that keeps the first link. Linking
// an identifier ProfilesFor found unheld claims its identity key first:
// at once, or after Preload when the buffered links are sent.
func (t *profileTx) AddLink(ctx context.Context, l kith.Link) error {
	if err := t.lock(ctx, l.ProfileID); err != nil {
		return err
	}
	if t.on {
		t.addLink(l)
		return nil
	}
	if t.unheld[l.Identifier] {
		if err := t.claim(ctx, l.Identifier); err != nil {
			return fmt.Errorf("link %s to %s: %w", l.Identifier, l.ProfileID, err)
		}
		delete(t.unheld, l.Identifier)
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO identifiers (type, value, profile_id, seq, message_id, source_id, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		l.Type, []byte(l.Value), l.ProfileID, l.Seq, storable(l.MessageID), storable(l.SourceID), l.At.UnixNano())
	if err != nil {
		return fmt.Errorf("link %s to %s: %w", l.Identifier, l.ProfileID, classify(err, "link"))
	}
	return nil
}

// claim locks an identifier's identity key and fails with errStale if a
// profile holds the identifier after all: a transaction that committed
// since ProfilesFor looked linked it.
func (t *profileTx) claim(ctx context.Context, id kith.Identifier) error {
	v := []byte(id.Value)
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO identity_keys (type, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id.Type, v)
	b.Queue(`SELECT count(*) FROM (SELECT 1 FROM identity_keys WHERE type = $1 AND value = $2 FOR UPDATE) k`, id.Type, v)
	b.Queue(`SELECT EXISTS (SELECT 1 FROM identifiers WHERE type = $1 AND value = $2)`, id.Type, v)
	br := t.tx.SendBatch(ctx, b)
	var locked int
	var held bool
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&locked)
	}
	if err == nil {
		err = br.QueryRow().Scan(&held)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if locked == 0 || held {
		// locked == 0: an erasure removed the key between the insert and
		// the lock.
		return errStale
	}
	return nil
}

// AddTimeline puts an event on a profile's timeline. Rows are buffered and
// inserted together, under the profiles' locks, by the next method that
// reads or moves timeline rows or at the end of the transaction.
func (t *profileTx) AddTimeline(ctx context.Context, profileID string, e *kith.Event, warnings []string) error {
	var w *string
	if len(warnings) > 0 {
		b, _ := json.Marshal(warnings)
		s := string(b)
		w = &s
	}
	t.pending = append(t.pending, timelineRow{profileID: profileID, ts: e.Timestamp.UnixNano(), seq: e.Seq, warnings: w})
	if len(t.pending) >= 4096 {
		return t.flush(ctx)
	}
	return nil
}

// Absorb moves every identifier, timeline entry and conflict of
// m.Absorbed to m.Survivor, repoints the profiles merged into m.Absorbed,
// marks it merged and records m: under both profiles' locks, taken in id
// order in one statement before anything moves, so that each statement
// after reads everything committed before the locks were granted.
func (t *profileTx) Absorb(ctx context.Context, m kith.Merge) error {
	if err := t.lock(ctx, m.Survivor, m.Absorbed); err != nil {
		return err
	}
	b := &pgx.Batch{}
	read, err := t.queueFlush(ctx, b)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO identifiers (type, value, profile_id, seq, message_id, source_id, at)
		SELECT type, value, $1, seq, message_id, source_id, at FROM identifiers WHERE profile_id = $2
		ON CONFLICT DO NOTHING`, m.Survivor, m.Absorbed)
	b.Queue(`DELETE FROM identifiers WHERE profile_id = $1`, m.Absorbed)
	b.Queue(`UPDATE timeline SET profile_id = $1 WHERE profile_id = $2`, m.Survivor, m.Absorbed)
	b.Queue(`INSERT INTO conflicts (profile_id, seq, message_id, profiles, reason, at)
		SELECT $1, seq, message_id, profiles, reason, at FROM conflicts WHERE profile_id = $2
		ON CONFLICT DO NOTHING`, m.Survivor, m.Absorbed)
	b.Queue(`DELETE FROM conflicts WHERE profile_id = $1`, m.Absorbed)
	b.Queue(`UPDATE profiles SET merged_into = $1 WHERE id = $2 OR merged_into = $2`, m.Survivor, m.Absorbed)
	b.Queue(`INSERT INTO merges (id, survivor, absorbed, seq, message_id, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		m.ID, m.Survivor, m.Absorbed, m.Seq, storable(m.MessageID), storable(m.Reason), m.At.UnixNano())
	br := t.tx.SendBatch(ctx, b)
	err = read(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("merge %s into %s: %w", m.Absorbed, m.Survivor, classify(cerr, "merge "+m.ID))
	}
	if err != nil {
		return err
	}
	t.absorbed(m)
	return nil
}

// AddConflict records a conflict under every profile it names, under their
// locks; recording the same one twice is a no-op.
func (t *profileTx) AddConflict(ctx context.Context, c kith.Conflict) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	if err := t.lock(ctx, c.Profiles...); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO conflicts (profile_id, seq, message_id, profiles, reason, at)
		SELECT p, $2, $3, $4, $5, $6 FROM unnest($1::text[]) p ON CONFLICT DO NOTHING`,
		c.Profiles, c.Seq, storable(c.MessageID), strings.Join(c.Profiles, " "), storable(c.Reason), c.At.UnixNano())
	if err != nil {
		return fmt.Errorf("record conflict: %w", err)
	}
	return nil
}

// DoNotLink reports whether a rule keeps a and b apart: a rule between any
// profile merged into a (or a) and any merged into b (or b).
func (t *profileTx) DoNotLink(ctx context.Context, a, b string) (bool, error) {
	if err := t.flush(ctx); err != nil {
		return false, err
	}
	var found bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM do_not_link d
		JOIN profiles pa ON pa.id = d.a JOIN profiles pb ON pb.id = d.b
		WHERE (coalesce(pa.merged_into, pa.id) = $1 AND coalesce(pb.merged_into, pb.id) = $2)
		   OR (coalesce(pa.merged_into, pa.id) = $2 AND coalesce(pb.merged_into, pb.id) = $1))`, a, b).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("do-not-link %s %s: %w", a, b, err)
	}
	return found, nil
}

const mergeCols = "id, survivor, absorbed, seq, message_id, reason, at, undone_at"

func scanMerge(row pgx.Row) (*kith.Merge, error) {
	var m kith.Merge
	var at int64
	var undone *int64
	if err := row.Scan(&m.ID, &m.Survivor, &m.Absorbed, &m.Seq, &m.MessageID, &m.Reason, &at, &undone); err != nil {
		return nil, err
	}
	m.At, m.UndoneAt = time.Unix(0, at).UTC(), fromNanos(undone)
	return &m, nil
}

func collectMerges(rows pgx.Rows) ([]kith.Merge, error) {
	defer rows.Close()
	var out []kith.Merge
	for rows.Next() {
		m, err := scanMerge(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

func (t *profileTx) Merge(ctx context.Context, id string) (*kith.Merge, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return getMerge(ctx, t.tx, id)
}

func getMerge(ctx context.Context, q querier, id string) (*kith.Merge, error) {
	m, err := scanMerge(q.QueryRow(ctx, "SELECT "+mergeCols+" FROM merges WHERE id = $1", id))
	if err != nil {
		return nil, classify(err, "merge "+id)
	}
	return m, nil
}

// Cluster returns root and every profile merged into it, oldest first,
// with their rows locked: root's first, which keeps the cluster's
// membership still, then the others' in id order.
func (t *profileTx) Cluster(ctx context.Context, root string) ([]*kith.Profile, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	if err := t.lock(ctx, root); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, "SELECT "+profileCols+" FROM profiles WHERE id = $1 OR merged_into = $1 ORDER BY id FOR UPDATE", root)
	if err != nil {
		return nil, fmt.Errorf("cluster of %s: %w", root, err)
	}
	out, err := collectProfiles(rows)
	if err != nil {
		return nil, fmt.Errorf("cluster of %s: %w", root, err)
	}
	for _, p := range out {
		t.locked[p.ID] = true
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedSeq < out[j].CreatedSeq })
	return out, nil
}

func (t *profileTx) ClusterMerges(ctx context.Context, root string) ([]kith.Merge, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return clusterMerges(ctx, t.tx, root, false)
}

func clusterMerges(ctx context.Context, q querier, root string, withUndone bool) ([]kith.Merge, error) {
	cond := " AND m.undone_at IS NULL"
	if withUndone {
		cond = ""
	}
	rows, err := q.Query(ctx, `SELECT m.id, m.survivor, m.absorbed, m.seq, m.message_id, m.reason, m.at, m.undone_at
		FROM merges m WHERE (m.survivor IN (SELECT id FROM profiles WHERE id = $1 OR merged_into = $1)
		   OR m.absorbed IN (SELECT id FROM profiles WHERE id = $1 OR merged_into = $1))`+cond+` ORDER BY m.seq, m.id`, root)
	if err != nil {
		return nil, fmt.Errorf("merges of %s: %w", root, err)
	}
	out, err := collectMerges(rows)
	if err != nil {
		return nil, fmt.Errorf("merges of %s: %w", root, err)
	}
	return out, nil
}

// TimelineEvents returns every event on a profile's timeline, in log order.
func (t *profileTx) TimelineEvents(ctx context.Context, profileID string) ([]kith.Event, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	if err := t.lock(ctx, profileID); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+eventCols("e")+` FROM timeline t JOIN events e ON e.seq = t.seq
		WHERE t.profile_id = $1 ORDER BY t.seq`, profileID)
	if err != nil {
		return nil, fmt.Errorf("timeline events of %s: %w", profileID, err)
	}
	out, err := collectEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("timeline events of %s: %w", profileID, err)
	}
	return out, nil
}

// DeleteProfiles removes profiles, under their locks, with their
// identifiers, timeline entries, conflicts and the merges, not undone,
// that absorbed them; and the identity keys no remaining profile holds.
func (t *profileTx) DeleteProfiles(ctx context.Context, ids []string) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	t.forget() // rare (undoing a merge): later reads go to the database
	if len(ids) == 0 {
		return nil
	}
	if err := t.lock(ctx, ids...); err != nil {
		return err
	}
	b := &pgx.Batch{}
	// Every part of a statement reads one snapshot, taken before its
	// DELETE: the holders left are those outside ids.
	b.Queue(`WITH gone AS (DELETE FROM identifiers WHERE profile_id = ANY($1) RETURNING type, value)
		DELETE FROM identity_keys k USING (SELECT DISTINCT type, value FROM gone) g
		WHERE k.type = g.type AND k.value = g.value
		  AND NOT EXISTS (SELECT 1 FROM identifiers i WHERE i.type = g.type AND i.value = g.value AND i.profile_id <> ALL($1))`, ids)
	b.Queue(`DELETE FROM timeline WHERE profile_id = ANY($1)`, ids)
	b.Queue(`DELETE FROM conflicts WHERE profile_id = ANY($1)`, ids)
	b.Queue(`DELETE FROM merges WHERE undone_at IS NULL AND absorbed = ANY($1)`, ids)
	b.Queue(`DELETE FROM profiles WHERE id = ANY($1)`, ids)
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("delete profiles: %w", err)
	}
	return nil
}

// AddDoNotLink records that two profiles must not be merged again, under
// their locks.
func (t *profileTx) AddDoNotLink(ctx context.Context, a, b, mergeID string, at time.Time) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	if err := t.lock(ctx, a, b); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO do_not_link (a, b, merge_id, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		a, b, mergeID, at.UnixNano())
	if err != nil {
		return fmt.Errorf("do-not-link %s %s: %w", a, b, err)
	}
	return nil
}

// MarkMergeUndone records when a merge was undone; ECONFLICT if it is
// unknown or already undone.
func (t *profileTx) MarkMergeUndone(ctx context.Context, id string, at time.Time) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	tag, err := t.tx.Exec(ctx, `UPDATE merges SET undone_at = $1 WHERE id = $2 AND undone_at IS NULL`, at.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("undo merge %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return kith.Errorf(kith.ECONFLICT, "merge %s is unknown or already undone", id)
	}
	return nil
}

// HoldersOf returns, for each of ids that a current profile holds, the
// profiles holding it, each with the position of the event that created
// it: what an import reads back, a batch of rows at a time, to tell the
// rows that created a person from those that linked to one.
func (db *DB) HoldersOf(ctx context.Context, ids []kith.Identifier) (map[kith.Identifier]map[string]int64, error) {
	out := map[kith.Identifier]map[string]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	types, values := make([]string, len(ids)), make([][]byte, len(ids))
	for i, id := range ids {
		types[i], values[i] = id.Type, []byte(id.Value)
	}
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT i.type, i.value, i.profile_id, p.created_seq FROM identifiers i
		JOIN unnest($1::text[], $2::bytea[]) AS q (type, value) ON i.type = q.type AND i.value = q.value
		JOIN profiles p ON p.id = i.profile_id`, types, values)
	if err != nil {
		return nil, fmt.Errorf("holders of %d identifiers: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id kith.Identifier
		var value []byte
		var p string
		var seq int64
		if err := rows.Scan(&id.Type, &value, &p, &seq); err != nil {
			return nil, fmt.Errorf("holders of %d identifiers: %w", len(ids), err)
		}
		id.Value = string(value)
		if out[id] == nil {
			out[id] = map[string]int64{}
		}
		out[id][p] = seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("holders of %d identifiers: %w", len(ids), err)
	}
	return out, nil
}
