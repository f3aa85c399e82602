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
	out, err := db.SetMembershipsMany(ctx, map[string]map[string]bool{profileID: in}, at)
	return out[profileID], err
}

// SetMembershipsMany records many profiles' memberships in one
// transaction, its statements sent as one batch, and returns the changes.
func (db *DB) SetMembershipsMany(ctx context.Context, in map[string]map[string]bool, at time.Time) (map[string][]kith.MembershipChange, error) {
	type row struct {
		profile, audience string
		enter             bool
	}
	var plan []row
	profiles := make([]string, 0, len(in))
	for p := range in {
		profiles = append(profiles, p)
	}
	sort.Strings(profiles)
	for _, p := range profiles {
		auds := make([]string, 0, len(in[p]))
		for a := range in[p] {
			auds = append(auds, a)
		}
		sort.Strings(auds)
		for _, a := range auds {
			plan = append(plan, row{p, a, in[p][a]})
		}
	}
	var out map[string][]kith.MembershipChange
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		out = map[string][]kith.MembershipChange{}
		b := &pgx.Batch{}
		for _, r := range plan {
			if r.enter {
				b.Queue(`INSERT INTO audience_members (audience_id, profile_id, since) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
					r.audience, r.profile, at.UnixNano())
			} else {
				b.Queue(`DELETE FROM audience_members WHERE audience_id = $1 AND profile_id = $2 RETURNING since`, r.audience, r.profile)
			}
		}
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for _, r := range plan {
			if r.enter {
				tag, err := br.Exec()
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 1 {
					out[r.profile] = append(out[r.profile], kith.MembershipChange{Audience: r.audience, Entered: true, Since: at})
				}
				continue
			}
			var since int64
			err := br.QueryRow().Scan(&since)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			out[r.profile] = append(out[r.profile], kith.MembershipChange{Audience: r.audience, Since: time.Unix(0, since).UTC()})
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("set memberships: %w", classify(err, "memberships"))
	}
	return out, nil
}

// MembershipsOfMany returns the audiences each profile is in.
func (db *DB) MembershipsOfMany(ctx context.Context, profileIDs []string) (map[string][]string, error) {
	rows, err := db.pool.Query(ctx, "SELECT profile_id, audience_id FROM audience_members WHERE profile_id = ANY($1) ORDER BY profile_id, audience_id", profileIDs)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", classify(err, "memberships"))
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var p, a string
		if err := rows.Scan(&p, &a); err != nil {
			return nil, err
		}
		out[p] = append(out[p], a)
	}
	return out, rows.Err()
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
