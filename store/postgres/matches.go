package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

const matchCols = "id, left_id, right_id, probability, evidence, status, reason, created_at, decided_at, decided_by, merge_event"

func scanMatchPair(row pgx.Row) (*kith.MatchPair, error) {
	var p kith.MatchPair
	var evidence []byte
	var created int64
	var decided *int64
	if err := row.Scan(&p.ID, &p.Left, &p.Right, &p.Probability, &evidence, &p.Status, &p.Reason, &created, &decided,
		&p.DecidedBy, &p.MergeEvent); err != nil {
		return nil, err
	}
	if evidence == nil {
		evidence = []byte{}
	}
	p.Evidence = evidence
	p.CreatedAt, p.DecidedAt = time.Unix(0, created).UTC(), fromNanos(decided)
	return &p, nil
}

// checkDecision refuses what PostgreSQL cannot store of a pair's status
// and decision, and returns its reason made storable.
func checkDecision(p *kith.MatchPair) (reason string, err error) {
	for _, f := range []struct{ s, name string }{{p.Status, "status"}, {p.DecidedBy, "decided_by"},
		{p.MergeEvent, "merge_event"}} {
		if err := checkText(f.s, f.name); err != nil {
			return "", err
		}
	}
	if err := checkTime(p.DecidedAt, "decided_at"); err != nil {
		return "", err
	}
	return storable(p.Reason), nil
}

// AddMatchPair stores a pair unless one with its ID exists; it returns the
// stored pair and whether it is new. Of two nodes adding one pair, the
// second's INSERT waits for the first's to commit and then does nothing.
func (db *DB) AddMatchPair(ctx context.Context, p *kith.MatchPair) (*kith.MatchPair, bool, error) {
	for _, f := range []struct{ s, name string }{{p.ID, "id"}, {p.Left, "left"}, {p.Right, "right"}} {
		if err := checkText(f.s, f.name); err != nil {
			return nil, false, err
		}
	}
	reason, err := checkDecision(p)
	if err != nil {
		return nil, false, err
	}
	if err := checkTime(p.CreatedAt, "created_at"); err != nil {
		return nil, false, err
	}
	evidence := []byte(p.Evidence)
	if evidence == nil {
		evidence = []byte{} // NULL otherwise; SQLite keeps it as ''
	}
	stored, err := scanMatchPair(db.pool.QueryRow(ctx, `INSERT INTO match_pairs (`+matchCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING RETURNING `+matchCols,
		p.ID, p.Left, p.Right, p.Probability, evidence, p.Status, reason, p.CreatedAt.UnixNano(), nanos(p.DecidedAt),
		p.DecidedBy, p.MergeEvent))
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("add match pair %s: %w", p.ID, classify(err, "match pair "+p.ID))
	}
	// The pair exists. A new statement reads afresh, so it sees the row a
	// concurrent INSERT committed while this one waited.
	stored, err = scanMatchPair(db.pool.QueryRow(ctx, "SELECT "+matchCols+" FROM match_pairs WHERE id = $1", p.ID))
	if err != nil {
		return nil, false, fmt.Errorf("add match pair %s: %w", p.ID, classify(err, "match pair "+p.ID))
	}
	return stored, false, nil
}

// MatchPair returns one pair, or ENOTFOUND.
func (db *DB) MatchPair(ctx context.Context, id string) (*kith.MatchPair, error) {
	p, err := scanMatchPair(db.pool.QueryRow(ctx, "SELECT "+matchCols+" FROM match_pairs WHERE id = $1", id))
	if err != nil {
		return nil, classify(err, "match pair "+id)
	}
	return p, nil
}

// MatchPairs returns the pairs in a status ("" for all), most probable
// first, at most limit (100 when limit <= 0).
func (db *DB) MatchPairs(ctx context.Context, status string, limit int) ([]kith.MatchPair, error) {
	if limit <= 0 {
		limit = 100
	}
	// Two statements rather than "$1 = '' OR status = $1", so that each
	// can be planned on its own index.
	var rows pgx.Rows
	var err error
	if status == "" {
		rows, err = db.pool.Query(ctx, "SELECT "+matchCols+" FROM match_pairs ORDER BY probability DESC, id LIMIT $1", limit)
	} else {
		rows, err = db.pool.Query(ctx, "SELECT "+matchCols+` FROM match_pairs WHERE status = $1
			ORDER BY probability DESC, id LIMIT $2`, status, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("match pairs: %w", classify(err, "match pairs"))
	}
	defer rows.Close()
	var out []kith.MatchPair
	for rows.Next() {
		p, err := scanMatchPair(rows)
		if err != nil {
			return nil, fmt.Errorf("match pairs: %w", err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("match pairs: %w", unreachable(err))
	}
	return out, nil
}

// DecideMatchPair moves a pair from status from to p's status, recording
// who, when, why and the merge event. It is one conditional UPDATE: under
// READ COMMITTED, a second UPDATE of the row waits for the first's commit
// and then checks the status again, so of two stewards on two nodes one
// decides and the other gets ECONFLICT with the pair as the first left it.
func (db *DB) DecideMatchPair(ctx context.Context, id, from string, p kith.MatchPair) (*kith.MatchPair, error) {
	reason, err := checkDecision(&p)
	if err != nil {
		return nil, err
	}
	cur, err := scanMatchPair(db.pool.QueryRow(ctx, `UPDATE match_pairs
		SET status = $3, reason = $4, decided_at = $5, decided_by = $6, merge_event = $7
		WHERE id = $1 AND status = $2 RETURNING `+matchCols,
		id, from, p.Status, reason, nanos(p.DecidedAt), p.DecidedBy, p.MergeEvent))
	if err == nil {
		return cur, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("decide match pair %s: %w", id, classify(err, "match pair "+id))
	}
	// Not applied: read the pair afresh (a new statement, a new snapshot)
	// to say why.
	cur, err = scanMatchPair(db.pool.QueryRow(ctx, "SELECT "+matchCols+" FROM match_pairs WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, classify(err, "match pair "+id)
	}
	if err != nil {
		return nil, fmt.Errorf("decide match pair %s: %w", id, classify(err, "match pair "+id))
	}
	return cur, kith.Errorf(kith.ECONFLICT, "match pair %s is %s, not %s", id, cur.Status, from)
}
