package kith

import (
	"context"
	"hash/fnv"
	"time"
)

// EventType is the type of a Segment message.
type EventType string

// The Segment message types.
const (
	TypeTrack    EventType = "track"
	TypeIdentify EventType = "identify"
	TypePage     EventType = "page"
	TypeScreen   EventType = "screen"
	TypeGroup    EventType = "group"
	TypeAlias    EventType = "alias"
)

// Event is one accepted message, as stored in the event log: the message
// exactly as sent, plus what Kith knew when it arrived.
type Event struct {
	Seq         int64 // position in the log, assigned by Append; 0 before
	MessageID   string
	Type        EventType
	SourceID    string
	Channel     Kind // the kind of the source that sent it
	UserID      string
	AnonymousID string
	// Timestamp is when the event happened, corrected for the client's clock
	// skew: ReceivedAt - (SentAt - OriginalTimestamp), or ReceivedAt when
	// the client gave no time.
	Timestamp         time.Time
	OriginalTimestamp time.Time // the client's own time, zero when absent
	SentAt            time.Time // when the client says it sent the message, zero when absent
	ReceivedAt        time.Time // when Kith received the request
	Payload           []byte    // the message exactly as sent (JSON)
}

// PersonKey returns the key an event is partitioned by: its anonymousId if
// present, else its userId. A browser's events before and after login share
// the anonymousId, so they stay in one partition, in order.
func (e Event) PersonKey() string {
	if e.AnonymousID != "" {
		return e.AnonymousID
	}
	return e.UserID
}

// Partition returns the event's partition among n: FNV-1a (32 bits) of its
// person key, modulo n. The event log and the store split their logs with
// it, so a partition means the same events in both. It must never change,
// or people's events would move between partitions.
func (e Event) Partition(n int) int {
	h := fnv.New32a()
	h.Write([]byte(e.PersonKey()))
	return int(h.Sum32() % uint32(n))
}

// AppendResult says what an Append did.
type AppendResult struct {
	Appended   int // events newly stored
	Duplicates int // events skipped because their messageId was already stored for their source
}

// EventLog is the append-only log every accepted event goes to before it is
// acknowledged. Implementations: the embedded store and NATS JetStream.
type EventLog interface {
	// Append stores events and returns only once they are durable. An event
	// whose (SourceID, MessageID) is already in the log is skipped, so a
	// client's retry never duplicates. Append is safe for concurrent use;
	// concurrent calls may share one commit.
	Append(ctx context.Context, events []Event) (AppendResult, error)
}

// EventReader reads the log in order, for processors that follow it with a cursor.
type EventReader interface {
	// ReadEvents returns up to limit events with Seq > after, in Seq order.
	ReadEvents(ctx context.Context, after int64, limit int) ([]Event, error)
}
