package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// Limits from Segment's HTTP Tracking API, applied after decompression.
const (
	MaxMessageBytes = 32 * 1024  // one message
	MaxBatchBytes   = 500 * 1024 // one request body
	maxIDLength     = 1024       // userId, anonymousId, messageId and other ids
	minYear         = 1900       // client times outside [minYear, maxYear) are refused
	maxYear         = 2200
	// MaxDepth bounds how deeply a message nests objects and arrays: the
	// profile that keeps a trait adds levels of its own, and no real SDK
	// nests more than a few.
	MaxDepth = 64
	// MaxFuture is how far past its receipt an event's time may lie; later
	// times are replaced by the received time.
	MaxFuture = 24 * time.Hour
)

// Endpoint names what a request was posted to: a message type, or a batch.
type Endpoint string

// The batch endpoints; every other endpoint is a kith.EventType.
const (
	EndpointBatch  Endpoint = "batch"
	EndpointImport Endpoint = "import"
)

// EndpointForPath maps the last segment of a /v1/ path, long or short, to
// its Endpoint; ok is false for an unknown path.
func EndpointForPath(name string) (e Endpoint, ok bool) {
	switch name {
	case "track", "t":
		return Endpoint(kith.TypeTrack), true
	case "identify", "i":
		return Endpoint(kith.TypeIdentify), true
	case "page", "p":
		return Endpoint(kith.TypePage), true
	case "screen", "s":
		return Endpoint(kith.TypeScreen), true
	case "group", "g":
		return Endpoint(kith.TypeGroup), true
	case "alias", "a":
		return Endpoint(kith.TypeAlias), true
	case "batch", "b":
		return EndpointBatch, true
	case "import":
		return EndpointImport, true
	}
	return "", false
}

// IsBatch reports whether the endpoint takes a batch of messages.
func (e Endpoint) IsBatch() bool { return e == EndpointBatch || e == EndpointImport }

// Parsed is a request body, parsed: the valid events (without source, which
// the caller stamps after authenticating) and the rejected messages.
type Parsed struct {
	WriteKey string // the body's writeKey, if any
	Events   []kith.Event
	Rejected []Rejection
}

// Rejection says why one message of a batch was not accepted.
type Rejection struct {
	Index   int    `json:"index"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// wire is the part of a Segment message that Kith reads on ingestion. Ids
// arrive as strings or numbers, so they are kept raw and checked by hand.
type wire struct {
	Type              string          `json:"type"`
	MessageID         json.RawMessage `json:"messageId"`
	UserID            json.RawMessage `json:"userId"`
	AnonymousID       json.RawMessage `json:"anonymousId"`
	Event             json.RawMessage `json:"event"`
	PreviousID        json.RawMessage `json:"previousId"`
	GroupID           json.RawMessage `json:"groupId"`
	Timestamp         json.RawMessage `json:"timestamp"`
	OriginalTimestamp json.RawMessage `json:"originalTimestamp"`
	SentAt            json.RawMessage `json:"sentAt"`
	WriteKey          json.RawMessage `json:"writeKey"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
	Context           json.RawMessage `json:"context"`
}

type wireBatch struct {
	Batch    json.RawMessage `json:"batch"`
	SentAt   json.RawMessage `json:"sentAt"`
	WriteKey json.RawMessage `json:"writeKey"`
}

// Parse parses a request body posted to endpoint and received at receivedAt.
// A body that cannot be read as a whole is an error (EINVALID or ETOOLARGE);
// for a single message, so is an invalid message. In a batch, invalid
// messages are returned as rejections and their valid neighbours as events.
func Parse(endpoint Endpoint, body []byte, receivedAt time.Time) (*Parsed, error) {
	if len(body) > MaxBatchBytes {
		return nil, &kith.Error{Code: kith.ETOOLARGE, Message: fmt.Sprintf("request body is %d bytes; the limit is %d bytes after decompression", len(body), MaxBatchBytes)}
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, kith.Invalid("", "request body is empty; send a JSON object")
	}
	if body[0] != '{' {
		return nil, kith.Invalid("", "request body must be a JSON object")
	}
	if !endpoint.IsBatch() {
		if len(body) > MaxMessageBytes {
			return nil, &kith.Error{Code: kith.ETOOLARGE, Message: fmt.Sprintf("message is %d bytes; the limit is %d bytes", len(body), MaxMessageBytes)}
		}
		var w wire
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, malformed(err, "")
		}
		ev, err := build(&w, kith.EventType(endpoint), body, "", nil, receivedAt)
		if err != nil {
			return nil, err
		}
		p := &Parsed{Events: []kith.Event{ev}}
		p.WriteKey, _ = idString(w.WriteKey)
		return p, nil
	}

	var b wireBatch
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, malformed(err, "")
	}
	p := &Parsed{}
	p.WriteKey, _ = idString(b.WriteKey)
	if isNull(b.Batch) {
		return nil, kith.Invalid("batch", "batch is required: an array of messages")
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(b.Batch, &msgs); err != nil {
		return nil, kith.Invalid("batch", "batch must be an array of messages")
	}
	batchSentAt, err := timeField(b.SentAt, "sentAt")
	if err != nil {
		return nil, err
	}
	p.Events = make([]kith.Event, 0, len(msgs))
	for i, raw := range msgs {
		prefix := "batch[" + strconv.Itoa(i) + "]."
		ev, err := parseBatchMessage(raw, prefix, batchSentAt, receivedAt)
		if err != nil {
			p.Rejected = append(p.Rejected, Rejection{Index: i, Code: kith.ErrorCode(err),
				Field: kith.ErrorField(err), Message: kith.ErrorMessage(err)})
			continue
		}
		if p.WriteKey == "" {
			// Some clients put the write key in each message instead of the envelope.
			var w struct {
				WriteKey json.RawMessage `json:"writeKey"`
			}
			if json.Unmarshal(raw, &w) == nil {
				p.WriteKey, _ = idString(w.WriteKey)
			}
		}
		p.Events = append(p.Events, ev)
	}
	return p, nil
}

func parseBatchMessage(raw json.RawMessage, prefix string, batchSentAt *time.Time, receivedAt time.Time) (kith.Event, error) {
	if len(raw) > MaxMessageBytes {
		return kith.Event{}, &kith.Error{Code: kith.ETOOLARGE, Field: prefix[:len(prefix)-1],
			Message: fmt.Sprintf("message is %d bytes; the limit is %d bytes", len(raw), MaxMessageBytes)}
	}
	if len(raw) == 0 || raw[0] != '{' {
		return kith.Event{}, kith.Invalid(prefix[:len(prefix)-1], "each message must be a JSON object")
	}
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return kith.Event{}, malformed(err, prefix)
	}
	typ, ok := messageType(w.Type)
	if !ok {
		if w.Type == "" {
			return kith.Event{}, kith.Invalid(prefix+"type", "type is required: track, identify, page, screen, group or alias")
		}
		return kith.Event{}, kith.Invalid(prefix+"type", "unknown type %q: use track, identify, page, screen, group or alias", w.Type)
	}
	return build(&w, typ, raw, prefix, batchSentAt, receivedAt)
}

func messageType(s string) (kith.EventType, bool) {
	switch t := kith.EventType(s); t {
	case kith.TypeTrack, kith.TypeIdentify, kith.TypePage, kith.TypeScreen, kith.TypeGroup, kith.TypeAlias:
		return t, true
	}
	return "", false
}

// build validates one decoded message and makes its event.
func build(w *wire, typ kith.EventType, raw []byte, prefix string, batchSentAt *time.Time, receivedAt time.Time) (kith.Event, error) {
	ev := kith.Event{Type: typ, ReceivedAt: receivedAt.UTC()}
	if d := depth(raw); d > MaxDepth {
		return ev, kith.Invalid(strings.TrimSuffix(prefix, "."), "message nests %d levels deep; the limit is %d", d, MaxDepth)
	}
	var err error
	if ev.UserID, err = idField(w.UserID, prefix+"userId"); err != nil {
		return ev, err
	}
	if ev.AnonymousID, err = idField(w.AnonymousID, prefix+"anonymousId"); err != nil {
		return ev, err
	}
	if ev.UserID == "" && ev.AnonymousID == "" {
		return ev, kith.Invalid(prefix+"userId", "userId or anonymousId is required")
	}
	if ev.MessageID, err = idField(w.MessageID, prefix+"messageId"); err != nil {
		return ev, err
	}
	switch typ {
	case kith.TypeTrack:
		name, err := idField(w.Event, prefix+"event")
		if err != nil {
			return ev, err
		}
		if name == "" {
			return ev, kith.Invalid(prefix+"event", "a track call needs the event name")
		}
	case kith.TypeAlias:
		prev, err := idField(w.PreviousID, prefix+"previousId")
		if err != nil {
			return ev, err
		}
		if prev == "" {
			return ev, kith.Invalid(prefix+"previousId", "an alias call needs previousId")
		}
	case kith.TypeGroup:
		g, err := idField(w.GroupID, prefix+"groupId")
		if err != nil {
			return ev, err
		}
		if g == "" {
			return ev, kith.Invalid(prefix+"groupId", "a group call needs groupId")
		}
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"properties", w.Properties}, {"traits", w.Traits}, {"context", w.Context}} {
		if !isNull(f.raw) && f.raw[0] != '{' {
			return ev, kith.Invalid(prefix+f.name, "%s must be a JSON object", f.name)
		}
	}

	ts, err := timeField(w.Timestamp, prefix+"timestamp")
	if err != nil {
		return ev, err
	}
	ots, err := timeField(w.OriginalTimestamp, prefix+"originalTimestamp")
	if err != nil {
		return ev, err
	}
	sent, err := timeField(w.SentAt, prefix+"sentAt")
	if err != nil {
		return ev, err
	}
	if sent == nil {
		sent = batchSentAt
	}
	// The client's own clock: analytics.js and most SDKs send timestamp;
	// RudderStack sends originalTimestamp.
	client := ts
	if ots != nil {
		client = ots
	}
	if client != nil {
		ev.OriginalTimestamp = *client
	}
	if sent != nil {
		ev.SentAt = *sent
	}
	ev.Timestamp = correctedTime(client, sent, ev.ReceivedAt)
	switch {
	case ev.Timestamp.After(ev.ReceivedAt.Add(MaxFuture)):
		// A clock this far ahead cannot be corrected: an event from the
		// future would pin traits and intents for ever. The client's own
		// time stays in OriginalTimestamp.
		ev.Timestamp = ev.ReceivedAt
	case ev.Timestamp.Year() < minYear:
		return ev, kith.Invalid(prefix+"timestamp", "corrected for the client's clock (sentAt %s), the event time falls before %d",
			ev.SentAt.Format(time.RFC3339), minYear)
	}

	if ev.MessageID == "" {
		ev.MessageID = contentID(raw)
	}
	ev.Payload = raw
	return ev, nil
}

// correctedTime applies Segment's clock-skew correction: a client whose clock
// is off sends both times off by the same amount, so the event happened
// (sentAt - timestamp) before Kith received it.
func correctedTime(client, sent *time.Time, received time.Time) time.Time {
	switch {
	case client == nil:
		return received
	case sent == nil:
		return client.UTC()
	default:
		return received.Add(-sent.Sub(*client)).UTC()
	}
}

// contentID derives a messageId for a message sent without one, from its
// bytes: a client's retry of the same message gets the same id and is deduped.
func contentID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "kith-" + hex.EncodeToString(sum[:16])
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// idString reads a JSON string or number as an id; ok is false for other kinds.
func idString(raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", true
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || c >= '0' && c <= '9':
		return string(raw), true
	}
	return "", false
}

func idField(raw json.RawMessage, field string) (string, error) {
	s, ok := idString(raw)
	if !ok {
		return "", kith.Invalid(field, "must be a string or a number")
	}
	if len(s) > maxIDLength {
		return "", kith.Invalid(field, "is %d bytes; the limit is %d", len(s), maxIDLength)
	}
	// Ids are matched, logged and shown: control characters have no place
	// in them, and not every store can keep a NUL.
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", kith.Invalid(field, "contains a control character (U+%04X)", r)
		}
	}
	return s, nil
}

// timeField parses an ISO-8601 time; nil when absent.
func timeField(raw json.RawMessage, field string) (*time.Time, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return nil, kith.Invalid(field, "must be an ISO-8601 time string such as 2026-01-02T15:04:05.000Z")
	}
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, kith.Invalid(field, "%q is not an ISO-8601 time such as 2026-01-02T15:04:05.000Z", s)
	}
	if y := t.UTC().Year(); y < minYear || y >= maxYear {
		return nil, kith.Invalid(field, "%q is outside the years %d to %d", s, minYear, maxYear-1)
	}
	return &t, nil
}

// malformed describes a JSON decoding error: where the syntax broke, or which
// field had the wrong kind of value.
func malformed(err error, prefix string) *kith.Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return kith.Invalid(strings.TrimSuffix(prefix, "."), "malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te) && te.Field != "":
		return kith.Invalid(prefix+te.Field, "must not be a JSON %s", te.Value)
	default:
		return kith.Invalid(strings.TrimSuffix(prefix, "."), "malformed JSON: %s", err.Error())
	}
}

// depth returns how deeply JSON text nests objects and arrays.
func depth(raw []byte) int {
	d, most := 0, 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}
