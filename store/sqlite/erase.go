package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/kithhq/kith"
)

// Erasing a person touches every database of the store: the identity graph
// and profiles in profiles.db (EraseProfiles, inside the processor's
// transaction), the log and the other primary data in kith.db, the ledger
// in offers.db and the audit trail's details in audit.db. Each part is
// idempotent, so an erasure interrupted between them is finished by running
// it again. Deleted rows are overwritten on disk (secure_delete) rather than
// left in free pages.

// EraseProfiles removes profiles with everything the identity graph holds
// of them, returning what it removed.
func (t *profileTx) EraseProfiles(ctx context.Context, ids []string) (kith.ErasedProfiles, error) {
	var out kith.ErasedProfiles
	if err := t.flushTimeline(ctx); err != nil {
		return out, err
	}
	if len(ids) == 0 {
		return out, nil
	}
	b, _ := json.Marshal(ids)
	if _, err := t.q.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return out, fmt.Errorf("erase profiles: %w", err)
	}
	defer t.q.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	rows, err := t.q.QueryContext(ctx, `SELECT seq FROM timeline WHERE profile_id IN (SELECT value FROM json_each(?)) ORDER BY seq`, string(b))
	if err != nil {
		return out, fmt.Errorf("erase profiles: timeline: %w", err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return out, fmt.Errorf("erase profiles: timeline: %w", err)
		}
		out.Seqs = append(out.Seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("erase profiles: timeline: %w", err)
	}
	for _, q := range []struct {
		sql string
		n   *int
	}{
		{`DELETE FROM identifiers WHERE profile_id IN (SELECT value FROM json_each(?1))`, &out.Identifiers},
		{`DELETE FROM timeline WHERE profile_id IN (SELECT value FROM json_each(?1))`, nil},
		// A conflict is listed under every profile it involves.
		{`DELETE FROM conflicts WHERE profile_id IN (SELECT value FROM json_each(?1))
			OR EXISTS (SELECT 1 FROM json_each(?1) j WHERE instr(' ' || conflicts.profiles || ' ', ' ' || j.value || ' ') > 0)`, nil},
		{`DELETE FROM merges WHERE survivor IN (SELECT value FROM json_each(?1)) OR absorbed IN (SELECT value FROM json_each(?1))`, nil},
		{`DELETE FROM do_not_link WHERE a IN (SELECT value FROM json_each(?1)) OR b IN (SELECT value FROM json_each(?1))`, nil},
		{`DELETE FROM profiles WHERE id IN (SELECT value FROM json_each(?1))`, &out.Profiles},
	} {
		res, err := t.q.ExecContext(ctx, q.sql, string(b))
		if err != nil {
			return out, fmt.Errorf("erase profiles: %w", err)
		}
		if q.n != nil {
			n, _ := res.RowsAffected()
			*q.n = int(n)
		}
	}
	return out, nil
}

// ErasePrimary removes what kith.db and offers.db hold about the profiles,
// and the log's events at seqs: one transaction per database.
func (db *DB) ErasePrimary(ctx context.Context, profileIDs []string, seqs []int64) (kith.ErasureCounts, error) {
	var c kith.ErasureCounts
	if len(profileIDs) == 0 {
		return c, nil
	}
	ids, _ := json.Marshal(profileIDs)
	if seqs == nil {
		seqs = []int64{}
	}
	ss, _ := json.Marshal(seqs)
	deleted := 0
	err := secureTx(ctx, db.w, func(tx *sql.Tx) error {
		for _, q := range []struct {
			sql  string
			arg  string
			n    *int
			what string
		}{
			// SQLite hands out the position after the newest row: the
			// newest is emptied rather than removed, so its position is
			// never given to another event.
			{`UPDATE events SET source_id = '` + kith.ErasedSource + `', message_id = 'erased-' || seq, type = 'track', user_id = '', anonymous_id = '',
				original_timestamp = NULL, sent_at = NULL, payload = X'7B7D'
				WHERE seq IN (SELECT value FROM json_each(?1)) AND seq = (SELECT max(seq) FROM events) AND source_id <> '` + kith.ErasedSource + `'`,
				string(ss), &c.Events, "the newest event"},
			{`DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?1)) AND seq < (SELECT max(seq) FROM events) AND source_id <> '` + kith.ErasedSource + `'`,
				string(ss), &deleted, "events"},
			// A placeholder no longer the newest has done its work.
			{`DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?1)) AND seq < (SELECT max(seq) FROM events)`, string(ss), nil, "placeholders"},
			{`DELETE FROM consent_records WHERE profile_id IN (SELECT value FROM json_each(?1))`, string(ids), &c.Consents, "consent decisions"},
			{`DELETE FROM contact_points WHERE profile_id IN (SELECT value FROM json_each(?1))`, string(ids), &c.ContactPoints, "contact points"},
			{`DELETE FROM contact_point_history WHERE profile_id IN (SELECT value FROM json_each(?1))`, string(ids), nil, "contact point history"},
			{`DELETE FROM relationships WHERE from_id IN (SELECT value FROM json_each(?1)) OR to_id IN (SELECT value FROM json_each(?1))`, string(ids), &c.Relationships, "relationships"},
			{`DELETE FROM link_revocations WHERE profile_id IN (SELECT value FROM json_each(?1))`, string(ids), nil, "link revocations"},
			{`DELETE FROM audience_members WHERE profile_id IN (SELECT value FROM json_each(?1))`, string(ids), &c.Memberships, "audience memberships"},
			{`DELETE FROM match_pairs WHERE left_id IN (SELECT value FROM json_each(?1)) OR right_id IN (SELECT value FROM json_each(?1))`, string(ids), &c.Matches, "match candidates"},
		} {
			res, err := tx.ExecContext(ctx, q.sql, q.arg)
			if err != nil {
				return fmt.Errorf("erase %s: %w", q.what, err)
			}
			if q.n != nil {
				n, _ := res.RowsAffected()
				*q.n = int(n)
			}
		}
		c.Events += deleted
		return nil
	})
	if err != nil {
		return c, err
	}
	if err := secureTx(ctx, db.ow, func(tx *sql.Tx) error {
		n, err := eraseGrants(ctx, tx, string(ids))
		c.Grants = n
		return err
	}); err != nil {
		return c, err
	}
	return c, nil
}

// eraseGrants removes the grants of the profiles never redeemed, keeps
// those redeemed without the person (the ledger's account of what was
// given), keeps the offers' counts true, and drops ledger events waiting
// in the outbox that name them.
func eraseGrants(ctx context.Context, tx *sql.Tx, ids string) (int, error) {
	// Ledger events not yet relayed to the log would bring the person
	// back: those addressed to them, or naming their profiles, go.
	if _, err := tx.ExecContext(ctx, `DELETE FROM offer_outbox WHERE EXISTS (SELECT 1 FROM json_each(?1) j WHERE instr(offer_outbox.event, j.value) > 0)
		OR EXISTS (SELECT 1 FROM grants g WHERE g.profile_id IN (SELECT value FROM json_each(?1)) AND g.address_value <> ''
			AND instr(offer_outbox.event, g.address_value) > 0)`, ids); err != nil {
		return 0, fmt.Errorf("erase grants: outbox: %w", err)
	}
	// A live grant removed no longer counts against its offer's cap.
	if _, err := tx.ExecContext(ctx, `UPDATE offers SET granted = granted - (SELECT count(*) FROM grants g
		WHERE g.offer = offers.code AND g.redeemed_at IS NULL AND g.voided_at IS NULL AND g.profile_id IN (SELECT value FROM json_each(?1)))
		WHERE code IN (SELECT offer FROM grants WHERE profile_id IN (SELECT value FROM json_each(?1)))`, ids); err != nil {
		return 0, fmt.Errorf("erase grants: counts: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM grants WHERE redeemed_at IS NULL AND profile_id IN (SELECT value FROM json_each(?1))`, ids)
	if err != nil {
		return 0, fmt.Errorf("erase grants: %w", err)
	}
	removed, _ := res.RowsAffected()
	res, err = tx.ExecContext(ctx, `UPDATE grants SET profile_id = ?2, address_type = '', address_value = '', message = '', campaign = ''
		WHERE profile_id IN (SELECT value FROM json_each(?1))`, ids, kith.ErasedProfile)
	if err != nil {
		return 0, fmt.Errorf("erase grants: redeemed: %w", err)
	}
	kept, _ := res.RowsAffected()
	return int(removed + kept), nil
}

// secureTx runs fn in a transaction on a writer with secure_delete on.
func secureTx(ctx context.Context, w *sql.DB, fn func(*sql.Tx) error) error {
	conn, err := w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	return nil
}

// PutErasure stores an erasure, replacing the one with its ID.
func (db *DB) PutErasure(ctx context.Context, e kith.Erasure) error {
	profiles, _ := json.Marshal(e.Profiles)
	removed, _ := json.Marshal(e.Removed)
	_, err := db.w.ExecContext(ctx, `INSERT INTO erasures (id, profiles, state, reason, by, requested_at, completed_at, removed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET profiles = excluded.profiles, state = excluded.state, reason = excluded.reason, by = excluded.by,
			requested_at = excluded.requested_at, completed_at = excluded.completed_at, removed = excluded.removed`,
		e.ID, string(profiles), e.State, e.Reason, e.By, nanos(e.RequestedAt), nanos(e.CompletedAt), string(removed))
	if err != nil {
		return fmt.Errorf("store erasure %s: %w", e.ID, err)
	}
	return nil
}

const erasureCols = "id, profiles, state, reason, by, requested_at, completed_at, removed"

// Erasure returns one erasure; ENOTFOUND if none.
func (db *DB) Erasure(ctx context.Context, id string) (*kith.Erasure, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+erasureCols+` FROM erasures WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("erasure %s: %w", id, err)
	}
	es, err := scanErasures(rows)
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
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+erasureCols+` FROM erasures WHERE requested_at >= ? ORDER BY requested_at, id LIMIT ?`,
		sinceNanos(since), limit)
	if err != nil {
		return nil, fmt.Errorf("erasures: %w", err)
	}
	es, err := scanErasures(rows)
	if err != nil {
		return nil, fmt.Errorf("erasures: %w", err)
	}
	return es, nil
}

func scanErasures(rows *sql.Rows) ([]kith.Erasure, error) {
	defer rows.Close()
	var out []kith.Erasure
	for rows.Next() {
		var (
			e                   kith.Erasure
			profiles, removed   string
			requested, complete sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &profiles, &e.State, &e.Reason, &e.By, &requested, &complete, &removed); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(profiles), &e.Profiles); err != nil {
			return nil, fmt.Errorf("erasure %s: profiles: %w", e.ID, err)
		}
		if err := json.Unmarshal([]byte(removed), &e.Removed); err != nil {
			return nil, fmt.Errorf("erasure %s: counts: %w", e.ID, err)
		}
		e.RequestedAt, e.CompletedAt = fromNanos(requested), fromNanos(complete)
		out = append(out, e)
	}
	return out, rows.Err()
}

// RedactAudit replaces the detail of the audit records about the targets
// (an identifier looked up, a search typed); who did what, when, stays.
func (db *DB) RedactAudit(ctx context.Context, targets []string, detail string) (int, error) {
	if len(targets) == 0 {
		return 0, nil
	}
	b, _ := json.Marshal(targets)
	var n int64
	err := secureTx(ctx, db.aw, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE audit SET detail = ?2
			WHERE target IN (SELECT value FROM json_each(?1)) AND detail <> '' AND detail <> ?2 AND action <> ?3`,
			string(b), detail, kith.AuditProfileErase)
		if err != nil {
			return fmt.Errorf("redact the audit trail: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// sinceNanos is a lower bound on stored times: the zero time is before all.
func sinceNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}
