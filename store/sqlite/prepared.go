package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// Statements on the hot path are prepared once, when the store opens: the
// driver would otherwise parse every query again on every call, which cost
// a fifth of processing time. Queries are registered by their text.
var hotQueries = slices.Concat([]string{
	qProfileByID, qProfilesFor, qLinks, qProfilesForList, qHoldersOf, qHoldersOfList, qCurrentProfile, qAbsorbed,
	qProfilesByID, qIdentifiersOf,
}, insertTimeline.queries, insertLinks.queries, insertProfiles.queries)

// prepared holds statements prepared on one *sql.DB.
type prepared map[string]*sql.Stmt

func prepare(ctx context.Context, db *sql.DB, queries []string) (prepared, error) {
	p := prepared{}
	for _, q := range queries {
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		p[q] = s
	}
	return p, nil
}

func (p prepared) close() {
	for _, s := range p {
		s.Close()
	}
}

// txQuerier runs registered queries through the transaction's copy of the
// prepared statement, and others as plain queries.
type txQuerier struct {
	tx *sql.Tx
	p  prepared
}

func (q txQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s, ok := q.p[query]; ok {
		return q.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q txQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s, ok := q.p[query]; ok {
		return q.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q txQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s, ok := q.p[query]; ok {
		return q.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}

// dbQuerier does the same on the read pool.
type dbQuerier struct {
	db *sql.DB
	p  prepared
}

func (q dbQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s, ok := q.p[query]; ok {
		return s.ExecContext(ctx, args...)
	}
	return q.db.ExecContext(ctx, query, args...)
}

func (q dbQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s, ok := q.p[query]; ok {
		return s.QueryContext(ctx, args...)
	}
	return q.db.QueryContext(ctx, query, args...)
}

func (q dbQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s, ok := q.p[query]; ok {
		return s.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}
