package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/kithhq/kith"
)

// Consent decisions, contact points and relationships live in kith.db,
// whose every commit is fsync'd: a person's word is primary data, like an
// acknowledged event.

const (
	consentCols      = "id, profile_id, purpose, channel, address, state, basis, decided_at, recorded_at, via, actor, wording"
	contactPointCols = "profile_id, channel, address, status, label, updated_at, updated_by, reason"
	relationshipCols = "from_id, to_id, kind, household, recipient, since, set_by"
)

// AppendConsents stores decisions in one transaction; a record whose ID is
// held is kept once, as first stored.
func (db *DB) AppendConsents(ctx context.Context, recs ...kith.ConsentRecord) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append consents: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO consent_records ("+consentCols+
		") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING")
	if err != nil {
		return fmt.Errorf("append consents: %w", err)
	}
	defer stmt.Close()
	for _, r := range recs {
		if _, err := stmt.ExecContext(ctx, r.ID, r.ProfileID, r.Purpose, r.Channel, r.Address, r.State, r.Basis,
			nanos(r.DecidedAt), nanos(r.RecordedAt), r.Via, r.Actor, r.Wording); err != nil {
			return fmt.Errorf("append consent %s: %w", r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append consents: %w", err)
	}
	return nil
}

// Consents returns every decision about the given profiles, oldest
// recorded first (the zero time before any other), ties by id.
func (db *DB) Consents(ctx context.Context, profileIDs ...string) ([]kith.ConsentRecord, error) {
	var out []kith.ConsentRecord
	chunks, err := inChunks(profileIDs, func(in string, args []any) error {
		rows, err := db.r.QueryContext(ctx, "SELECT "+consentCols+" FROM consent_records WHERE profile_id IN ("+in+
			") ORDER BY recorded_at, id", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r kith.ConsentRecord
			var decided, recorded sql.NullInt64
			if err := rows.Scan(&r.ID, &r.ProfileID, &r.Purpose, &r.Channel, &r.Address, &r.State, &r.Basis,
				&decided, &recorded, &r.Via, &r.Actor, &r.Wording); err != nil {
				return err
			}
			r.DecidedAt, r.RecordedAt = fromNanos(decided), fromNanos(recorded)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("consents: %w", err)
	}
	if chunks > 1 {
		// Each statement's rows are in order; together they are not.
		slices.SortStableFunc(out, func(a, b kith.ConsentRecord) int {
			return cmp.Or(a.RecordedAt.Compare(b.RecordedAt), strings.Compare(a.ID, b.ID))
		})
	}
	return out, nil
}

// PutContactPoint stores a contact point, replacing the one of that
// profile, channel and address, and appends it to the contact point
// history in the same transaction.
func (db *DB) PutContactPoint(ctx context.Context, cp kith.ContactPoint) error {
	err := func() error {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		args := []any{cp.ProfileID, cp.Channel, cp.Address, cp.Status, cp.Label, nanos(cp.UpdatedAt), cp.UpdatedBy, cp.Reason}
		if _, err := tx.ExecContext(ctx, "INSERT INTO contact_points ("+contactPointCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (profile_id, channel, address) DO UPDATE SET status = excluded.status, label = excluded.label,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by, reason = excluded.reason`, args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO contact_point_history ("+contactPointCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)", args...); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return fmt.Errorf("put contact point %s %s of %s: %w", cp.Channel, cp.Address, cp.ProfileID, err)
	}
	return nil
}

// ContactPointHistory returns every contact point the given profiles were
// ever given, as put: oldest UpdatedAt first (the zero time before any
// other), ties in the order they were put.
func (db *DB) ContactPointHistory(ctx context.Context, profileIDs ...string) ([]kith.ContactPoint, error) {
	type entry struct {
		seq int64
		cp  kith.ContactPoint
	}
	var es []entry
	chunks, err := inChunks(profileIDs, func(in string, args []any) error {
		rows, err := db.r.QueryContext(ctx, "SELECT seq, "+contactPointCols+" FROM contact_point_history WHERE profile_id IN ("+in+
			") ORDER BY updated_at, seq", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e entry
			var updated sql.NullInt64
			if err := rows.Scan(&e.seq, &e.cp.ProfileID, &e.cp.Channel, &e.cp.Address, &e.cp.Status, &e.cp.Label, &updated,
				&e.cp.UpdatedBy, &e.cp.Reason); err != nil {
				return err
			}
			e.cp.UpdatedAt = fromNanos(updated)
			es = append(es, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("contact point history: %w", err)
	}
	if chunks > 1 {
		// Each statement's rows are in order; together they are not.
		slices.SortFunc(es, func(a, b entry) int {
			return cmp.Or(a.cp.UpdatedAt.Compare(b.cp.UpdatedAt), cmp.Compare(a.seq, b.seq))
		})
	}
	var out []kith.ContactPoint
	for _, e := range es {
		out = append(out, e.cp)
	}
	return out, nil
}

// ContactPoints returns the given profiles' contact points, by profile,
// channel and address.
func (db *DB) ContactPoints(ctx context.Context, profileIDs ...string) ([]kith.ContactPoint, error) {
	// inChunks hands out the ids in order, so the chunks' rows, each by
	// profile, channel and address, are in that order together too.
	var out []kith.ContactPoint
	_, err := inChunks(profileIDs, func(in string, args []any) error {
		rows, err := db.r.QueryContext(ctx, "SELECT "+contactPointCols+" FROM contact_points WHERE profile_id IN ("+in+
			") ORDER BY profile_id, channel, address", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cp kith.ContactPoint
			var updated sql.NullInt64
			if err := rows.Scan(&cp.ProfileID, &cp.Channel, &cp.Address, &cp.Status, &cp.Label, &updated,
				&cp.UpdatedBy, &cp.Reason); err != nil {
				return err
			}
			cp.UpdatedAt = fromNanos(updated)
			out = append(out, cp)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("contact points: %w", err)
	}
	return out, nil
}

// PutRelationship stores a relationship, replacing the one of the same
// From, To and Kind.
func (db *DB) PutRelationship(ctx context.Context, r kith.Relationship) error {
	_, err := db.w.ExecContext(ctx, "INSERT INTO relationships ("+relationshipCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (from_id, to_id, kind) DO UPDATE SET household = excluded.household, recipient = excluded.recipient,
		since = excluded.since, set_by = excluded.set_by`,
		r.From, r.To, r.Kind, r.Household, r.Recipient, nanos(r.Since), r.By)
	if err != nil {
		return fmt.Errorf("put relationship %s %s of %s: %w", r.From, r.Kind, r.To, err)
	}
	return nil
}

// DeleteRelationship removes one; ENOTFOUND when none.
func (db *DB) DeleteRelationship(ctx context.Context, from, to, kind string) error {
	res, err := db.w.ExecContext(ctx, "DELETE FROM relationships WHERE from_id = ? AND to_id = ? AND kind = ?", from, to, kind)
	if err != nil {
		return fmt.Errorf("delete relationship %s %s of %s: %w", from, kind, to, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete relationship %s %s of %s: %w", from, kind, to, err)
	}
	if n == 0 {
		return kith.Errorf(kith.ENOTFOUND, "relationship %s %s of %s not found", from, kind, to)
	}
	return nil
}

// Relationships returns every relationship either end of which is one of
// the given profiles, by From, To and Kind.
func (db *DB) Relationships(ctx context.Context, profileIDs ...string) ([]kith.Relationship, error) {
	var out []kith.Relationship
	chunks, err := inChunks(profileIDs, func(in string, args []any) error {
		rows, err := db.r.QueryContext(ctx, "SELECT "+relationshipCols+" FROM relationships WHERE from_id IN ("+in+
			") OR to_id IN ("+in+") ORDER BY from_id, to_id, kind", append(args, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r kith.Relationship
			var since sql.NullInt64
			if err := rows.Scan(&r.From, &r.To, &r.Kind, &r.Household, &r.Recipient, &since, &r.By); err != nil {
				return err
			}
			r.Since = fromNanos(since)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("relationships: %w", err)
	}
	if chunks > 1 {
		// A relationship whose ends fall in two chunks is read twice.
		key := func(a, b kith.Relationship) int {
			return cmp.Or(strings.Compare(a.From, b.From), strings.Compare(a.To, b.To), strings.Compare(a.Kind, b.Kind))
		}
		slices.SortFunc(out, key)
		out = slices.CompactFunc(out, func(a, b kith.Relationship) bool { return key(a, b) == 0 })
	}
	return out, nil
}

// inChunks calls query with the distinct ids as the body of IN (…) and its
// arguments: placeholders for a few, else one JSON array read by
// json_each, so that a list of any length is one statement. It returns how
// many times it called query: none for no ids, else one.
func inChunks(ids []string, query func(in string, args []any) error) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) <= 32 {
		// A person's few profiles: placeholders plan as index lookups
		// with no JSON to build or parse.
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		return 1, query("?"+strings.Repeat(", ?", len(ids)-1), args)
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return 0, err
	}
	if err := query("SELECT value FROM json_each(?)", []any{string(b)}); err != nil {
		return 0, err
	}
	return 1, nil
}
