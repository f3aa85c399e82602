package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

// The profile reader: what the API and console read, outside any
// transaction, from committed state. Nothing here takes a lock.

// Profile returns a profile by id, absorbed or not; ENOTFOUND if none.
func (db *DB) Profile(ctx context.Context, id string) (*kith.Profile, error) {
	p, err := scanProfile(db.pool.QueryRow(ctx, "SELECT "+profileCols+" FROM profiles WHERE id = $1", id))
	if err != nil {
		return nil, classify(err, "profile "+id)
	}
	return p, nil
}

// ProfileIDsFor returns the current profiles holding an identifier.
func (db *DB) ProfileIDsFor(ctx context.Context, id kith.Identifier) ([]string, error) {
	rows, err := db.pool.Query(ctx, "SELECT profile_id FROM identifiers WHERE type = $1 AND value = $2 ORDER BY profile_id",
		id.Type, []byte(id.Value))
	if err != nil {
		return nil, fmt.Errorf("profiles for %s: %w", id, classify(err, "identifier"))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("profiles for %s: %w", id, err)
	}
	return out, nil
}

// Members returns the current profile id is part of and the profiles
// merged into it.
func (db *DB) Members(ctx context.Context, id string) (string, []string, error) {
	var cur string
	if err := db.pool.QueryRow(ctx, "SELECT coalesce(merged_into, id) FROM profiles WHERE id = $1", id).Scan(&cur); err != nil {
		return "", nil, classify(err, "profile "+id)
	}
	rows, err := db.pool.Query(ctx, "SELECT id FROM profiles WHERE merged_into = $1 ORDER BY id", cur)
	if err != nil {
		return "", nil, fmt.Errorf("members of %s: %w", cur, err)
	}
	absorbed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", nil, fmt.Errorf("members of %s: %w", cur, err)
	}
	return cur, absorbed, nil
}

// MembersOf returns the memberships of many profiles in three reads.
func (db *DB) MembersOf(ctx context.Context, ids []string) (map[string]kith.Membership, error) {
	out := make(map[string]kith.Membership, len(ids))
	rows, err := db.pool.Query(ctx, "SELECT id, coalesce(merged_into, id) FROM profiles WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("members: %w", classify(err, "profiles"))
	}
	asked := map[string]string{}
	current := map[string]*kith.Membership{}
	for rows.Next() {
		var id, cur string
		if err := rows.Scan(&id, &cur); err != nil {
			rows.Close()
			return nil, err
		}
		asked[id] = cur
		if current[cur] == nil {
			current[cur] = &kith.Membership{Current: cur}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	if len(current) == 0 {
		return out, nil
	}
	curs := make([]string, 0, len(current))
	for cur := range current {
		curs = append(curs, cur)
	}
	rows, err = db.pool.Query(ctx, "SELECT merged_into, id FROM profiles WHERE merged_into = ANY($1) ORDER BY id", curs)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	for rows.Next() {
		var cur, id string
		if err := rows.Scan(&cur, &id); err != nil {
			rows.Close()
			return nil, err
		}
		current[cur].Absorbed = append(current[cur].Absorbed, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	rows, err = db.pool.Query(ctx, `SELECT profile_id, type, value, seq, message_id, source_id, at FROM identifiers
		WHERE profile_id = ANY($1) ORDER BY profile_id, seq, type, value`, curs)
	if err != nil {
		return nil, fmt.Errorf("members' identifiers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l kith.Link
		var value []byte
		var at int64
		if err := rows.Scan(&l.ProfileID, &l.Type, &value, &l.Seq, &l.MessageID, &l.SourceID, &at); err != nil {
			return nil, fmt.Errorf("members' identifiers: %w", err)
		}
		l.Value, l.At = string(value), time.Unix(0, at).UTC()
		m := current[l.ProfileID]
		m.Links = append(m.Links, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("members' identifiers: %w", err)
	}
	for id, cur := range asked {
		out[id] = *current[cur]
	}
	return out, nil
}

// Links returns the identifiers a profile holds with the event that linked each.
func (db *DB) Links(ctx context.Context, profileID string) ([]kith.Link, error) {
	return links(ctx, db.pool, profileID)
}

// Merges returns every merge, undone ones included, that joined a profile
// of the cluster of root, and the undone ones naming root.
func (db *DB) Merges(ctx context.Context, root string) ([]kith.Merge, error) {
	ms, err := clusterMerges(ctx, db.pool, root, true)
	if err != nil {
		return nil, err
	}
	// Undone merges whose profiles were split off are still part of this
	// profile's history: include those naming it.
	rows, err := db.pool.Query(ctx, `SELECT `+mergeCols+` FROM merges
		WHERE undone_at IS NOT NULL AND (survivor = $1 OR absorbed = $1)`, root)
	if err != nil {
		return nil, fmt.Errorf("merges of %s: %w", root, err)
	}
	undone, err := collectMerges(rows)
	if err != nil {
		return nil, fmt.Errorf("merges of %s: %w", root, err)
	}
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.ID] = true
	}
	for _, m := range undone {
		if !seen[m.ID] {
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// MergeByID returns one merge, or ENOTFOUND.
func (db *DB) MergeByID(ctx context.Context, id string) (*kith.Merge, error) {
	return getMerge(ctx, db.pool, id)
}

// Conflicts returns the conflicts recorded for a profile, oldest first.
func (db *DB) Conflicts(ctx context.Context, profileID string) ([]kith.Conflict, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq, message_id, profiles, reason, at FROM conflicts
		WHERE profile_id = $1 ORDER BY seq, profiles`, profileID)
	if err != nil {
		return nil, fmt.Errorf("conflicts of %s: %w", profileID, err)
	}
	defer rows.Close()
	var out []kith.Conflict
	for rows.Next() {
		var c kith.Conflict
		var ps string
		var at int64
		if err := rows.Scan(&c.Seq, &c.MessageID, &ps, &c.Reason, &at); err != nil {
			return nil, fmt.Errorf("conflicts of %s: %w", profileID, err)
		}
		c.Profiles, c.At = strings.Fields(ps), time.Unix(0, at).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("conflicts of %s: %w", profileID, err)
	}
	return out, nil
}

// Timeline returns up to limit events of a profile, newest event time
// first (of two at one time, the later in the log first), strictly before
// the cursor (nil: from the newest).
func (db *DB) Timeline(ctx context.Context, profileID string, before *kith.TimelineCursor, limit int) ([]kith.TimelineEvent, error) {
	q := `SELECT ` + eventCols("e") + `, t.warnings FROM timeline t JOIN events e ON e.seq = t.seq WHERE t.profile_id = $1`
	args := []any{profileID}
	if before != nil {
		q += ` AND (t.ts, t.seq) < ($2, $3)`
		args = append(args, before.Time.UnixNano(), before.Seq)
	}
	q += fmt.Sprintf(` ORDER BY t.ts DESC, t.seq DESC LIMIT $%d`, len(args)+1)
	var lim *int
	if limit >= 0 { // a negative limit reads them all, as in the embedded store
		lim = &limit
	}
	args = append(args, lim)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", profileID, err)
	}
	defer rows.Close()
	var out []kith.TimelineEvent
	for rows.Next() {
		var w *string
		e, err := scanEvent(rows, &w)
		if err != nil {
			return nil, fmt.Errorf("timeline of %s: %w", profileID, err)
		}
		te := kith.TimelineEvent{Event: *e, ProfileID: profileID}
		if w != nil {
			_ = json.Unmarshal([]byte(*w), &te.Warnings)
		}
		out = append(out, te)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", profileID, err)
	}
	return out, nil
}

// SearchProfiles finds current profiles whose name starts with name (either
// "first last" or "last first"), or that hold an identifier of one of the
// given types starting with the given value. Up to limit ids, best matches
// first, each once. Prefixes are ranges on columns in byte order (collation
// "C"), so no character of the query is a wildcard.
func (db *DB) SearchProfiles(ctx context.Context, name string, prefixes []kith.Identifier, limit int) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(rows pgx.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("search: %w", classify(err, "profile"))
		}
		defer rows.Close()
		for rows.Next() && len(out) < limit {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("search: %w", err)
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("search: %w", err)
		}
		return nil
	}
	for _, id := range prefixes {
		if len(out) >= limit {
			break
		}
		// One row per profile, its least matching value, so a profile
		// holding several counts once (PostgreSQL 15 has no min(bytea)).
		err := add(db.pool.Query(ctx, `SELECT profile_id FROM (
				SELECT DISTINCT ON (profile_id) profile_id, value FROM identifiers
				WHERE type = $1 AND value >= $2 AND value < $3 ORDER BY profile_id, value) m
			ORDER BY value, profile_id LIMIT $4`,
			id.Type, []byte(id.Value), []byte(id.Value+"\U0010FFFF"), limit))
		if err != nil {
			return nil, err
		}
	}
	if name = storable(strings.ToLower(strings.Join(strings.Fields(name), " "))); name != "" {
		for _, col := range []string{"search1", "search2"} {
			if len(out) >= limit {
				break
			}
			err := add(db.pool.Query(ctx, `SELECT id FROM profiles WHERE `+col+` >= $1 AND `+col+` < $2 AND merged_into IS NULL
				ORDER BY `+col+` LIMIT $3`, name, name+"\U0010FFFF", limit))
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// ScanCustomers is ScanProfiles restricted to the profiles that hold a
// purchase or a lifecycle stage: what the lifecycle service reads. The
// filter looks at the document's bytes on the server (through the partial
// index profiles_customers, whose predicate this repeats), so only
// customers cross the network; a profile that merely has a trait of such a
// name is also returned, and nobody who bought is left out.
func (db *DB) ScanCustomers(ctx context.Context, after string, limit int) ([]kith.Profile, error) {
	return db.scanProfiles(ctx, "scan customers",
		`merged_into IS NULL AND (position('"purchases"'::bytea in doc) > 0 OR position('"lifecycle"'::bytea in doc) > 0)`, after, limit)
}

// CountProfiles counts the current (not absorbed) profiles: people.
func (db *DB) CountProfiles(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM profiles WHERE merged_into IS NULL").Scan(&n); err != nil {
		return 0, unreachable(fmt.Errorf("count profiles: %w", err))
	}
	return n, nil
}

// ScanProfiles returns up to limit current (not absorbed) profiles with ids
// after after, in id order: a walk over every person, page by page.
func (db *DB) ScanProfiles(ctx context.Context, after string, limit int) ([]kith.Profile, error) {
	return db.scanProfiles(ctx, "scan profiles", "merged_into IS NULL", after, limit)
}

// StoredProfilesByID returns the profiles with the given ids, absorbed or
// not, their documents undecoded, in id order; ids that are no profile
// are left out.
func (db *DB) StoredProfilesByID(ctx context.Context, ids []string) ([]kith.StoredProfile, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+storedCols+" FROM profiles WHERE id = ANY($1) ORDER BY id", ids)
	return collectStored(rows, err, "read profiles")
}

const storedCols = "id, created_seq, created_at, updated_at, doc"

// collectStored reads profiles with their documents undecoded.
func collectStored(rows pgx.Rows, err error, what string) ([]kith.StoredProfile, error) {
	if err != nil {
		return nil, unreachable(fmt.Errorf("%s: %w", what, err))
	}
	defer rows.Close()
	var out []kith.StoredProfile
	for rows.Next() {
		var sp kith.StoredProfile
		var created, updated int64
		if err := rows.Scan(&sp.ID, &sp.CreatedSeq, &created, &updated, &sp.Doc); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		sp.CreatedAt, sp.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, unreachable(fmt.Errorf("%s: %w", what, err))
	}
	return out, nil
}

// ScanStoredProfiles is ScanProfiles with the documents left undecoded.
func (db *DB) ScanStoredProfiles(ctx context.Context, after string, limit int) ([]kith.StoredProfile, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+storedCols+" FROM profiles WHERE merged_into IS NULL AND id > $1 ORDER BY id LIMIT $2", after, max(limit, 0))
	return collectStored(rows, err, "scan profiles")
}

// scanProfiles returns a page of the profiles where holds, in id order.
func (db *DB) scanProfiles(ctx context.Context, what, where, after string, limit int) ([]kith.Profile, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+profileCols+" FROM profiles WHERE "+where+
		" AND id > $1 ORDER BY id LIMIT $2", after, max(limit, 0))
	if err != nil {
		return nil, unreachable(fmt.Errorf("%s: %w", what, err))
	}
	ps, err := collectProfiles(rows)
	if err != nil {
		return nil, unreachable(fmt.Errorf("%s: %w", what, err))
	}
	out := make([]kith.Profile, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out, nil
}
