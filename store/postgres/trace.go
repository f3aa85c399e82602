package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// tracer times every statement and every pipelined batch the pool runs
// and reports them to Options.OnQuery: the store's latency as its callers
// see it, network included.
type tracer struct {
	observe func(kind string, took time.Duration)
}

type traceStart struct{}

func (t tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceStart{}, queryStart{kind: statementKind(data.SQL), at: time.Now()})
}

func (t tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if s, ok := ctx.Value(traceStart{}).(queryStart); ok {
		t.observe(s.kind, time.Since(s.at))
	}
}

func (t tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, traceStart{}, queryStart{kind: "batch", at: time.Now()})
}

func (t tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	if s, ok := ctx.Value(traceStart{}).(queryStart); ok {
		t.observe(s.kind, time.Since(s.at))
	}
}

type queryStart struct {
	kind string
	at   time.Time
}

// statementKind is a statement's first keyword, lower case (select,
// insert, update, delete, with, begin, commit…): few enough values for a
// metric label.
func statementKind(sql string) string {
	sql = strings.TrimSpace(sql)
	end := strings.IndexFunc(sql, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '(' || r == ';' })
	if end < 0 {
		end = len(sql)
	}
	switch k := strings.ToLower(sql[:end]); k {
	case "select", "insert", "update", "delete", "with", "begin", "commit", "rollback", "lock", "set", "create", "alter":
		return k
	}
	return "other"
}
