package postgres

import (
	"context"
	"fmt"
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
