package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

// Partitions returns how many partitions the log is split into (fixed by
// the migrations: the rows of the partitions table).
func (db *DB) Partitions() int { return db.partitions }

func (db *DB) checkPartition(p int) error {
	if p < 0 || p >= db.partitions {
		return kith.Invalid("partition", "partition %d is outside 0–%d", p, db.partitions-1)
	}
	return nil
}

// ReadPartition returns up to limit events of partition p with Seq > after,
// in Seq order. Appends commit in Seq order (see commit), so a reader that
// moves its cursor to the last event it read never skips one.
func (db *DB) ReadPartition(ctx context.Context, p int, after int64, limit int) ([]kith.Event, error) {
	if err := db.checkPartition(p); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT `+eventCols("e")+` FROM events e
		WHERE e.partition = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`, p, after, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("read partition %d: %w", p, err)
	}
	out, err := collectEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read partition %d: %w", p, err)
	}
	return out, nil
}

// ReadPartitions returns up to limit events, in Seq order, of the
// partitions in after, each after its position there, and the partition of
// each event: a node's share of the log, read in one statement that walks
// each partition's index.
func (db *DB) ReadPartitions(ctx context.Context, after map[int]int64, limit int) ([]kith.Event, []int, error) {
	parts := make([]int16, 0, len(after))
	seqs := make([]int64, 0, len(after))
	for p, seq := range after {
		if err := db.checkPartition(p); err != nil {
			return nil, nil, err
		}
		parts, seqs = append(parts, int16(p)), append(seqs, seq)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+eventCols("e")+`, e.partition
		FROM unnest($1::smallint[], $2::bigint[]) AS c (partition, after)
		CROSS JOIN LATERAL (SELECT * FROM events WHERE partition = c.partition AND seq > c.after ORDER BY seq LIMIT $3) e
		ORDER BY e.seq LIMIT $3`, parts, seqs, max(limit, 0))
	if err != nil {
		return nil, nil, unreachable(fmt.Errorf("read partitions: %w", err))
	}
	defer rows.Close()
	var evs []kith.Event
	var of []int
	for rows.Next() {
		var p int16
		e, err := scanEvent(rows, &p)
		if err != nil {
			return nil, nil, fmt.Errorf("read partitions: %w", err)
		}
		evs, of = append(evs, *e), append(of, int(p))
	}
	if err := rows.Err(); err != nil {
		return nil, nil, unreachable(fmt.Errorf("read partitions: %w", err))
	}
	return evs, of, nil
}

// Backlog counts partition p's events with Seq > after: what its processor
// has still to apply. Unlike a difference of positions it is exact, gaps
// in Seq included.
func (db *DB) Backlog(ctx context.Context, p int, after int64) (int64, error) {
	if err := db.checkPartition(p); err != nil {
		return 0, err
	}
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE partition = $1 AND seq > $2`, p, after).Scan(&n); err != nil {
		return 0, fmt.Errorf("backlog of partition %d: %w", p, err)
	}
	return n, nil
}

// ClaimPartitions records that node is alive and gives it its share of the
// partitions for ttl: the ones it holds, renewed, plus free or lapsed ones,
// up to ⌈partitions / live nodes⌉, where a node is live if it claimed
// within ttl. A node holding more than its share (another node has just
// started) gives the rest back, for the others to take on their next
// claim. Claims run one at a time (they lock every partition's row, in
// order), so no partition is given to two nodes by one round of claims; a
// node that stops claiming keeps its partitions until its leases lapse.
func (db *DB) ClaimPartitions(ctx context.Context, node string, ttl time.Duration) ([]int, error) {
	if node == "" {
		return nil, kith.Invalid("node", "a node needs a name to claim partitions")
	}
	if ttl < time.Millisecond {
		return nil, kith.Invalid("ttl", "a lease must last at least a millisecond, not %s", ttl)
	}
	secs := ttl.Seconds()
	var held []int
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		held = held[:0]
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO nodes (node, seen_at) VALUES ($1, now()) ON CONFLICT (node) DO UPDATE SET seen_at = now()`, node)
		b.Queue(`DELETE FROM nodes WHERE seen_at < now() - make_interval(secs => $1::float8 * 10)`, secs)
		b.Queue(`SELECT count(*) FROM nodes WHERE seen_at > now() - make_interval(secs => $1::float8)`, secs)
		b.Queue(`SELECT partition, node, expires_at > now() FROM partitions ORDER BY partition FOR UPDATE`)
		br := tx.SendBatch(ctx, b)
		var live int
		var mine, free []int
		err := func() error {
			defer br.Close()
			for range 2 {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			if err := br.QueryRow().Scan(&live); err != nil {
				return err
			}
			rows, err := br.Query()
			if err != nil {
				return err
			}
			var p int
			var owner string
			var valid bool
			_, err = pgx.ForEachRow(rows, []any{&p, &owner, &valid}, func() error {
				switch {
				case owner == node:
					mine = append(mine, p)
				case owner == "" || !valid:
					free = append(free, p)
				}
				return nil
			})
			return err
		}()
		if err != nil {
			return fmt.Errorf("claim partitions for %s: %w", node, err)
		}
		share := (db.partitions + max(live, 1) - 1) / max(live, 1)
		var release []int
		if len(mine) > share {
			mine, release = mine[:share], mine[share:]
		}
		for len(mine) < share && len(free) > 0 {
			mine, free = append(mine, free[0]), free[1:]
		}
		b = &pgx.Batch{}
		b.Queue(`UPDATE partitions SET node = $1, expires_at = now() + make_interval(secs => $2::float8) WHERE partition = ANY($3)`,
			node, secs, mine)
		b.Queue(`UPDATE partitions SET node = '', expires_at = '-infinity' WHERE partition = ANY($1)`, release)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("claim partitions for %s: %w", node, err)
		}
		held = append(held, mine...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Ints(held)
	return held, nil
}

// ReleasePartitions gives back every partition node holds and forgets the
// node, so the others share its partitions at their next claim instead of
// waiting for its leases to lapse. A node calls it when it stops.
func (db *DB) ReleasePartitions(ctx context.Context, node string) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE partitions SET node = '', expires_at = '-infinity' WHERE node = $1`, node)
		b.Queue(`DELETE FROM nodes WHERE node = $1`, node)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("release partitions of %s: %w", node, err)
	}
	return nil
}

// PartitionHolders returns, for each partition, the node holding a lease
// on it now ("" when none does).
func (db *DB) PartitionHolders(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT CASE WHEN expires_at > now() THEN node ELSE '' END FROM partitions ORDER BY partition`)
	if err != nil {
		return nil, fmt.Errorf("partition holders: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("partition holders: %w", err)
	}
	return out, nil
}
