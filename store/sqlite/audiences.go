package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

const audienceCols = "id, name, expression, created_at, created_by"

func scanAudience(row interface{ Scan(...any) error }) (*kith.AudienceDef, error) {
	var a kith.AudienceDef
	var created int64
	if err := row.Scan(&a.ID, &a.Name, &a.Expression, &created, &a.CreatedBy); err != nil {
		return nil, err
	}
	a.CreatedAt = time.Unix(0, created).UTC()
	return &a, nil
}

// CreateAudience stores a new audience.
func (db *DB) CreateAudience(ctx context.Context, a *kith.AudienceDef) error {
	_, err := db.w.ExecContext(ctx, "INSERT INTO audiences ("+audienceCols+") VALUES (?, ?, ?, ?, ?)",
		a.ID, a.Name, a.Expression, a.CreatedAt.UnixNano(), a.CreatedBy)
	if err != nil {
		return fmt.Errorf("create audience %s: %w", a.Name, classify(err, "an audience named "+a.Name))
	}
	return nil
}

// AudienceByID returns one audience.
func (db *DB) AudienceByID(ctx context.Context, id string) (*kith.AudienceDef, error) {
	a, err := scanAudience(db.r.QueryRowContext(ctx, "SELECT "+audienceCols+" FROM audiences WHERE id = ?", id))
	return a, classify(err, "audience "+id)
}

// Audiences returns every audience by name.
func (db *DB) Audiences(ctx context.Context) ([]kith.AudienceDef, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+audienceCols+" FROM audiences ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("audiences: %w", err)
	}
	defer rows.Close()
	var out []kith.AudienceDef
	for rows.Next() {
		a, err := scanAudience(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// SetMemberships records a profile's memberships and returns the changes.
func (db *DB) SetMemberships(ctx context.Context, profileID string, in map[string]bool, at time.Time) ([]kith.MembershipChange, error) {
	out, err := db.SetMembershipsMany(ctx, map[string]map[string]bool{profileID: in}, at)
	return out[profileID], err
}

// SyncMembershipsWithLog lets memberships commit without an fsync of
// their own, for a store that is also the event log their announcements
// are appended to right after: the announcements' commit, fsync'd, makes
// the memberships before it in the same database durable with them, and a
// crash in between loses both, which the next evaluation does again. With
// another log (NATS) it must stay off: a membership could be lost while
// its announcement is kept, and be announced twice.
func (db *DB) SyncMembershipsWithLog(on bool) { db.lazyMembers.Store(on) }

// SetMembershipsMany records many profiles' memberships in one
// transaction and returns the changes.
func (db *DB) SetMembershipsMany(ctx context.Context, in map[string]map[string]bool, at time.Time) (map[string][]kith.MembershipChange, error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("set memberships: %w", err)
	}
	defer conn.Close()
	if db.lazyMembers.Load() {
		// On the writer's one connection, held throughout, so that
		// nothing else commits this way.
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
			return nil, fmt.Errorf("set memberships: %w", err)
		}
		defer func() {
			if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = FULL"); err != nil {
				// Never hand the log's writer back without its fsyncs.
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("set memberships: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO audience_members (audience_id, profile_id, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return nil, fmt.Errorf("set memberships: %w", err)
	}
	defer ins.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM audience_members WHERE audience_id = ? AND profile_id = ? RETURNING since`)
	if err != nil {
		return nil, fmt.Errorf("set memberships: %w", err)
	}
	defer del.Close()
	out := map[string][]kith.MembershipChange{}
	for _, profileID := range sortedKeys(in) {
		for _, id := range sortedKeys(in[profileID]) {
			if in[profileID][id] {
				res, err := ins.ExecContext(ctx, id, profileID, at.UnixNano())
				if err != nil {
					return nil, fmt.Errorf("set memberships of %s: %w", profileID, err)
				}
				if n, _ := res.RowsAffected(); n == 1 {
					out[profileID] = append(out[profileID], kith.MembershipChange{Audience: id, Entered: true, Since: at})
				}
				continue
			}
			var since int64
			err := del.QueryRowContext(ctx, id, profileID).Scan(&since)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("set memberships of %s: %w", profileID, err)
			}
			out[profileID] = append(out[profileID], kith.MembershipChange{Audience: id, Since: time.Unix(0, since).UTC()})
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set memberships: %w", err)
	}
	return out, nil
}

// MembershipsOfMany returns the audiences each profile is in.
func (db *DB) MembershipsOfMany(ctx context.Context, profileIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	const chunk = 500
	for len(profileIDs) > 0 {
		n := min(chunk, len(profileIDs))
		part := profileIDs[:n]
		profileIDs = profileIDs[n:]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		rows, err := db.r.QueryContext(ctx, "SELECT profile_id, audience_id FROM audience_members WHERE profile_id IN (?"+
			strings.Repeat(", ?", len(part)-1)+") ORDER BY profile_id, audience_id", args...)
		if err != nil {
			return nil, fmt.Errorf("memberships: %w", err)
		}
		for rows.Next() {
			var p, a string
			if err := rows.Scan(&p, &a); err != nil {
				rows.Close()
				return nil, err
			}
			out[p] = append(out[p], a)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MembershipsOf returns the audiences a profile is in.
func (db *DB) MembershipsOf(ctx context.Context, profileID string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT audience_id FROM audience_members WHERE profile_id = ? ORDER BY audience_id", profileID)
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", profileID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// AudienceSize counts an audience's members.
func (db *DB) AudienceSize(ctx context.Context, id string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM audience_members WHERE audience_id = ?", id).Scan(&n)
	return n, err
}
