package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

type appendReq struct {
	events []kith.Event
	res    kith.AppendResult
	err    error
	done   chan struct{}
}

// Append stores events durably: it returns once a PostgreSQL transaction
// holding them has committed. Concurrent calls are grouped by one writer
// goroutine into one transaction, so many requests share one WAL flush.
//
// Seq is assigned in commit order, across every node appending to the
// database: each append transaction takes the log's advisory lock before
// it numbers its events, and keeps it until it has committed, so a reader
// at cursor N never skips an event that commits later with a smaller seq.
// Seq may skip numbers (see commit).
//
// If the connection breaks while the commit is under way, its outcome is
// unknown: Append returns an error though the events may be stored, and
// the client's retry is then skipped as a duplicate.
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
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return kith.AppendResult{}, kith.Errorf(kith.EUNAVAILABLE, "the store is closing")
	}
	select {
	case db.appends <- req:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return kith.AppendResult{}, ctx.Err()
	}
	// Once handed over, the request is committed or failed by the writer;
	// waiting for it even if ctx ends keeps "acknowledged" and "stored" equal.
	<-req.done
	return req.res, req.err
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
	for _, f := range []struct {
		s    string
		name string
	}{{e.SourceID, "sourceId"}, {e.MessageID, "messageId"}, {string(e.Type), "type"}, {string(e.Channel), "channel"},
		{e.UserID, "userId"}, {e.AnonymousID, "anonymousId"}} {
		if err := checkText(f.s, f.name); err != nil {
			return err
		}
	}
	return nil
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
			}
			close(r.done)
		}
	}
}

// eventKey is an event's identity for dedupe.
type eventKey struct{ source, message string }

// commit writes every request of a group in one transaction. A request's
// result and its events' Seq are filled in only if the transaction commits.
//
// The transaction sends two statements in one round trip, then commits:
//   - take the log's advisory lock. Every appender of this database takes
//     it, on every node, so from here until the commit no other append
//     runs, and numbers are handed out in the order transactions commit.
//   - insert the group's events with one statement that reserves as many
//     numbers as it has events from events_seq and gives the i-th event
//     the i-th; ON CONFLICT DO NOTHING skips an event whose (source,
//     messageId) the log holds, and RETURNING says which went in. A skipped
//     event's number is not used: seq increases, with gaps where
//     duplicates were (and where a failed append reserved numbers), but is
//     never handed out twice, even after the newest events are erased.
//
// The commit returns once the WAL is flushed (synchronous_commit), and
// releases the lock after the events became visible, so a reader that sees
// seq N sees every event below it that will ever be stored.
func (db *DB) commit(batch []*appendReq) error {
	ctx := context.Background()
	// Within the group the first event sent wins: requests in arrival
	// order, events in request order.
	cols := newEventColumns(0, db.partitions)
	inGroup := map[eventKey]bool{}
	for _, r := range batch {
		for j := range r.events {
			e := &r.events[j]
			k := eventKey{e.SourceID, e.MessageID}
			if !inGroup[k] {
				inGroup[k] = true
				cols.add(e)
			}
		}
	}
	var seqs map[eventKey]int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		seqs = make(map[eventKey]int64, len(inGroup))
		b := &pgx.Batch{}
		b.Queue("SELECT pg_advisory_xact_lock($1)", db.appendLock)
		b.Queue(insertEvents, cols.args()...)
		br := tx.SendBatch(ctx, b)
		_, err := br.Exec()
		if err != nil {
			err = fmt.Errorf("append: lock the log: %w", err)
		} else {
			var k eventKey
			var seq int64
			var rows pgx.Rows
			if rows, err = br.Query(); err == nil {
				_, err = pgx.ForEachRow(rows, []any{&seq, &k.source, &k.message}, func() error {
					seqs[k] = seq
					return nil
				})
			}
			if err != nil {
				err = fmt.Errorf("append: insert %d events: %w", len(inGroup), err)
			}
		}
		if cerr := br.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("append: %w", cerr)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range batch {
		var res kith.AppendResult
		for j := range r.events {
			e := &r.events[j]
			k := eventKey{e.SourceID, e.MessageID}
			if seq, ok := seqs[k]; ok {
				e.Seq = seq
				delete(seqs, k) // a later copy in the group is a duplicate
				res.Appended++
			} else {
				e.Seq = 0
				res.Duplicates++
			}
		}
		r.res = res
	}
	return nil
}

// insertEvents inserts any number of events with one statement, one array
// per column ($2 to $12, in eventColumns order; per-row statements cost a
// round trip each) and $13, each event's partition. It numbers them from
// one reservation of $1 numbers.
// Volatile, the reserving CTE runs once.
const insertEvents = `WITH reserved AS (SELECT setval('events_seq', nextval('events_seq') + $1 - 1) AS last)
	INSERT INTO events (seq, source_id, message_id, type, channel, user_id, anonymous_id,
		timestamp, original_timestamp, sent_at, received_at, payload, partition)
	SELECT reserved.last - $1 + e.n, e.source_id, e.message_id, e.type, e.channel, e.user_id, e.anonymous_id,
		e.timestamp, e.original_timestamp, e.sent_at, e.received_at, e.payload, e.partition
	FROM reserved, unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bytea[], $13::smallint[])
		WITH ORDINALITY AS e (source_id, message_id, type, channel, user_id, anonymous_id,
			timestamp, original_timestamp, sent_at, received_at, payload, partition, n)
	ON CONFLICT (source_id, message_id) DO NOTHING
	RETURNING seq, source_id, message_id`

// eventColumns holds events column by column, for insertEvents.
type eventColumns struct {
	source, message, typ, channel, user, anonymous []string
	timestamp, received                            []int64
	original, sent                                 []*int64
	payload                                        [][]byte
	partition                                      []int16
	partitions                                     int // of the log, to place each event
}

func newEventColumns(n, partitions int) *eventColumns {
	return &eventColumns{partitions: partitions, partition: make([]int16, 0, n),
		source: make([]string, 0, n), message: make([]string, 0, n), typ: make([]string, 0, n),
		channel: make([]string, 0, n), user: make([]string, 0, n), anonymous: make([]string, 0, n),
		timestamp: make([]int64, 0, n), received: make([]int64, 0, n), original: make([]*int64, 0, n),
		sent: make([]*int64, 0, n), payload: make([][]byte, 0, n),
	}
}

func (c *eventColumns) add(e *kith.Event) {
	c.source = append(c.source, e.SourceID)
	c.message = append(c.message, e.MessageID)
	c.typ = append(c.typ, string(e.Type))
	c.channel = append(c.channel, string(e.Channel))
	c.user = append(c.user, e.UserID)
	c.anonymous = append(c.anonymous, e.AnonymousID)
	c.timestamp = append(c.timestamp, e.Timestamp.UnixNano())
	c.original = append(c.original, nanos(e.OriginalTimestamp))
	c.sent = append(c.sent, nanos(e.SentAt))
	c.received = append(c.received, e.ReceivedAt.UnixNano())
	c.payload = append(c.payload, e.Payload)
	c.partition = append(c.partition, int16(e.Partition(c.partitions)))
}

func (c *eventColumns) args() []any {
	return []any{int64(len(c.source)), c.source, c.message, c.typ, c.channel, c.user, c.anonymous,
		c.timestamp, c.original, c.sent, c.received, c.payload, c.partition}
}

// eventCols lists the events table's columns, qualified by alias.
func eventCols(alias string) string {
	a := alias + "."
	return a + "seq, " + a + "source_id, " + a + "message_id, " + a + "type, " + a + "channel, " + a + "user_id, " +
		a + "anonymous_id, " + a + "timestamp, " + a + "original_timestamp, " + a + "sent_at, " + a + "received_at, " + a + "payload"
}

// scanEvent scans the columns of eventCols, then extra destinations.
func scanEvent(row pgx.Row, extra ...any) (*kith.Event, error) {
	var e kith.Event
	var typ, ch string
	var ts, rcv int64
	var ots, sent *int64
	dest := append([]any{&e.Seq, &e.SourceID, &e.MessageID, &typ, &ch, &e.UserID, &e.AnonymousID,
		&ts, &ots, &sent, &rcv, &e.Payload}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	e.Type, e.Channel = kith.EventType(typ), kith.Kind(ch)
	e.Timestamp, e.ReceivedAt = time.Unix(0, ts).UTC(), time.Unix(0, rcv).UTC()
	e.OriginalTimestamp, e.SentAt = fromNanos(ots), fromNanos(sent)
	return &e, nil
}

// ReadEvents returns up to limit events with Seq > after, in Seq order (a
// negative limit reads to the end of the log, as in the embedded store).
func (db *DB) ReadEvents(ctx context.Context, after int64, limit int) ([]kith.Event, error) {
	var lim *int64
	if limit >= 0 {
		l := int64(limit)
		lim = &l
	}
	rows, err := db.pool.Query(ctx, `SELECT `+eventCols("e")+` FROM events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`, after, lim)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	out, err := collectEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

func collectEvents(rows pgx.Rows) ([]kith.Event, error) {
	defer rows.Close()
	var out []kith.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}

// EventByMessageID returns the event a source sent with that messageId, or ENOTFOUND.
func (db *DB) EventByMessageID(ctx context.Context, sourceID, messageID string) (*kith.Event, error) {
	e, err := scanEvent(db.pool.QueryRow(ctx, `SELECT `+eventCols("e")+` FROM events e
		WHERE e.source_id = $1 AND e.message_id = $2`, sourceID, messageID))
	if err != nil {
		return nil, classify(err, "event "+messageID)
	}
	return e, nil
}

// CountEvents returns how many events the log holds.
func (db *DB) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// LastSeq returns the newest event's position (0 for an empty log).
func (db *DB) LastSeq(ctx context.Context) (int64, error) {
	var seq *int64
	if err := db.pool.QueryRow(ctx, "SELECT max(seq) FROM events").Scan(&seq); err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	if seq == nil {
		return 0, nil
	}
	return *seq, nil
}
