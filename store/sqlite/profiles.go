package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kithhq/kith"
)

// querier is what both a transaction and the read pool offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Hot queries, prepared when the store opens (prepared.go).
const (
	qProfileByID = "SELECT " + profileCols + " FROM profiles WHERE id = ?"
	qProfilesFor = "SELECT profile_id FROM identifiers WHERE type = ? AND value = ? ORDER BY profile_id"
	qLinks       = `SELECT type, value, seq, message_id, source_id, at FROM identifiers
		WHERE profile_id = ? ORDER BY seq, type, value`
	// qProfilesForList answers ProfilesFor for a list of identifiers,
	// passed as a JSON array of [type, value] pairs, in one statement.
	qProfilesForList = `SELECT i.type, i.value, i.profile_id FROM json_each(?) j
		JOIN identifiers i ON i.type = j.value ->> 0 AND i.value = j.value ->> 1`
)

// Buffered rows (timeline entries, links, profiles) are inserted by
// statements of chunkRows[0] rows, then of the smaller sizes for what is
// left: per-statement overhead, not SQLite's B-tree work, dominated one
// insert per row.
//
// The statements say OR FAIL: a statement that writes many rows and may
// abort half-way makes SQLite copy every page it changes to a statement
// journal first, to undo its part alone (a fifth of the inserts' cost).
// With FAIL a failing statement keeps the rows before the failure, and
// the transaction, which every error ends, rolls them back with the rest.
var chunkRows = []int{64, 16, 4, 1}

// rowInsert is a multi-row INSERT statement for each of chunkRows.
type rowInsert struct {
	what    string // for errors
	width   int    // values per row
	queries []string
}

func newRowInsert(what, head string, width int, tail string) rowInsert {
	ri := rowInsert{what: what, width: width}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + "), "
	for _, n := range chunkRows {
		ri.queries = append(ri.queries, head+strings.TrimSuffix(strings.Repeat(row, n), ", ")+tail)
	}
	return ri
}

var (
	insertTimeline = newRowInsert("timeline", "INSERT OR FAIL INTO timeline (profile_id, ts, seq, warnings) VALUES ", 4, " ON CONFLICT DO NOTHING")
	insertLinks    = newRowInsert("links", "INSERT OR FAIL INTO identifiers (type, value, profile_id, seq, message_id, source_id, at) VALUES ", 7,
		" ON CONFLICT DO NOTHING")
	insertProfiles = newRowInsert("put profiles", "INSERT OR FAIL INTO profiles (id, created_seq, created_at, updated_at, merged_into, search1, search2, customer, doc) VALUES ", 9, `
		ON CONFLICT (id) DO UPDATE SET created_seq = excluded.created_seq, created_at = excluded.created_at,
			updated_at = excluded.updated_at, merged_into = excluded.merged_into,
			search1 = excluded.search1, search2 = excluded.search2, customer = excluded.customer, doc = excluded.doc`)
	// flushAt is how many rows a buffer holds before it is written.
	flushAt = 16 * chunkRows[0]
)

// insert writes rows of ri.width values each, in order.
func (t *profileTx) insert(ctx context.Context, ri rowInsert, vals []any) error {
	for i, n := range chunkRows {
		for len(vals) >= n*ri.width {
			if _, err := t.q.ExecContext(ctx, ri.queries[i], vals[:n*ri.width]...); err != nil {
				return fmt.Errorf("%s: %w", ri.what, err)
			}
			vals = vals[n*ri.width:]
		}
	}
	return nil
}

// profileTx implements kith.ProfileTx inside one write transaction of
// profiles.db; events come from the log's read pool.
type profileTx struct {
	q       querier
	events  *DB
	pending []any // timeline rows not yet inserted, 4 values each
	links   []any // links not yet inserted, 7 values each
	puts    []any // profiles not yet written, 9 values each
	// writing is the result of the full buffer being written in the
	// background while the processor goes on (nil: none is); every
	// statement of the transaction, and its end, waits for it first.
	writing chan error
}

// wait waits until the buffer written in the background, if any, is.
func (t *profileTx) wait() error {
	if t.writing == nil {
		return nil
	}
	err := <-t.writing
	t.writing = nil
	return err
}

// writeBehind writes a full buffer in the background, after the one
// before: a batch's inserts in SQLite overlap the processor's work on
// its next events. The transaction's statements run one at a time on
// its connection.
func (t *profileTx) writeBehind(ctx context.Context, ri rowInsert, vals []any) error {
	if err := t.wait(); err != nil {
		return err
	}
	done := make(chan error, 1)
	t.writing = done
	go func() { done <- t.insert(ctx, ri, vals) }()
	return nil
}

// flushTimeline writes everything buffered: profiles, links and timeline
// rows. Every method that reads or moves them, and the commit, calls it
// (or the part it needs) first.
func (t *profileTx) flushTimeline(ctx context.Context) error {
	if err := t.wait(); err != nil {
		return err
	}
	if err := t.flushProfiles(ctx); err != nil {
		return err
	}
	if err := t.flushLinks(ctx); err != nil {
		return err
	}
	err := t.insert(ctx, insertTimeline, t.pending)
	t.pending = nil
	return err
}

// flushProfiles writes the buffered profiles, in the order they were put:
// of two puts of one profile the later wins.
func (t *profileTx) flushProfiles(ctx context.Context) error {
	if err := t.wait(); err != nil {
		return err
	}
	err := t.insert(ctx, insertProfiles, t.puts)
	t.puts = nil
	return err
}

// flushLinks inserts the buffered links, in the order they were added, so
// that of two links of one identifier to one profile the first is kept.
func (t *profileTx) flushLinks(ctx context.Context) error {
	if err := t.wait(); err != nil {
		return err
	}
	err := t.insert(ctx, insertLinks, t.links)
	t.links = nil
	return err
}

// Process runs fn in one write transaction of profiles.db that also moves
// the named cursor to seq. Profile state is derived from the log, so this
// commit does not wait for an fsync (profiles.db runs synchronous=NORMAL): a
// power loss may forget the latest batches, and the cursor with them, and
// they are processed again from the durable log.
func (db *DB) Process(ctx context.Context, cursor string, seq int64, fn func(kith.ProfileTx) error) error {
	return db.update(ctx, false, func(tx *sql.Tx) error {
		ptx := db.profileTx(tx)
		err := fn(ptx)
		if werr := ptx.wait(); err == nil {
			err = werr
		}
		if err != nil {
			return err
		}
		if err := ptx.flushTimeline(ctx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO cursors (name, seq) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`, cursor, seq)
		return err
	})
}

// Update runs fn in one write transaction of profiles.db, committed
// durably: it records explicit decisions (an undone merge, a do-not-link
// rule) that the log alone cannot rebuild.
func (db *DB) Update(ctx context.Context, fn func(kith.ProfileTx) error) error {
	return db.update(ctx, true, func(tx *sql.Tx) error {
		ptx := db.profileTx(tx)
		err := fn(ptx)
		if werr := ptx.wait(); err == nil {
			err = werr
		}
		if err != nil {
			return err
		}
		return ptx.flushTimeline(ctx)
	})
}

func (db *DB) profileTx(tx *sql.Tx) *profileTx {
	return &profileTx{q: txQuerier{tx, db.pwp}, events: db}
}

func (db *DB) update(ctx context.Context, durable bool, fn func(*sql.Tx) error) error {
	conn, err := db.pw.Conn(ctx)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	defer conn.Close()
	if durable {
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		defer conn.ExecContext(context.Background(), "PRAGMA synchronous = NORMAL")
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update: commit: %w", err)
	}
	return nil
}

// Cursor returns the named processor cursor.
func (db *DB) Cursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := db.pr.QueryRowContext(ctx, "SELECT seq FROM cursors WHERE name = ?", name).Scan(&seq)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cursor %s: %w", name, err)
	}
	return seq, nil
}

// LastSeq returns the newest event's position (0 for an empty log).
func (db *DB) LastSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := db.r.QueryRowContext(ctx, "SELECT max(seq) FROM events").Scan(&seq); err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return seq.Int64, nil
}

const profileCols = "id, created_seq, created_at, updated_at, merged_into, doc"

func scanProfile(row interface{ Scan(...any) error }) (*kith.Profile, error) {
	var p kith.Profile
	var created, updated int64
	var merged sql.NullString
	var doc []byte
	if err := row.Scan(&p.ID, &p.CreatedSeq, &created, &updated, &merged, &doc); err != nil {
		return nil, err
	}
	if err := kith.DecodeProfileDoc(doc, &p); err != nil {
		return nil, fmt.Errorf("profile %s: corrupt document: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	p.MergedInto = merged.String
	return &p, nil
}

func getProfile(ctx context.Context, q querier, id string) (*kith.Profile, error) {
	p, err := scanProfile(q.QueryRowContext(ctx, qProfileByID, id))
	if err != nil {
		return nil, classify(err, "profile "+id)
	}
	return p, nil
}

func (t *profileTx) Cursor(ctx context.Context, name string) (int64, error) {
	if err := t.wait(); err != nil {
		return 0, err
	}
	var seq int64
	err := t.q.QueryRowContext(ctx, "SELECT seq FROM cursors WHERE name = ?", name).Scan(&seq)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cursor %s: %w", name, err)
	}
	return seq, nil
}

func (t *profileTx) Profile(ctx context.Context, id string) (*kith.Profile, error) {
	if err := t.flushProfiles(ctx); err != nil {
		return nil, err
	}
	return getProfile(ctx, t.q, id)
}

// PutProfile buffers the profile's row, encoded now: rows are written
// together, by the next method that reads the profiles table or at the
// end of the transaction. Most puts of a batch of events are of new
// profiles, and one statement per row cost more than SQLite's work.
func (t *profileTx) PutProfile(ctx context.Context, p *kith.Profile) error {
	doc := kith.AppendProfileDoc(make([]byte, 0, 2048), p)
	var s1, s2 any
	if len(p.SearchKeys) > 0 {
		s1 = p.SearchKeys[0]
	}
	if len(p.SearchKeys) > 1 {
		s2 = p.SearchKeys[1]
	}
	var merged any
	if p.MergedInto != "" {
		merged = p.MergedInto
	}
	customer := len(p.Purchases) > 0 || p.Lifecycle != (kith.Lifecycle{})
	t.puts = append(t.puts, p.ID, p.CreatedSeq, p.CreatedAt.UnixNano(), p.UpdatedAt.UnixNano(), merged, s1, s2, customer, doc)
	if len(t.puts) >= flushAt*insertProfiles.width {
		full := t.puts
		t.puts = nil
		return t.writeBehind(ctx, insertProfiles, full)
	}
	return nil
}

func (t *profileTx) ProfilesFor(ctx context.Context, ids []kith.Identifier) (map[kith.Identifier][]string, error) {
	if err := t.wait(); err != nil {
		return nil, err
	}
	if t.linking(ids, "") {
		if err := t.flushLinks(ctx); err != nil {
			return nil, err
		}
	}
	if len(ids) > 4 && validUTF8(ids) {
		return profilesForList(ctx, t.q, ids)
	}
	out := make(map[kith.Identifier][]string, len(ids))
	for _, id := range ids {
		ps, err := profilesFor(ctx, t.q, id)
		if err != nil {
			return nil, err
		}
		if len(ps) > 0 {
			out[id] = ps
		}
	}
	return out, nil
}

// profilesForList answers ProfilesFor for many identifiers with one
// statement per thousand of them: a batch's lookups of identifiers the
// processor has not seen cost a B-tree probe each, not a statement each.
func profilesForList(ctx context.Context, q querier, ids []kith.Identifier) (map[kith.Identifier][]string, error) {
	out := make(map[kith.Identifier][]string)
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 1000)]
		ids = ids[len(chunk):]
		pairs := make([][2]string, len(chunk))
		for i, id := range chunk {
			pairs[i] = [2]string{id.Type, id.Value}
		}
		arg, err := json.Marshal(pairs)
		if err != nil {
			return nil, fmt.Errorf("profiles for %d identifiers: %w", len(chunk), err)
		}
		if err := func() error {
			rows, err := q.QueryContext(ctx, qProfilesForList, string(arg))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id kith.Identifier
				var p string
				if err := rows.Scan(&id.Type, &id.Value, &p); err != nil {
					return err
				}
				out[id] = append(out[id], p)
			}
			return rows.Err()
		}(); err != nil {
			return nil, fmt.Errorf("profiles for %d identifiers: %w", len(chunk), err)
		}
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out, nil
}

// validUTF8 reports whether every identifier's value is valid UTF-8, as a
// JSON string must be to be read back the same.
func validUTF8(ids []kith.Identifier) bool {
	for _, id := range ids {
		if !utf8.ValidString(id.Type) || !utf8.ValidString(id.Value) {
			return false
		}
	}
	return true
}

func profilesFor(ctx context.Context, q querier, id kith.Identifier) ([]string, error) {
	rows, err := q.QueryContext(ctx, qProfilesFor, id.Type, id.Value)
	if err != nil {
		return nil, fmt.Errorf("profiles for %s: %w", id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (t *profileTx) Identifiers(ctx context.Context, profileID string) ([]kith.Identifier, error) {
	if err := t.wait(); err != nil {
		return nil, err
	}
	if t.linking(nil, profileID) {
		if err := t.flushLinks(ctx); err != nil {
			return nil, err
		}
	}
	links, err := links(ctx, t.q, profileID)
	if err != nil {
		return nil, err
	}
	out := make([]kith.Identifier, len(links))
	for i, l := range links {
		out[i] = l.Identifier
	}
	return out, nil
}

func links(ctx context.Context, q querier, profileID string) ([]kith.Link, error) {
	rows, err := q.QueryContext(ctx, qLinks, profileID)
	if err != nil {
		return nil, fmt.Errorf("identifiers of %s: %w", profileID, err)
	}
	defer rows.Close()
	var out []kith.Link
	for rows.Next() {
		l := kith.Link{ProfileID: profileID}
		var at int64
		if err := rows.Scan(&l.Type, &l.Value, &l.Seq, &l.MessageID, &l.SourceID, &at); err != nil {
			return nil, err
		}
		l.At = time.Unix(0, at).UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// linking reports whether a buffered link is of one of ids or to
// profileID: whether a read of them must write the buffer first. A
// processor reads between its links, and writing a few rows at a time
// cost what buffering saves.
func (t *profileTx) linking(ids []kith.Identifier, profileID string) bool {
	if len(ids) > 8 {
		return len(t.links) > 0
	}
	for i := 0; i < len(t.links); i += insertLinks.width {
		if t.links[i+2] == profileID {
			return true
		}
		for _, id := range ids {
			if t.links[i] == id.Type && t.links[i+1] == id.Value {
				return true
			}
		}
	}
	return false
}

// AddLink buffers the link: links are inserted together, by the next
// method that reads or moves identifiers or at the end of the transaction.
func (t *profileTx) AddLink(ctx context.Context, l kith.Link) error {
	t.links = append(t.links, l.Type, l.Value, l.ProfileID, l.Seq, l.MessageID, l.SourceID, l.At.UnixNano())
	if len(t.links) >= flushAt*insertLinks.width {
		full := t.links
		t.links = nil
		return t.writeBehind(ctx, insertLinks, full)
	}
	return nil
}

func (t *profileTx) AddTimeline(ctx context.Context, profileID string, e *kith.Event, warnings []string) error {
	var w any
	if len(warnings) > 0 {
		b, _ := json.Marshal(warnings)
		w = string(b)
	}
	t.pending = append(t.pending, profileID, e.Timestamp.UnixNano(), e.Seq, w)
	if len(t.pending) >= flushAt*insertTimeline.width {
		full := t.pending
		t.pending = nil
		return t.writeBehind(ctx, insertTimeline, full)
	}
	return nil
}

func (t *profileTx) Absorb(ctx context.Context, m kith.Merge) error {
	if err := t.flushTimeline(ctx); err != nil {
		return err
	}
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO identifiers (type, value, profile_id, seq, message_id, source_id, at)
			SELECT type, value, ?, seq, message_id, source_id, at FROM identifiers WHERE profile_id = ? ON CONFLICT DO NOTHING`, []any{m.Survivor, m.Absorbed}},
		{`DELETE FROM identifiers WHERE profile_id = ?`, []any{m.Absorbed}},
		{`UPDATE timeline SET profile_id = ? WHERE profile_id = ?`, []any{m.Survivor, m.Absorbed}},
		{`INSERT INTO conflicts (profile_id, seq, message_id, profiles, reason, at)
			SELECT ?, seq, message_id, profiles, reason, at FROM conflicts WHERE profile_id = ? ON CONFLICT DO NOTHING`, []any{m.Survivor, m.Absorbed}},
		{`DELETE FROM conflicts WHERE profile_id = ?`, []any{m.Absorbed}},
		{`UPDATE profiles SET merged_into = ? WHERE id = ? OR merged_into = ?`, []any{m.Survivor, m.Absorbed, m.Absorbed}},
		{`INSERT INTO merges (id, survivor, absorbed, seq, message_id, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{m.ID, m.Survivor, m.Absorbed, m.Seq, m.MessageID, m.Reason, m.At.UnixNano()}},
	}
	for _, s := range stmts {
		if _, err := t.q.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("merge %s into %s: %w", m.Absorbed, m.Survivor, err)
		}
	}
	return nil
}

func (t *profileTx) AddConflict(ctx context.Context, c kith.Conflict) error {
	if err := t.wait(); err != nil {
		return err
	}
	for _, p := range c.Profiles {
		_, err := t.q.ExecContext(ctx, `INSERT INTO conflicts (profile_id, seq, message_id, profiles, reason, at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, p, c.Seq, c.MessageID, strings.Join(c.Profiles, " "), c.Reason, c.At.UnixNano())
		if err != nil {
			return fmt.Errorf("record conflict: %w", err)
		}
	}
	return nil
}

func (t *profileTx) DoNotLink(ctx context.Context, a, b string) (bool, error) {
	if err := t.flushProfiles(ctx); err != nil {
		return false, err
	}
	var n int
	err := t.q.QueryRowContext(ctx, `SELECT count(*) FROM do_not_link d
		JOIN profiles pa ON pa.id = d.a JOIN profiles pb ON pb.id = d.b
		WHERE (coalesce(pa.merged_into, pa.id) = ?1 AND coalesce(pb.merged_into, pb.id) = ?2)
		   OR (coalesce(pa.merged_into, pa.id) = ?2 AND coalesce(pb.merged_into, pb.id) = ?1)`, a, b).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("do-not-link %s %s: %w", a, b, err)
	}
	return n > 0, nil
}

const mergeCols = "id, survivor, absorbed, seq, message_id, reason, at, undone_at"

func scanMerge(row interface{ Scan(...any) error }) (*kith.Merge, error) {
	var m kith.Merge
	var at int64
	var undone sql.NullInt64
	if err := row.Scan(&m.ID, &m.Survivor, &m.Absorbed, &m.Seq, &m.MessageID, &m.Reason, &at, &undone); err != nil {
		return nil, err
	}
	m.At, m.UndoneAt = time.Unix(0, at).UTC(), fromNanos(undone)
	return &m, nil
}

func (t *profileTx) Merge(ctx context.Context, id string) (*kith.Merge, error) {
	if err := t.wait(); err != nil {
		return nil, err
	}
	return getMerge(ctx, t.q, id)
}

func getMerge(ctx context.Context, q querier, id string) (*kith.Merge, error) {
	m, err := scanMerge(q.QueryRowContext(ctx, "SELECT "+mergeCols+" FROM merges WHERE id = ?", id))
	if err != nil {
		return nil, classify(err, "merge "+id)
	}
	return m, nil
}

func (t *profileTx) Cluster(ctx context.Context, root string) ([]*kith.Profile, error) {
	if err := t.flushProfiles(ctx); err != nil {
		return nil, err
	}
	rows, err := t.q.QueryContext(ctx, "SELECT "+profileCols+" FROM profiles WHERE id = ? OR merged_into = ? ORDER BY created_seq", root, root)
	if err != nil {
		return nil, fmt.Errorf("cluster of %s: %w", root, err)
	}
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

func (t *profileTx) ClusterMerges(ctx context.Context, root string) ([]kith.Merge, error) {
	if err := t.flushProfiles(ctx); err != nil {
		return nil, err
	}
	return clusterMerges(ctx, t.q, root, false)
}

func clusterMerges(ctx context.Context, q querier, root string, withUndone bool) ([]kith.Merge, error) {
	cond := " AND m.undone_at IS NULL"
	if withUndone {
		cond = ""
	}
	rows, err := q.QueryContext(ctx, `SELECT m.id, m.survivor, m.absorbed, m.seq, m.message_id, m.reason, m.at, m.undone_at
		FROM merges m WHERE (m.survivor IN (SELECT id FROM profiles WHERE id = ?1 OR merged_into = ?1)
		   OR m.absorbed IN (SELECT id FROM profiles WHERE id = ?1 OR merged_into = ?1))`+cond+` ORDER BY m.seq, m.id`, root)
	if err != nil {
		return nil, fmt.Errorf("merges of %s: %w", root, err)
	}
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

func (t *profileTx) TimelineEvents(ctx context.Context, profileID string) ([]kith.Event, error) {
	if err := t.flushTimeline(ctx); err != nil {
		return nil, err
	}
	rows, err := t.q.QueryContext(ctx, `SELECT seq FROM timeline WHERE profile_id = ? ORDER BY seq`, profileID)
	if err != nil {
		return nil, fmt.Errorf("timeline events of %s: %w", profileID, err)
	}
	var seqs []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	m, err := t.events.eventsBySeq(ctx, seqs)
	if err != nil {
		return nil, err
	}
	out := make([]kith.Event, 0, len(seqs))
	for _, s := range seqs {
		if e, ok := m[s]; ok {
			out = append(out, *e)
		}
	}
	return out, nil
}

func (t *profileTx) DeleteProfiles(ctx context.Context, ids []string) error {
	if err := t.flushTimeline(ctx); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	b, _ := json.Marshal(ids)
	for _, q := range []string{
		`DELETE FROM identifiers WHERE profile_id IN (SELECT value FROM json_each(?))`,
		`DELETE FROM timeline WHERE profile_id IN (SELECT value FROM json_each(?))`,
		`DELETE FROM conflicts WHERE profile_id IN (SELECT value FROM json_each(?))`,
		`DELETE FROM merges WHERE undone_at IS NULL AND absorbed IN (SELECT value FROM json_each(?))`,
		`DELETE FROM profiles WHERE id IN (SELECT value FROM json_each(?))`,
	} {
		if _, err := t.q.ExecContext(ctx, q, string(b)); err != nil {
			return fmt.Errorf("delete profiles: %w", err)
		}
	}
	return nil
}

func (t *profileTx) AddDoNotLink(ctx context.Context, a, b, mergeID string, at time.Time) error {
	if err := t.wait(); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO do_not_link (a, b, merge_id, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		a, b, mergeID, at.UnixNano())
	if err != nil {
		return fmt.Errorf("do-not-link %s %s: %w", a, b, err)
	}
	return nil
}

func (t *profileTx) MarkMergeUndone(ctx context.Context, id string, at time.Time) error {
	if err := t.wait(); err != nil {
		return err
	}
	res, err := t.q.ExecContext(ctx, `UPDATE merges SET undone_at = ? WHERE id = ? AND undone_at IS NULL`, at.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("undo merge %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return kith.Errorf(kith.ECONFLICT, "merge %s is unknown or already undone", id)
	}
	return nil
}

// ScanIdentifiers calls fn with every identifier some profile holds, once
// each, in key order: the profile processor fills its filter of held
// identifiers with it (profile.IdentifierScanner).
func (db *DB) ScanIdentifiers(ctx context.Context, fn func(kith.Identifier)) error {
	rows, err := db.pr.QueryContext(ctx, "SELECT DISTINCT type, value FROM identifiers")
	if err != nil {
		return fmt.Errorf("scan identifiers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id kith.Identifier
		if err := rows.Scan(&id.Type, &id.Value); err != nil {
			return fmt.Errorf("scan identifiers: %w", err)
		}
		fn(id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan identifiers: %w", err)
	}
	return nil
}

// HoldersOf returns, for each of ids that a current profile holds, the
// profiles holding it, each with the position of the event that created
// it: what an import reads back, a batch of rows at a time, to tell the
// rows that created a person from those that linked to one.
func (db *DB) HoldersOf(ctx context.Context, ids []kith.Identifier) (map[kith.Identifier]map[string]int64, error) {
	out := map[kith.Identifier]map[string]int64{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 1000)]
		ids = ids[len(chunk):]
		if !validUTF8(chunk) {
			for _, id := range chunk {
				if err := holdersOf(ctx, db.prq(), out, qHoldersOf, id.Type, id.Value); err != nil {
					return nil, fmt.Errorf("holders of %s: %w", id, err)
				}
			}
			continue
		}
		pairs := make([][2]string, len(chunk))
		for i, id := range chunk {
			pairs[i] = [2]string{id.Type, id.Value}
		}
		arg, err := json.Marshal(pairs)
		if err != nil {
			return nil, fmt.Errorf("holders of %d identifiers: %w", len(chunk), err)
		}
		if err := holdersOf(ctx, db.prq(), out, qHoldersOfList, string(arg)); err != nil {
			return nil, fmt.Errorf("holders of %d identifiers: %w", len(chunk), err)
		}
	}
	return out, nil
}

const (
	qHoldersOf = `SELECT i.type, i.value, i.profile_id, p.created_seq FROM identifiers i
		JOIN profiles p ON p.id = i.profile_id WHERE i.type = ? AND i.value = ?`
	qHoldersOfList = `SELECT i.type, i.value, i.profile_id, p.created_seq FROM json_each(?) j
		JOIN identifiers i ON i.type = j.value ->> 0 AND i.value = j.value ->> 1
		JOIN profiles p ON p.id = i.profile_id`
)

func holdersOf(ctx context.Context, q querier, out map[kith.Identifier]map[string]int64, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id kith.Identifier
		var p string
		var seq int64
		if err := rows.Scan(&id.Type, &id.Value, &p, &seq); err != nil {
			return err
		}
		if out[id] == nil {
			out[id] = map[string]int64{}
		}
		out[id][p] = seq
	}
	return rows.Err()
}

// ProfilesByID returns the profiles of ids there are, absorbed or not, in
// one statement per thousand ids (profile.BulkReader).
func (t *profileTx) ProfilesByID(ctx context.Context, ids []string) (map[string]*kith.Profile, error) {
	if err := t.flushProfiles(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]*kith.Profile, len(ids))
	err := eachRowOfList(ctx, t.q, qProfilesByID, ids, "profiles of %d ids: %w", func(rows *sql.Rows) error {
		p, err := scanProfile(rows)
		if err != nil {
			return err
		}
		out[p.ID] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// IdentifiersOf returns the identifiers each profile of ids holds, in the
// order Identifiers gives them, in one statement per thousand ids
// (profile.BulkReader).
func (t *profileTx) IdentifiersOf(ctx context.Context, ids []string) (map[string][]kith.Identifier, error) {
	if err := t.flushLinks(ctx); err != nil {
		return nil, err
	}
	out := make(map[string][]kith.Identifier, len(ids))
	err := eachRowOfList(ctx, t.q, qIdentifiersOf, ids, "identifiers of %d profiles: %w", func(rows *sql.Rows) error {
		var p string
		var id kith.Identifier
		if err := rows.Scan(&p, &id.Type, &id.Value); err != nil {
			return err
		}
		out[p] = append(out[p], id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachRowOfList runs query, which reads its ids as one JSON array, a
// thousand ids to a statement, and calls scan on every row. An error
// names the chunk with errFormat (its length, then the error).
func eachRowOfList(ctx context.Context, q querier, query string, ids []string, errFormat string, scan func(*sql.Rows) error) error {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 1000)]
		ids = ids[len(chunk):]
		list, _ := json.Marshal(chunk)
		if err := func() error {
			rows, err := q.QueryContext(ctx, query, string(list))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := scan(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		}(); err != nil {
			return fmt.Errorf(errFormat, len(chunk), err)
		}
	}
	return nil
}

const (
	qProfilesByID = `SELECT p.id, p.created_seq, p.created_at, p.updated_at, p.merged_into, p.doc
		FROM json_each(?) j JOIN profiles p ON p.id = j.value`
	// Each profile's identifiers in qLinks' order.
	qIdentifiersOf = `SELECT i.profile_id, i.type, i.value FROM json_each(?) j
		JOIN identifiers i ON i.profile_id = j.value ORDER BY i.profile_id, i.seq, i.type, i.value`
)
