package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

// AppendAudit stores audit records, committed (and so durable,
// synchronous_commit being on) before it returns. It assigns IDs,
// increasing in the order of recs, and fills in Time where it is zero.
// Free text that PostgreSQL cannot hold (NUL, invalid UTF-8) is stored with
// U+FFFD in its place: a read must not fail for want of a record of it.
//
// Every read of a profile waits for its record, so records are
// group-committed: one writer gathers the records of concurrent callers
// into one INSERT and one commit, as appends to the log are.
func (db *DB) AppendAudit(ctx context.Context, recs ...kith.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	for i := range recs {
		if recs[i].Action == "" {
			return kith.Invalid("action", "an audit record needs an action")
		}
		if recs[i].Time.IsZero() {
			recs[i].Time = now
		}
		if err := checkTime(recs[i].Time, "time"); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &auditReq{recs: recs, done: make(chan struct{})}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return kith.Errorf(kith.EUNAVAILABLE, "the store is closing")
	}
	select {
	case db.audits <- req:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	// Once handed over, the records are committed or failed by the writer.
	<-req.done
	return req.err
}

type auditReq struct {
	recs []kith.AuditRecord // the caller's: IDs are filled in place
	err  error
	done chan struct{}
}

// maxAuditGroup bounds the records one audit commit writes.
const maxAuditGroup = 2000

func (db *DB) auditLoop() {
	defer db.auditWriters.Done()
	var group []*auditReq
	var recs []kith.AuditRecord
	for req := range db.audits {
		group, recs = append(group[:0], req), append(recs[:0], req.recs...)
	gather:
		for len(recs) < maxAuditGroup {
			select {
			case more, ok := <-db.audits:
				if !ok {
					break gather
				}
				group, recs = append(group, more), append(recs, more.recs...)
			default:
				break gather
			}
		}
		err := db.insertAudit(context.Background(), recs)
		off := 0
		for _, r := range group {
			if err == nil {
				for i := range r.recs {
					r.recs[i].ID = recs[off+i].ID
				}
			}
			off += len(r.recs)
			r.err = err
			close(r.done)
		}
	}
}

// insertAudit writes checked records with one multi-row INSERT and sets
// their IDs.
func (db *DB) insertAudit(ctx context.Context, recs []kith.AuditRecord) error {
	// One round trip: a pipelined batch is one implicit transaction, whose
	// commit does not wait for its WAL flush (synchronous_commit off for
	// it alone). The trail survives a crash of Kith — the server has the
	// records — and a crash of the database server may forget its last
	// fraction of a second: the trade the embedded store makes with
	// synchronous=NORMAL for audit.db, and the one place Kith makes it
	// (docs/console-and-audit.md). Ids come from the column's sequence as
	// the rows are inserted in the records' order, so they increase with it.
	n := len(recs)
	times := make([]int64, n)
	text := make([][]string, 9) // actor kind, id, name, role, addr, via, action, target, detail
	for i := range text {
		text[i] = make([]string, n)
	}
	for i, r := range recs {
		a := r.Actor
		times[i] = r.Time.UnixNano()
		for j, s := range []string{string(a.Kind), a.ID, a.Name, string(a.Role), a.Addr, a.Via, r.Action, r.Target, r.Detail} {
			text[j][i] = storable(s)
		}
	}
	b := &pgx.Batch{}
	b.Queue("SELECT set_config('synchronous_commit', 'off', true)")
	b.Queue(`INSERT INTO audit (time, actor_kind, actor_id, actor_name, actor_role, addr, via, action, target, detail)
		SELECT time, actor_kind, actor_id, actor_name, actor_role, addr, via, action, target, detail
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[]) WITH ORDINALITY
			AS r (time, actor_kind, actor_id, actor_name, actor_role, addr, via, action, target, detail, n)
		ORDER BY n
		RETURNING id`,
		times, text[0], text[1], text[2], text[3], text[4], text[5], text[6], text[7], text[8])
	ids := make([]int64, 0, n)
	br := db.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			var id int64
			_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
				ids = append(ids, id)
				return nil
			})
		}
	}
	// The implicit transaction commits at the batch's end: its error
	// says whether the records are kept.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && len(ids) != n {
		err = fmt.Errorf("%d ids for %d records", len(ids), n)
	}
	if err != nil {
		return unreachable(fmt.Errorf("record audit: %w", err))
	}
	slices.Sort(ids) // RETURNING's order is not promised; the ids' is
	for i := range recs {
		recs[i].ID = ids[i]
	}
	return nil
}

// Audit returns the audit records that match f, newest first.
func (db *DB) Audit(ctx context.Context, f kith.AuditFilter) ([]kith.AuditRecord, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Actor != "" {
		if kind, name, ok := strings.Cut(f.Actor, ":"); ok {
			where = append(where, "actor_kind = "+arg(kind)+" AND actor_name = "+arg(name))
		} else {
			where = append(where, "actor_name = "+arg(f.Actor))
		}
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			// A range rather than LIKE: no wildcards to escape, and the
			// index on action (collation "C") serves it.
			where = append(where, "action >= "+arg(f.Action)+" AND action < "+arg(f.Action+"\U0010FFFF"))
		} else {
			where = append(where, "action = "+arg(f.Action))
		}
	}
	if f.Target != "" {
		where = append(where, "target = "+arg(f.Target))
	}
	if !f.From.IsZero() {
		where = append(where, "time >= "+arg(f.From.UnixNano()))
	}
	if !f.To.IsZero() {
		where = append(where, "time < "+arg(f.To.UnixNano()))
	}
	if f.Before > 0 {
		where = append(where, "id < "+arg(f.Before))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT id, time, actor_kind, actor_id, actor_name, actor_role, addr, via, action, target, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + arg(limit)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search audit: %w", classify(err, "audit record"))
	}
	defer rows.Close()
	out := []kith.AuditRecord{}
	for rows.Next() {
		var r kith.AuditRecord
		var t int64
		var kind, role string
		if err := rows.Scan(&r.ID, &t, &kind, &r.Actor.ID, &r.Actor.Name, &role, &r.Actor.Addr, &r.Actor.Via,
			&r.Action, &r.Target, &r.Detail); err != nil {
			return nil, fmt.Errorf("search audit: %w", err)
		}
		r.Time = time.Unix(0, t).UTC()
		r.Actor.Kind = kith.ActorKind(kind)
		r.Actor.Role = kith.Role(role)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
	}
	return out, nil
}
