package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/kithhq/kith"
)

const computedCols = "id, name, function, event, property, time_window, created_at, created_by"

// CreateComputedTrait stores a computed trait's definition.
func (db *DB) CreateComputedTrait(ctx context.Context, d *kith.ComputedTraitDef) error {
	_, err := db.pool.Exec(ctx, "INSERT INTO computed_traits ("+computedCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		d.ID, d.Name, d.Function, d.Event, d.Property, d.Window, d.CreatedAt.UnixNano(), d.CreatedBy)
	if err != nil {
		return fmt.Errorf("create computed trait %s: %w", d.Name, classify(err, "a computed trait named "+d.Name))
	}
	return nil
}

// ComputedTraits returns every computed trait's definition, by name.
func (db *DB) ComputedTraits(ctx context.Context) ([]kith.ComputedTraitDef, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+computedCols+" FROM computed_traits ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("computed traits: %w", err)
	}
	defer rows.Close()
	var out []kith.ComputedTraitDef
	for rows.Next() {
		var d kith.ComputedTraitDef
		var created int64
		if err := rows.Scan(&d.ID, &d.Name, &d.Function, &d.Event, &d.Property, &d.Window, &created, &d.CreatedBy); err != nil {
			return nil, err
		}
		d.CreatedAt = time.Unix(0, created).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}
