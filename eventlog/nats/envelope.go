package nats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kithhq/kith"
)

// envelopeVersion is the version of the message format written by Append.
// Decode refuses versions it does not know, so a consumer never misreads a
// message written by a newer Kith.
const envelopeVersion = 1

// envelope is one message of the log: the events of one partition from one
// Append, in the order they were given.
//
//	{"v":1,"events":[{"messageId":"…","type":"track",…,"payload":"<base64>"},…]}
type envelope struct {
	V      int               `json:"v"`
	Events []json.RawMessage `json:"events"`
}

// wireEvent is a kith.Event as stored in a message. Seq is not stored: the
// log does not assign it (the consumer does, when it stores the event).
// Times are UTC RFC 3339 with nanoseconds, omitted when zero. The payload is
// base64 (encoding/json's []byte encoding) because embedding it as raw JSON
// would let the encoder compact and re-escape it, and the payload must come
// back exactly as sent.
type wireEvent struct {
	MessageID         string         `json:"messageId"`
	Type              kith.EventType `json:"type"`
	SourceID          string         `json:"sourceId"`
	Channel           kith.Kind      `json:"channel,omitempty"`
	UserID            string         `json:"userId,omitempty"`
	AnonymousID       string         `json:"anonymousId,omitempty"`
	Timestamp         *time.Time     `json:"timestamp,omitempty"`
	OriginalTimestamp *time.Time     `json:"originalTimestamp,omitempty"`
	SentAt            *time.Time     `json:"sentAt,omitempty"`
	ReceivedAt        *time.Time     `json:"receivedAt,omitempty"`
	Payload           []byte         `json:"payload,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeVal(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// encodeEvent returns the JSON of one event inside an envelope.
func encodeEvent(e kith.Event) ([]byte, error) {
	return json.Marshal(wireEvent{
		MessageID:         e.MessageID,
		Type:              e.Type,
		SourceID:          e.SourceID,
		Channel:           e.Channel,
		UserID:            e.UserID,
		AnonymousID:       e.AnonymousID,
		Timestamp:         timePtr(e.Timestamp),
		OriginalTimestamp: timePtr(e.OriginalTimestamp),
		SentAt:            timePtr(e.SentAt),
		ReceivedAt:        timePtr(e.ReceivedAt),
		Payload:           e.Payload,
	})
}

// The envelope around the encoded events; envelopeHead names envelopeVersion.
const (
	envelopeHead = `{"v":1,"events":[`
	envelopeTail = `]}`
)

// envelopeSize is the size of an envelope holding events of the given total
// encoded size.
func envelopeSize(n, eventBytes int) int {
	sep := 0
	if n > 1 {
		sep = n - 1
	}
	return len(envelopeHead) + eventBytes + sep + len(envelopeTail)
}

// buildEnvelope joins already encoded events into one message body, so that
// splitting a partition's events over several messages never re-encodes them.
func buildEnvelope(encoded [][]byte) []byte {
	size := 0
	for _, b := range encoded {
		size += len(b)
	}
	var buf bytes.Buffer
	buf.Grow(envelopeSize(len(encoded), size))
	buf.WriteString(envelopeHead)
	for i, b := range encoded {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	buf.WriteString(envelopeTail)
	return buf.Bytes()
}

// Decode returns the events of one message written by Append, in the order
// they were appended. Seq is left 0: the log does not assign it.
func Decode(data []byte) ([]kith.Event, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("decode event log message: %w", err)
	}
	if env.V != envelopeVersion {
		return nil, fmt.Errorf("decode event log message: unknown envelope version %d (this build reads %d)", env.V, envelopeVersion)
	}
	events := make([]kith.Event, len(env.Events))
	for i, raw := range env.Events {
		var w wireEvent
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("decode event log message: event %d: %w", i, err)
		}
		events[i] = kith.Event{
			MessageID:         w.MessageID,
			Type:              w.Type,
			SourceID:          w.SourceID,
			Channel:           w.Channel,
			UserID:            w.UserID,
			AnonymousID:       w.AnonymousID,
			Timestamp:         timeVal(w.Timestamp),
			OriginalTimestamp: timeVal(w.OriginalTimestamp),
			SentAt:            timeVal(w.SentAt),
			ReceivedAt:        timeVal(w.ReceivedAt),
			Payload:           w.Payload,
		}
	}
	return events, nil
}
