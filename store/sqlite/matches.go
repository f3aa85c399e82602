package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kithhq/kith"
)

const matchCols = "id, left_id, right_id, probability, evidence, status, reason, created_at, decided_at, decided_by, merge_event"

func scanMatchPair(row interface{ Scan(...any) error }) (*kith.MatchPair, error) {
	var p kith.MatchPair
	var evidence string
	var created int64
	var decided sql.NullInt64
	if err := row.Scan(&p.ID, &p.Left, &p.Right, &p.Probability, &evidence, &p.Status, &p.Reason, &created, &decided,
		&p.DecidedBy, &p.MergeEvent); err != nil {
		return nil, err
	}
	p.Evidence = []byte(evidence)
	p.CreatedAt, p.DecidedAt = time.Unix(0, created).UTC(), fromNanos(decided)
	return &p, nil
}

// AddMatchPair stores a pair unless one with its ID exists.
func (db *DB) AddMatchPair(ctx context.Context, p *kith.MatchPair) (*kith.MatchPair, bool, error) {
	res, err := db.w.ExecContext(ctx, `INSERT INTO match_pairs (`+matchCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, p.ID, p.Left, p.Right, p.Probability, string(p.Evidence), p.Status, p.Reason,
		p.CreatedAt.UnixNano(), nanos(p.DecidedAt), p.DecidedBy, p.MergeEvent)
	if err != nil {
		return nil, false, fmt.Errorf("add match pair %s: %w", p.ID, err)
	}
	n, _ := res.RowsAffected()
	stored, err := scanMatchPair(db.w.QueryRowContext(ctx, "SELECT "+matchCols+" FROM match_pairs WHERE id = ?", p.ID))
	if err != nil {
		return nil, false, fmt.Errorf("add match pair %s: %w", p.ID, err)
	}
	return stored, n == 1, nil
}

// MatchPair returns one pair.
func (db *DB) MatchPair(ctx context.Context, id string) (*kith.MatchPair, error) {
	p, err := scanMatchPair(db.r.QueryRowContext(ctx, "SELECT "+matchCols+" FROM match_pairs WHERE id = ?", id))
	return p, classify(err, "match pair "+id)
}

// MatchPairs returns pairs in a status, most probable first.
func (db *DB) MatchPairs(ctx context.Context, status string, limit int) ([]kith.MatchPair, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, "SELECT "+matchCols+` FROM match_pairs WHERE ? = '' OR status = ?
		ORDER BY probability DESC, id LIMIT ?`, status, status, limit)
	if err != nil {
		return nil, fmt.Errorf("match pairs: %w", err)
	}
	defer rows.Close()
	var out []kith.MatchPair
	for rows.Next() {
		p, err := scanMatchPair(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// DecideMatchPair moves a pair from one status to another.
func (db *DB) DecideMatchPair(ctx context.Context, id, from string, p kith.MatchPair) (*kith.MatchPair, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE match_pairs SET status = ?, reason = ?, decided_at = ?, decided_by = ?, merge_event = ?
		WHERE id = ? AND status = ?`, p.Status, p.Reason, nanos(p.DecidedAt), p.DecidedBy, p.MergeEvent, id, from)
	if err != nil {
		return nil, fmt.Errorf("decide match pair %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	cur, err := scanMatchPair(db.w.QueryRowContext(ctx, "SELECT "+matchCols+" FROM match_pairs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, classify(err, "match pair "+id)
	}
	if err != nil {
		return nil, fmt.Errorf("decide match pair %s: %w", id, err)
	}
	if n == 0 {
		return cur, kith.Errorf(kith.ECONFLICT, "match pair %s is %s, not %s", id, cur.Status, from)
	}
	return cur, nil
}
