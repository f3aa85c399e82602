package sqlite

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kithhq/kith"
)

// RecordAudienceSizes records each audience's size at a moment, in one
// transaction; a size already recorded for that moment is kept.
func (db *DB) RecordAudienceSizes(ctx context.Context, at time.Time, sizes map[string]int) error {
	if len(sizes) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record audience sizes: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO audience_sizes (audience_id, at, size) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("record audience sizes: %w", err)
	}
	defer stmt.Close()
	for _, id := range slices.Sorted(maps.Keys(sizes)) {
		if _, err := stmt.ExecContext(ctx, id, at.UnixNano(), sizes[id]); err != nil {
			return fmt.Errorf("record the size of audience %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record audience sizes: %w", err)
	}
	return nil
}

// AudienceSizes returns an audience's recorded sizes since a time, oldest
// first.
func (db *DB) AudienceSizes(ctx context.Context, id string, since time.Time) ([]kith.AudienceSize, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT at, size FROM audience_sizes WHERE audience_id = ? AND at >= ? ORDER BY at",
		id, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sizes of audience %s: %w", id, err)
	}
	defer rows.Close()
	var out []kith.AudienceSize
	for rows.Next() {
		var at int64
		var p kith.AudienceSize
		if err := rows.Scan(&at, &p.Size); err != nil {
			return nil, fmt.Errorf("sizes of audience %s: %w", id, err)
		}
		p.At = time.Unix(0, at).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sizes of audience %s: %w", id, err)
	}
	return out, nil
}
