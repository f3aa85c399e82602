package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kithhq/kith"
)

// Erasing a person: the identity graph and profiles inside the processor's
// transaction (EraseProfiles), the log and the other primary data in one
// transaction of their own (ErasePrimary), the audit trail's details last.
// Each part is idempotent, so an erasure interrupted between them is
// finished by running it again. Deleted tuples stay on disk until VACUUM
// reclaims them (autovacuum does, within minutes on a busy table).

// EraseProfiles removes profiles, under their locks, with everything the
// identity graph holds of them, and the identity keys no one else holds.
func (t *profileTx) EraseProfiles(ctx context.Context, ids []string) (kith.ErasedProfiles, error) {
	var out kith.ErasedProfiles
	if err := t.flush(ctx); err != nil {
		return out, err
	}
	t.forget()
	if len(ids) == 0 {
		return out, nil
	}
	if err := t.lock(ctx, ids...); err != nil {
		return out, err
	}
	rows, err := t.tx.Query(ctx, `SELECT seq FROM timeline WHERE profile_id = ANY($1) ORDER BY seq`, ids)
	if err != nil {
		return out, fmt.Errorf("erase profiles: timeline: %w", err)
	}
	if out.Seqs, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return out, fmt.Errorf("erase profiles: timeline: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(`WITH gone AS (DELETE FROM identifiers WHERE profile_id = ANY($1) RETURNING type, value),
		keys AS (DELETE FROM identity_keys k USING (SELECT DISTINCT type, value FROM gone) g
			WHERE k.type = g.type AND k.value = g.value
			  AND NOT EXISTS (SELECT 1 FROM identifiers i WHERE i.type = g.type AND i.value = g.value AND i.profile_id <> ALL($1)))
		SELECT count(*) FROM gone`, ids).QueryRow(func(r pgx.Row) error { return r.Scan(&out.Identifiers) })
	b.Queue(`DELETE FROM timeline WHERE profile_id = ANY($1)`, ids)
	b.Queue(`DELETE FROM conflicts WHERE profile_id = ANY($1)
		OR EXISTS (SELECT 1 FROM unnest($1::text[]) j WHERE position(' ' || j || ' ' IN ' ' || conflicts.profiles || ' ') > 0)`, ids)
	b.Queue(`DELETE FROM merges WHERE survivor = ANY($1) OR absorbed = ANY($1)`, ids)
	b.Queue(`DELETE FROM do_not_link WHERE a = ANY($1) OR b = ANY($1)`, ids)
	b.Queue(`DELETE FROM profiles WHERE id = ANY($1)`, ids).Exec(func(tag pgconn.CommandTag) error {
		out.Profiles = int(tag.RowsAffected())
		return nil
	})
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return out, fmt.Errorf("erase profiles: %w", err)
	}
	return out, nil
}

// ErasePrimary removes the primary data about the profiles and the log's
// events at seqs, in one transaction.
func (db *DB) ErasePrimary(ctx context.Context, profileIDs []string, seqs []int64) (kith.ErasureCounts, error) {
	var c kith.ErasureCounts
	if len(profileIDs) == 0 {
		return c, nil
	}
	if seqs == nil {
		seqs = []int64{}
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		c = kith.ErasureCounts{}
		for _, q := range []struct {
			sql  string
			arg  any
			n    *int
			what string
		}{
			{`DELETE FROM events WHERE seq = ANY($1)`, seqs, &c.Events, "events"},
			{`DELETE FROM consent_records WHERE profile_id = ANY($1)`, profileIDs, &c.Consents, "consent decisions"},
			{`DELETE FROM contact_points WHERE profile_id = ANY($1)`, profileIDs, &c.ContactPoints, "contact points"},
			{`DELETE FROM contact_point_history WHERE profile_id = ANY($1)`, profileIDs, nil, "contact point history"},
			{`DELETE FROM relationships WHERE from_id = ANY($1) OR to_id = ANY($1)`, profileIDs, &c.Relationships, "relationships"},
			{`DELETE FROM link_revocations WHERE profile_id = ANY($1)`, profileIDs, nil, "link revocations"},
			{`DELETE FROM audience_members WHERE profile_id = ANY($1)`, profileIDs, &c.Memberships, "audience memberships"},
			{`DELETE FROM match_pairs WHERE left_id = ANY($1) OR right_id = ANY($1)`, profileIDs, &c.Matches, "match candidates"},
			// Ledger events not yet relayed to the log would bring the
			// person back: those addressed to them, or naming them, go.
			{`DELETE FROM offer_outbox WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) j WHERE position(convert_to(j, 'UTF8') IN offer_outbox.event) > 0)
				OR EXISTS (SELECT 1 FROM grants g WHERE g.profile_id = ANY($1) AND g.address_value <> ''
					AND position(convert_to(g.address_value, 'UTF8') IN offer_outbox.event) > 0)`,
				profileIDs, nil, "ledger events waiting"},
			// A live grant removed no longer counts against its offer's cap.
			{`UPDATE offers o SET granted = o.granted - g.n FROM (SELECT offer, count(*) AS n FROM grants
				WHERE profile_id = ANY($1) AND redeemed_at IS NULL AND voided_at IS NULL GROUP BY offer) g WHERE o.code = g.offer`,
				profileIDs, nil, "grant counts"},
		} {
			tag, err := tx.Exec(ctx, q.sql, q.arg)
			if err != nil {
				return fmt.Errorf("erase %s: %w", q.what, err)
			}
			if q.n != nil {
				*q.n = int(tag.RowsAffected())
			}
		}
		removed, err := tx.Exec(ctx, `DELETE FROM grants WHERE redeemed_at IS NULL AND profile_id = ANY($1)`, profileIDs)
		if err != nil {
			return fmt.Errorf("erase grants: %w", err)
		}
		kept, err := tx.Exec(ctx, `UPDATE grants SET profile_id = $2, address_type = '', address_value = '', message = '', campaign = ''
			WHERE profile_id = ANY($1)`, profileIDs, kith.ErasedProfile)
		if err != nil {
			return fmt.Errorf("erase grants: redeemed: %w", err)
		}
		c.Grants = int(removed.RowsAffected() + kept.RowsAffected())
		return nil
	})
	return c, err
}

// RedactAudit replaces the detail of the audit records about the targets.
func (db *DB) RedactAudit(ctx context.Context, targets []string, detail string) (int, error) {
	if len(targets) == 0 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `UPDATE audit SET detail = $2 WHERE target = ANY($1) AND detail <> '' AND detail <> $2 AND action <> $3`,
		targets, detail, kith.AuditProfileErase)
	if err != nil {
		return 0, fmt.Errorf("redact the audit trail: %w", unreachable(err))
	}
	return int(tag.RowsAffected()), nil
}

const erasureCols = "id, profiles, state, reason, by_actor, requested_at, completed_at, removed"

// PutErasure stores an erasure, replacing the one with its ID.
func (db *DB) PutErasure(ctx context.Context, e kith.Erasure) error {
	removed, _ := json.Marshal(e.Removed)
	if e.Profiles == nil {
		e.Profiles = []string{}
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO erasures (`+erasureCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET profiles = excluded.profiles, state = excluded.state, reason = excluded.reason,
			by_actor = excluded.by_actor, requested_at = excluded.requested_at, completed_at = excluded.completed_at, removed = excluded.removed`,
		e.ID, e.Profiles, e.State, e.Reason, e.By, nanos(e.RequestedAt), nanos(e.CompletedAt), removed)
	if err != nil {
		return fmt.Errorf("store erasure %s: %w", e.ID, unreachable(err))
	}
	return nil
}

// Erasure returns one erasure; ENOTFOUND if none.
func (db *DB) Erasure(ctx context.Context, id string) (*kith.Erasure, error) {
	es, err := db.erasures(ctx, `SELECT `+erasureCols+` FROM erasures WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("erasure %s: %w", id, err)
	}
	if len(es) == 0 {
		return nil, kith.Errorf(kith.ENOTFOUND, "no erasure %s", id)
	}
	return &es[0], nil
}

// Erasures returns those requested at or after since, oldest first.
func (db *DB) Erasures(ctx context.Context, since time.Time, limit int) ([]kith.Erasure, error) {
	q := `SELECT ` + erasureCols + ` FROM erasures WHERE requested_at >= $1 ORDER BY requested_at, id`
	args := []any{sinceNanos(since)}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	es, err := db.erasures(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("erasures: %w", err)
	}
	return es, nil
}

func (db *DB) erasures(ctx context.Context, q string, args ...any) ([]kith.Erasure, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, unreachable(err)
	}
	defer rows.Close()
	var out []kith.Erasure
	for rows.Next() {
		var (
			e                   kith.Erasure
			removed             []byte
			requested, complete *int64
		)
		if err := rows.Scan(&e.ID, &e.Profiles, &e.State, &e.Reason, &e.By, &requested, &complete, &removed); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(removed, &e.Removed); err != nil {
			return nil, fmt.Errorf("erasure %s: counts: %w", e.ID, err)
		}
		e.RequestedAt, e.CompletedAt = fromNanos(requested), fromNanos(complete)
		out = append(out, e)
	}
	return out, rows.Err()
}

// sinceNanos is a lower bound on stored times: the zero time is before all.
func sinceNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}
