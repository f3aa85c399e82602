package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

type appendReq struct {
	events []kith.Event
	res    kith.AppendResult
	err    error
	done   chan struct{}
}

// Append stores events durably. Concurrent calls are grouped by one writer
// into one transaction, so many requests share one fsync.
func (db *DB) Append(ctx context.Context, events []kith.Event) (kith.AppendResult, error) {
	if len(events) == 0 {
		return kith.AppendResult{}, nil
	}
	if err := ctx.Err(); err != nil {
		return kith.AppendResult{}, err
	}
	// Refuse what the table cannot hold before joining a group commit, so
	// one bad event never fails the other requests of its group.
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			return kith.AppendResult{}, err
		}
	}
	req := &appendReq{events: events, done: make(chan struct{})}
	if err := submit(ctx, db, db.appends, req); err != nil {
		return kith.AppendResult{}, err
	}
	// Once handed over, the request is committed or failed by the writer;
	// waiting for it even if ctx ends keeps "acknowledged" and "stored" equal.
	<-req.done
	return req.res, req.err
}

func (db *DB) writeLoop() {
	defer close(db.done)
	var batch []*appendReq
	for req := range db.appends {
		batch = append(batch[:0], req)
		n := len(req.events)
	gather:
		for n < db.maxCommitEvents {
			select {
			case more, ok := <-db.appends:
				if !ok {
					break gather
				}
				batch = append(batch, more)
				n += len(more.events)
			default:
				break gather
			}
		}
		start := time.Now()
		err := db.commit(batch)
		if db.onCommit != nil && err == nil {
			db.onCommit(n, time.Since(start))
		}
		for _, r := range batch {
			if err != nil {
				r.err = err
				r.res = kith.AppendResult{}
				for i := range r.events {
					r.events[i].Seq = 0 // rolled back
				}
			}
			close(r.done)
		}
	}
}

// Times are stored as Unix nanoseconds, which hold 1678 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64).Add(time.Second)
	maxTime = time.Unix(0, math.MaxInt64).Add(-time.Second)
)

func checkTime(t time.Time, field string) error {
	if !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) {
		return kith.Invalid(field, "time %s is outside the range the store keeps (%d to %d)", t.Format(time.RFC3339), minTime.Year()+1, maxTime.Year()-1)
	}
	return nil
}

func checkEvent(e *kith.Event) error {
	switch {
	case e.SourceID == "":
		return kith.Invalid("sourceId", "an event needs its source")
	case e.MessageID == "":
		return kith.Invalid("messageId", "an event needs a messageId")
	case e.Type == "":
		return kith.Invalid("type", "an event needs a type")
	case e.Payload == nil:
		return kith.Invalid("payload", "an event needs its payload")
	case e.Timestamp.IsZero() || e.ReceivedAt.IsZero():
		return kith.Invalid("timestamp", "an event needs its time and received time")
	}
	for _, f := range []struct {
		t    time.Time
		name string
	}{{e.Timestamp, "timestamp"}, {e.OriginalTimestamp, "originalTimestamp"}, {e.SentAt, "sentAt"}, {e.ReceivedAt, "receivedAt"}} {
		if err := checkTime(f.t, f.name); err != nil {
			return err
		}
	}
	return nil
}

const insertEvent = `INSERT INTO events (source_id, message_id, type, channel, user_id, anonymous_id,
	timestamp, original_timestamp, sent_at, received_at, payload)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (source_id, message_id) DO NOTHING`

// commit writes every request of a group in one transaction. A request's
// result is filled in only if the whole transaction commits.
func (db *DB) commit(batch []*appendReq) error {
	ctx := context.Background()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append: begin: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insertEvent)
	if err != nil {
		return fmt.Errorf("append: prepare: %w", err)
	}
	defer stmt.Close()
	results := make([]kith.AppendResult, len(batch))
	for i, r := range batch {
		for j := range r.events {
			e := &r.events[j]
			res, err := stmt.ExecContext(ctx, e.SourceID, e.MessageID, string(e.Type), string(e.Channel),
				e.UserID, e.AnonymousID, e.Timestamp.UnixNano(), nanos(e.OriginalTimestamp), nanos(e.SentAt),
				e.ReceivedAt.UnixNano(), e.Payload)
			if err != nil {
				return fmt.Errorf("append event %s: %w", e.MessageID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				results[i].Duplicates++
				e.Seq = 0
				continue
			}
			seq, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("append event %s: %w", e.MessageID, err)
			}
			e.Seq = seq
			results[i].Appended++
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append: commit: %w", err)
	}
	for i, r := range batch {
		r.res = results[i]
	}
	return nil
}

// eventCols lists the events table's columns, qualified by alias.
func eventCols(alias string) string {
	cols := []string{"seq", "source_id", "message_id", "type", "channel", "user_id", "anonymous_id",
		"timestamp", "original_timestamp", "sent_at", "received_at", "payload"}
	for i, c := range cols {
		cols[i] = alias + "." + c
	}
	return strings.Join(cols, ", ")
}

// scanEvent scans the columns of eventCols, then extra destinations.
func scanEvent(row interface{ Scan(...any) error }, extra ...any) (*kith.Event, error) {
	var e kith.Event
	var typ, ch string
	var ts, rcv int64
	var ots, sent sql.NullInt64
	dest := append([]any{&e.Seq, &e.SourceID, &e.MessageID, &typ, &ch, &e.UserID, &e.AnonymousID,
		&ts, &ots, &sent, &rcv, &e.Payload}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	e.Type, e.Channel = kith.EventType(typ), kith.Kind(ch)
	e.Timestamp, e.ReceivedAt = time.Unix(0, ts).UTC(), time.Unix(0, rcv).UTC()
	e.OriginalTimestamp, e.SentAt = fromNanos(ots), fromNanos(sent)
	return &e, nil
}

// ReadEvents returns up to limit events with Seq > after, in Seq order.
func (db *DB) ReadEvents(ctx context.Context, after int64, limit int) ([]kith.Event, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+eventCols("e")+` FROM events e WHERE e.seq > ? ORDER BY e.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []kith.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// eventsBySeq reads the events with the given positions.
func (db *DB) eventsBySeq(ctx context.Context, seqs []int64) (map[int64]*kith.Event, error) {
	out := make(map[int64]*kith.Event, len(seqs))
	for len(seqs) > 0 {
		n := min(len(seqs), 500)
		b, _ := json.Marshal(seqs[:n])
		seqs = seqs[n:]
		rows, err := db.r.QueryContext(ctx, `SELECT `+eventCols("e")+` FROM events e WHERE e.seq IN (SELECT value FROM json_each(?))`, string(b))
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[e.Seq] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
	}
	return out, nil
}

// EventByMessageID returns the event a source sent with that messageId, or ENOTFOUND.
func (db *DB) EventByMessageID(ctx context.Context, sourceID, messageID string) (*kith.Event, error) {
	var seq int64
	err := db.r.QueryRowContext(ctx, "SELECT seq FROM events WHERE source_id = ? AND message_id = ?", sourceID, messageID).Scan(&seq)
	if err != nil {
		return nil, classify(err, "event "+messageID)
	}
	evs, err := db.ReadEvents(ctx, seq-1, 1)
	if err != nil {
		return nil, err
	}
	return &evs[0], nil
}

// CountEvents returns how many events the log holds.
func (db *DB) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}
