package nats

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kithhq/kith"
)

// message is one message of an Append: some events of one partition.
type message struct {
	partition int
	events    []int    // indexes into the Append's events, in order
	encoded   [][]byte // their encoding
}

// msgID derives the Nats-Msg-Id of a message from its partition and its
// events' (SourceID, MessageID) pairs in order, so an identical retried
// request produces identical ids and the server drops the copies.
func msgID(partition int, events []kith.Event, idx []int) string {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("kith-eventlog-v1")
	binary.BigEndian.PutUint64(n[:], uint64(partition))
	h.Write(n[:])
	for _, i := range idx {
		field(events[i].SourceID)
		field(events[i].MessageID)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// split groups events into messages: one per partition touched, or more
// when a partition's events exceed the largest message the server takes.
// Messages of one partition keep the events' order, and are published in
// that order on one connection, so the stream stores them in order.
func (l *Log) split(events []kith.Event) ([]message, error) {
	byPart := make([][]int, l.opt.Partitions)
	for i := range events {
		p := events[i].Partition(l.opt.Partitions)
		byPart[p] = append(byPart[p], i)
	}
	var msgs []message
	for p, idx := range byPart {
		if len(idx) == 0 {
			continue
		}
		cur := message{partition: p}
		size := 0
		for _, i := range idx {
			b, err := encodeEvent(events[i])
			if err != nil {
				// Only a time outside years 0–9999 fails to encode.
				return nil, kith.Errorf(kith.EINVALID, "event %d (messageId %q) cannot be stored in the event log: %v", i, events[i].MessageID, err)
			}
			if envelopeSize(1, len(b)) > l.maxMsg {
				return nil, kith.Errorf(kith.ETOOLARGE, "event %d (messageId %q) takes %d bytes in the event log, more than the %d a message may hold",
					i, events[i].MessageID, len(b), l.maxMsg)
			}
			if len(cur.events) > 0 && envelopeSize(len(cur.events)+1, size+len(b)) > l.maxMsg {
				msgs = append(msgs, cur)
				cur, size = message{partition: p}, 0
			}
			cur.events = append(cur.events, i)
			cur.encoded = append(cur.encoded, b)
			size += len(b)
		}
		msgs = append(msgs, cur)
	}
	return msgs, nil
}

// Append stores events in the stream and returns once every message is
// acknowledged, which on a sync-always server means it is on disk. Events
// in messages the server recognised as duplicates (an identical request
// within the duplicate window) count as Duplicates; events Appended.
//
// If the server is down, Append fails at once with kith.EUNAVAILABLE. If an
// acknowledgement does not come before ctx ends (or AckTimeout), it fails
// with kith.EUNAVAILABLE too; the events may or may not have been stored,
// and retrying the same request is safe. Seq is not assigned: the consumer
// assigns it when it stores the events.
//
// Deduplication here is per message: only a request identical to one
// appended within the stream's duplicate window is recognised. An event
// already appended in a different request is stored again and counted as
// Appended; the consumer drops it when it inserts it into the store, whose
// events are unique on (SourceID, MessageID).
func (l *Log) Append(ctx context.Context, events []kith.Event) (kith.AppendResult, error) {
	var res kith.AppendResult
	if len(events) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, unreachable(err)
	}
	msgs, err := l.split(events)
	if err != nil {
		return res, err
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		nm := natsgo.NewMsg(l.Subject(m.partition))
		nm.Data = buildEnvelope(m.encoded)
		f, err := l.js.PublishMsgAsync(nm,
			jetstream.WithMsgID(msgID(m.partition, events, m.events)),
			jetstream.WithExpectStream(l.opt.Stream))
		if err != nil {
			// Messages already sent may be stored; their ids make the
			// caller's retry safe.
			return kith.AppendResult{}, l.publishErr(err)
		}
		futures[i] = f
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				res.Duplicates += len(msgs[i].events)
			} else {
				res.Appended += len(msgs[i].events)
			}
		case err := <-f.Err():
			return kith.AppendResult{}, l.publishErr(err)
		case <-ctx.Done():
			return kith.AppendResult{}, kith.Errorf(kith.EUNAVAILABLE,
				"the event log (NATS) is unreachable: no acknowledgement before the request ended (%v); the events may have been stored, a retry is safe", ctx.Err())
		}
	}
	return res, nil
}

func (l *Log) publishErr(err error) error {
	if isUnreachable(err) {
		return unreachable(err)
	}
	return fmt.Errorf("append to event log stream %s: %w", l.opt.Stream, err)
}
