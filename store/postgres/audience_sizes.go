package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

// RecordAudienceSizes records each audience's size at a moment in one
// statement; a size already recorded for that moment, by any node, is kept.
func (db *DB) RecordAudienceSizes(ctx context.Context, at time.Time, sizes map[string]int) error {
	if len(sizes) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(sizes))
	ns := make([]int64, len(ids))
	for i, id := range ids {
		ns[i] = int64(sizes[id])
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO audience_sizes (audience_id, at, size)
		SELECT id, $2, n FROM unnest($1::text[], $3::bigint[]) AS s(id, n)
		ON CONFLICT DO NOTHING`, ids, at.UnixNano(), ns)
	if err != nil {
		return fmt.Errorf("record audience sizes: %w", classify(err, "audience sizes"))
	}
	return nil
}

// AudienceSizes returns an audience's recorded sizes since a time, oldest
// first.
func (db *DB) AudienceSizes(ctx context.Context, id string, since time.Time) ([]kith.AudienceSize, error) {
	rows, err := db.pool.Query(ctx, "SELECT at, size FROM audience_sizes WHERE audience_id = $1 AND at >= $2 ORDER BY at",
		id, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sizes of audience %s: %w", id, classify(err, "audience sizes"))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (kith.AudienceSize, error) {
		var at int64
		var p kith.AudienceSize
		err := row.Scan(&at, &p.Size)
		p.At = time.Unix(0, at).UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("sizes of audience %s: %w", id, err)
	}
	return out, nil
}
