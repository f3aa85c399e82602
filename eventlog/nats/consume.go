package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kithhq/kith"
)

// Consumer settings. One durable consumer per partition, with the pinned
// priority policy: the server hands a partition's messages to one client at
// a time, so a person's events stay in order however many nodes fetch; when
// the pinned client stops fetching (its node died), another is pinned after
// pinnedTTL and carries on; what the dead node had fetched but not
// acknowledged comes back after ackWait. A drainer whose store is slow
// keeps its messages with InProgress while it retries.
const (
	priorityGroup = "kith"
	pinnedTTL     = 10 * time.Second
	ackWait       = 15 * time.Second
	fetchMax      = 200
)

// consumerName is the durable consumer that moves partition p's events.
func consumerName(p int) string { return fmt.Sprintf("kith-partition-%d", p) }

// Drain hands partition p's events to sink, message by message in the
// partition's order, until ctx ends. A message is acknowledged only after
// sink has returned nil for its events; when sink fails, the same events are
// offered again after a pause, so nothing is skipped and nothing overtakes.
// sink may see events again after a crash (a message handed over but not yet
// acknowledged): it must be idempotent, as an event log's Append is.
func (l *Log) Drain(ctx context.Context, p int, sink func(ctx context.Context, events []kith.Event) error, log *slog.Logger) error {
	if p < 0 || p >= l.opt.Partitions {
		return kith.Invalid("partition", "partition %d is outside 0–%d", p, l.opt.Partitions-1)
	}
	var cons jetstream.Consumer
	for {
		var err error
		cons, err = l.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: consumerName(p), FilterSubject: l.Subject(p), AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: ackWait, MaxAckPending: -1, PriorityPolicy: jetstream.PriorityPolicyPinned,
			PriorityGroups: []string{priorityGroup}, PinnedTTL: pinnedTTL,
		})
		if err == nil {
			break
		}
		log.Warn("event log consumer not ready; retrying", "partition", p, "err", err)
		if !sleep(ctx, time.Second) {
			return nil
		}
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		batch, err := cons.Fetch(fetchMax, jetstream.FetchMaxWait(time.Second), jetstream.FetchPriorityGroup(priorityGroup))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("fetch from the event log failed; retrying", "partition", p, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		var msgs []jetstream.Msg
		var events []kith.Event
		for m := range batch.Messages() {
			evs, err := Decode(m.Data())
			if err != nil {
				// A message Kith cannot read is never going to become
				// readable: say so loudly and move past it.
				log.Error("event log message cannot be decoded; skipping it", "partition", p, "err", err)
				_ = m.Term()
				continue
			}
			msgs = append(msgs, m)
			events = append(events, evs...)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil && len(msgs) == 0 {
			log.Debug("fetch ended", "partition", p, "err", err)
		}
		if len(msgs) == 0 {
			continue
		}
		for {
			err := sink(ctx, events)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil // unacknowledged: redelivered to whoever holds the partition next
			}
			log.Error("storing events from the event log failed; retrying", "partition", p, "events", len(events), "err", err, "retry_in", backoff)
			for _, m := range msgs {
				_ = m.InProgress() // keep them ours while we retry
			}
			sleep(ctx, backoff)
			backoff = min(2*backoff, 10*time.Second)
		}
		backoff = 100 * time.Millisecond
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				// Not fatal: the events are stored; a redelivered copy is a
				// duplicate the sink drops.
				log.Warn("acknowledging an event log message failed", "partition", p, "err", err)
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// Ready reports whether the connection to the server is up.
func (l *Log) Ready(ctx context.Context) error {
	if !l.nc.IsConnected() {
		return kith.Errorf(kith.EUNAVAILABLE, "the event log (NATS) is unreachable: %s", l.nc.Status())
	}
	return nil
}

// Pending returns how many of partition p's messages are not yet
// acknowledged by a drainer: waiting, plus delivered and unacknowledged.
// Before any drainer has created the partition's consumer, that is every
// message the stream holds for it.
func (l *Log) Pending(ctx context.Context, p int) (uint64, error) {
	if p < 0 || p >= l.opt.Partitions {
		return 0, kith.Invalid("partition", "partition %d is outside 0–%d", p, l.opt.Partitions-1)
	}
	cons, err := l.stream.Consumer(ctx, consumerName(p))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		info, err := l.stream.Info(ctx, jetstream.WithSubjectFilter(l.Subject(p)))
		if err != nil {
			return 0, kith.Errorf(kith.EUNAVAILABLE, "the event log (NATS): read partition %d's messages: %v", p, err)
		}
		return info.State.Subjects[l.Subject(p)], nil
	}
	if err != nil {
		return 0, kith.Errorf(kith.EUNAVAILABLE, "the event log (NATS): read partition %d's consumer: %v", p, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, kith.Errorf(kith.EUNAVAILABLE, "the event log (NATS): read partition %d's consumer: %v", p, err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}
