package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// AuditFileName is the audit trail's database in the data directory. It has
// its own writer so that recording reads never waits behind the event log.
const AuditFileName = "audit.db"

type auditReq struct {
	recs []kith.AuditRecord
	err  error
	done chan struct{}
}

// AppendAudit stores audit records. Concurrent calls are grouped by one
// writer into one fsync'd transaction; the call returns once its records
// are durable.
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
	req := &auditReq{recs: recs, done: make(chan struct{})}
	if err := submit(ctx, db, db.audits, req); err != nil {
		return err
	}
	<-req.done
	return req.err
}

func (db *DB) auditLoop() {
	defer close(db.auditDone)
	var batch []*auditReq
	for req := range db.audits {
		batch = append(batch[:0], req)
		n := len(req.recs)
	gather:
		for n < 4096 {
			select {
			case more, ok := <-db.audits:
				if !ok {
					break gather
				}
				batch = append(batch, more)
				n += len(more.recs)
			default:
				break gather
			}
		}
		err := db.commitAudit(batch)
		for _, r := range batch {
			r.err = err
			close(r.done)
		}
	}
}

// checkpoints copies the WALs of the audit trail and the offer ledger into
// their database files every second from read connections, in PASSIVE
// mode: it never blocks a writer, so a read that waits for its audit record
// or a redemption that waits for its commit never waits for a checkpoint.
// It does the same for the log and profiles, whose writers checkpoint
// only when this has fallen far behind: a batch of the profile processor
// or a group commit of the log no longer copies the last commits' pages
// into the file before it returns (an import of a million rows went from
// 9,500 to 11,500 rows/s with the writers' checkpoints made rarer alone).
// It stops when both writers have.
func (db *DB) checkpoints() {
	defer close(db.checkpointsDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-db.auditDone:
			<-db.ledgerDone
			return
		case <-db.ledgerDone:
			<-db.auditDone
			return
		case <-tick.C:
			for _, r := range []*sql.DB{db.ar, db.or, db.r, db.pr} {
				_, _ = r.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			}
		}
	}
}

func (db *DB) commitAudit(batch []*auditReq) error {
	tx, err := db.aw.Begin()
	if err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(`INSERT INTO audit (time, actor_kind, actor_id, actor_name, actor_role, addr, via, action, target, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	defer stmt.Close()
	for _, req := range batch {
		for i := range req.recs {
			r := &req.recs[i]
			a := r.Actor
			if err := stmt.QueryRow(r.Time.UnixNano(), string(a.Kind), a.ID, a.Name, string(a.Role), a.Addr, a.Via,
				r.Action, r.Target, r.Detail).Scan(&r.ID); err != nil {
				return fmt.Errorf("record audit: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	return nil
}

// Audit returns the audit records that match f, newest first.
func (db *DB) Audit(ctx context.Context, f kith.AuditFilter) ([]kith.AuditRecord, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		if kind, name, ok := strings.Cut(f.Actor, ":"); ok {
			where = append(where, "actor_kind = ? AND actor_name = ?")
			args = append(args, kind, name)
		} else {
			where = append(where, "actor_name = ?")
			args = append(args, f.Actor)
		}
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			where = append(where, "substr(action, 1, ?) = ?")
			args = append(args, len(f.Action), f.Action)
		} else {
			where = append(where, "action = ?")
			args = append(args, f.Action)
		}
	}
	if f.Target != "" {
		where = append(where, "target = ?")
		args = append(args, f.Target)
	}
	if !f.From.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		where = append(where, "time < ?")
		args = append(args, f.To.UnixNano())
	}
	if f.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT id, time, actor_kind, actor_id, actor_name, actor_role, addr, via, action, target, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := db.ar.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
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
	return out, rows.Err()
}
