package nats

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

func TestEncodeDecode(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	in := []kith.Event{
		{
			MessageID: "m-1", Type: kith.TypeTrack, SourceID: "src-1", Channel: kith.KindWeb,
			UserID: "u-1", AnonymousID: "a-1",
			Timestamp:         time.Date(2026, 11, 26, 14, 0, 0, 123456789, time.UTC),
			OriginalTimestamp: time.Date(2026, 11, 26, 15, 0, 0, 1, paris),
			SentAt:            time.Date(2026, 11, 26, 14, 0, 1, 0, time.UTC),
			ReceivedAt:        time.Date(2026, 11, 26, 14, 0, 2, 0, time.UTC),
			// Not compact, HTML characters, a non-ASCII rune: must come back byte for byte.
			Payload: []byte("{ \"event\" : \"<a&b>\",\n \"name\": \"Zoë\" }"),
		},
		{MessageID: "m-2", Type: kith.TypeIdentify, SourceID: "src-1", UserID: "u-2",
			ReceivedAt: time.Date(2026, 11, 26, 14, 0, 2, 0, time.UTC), Payload: []byte(`{}`)},
		{MessageID: "m-3", Type: kith.TypePage, SourceID: "src-2", AnonymousID: "a-3"},
	}
	var enc [][]byte
	for _, e := range in {
		b, err := encodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, b)
	}
	data := buildEnvelope(enc)
	size := 0
	for _, b := range enc {
		size += len(b)
	}
	if got, want := len(data), envelopeSize(len(enc), size); got != want {
		t.Errorf("envelope is %d bytes, envelopeSize says %d", got, want)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	// Times come back in UTC; the instant is what matters.
	want := append([]kith.Event(nil), in...)
	want[0].OriginalTimestamp = want[0].OriginalTimestamp.UTC()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode(encode(events)) mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, data := range []string{`{"v":2,"events":[]}`, `{"events":[]}`, `not json`, `{"v":1,"events":[{"payload":1}]}`} {
		if _, err := Decode([]byte(data)); err == nil {
			t.Errorf("Decode(%s) = nil error, want one", data)
		}
	}
}

// TestPartitionStable pins the partition function: changing it would move
// people's events to other partitions of an existing stream.
func TestPartitionStable(t *testing.T) {
	var got []string
	for _, e := range []kith.Event{
		{AnonymousID: "0b9f3c8e-3c1a-4d0e-9a1e-5b0f0a7d2c11"},
		{AnonymousID: "0b9f3c8e-3c1a-4d0e-9a1e-5b0f0a7d2c11", UserID: "user-1"},
		{UserID: "user-1"},
		{UserID: "user-2"},
		{},
	} {
		got = append(got, fmt.Sprint(e.Partition(8), e.Partition(16)))
	}
	want := "2 2,2 2,4 4,5 13,5 5"
	if s := strings.Join(got, ","); s != want {
		t.Errorf("partitions = %s, want %s", s, want)
	}
	if p := (kith.Event{UserID: "x"}).Partition(1); p != 0 {
		t.Errorf("Partition(1) = %d", p)
	}
}

// TestSplit checks how Append groups events into messages, without a server.
func TestSplit(t *testing.T) {
	l := &Log{opt: Options{Partitions: 8, SubjectPrefix: "kith.events"}, maxMsg: 64 << 10}
	events := make([]kith.Event, 300)
	for i := range events {
		events[i] = kith.Event{MessageID: fmt.Sprint("m", i), SourceID: "s", AnonymousID: fmt.Sprint("a", i%3),
			Payload: []byte(strings.Repeat("x", 1000))}
	}
	msgs, err := l.split(events)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	next := map[string]int{} // person -> index of their next event
	for _, m := range msgs {
		data := buildEnvelope(m.encoded)
		if len(data) > l.maxMsg {
			t.Errorf("message of %d bytes, limit %d", len(data), l.maxMsg)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		for k, e := range got {
			if e.Partition(8) != m.partition || e.MessageID != events[m.events[k]].MessageID {
				t.Errorf("message for partition %d holds %s of partition %d", m.partition, e.MessageID, e.Partition(8))
			}
			if m.events[k] < next[e.PersonKey()] {
				t.Errorf("event %d of %s after event %d", m.events[k], e.PersonKey(), next[e.PersonKey()])
			}
			next[e.PersonKey()] = m.events[k]
			seen++
		}
	}
	if seen != len(events) || len(msgs) < 5 {
		t.Errorf("%d events in %d messages; want %d events in at least 5 messages", seen, len(msgs), len(events))
	}
	if a, b := msgID(1, events, msgs[0].events), msgID(1, events, msgs[0].events); a != b || len(a) != 32 {
		t.Errorf("msgID not stable or not 32 hex digits: %q, %q", a, b)
	}
	if msgID(1, events, msgs[0].events) == msgID(2, events, msgs[0].events) {
		t.Error("msgID ignores the partition")
	}

	bad := []kith.Event{{MessageID: "y", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if _, err := l.split(bad); !kith.IsCode(err, kith.EINVALID) {
		t.Errorf("split of an event in year 10000: %v, want %s", err, kith.EINVALID)
	}
}
