package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

const audienceCols = "id, name, expression, created_at, created_by"

func scanAudience(row pgx.Row) (*kith.AudienceDef, error) {
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
	_, err := db.pool.Exec(ctx, "INSERT INTO audiences ("+audienceCols+") VALUES ($1, $2, $3, $4, $5)",
		a.ID, a.Name, a.Expression, a.CreatedAt.UnixNano(), a.CreatedBy)
	if err != nil {
		return fmt.Errorf("create audience %s: %w", a.Name, classify(err, "an audience named "+a.Name))
	}
	return nil
}

// AudienceByID returns one audience.
func (db *DB) AudienceByID(ctx context.Context, id string) (*kith.AudienceDef, error) {
	a, err := scanAudience(db.pool.QueryRow(ctx, "SELECT "+audienceCols+" FROM audiences WHERE id = $1", id))
	if err != nil {
		return nil, classify(err, "audience "+id)
	}
	return a, nil
}

// Audiences returns every audience by name.
func (db *DB) Audiences(ctx context.Context) ([]kith.AudienceDef, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+audienceCols+" FROM audiences ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("audiences: %w", classify(err, "audiences"))
	}
	defer rows.Close()
	var out []kith.AudienceDef
	for rows.Next() {
		a, err := scanAudience(rows)
		if err != nil {
			return nil, fmt.Errorf("audiences: %w", err)
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// SetMemberships records a profile's memberships and returns the changes:
// conditional inserts and deletes, so of two nodes recording one change,
// one sees it.
func (db *DB) SetMemberships(ctx context.Context, profileID string, in map[string]bool, at time.Time) ([]kith.MembershipChange, error) {
	ids := make([]string, 0, len(in))
	for id := range in {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []kith.MembershipChange
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		for _, id := range ids {
			if in[id] {
				tag, err := tx.Exec(ctx, `INSERT INTO audience_members (audience_id, profile_id, since) VALUES ($1, $2, $3)
					ON CONFLICT DO NOTHING`, id, profileID, at.UnixNano())
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 1 {
					out = append(out, kith.MembershipChange{Audience: id, Entered: true, Since: at})
				}
				continue
			}
			var since int64
			err := tx.QueryRow(ctx, `DELETE FROM audience_members WHERE audience_id = $1 AND profile_id = $2 RETURNING since`,
				id, profileID).Scan(&since)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, kith.MembershipChange{Audience: id, Since: time.Unix(0, since).UTC()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set memberships of %s: %w", profileID, classify(err, "memberships"))
	}
	return out, nil
}

// MembershipsOf returns the audiences a profile is in.
func (db *DB) MembershipsOf(ctx context.Context, profileID string) ([]string, error) {
	rows, err := db.pool.Query(ctx, "SELECT audience_id FROM audience_members WHERE profile_id = $1 ORDER BY audience_id", profileID)
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", profileID, classify(err, "memberships"))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", profileID, err)
	}
	return out, nil
}

// AudienceSize counts an audience's members.
func (db *DB) AudienceSize(ctx context.Context, id string) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM audience_members WHERE audience_id = $1", id).Scan(&n); err != nil {
		return 0, fmt.Errorf("size of audience %s: %w", id, classify(err, "audience"))
	}
	return n, nil
}
