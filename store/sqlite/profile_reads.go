package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// Profile returns a profile by id, absorbed or not; ENOTFOUND if none.
func (db *DB) Profile(ctx context.Context, id string) (*kith.Profile, error) {
	return getProfile(ctx, db.prq(), id)
}

// ProfileIDsFor returns the current profiles holding an identifier.
func (db *DB) ProfileIDsFor(ctx context.Context, id kith.Identifier) ([]string, error) {
	return profilesFor(ctx, db.prq(), id)
}

const (
	qCurrentProfile = "SELECT coalesce(merged_into, id) FROM profiles WHERE id = ?"
	qAbsorbed       = "SELECT id FROM profiles WHERE merged_into = ? ORDER BY id"
)

// Members returns the current profile id is part of and the profiles
// merged into it.
func (db *DB) Members(ctx context.Context, id string) (string, []string, error) {
	q := db.prq()
	var cur string
	if err := q.QueryRowContext(ctx, qCurrentProfile, id).Scan(&cur); err != nil {
		return "", nil, classify(err, "profile "+id)
	}
	rows, err := q.QueryContext(ctx, qAbsorbed, cur)
	if err != nil {
		return "", nil, fmt.Errorf("members of %s: %w", cur, err)
	}
	defer rows.Close()
	var absorbed []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return "", nil, err
		}
		absorbed = append(absorbed, a)
	}
	return cur, absorbed, rows.Err()
}

// Links returns the identifiers a profile holds with the event that linked each.
func (db *DB) Links(ctx context.Context, profileID string) ([]kith.Link, error) {
	return links(ctx, db.prq(), profileID)
}

// Merges returns every merge, undone ones included, that joined a profile
// of the cluster of root.
func (db *DB) Merges(ctx context.Context, root string) ([]kith.Merge, error) {
	ms, err := clusterMerges(ctx, db.pr, root, true)
	if err != nil {
		return nil, err
	}
	// Undone merges whose profiles were split off are still part of this
	// profile's history: include those naming it.
	rows, err := db.pr.QueryContext(ctx, `SELECT `+mergeCols+` FROM merges
		WHERE undone_at IS NOT NULL AND (survivor = ?1 OR absorbed = ?1)`, root)
	if err != nil {
		return nil, fmt.Errorf("merges of %s: %w", root, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.ID] = true
	}
	for rows.Next() {
		m, err := scanMerge(rows)
		if err != nil {
			return nil, err
		}
		if !seen[m.ID] {
			ms = append(ms, *m)
		}
	}
	return ms, rows.Err()
}

// MergeByID returns one merge.
func (db *DB) MergeByID(ctx context.Context, id string) (*kith.Merge, error) {
	return getMerge(ctx, db.pr, id)
}

// Conflicts returns the conflicts recorded for a profile, oldest first.
func (db *DB) Conflicts(ctx context.Context, profileID string) ([]kith.Conflict, error) {
	rows, err := db.pr.QueryContext(ctx, `SELECT seq, message_id, profiles, reason, at FROM conflicts
		WHERE profile_id = ? ORDER BY seq`, profileID)
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
			return nil, err
		}
		c.Profiles, c.At = strings.Fields(ps), time.Unix(0, at).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// Timeline returns up to limit events of a profile, newest event time
// first, strictly before cursor (nil: from the newest).
func (db *DB) Timeline(ctx context.Context, profileID string, before *kith.TimelineCursor, limit int) ([]kith.TimelineEvent, error) {
	q := `SELECT seq, warnings FROM timeline WHERE profile_id = ?`
	args := []any{profileID}
	if before != nil {
		q += ` AND (ts, seq) < (?, ?)`
		args = append(args, before.Time.UnixNano(), before.Seq)
	}
	q += ` ORDER BY ts DESC, seq DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.pr.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", profileID, err)
	}
	var out []kith.TimelineEvent
	var seqs []int64
	for rows.Next() {
		var seq int64
		var w sql.NullString
		if err := rows.Scan(&seq, &w); err != nil {
			rows.Close()
			return nil, err
		}
		te := kith.TimelineEvent{ProfileID: profileID}
		te.Seq = seq
		if w.Valid {
			_ = json.Unmarshal([]byte(w.String), &te.Warnings)
		}
		out = append(out, te)
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", profileID, err)
	}
	evs, err := db.eventsBySeq(ctx, seqs)
	if err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, te := range out {
		if e, ok := evs[te.Seq]; ok {
			te.Event = *e
			kept = append(kept, te)
		}
	}
	return kept, nil
}

// SearchProfiles finds current profiles whose name starts with q (either
// "first last" or "last first"), or that hold an identifier of one of the
// given types starting with q. Up to limit ids, best matches first.
func (db *DB) SearchProfiles(ctx context.Context, name string, prefixes []kith.Identifier, limit int) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(rows *sql.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		defer rows.Close()
		for rows.Next() && len(out) < limit {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		return rows.Err()
	}
	for _, id := range prefixes {
		if len(out) >= limit {
			break
		}
		// Grouped, so a profile holding several matching values counts once.
		err := add(db.pr.QueryContext(ctx, `SELECT profile_id FROM identifiers WHERE type = ? AND value >= ? AND value < ?
			GROUP BY profile_id ORDER BY min(value), profile_id LIMIT ?`, id.Type, id.Value, id.Value+"\U0010FFFF", limit))
		if err != nil {
			return nil, err
		}
	}
	if name = strings.ToLower(strings.Join(strings.Fields(name), " ")); name != "" {
		for _, col := range []string{"search1", "search2"} {
			if len(out) >= limit {
				break
			}
			err := add(db.pr.QueryContext(ctx, `SELECT id FROM profiles WHERE `+col+` >= ? AND `+col+` < ? AND merged_into IS NULL
				ORDER BY `+col+` LIMIT ?`, name, name+"\U0010FFFF", limit))
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// ScanCustomers is ScanProfiles restricted to the profiles that hold a
// purchase or a lifecycle stage: what the lifecycle service reads. The
// store marks them when it writes them (column customer), and reads them
// through the partial index profiles_customers, whose predicate this
// repeats.
func (db *DB) ScanCustomers(ctx context.Context, after string, limit int) ([]kith.Profile, error) {
	return db.scanProfiles(ctx, "scan customers", `merged_into IS NULL AND customer = 1`, after, limit)
}

// CountProfiles counts the current (not absorbed) profiles: people.
func (db *DB) CountProfiles(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pr.QueryRowContext(ctx, "SELECT count(*) FROM profiles WHERE merged_into IS NULL").Scan(&n); err != nil {
		return 0, fmt.Errorf("count profiles: %w", err)
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
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := jsonIDs(ids)
	if err != nil {
		return nil, err
	}
	rows, err := db.pr.QueryContext(ctx, "SELECT p.id, p.created_seq, p.created_at, p.updated_at, p.doc FROM json_each(?) j JOIN profiles p ON p.id = j.value", list)
	out, err := collectStored(rows, err, "read profiles")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b kith.StoredProfile) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ScanStoredProfiles is ScanProfiles with the documents left undecoded.
func (db *DB) ScanStoredProfiles(ctx context.Context, after string, limit int) ([]kith.StoredProfile, error) {
	rows, err := db.pr.QueryContext(ctx, "SELECT "+storedCols+" FROM profiles WHERE merged_into IS NULL AND id > ? ORDER BY id LIMIT ?", after, max(limit, 0))
	return collectStored(rows, err, "scan profiles")
}

const storedCols = "id, created_seq, created_at, updated_at, doc"

// collectStored reads profiles with their documents undecoded.
func collectStored(rows *sql.Rows, err error, what string) ([]kith.StoredProfile, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
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
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// scanProfiles returns a page of the profiles where holds, in id order.
func (db *DB) scanProfiles(ctx context.Context, what, where, after string, limit int) ([]kith.Profile, error) {
	rows, err := db.pr.QueryContext(ctx, "SELECT "+profileCols+" FROM profiles WHERE "+where+
		" AND id > ? ORDER BY id LIMIT ?", after, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []kith.Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
