package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

const (
	consentCols      = "id, profile_id, purpose, channel, address, state, basis, decided_at, recorded_at, via, actor, wording"
	contactPointCols = "profile_id, channel, address, status, label, updated_at, updated_by, reason"
	relationshipCols = "from_id, to_id, kind, household, recipient, since, set_by"
)

// AppendConsents stores decisions in one statement; a record whose ID is
// held is kept once, as first stored. Of two nodes appending one record,
// the second's INSERT waits for the first's commit and then writes
// nothing.
func (db *DB) AppendConsents(ctx context.Context, recs ...kith.ConsentRecord) error {
	if len(recs) == 0 {
		return nil
	}
	// Inserted in id order, so that two appends sharing records take
	// them in one order and the second waits for the first rather than
	// deadlocking; the sort is stable, so of one id given twice the first
	// is kept.
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b kith.ConsentRecord) int { return strings.Compare(a.ID, b.ID) })
	n := len(recs)
	var (
		ids, profiles, purposes, channels = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		addresses, states, bases, vias    = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		actors, wordings                  = make([]string, n), make([]string, n)
		decided, recorded                 = make([]*int64, n), make([]*int64, n)
	)
	for i, r := range recs {
		for _, f := range []struct{ s, name string }{{r.ID, "id"}, {r.ProfileID, "profile_id"}, {r.Purpose, "purpose"},
			{r.Channel, "channel"}, {r.Address, "address"}, {r.State, "state"}, {r.Basis, "basis"}, {r.Via, "via"}} {
			if err := checkText(f.s, f.name); err != nil {
				return err
			}
		}
		if err := checkTime(r.DecidedAt, "decided_at"); err != nil {
			return err
		}
		if err := checkTime(r.RecordedAt, "recorded_at"); err != nil {
			return err
		}
		ids[i], profiles[i], purposes[i], channels[i] = r.ID, r.ProfileID, r.Purpose, r.Channel
		addresses[i], states[i], bases[i], vias[i] = r.Address, r.State, r.Basis, r.Via
		actors[i], wordings[i] = storable(r.Actor), storable(r.Wording)
		decided[i], recorded[i] = nanos(r.DecidedAt), nanos(r.RecordedAt)
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO consent_records ("+consentCols+`)
			SELECT `+consentCols+` FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
				$7::text[], $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[])
				WITH ORDINALITY AS r (`+consentCols+`, n)
			ORDER BY n
			ON CONFLICT (id) DO NOTHING`,
			ids, profiles, purposes, channels, addresses, states, bases, decided, recorded, vias, actors, wordings)
		return err
	})
	if err != nil {
		return fmt.Errorf("append consents: %w", classify(err, "consents"))
	}
	return nil
}

// Consents returns every decision about the given profiles, oldest
// recorded first (the zero time before any other), ties by id.
func (db *DB) Consents(ctx context.Context, profileIDs ...string) ([]kith.ConsentRecord, error) {
	if len(profileIDs) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, "SELECT "+consentCols+` FROM consent_records WHERE profile_id = ANY($1)
		ORDER BY recorded_at NULLS FIRST, id`, profileIDs)
	if err != nil {
		return nil, fmt.Errorf("consents: %w", classify(err, "consents"))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (kith.ConsentRecord, error) {
		var r kith.ConsentRecord
		var decided, recorded *int64
		err := row.Scan(&r.ID, &r.ProfileID, &r.Purpose, &r.Channel, &r.Address, &r.State, &r.Basis,
			&decided, &recorded, &r.Via, &r.Actor, &r.Wording)
		r.DecidedAt, r.RecordedAt = fromNanos(decided), fromNanos(recorded)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("consents: %w", classify(err, "consents"))
	}
	return out, nil
}

// PutContactPoint stores a contact point, replacing the one of that
// profile, channel and address.
func (db *DB) PutContactPoint(ctx context.Context, cp kith.ContactPoint) error {
	for _, f := range []struct{ s, name string }{{cp.ProfileID, "profile_id"}, {cp.Channel, "channel"},
		{cp.Address, "address"}, {cp.Status, "status"}} {
		if err := checkText(f.s, f.name); err != nil {
			return err
		}
	}
	if err := checkTime(cp.UpdatedAt, "updated_at"); err != nil {
		return err
	}
	args := []any{cp.ProfileID, cp.Channel, cp.Address, cp.Status, storable(cp.Label), nanos(cp.UpdatedAt), storable(cp.UpdatedBy),
		storable(cp.Reason)}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO contact_points ("+contactPointCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (profile_id, channel, address) DO UPDATE SET status = excluded.status, label = excluded.label,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by, reason = excluded.reason`, args...); err != nil {
			return err
		}
		// After the upsert, which holds the contact point's row until the
		// commit: of two puts of one contact point, the one stored last
		// is the one appended last.
		_, err := tx.Exec(ctx, "INSERT INTO contact_point_history ("+contactPointCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("put contact point %s %s of %s: %w", cp.Channel, cp.Address, cp.ProfileID, classify(err, "contact point"))
	}
	return nil
}

// ContactPointHistory returns every contact point the given profiles were
// ever given, as put: oldest UpdatedAt first (the zero time before any
// other), ties in the order they were put.
func (db *DB) ContactPointHistory(ctx context.Context, profileIDs ...string) ([]kith.ContactPoint, error) {
	if len(profileIDs) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, "SELECT "+contactPointCols+` FROM contact_point_history WHERE profile_id = ANY($1)
		ORDER BY updated_at NULLS FIRST, seq`, profileIDs)
	if err != nil {
		return nil, fmt.Errorf("contact point history: %w", classify(err, "contact points"))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (kith.ContactPoint, error) {
		var cp kith.ContactPoint
		var updated *int64
		err := row.Scan(&cp.ProfileID, &cp.Channel, &cp.Address, &cp.Status, &cp.Label, &updated, &cp.UpdatedBy, &cp.Reason)
		cp.UpdatedAt = fromNanos(updated)
		return cp, err
	})
	if err != nil {
		return nil, fmt.Errorf("contact point history: %w", classify(err, "contact points"))
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// ContactPoints returns the given profiles' contact points, by profile,
// channel and address.
func (db *DB) ContactPoints(ctx context.Context, profileIDs ...string) ([]kith.ContactPoint, error) {
	if len(profileIDs) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, "SELECT "+contactPointCols+` FROM contact_points WHERE profile_id = ANY($1)
		ORDER BY profile_id, channel, address`, profileIDs)
	if err != nil {
		return nil, fmt.Errorf("contact points: %w", classify(err, "contact points"))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (kith.ContactPoint, error) {
		var cp kith.ContactPoint
		var updated *int64
		err := row.Scan(&cp.ProfileID, &cp.Channel, &cp.Address, &cp.Status, &cp.Label, &updated, &cp.UpdatedBy, &cp.Reason)
		cp.UpdatedAt = fromNanos(updated)
		return cp, err
	})
	if err != nil {
		return nil, fmt.Errorf("contact points: %w", classify(err, "contact points"))
	}
	return out, nil
}

// PutRelationship stores a relationship, replacing the one of the same
// From, To and Kind.
func (db *DB) PutRelationship(ctx context.Context, r kith.Relationship) error {
	for _, f := range []struct{ s, name string }{{r.From, "from"}, {r.To, "to"}, {r.Kind, "kind"}} {
		if err := checkText(f.s, f.name); err != nil {
			return err
		}
	}
	if err := checkTime(r.Since, "since"); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, "INSERT INTO relationships ("+relationshipCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (from_id, to_id, kind) DO UPDATE SET household = excluded.household, recipient = excluded.recipient,
		since = excluded.since, set_by = excluded.set_by`,
		r.From, r.To, r.Kind, storable(r.Household), r.Recipient, nanos(r.Since), storable(r.By))
	if err != nil {
		return fmt.Errorf("put relationship %s %s of %s: %w", r.From, r.Kind, r.To, classify(err, "relationship"))
	}
	return nil
}

// DeleteRelationship removes one; ENOTFOUND when none.
func (db *DB) DeleteRelationship(ctx context.Context, from, to, kind string) error {
	for _, f := range []struct{ s, name string }{{from, "from"}, {to, "to"}, {kind, "kind"}} {
		if err := checkText(f.s, f.name); err != nil {
			return err
		}
	}
	tag, err := db.pool.Exec(ctx, "DELETE FROM relationships WHERE from_id = $1 AND to_id = $2 AND kind = $3", from, to, kind)
	if err != nil {
		return fmt.Errorf("delete relationship %s %s of %s: %w", from, kind, to, classify(err, "relationship"))
	}
	if tag.RowsAffected() == 0 {
		return kith.Errorf(kith.ENOTFOUND, "relationship %s %s of %s not found", from, kind, to)
	}
	return nil
}

// Relationships returns every relationship either end of which is one of
// the given profiles, by From, To and Kind.
func (db *DB) Relationships(ctx context.Context, profileIDs ...string) ([]kith.Relationship, error) {
	if len(profileIDs) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, "SELECT "+relationshipCols+` FROM relationships WHERE from_id = ANY($1) OR to_id = ANY($1)
		ORDER BY from_id, to_id, kind`, profileIDs)
	if err != nil {
		return nil, fmt.Errorf("relationships: %w", classify(err, "relationships"))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (kith.Relationship, error) {
		var r kith.Relationship
		var since *int64
		err := row.Scan(&r.From, &r.To, &r.Kind, &r.Household, &r.Recipient, &since, &r.By)
		r.Since = fromNanos(since)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("relationships: %w", classify(err, "relationships"))
	}
	return out, nil
}
