package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kithhq/kith"
)

var received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestEndpointForPath(t *testing.T) {
	for path, want := range map[string]Endpoint{
		"track": "track", "t": "track", "identify": "identify", "i": "identify", "page": "page", "p": "page",
		"screen": "screen", "s": "screen", "group": "group", "g": "group", "alias": "alias", "a": "alias",
		"batch": EndpointBatch, "import": EndpointImport,
	} {
		got, ok := EndpointForPath(path)
		if !ok || got != want {
			t.Errorf("EndpointForPath(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, bad := range []string{"", "x", "tracks", "sources"} {
		if _, ok := EndpointForPath(bad); ok {
			t.Errorf("EndpointForPath(%q) ok; want unknown", bad)
		}
	}
}

func TestParseSingle(t *testing.T) {
	body := `{"userId":"u1","anonymousId":"a1","event":"Order Completed","messageId":"m-1",
		"timestamp":"2026-03-01T11:59:00.000Z","sentAt":"2026-03-01T11:59:10.000Z","writeKey":"wk","properties":{"revenue":10}}`
	p, err := Parse("track", []byte(body), received)
	if err != nil {
		t.Fatal(err)
	}
	if p.WriteKey != "wk" {
		t.Errorf("WriteKey = %q, want wk", p.WriteKey)
	}
	want := kith.Event{
		MessageID: "m-1", Type: kith.TypeTrack, UserID: "u1", AnonymousID: "a1",
		// The client's clock says it sent 10 s after the event: the event happened 10 s before receipt.
		Timestamp:         received.Add(-10 * time.Second),
		OriginalTimestamp: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC),
		SentAt:            time.Date(2026, 3, 1, 11, 59, 10, 0, time.UTC),
		ReceivedAt:        received,
		Payload:           []byte(body),
	}
	if diff := cmp.Diff([]kith.Event{want}, p.Events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestClockSkew(t *testing.T) {
	ts := func(s string) *time.Time {
		v, _ := time.Parse(time.RFC3339, s)
		return &v
	}
	tests := []struct {
		name         string
		client, sent *time.Time
		want         time.Time
	}{
		{"no client time: received", nil, nil, received},
		{"client time only: as given", ts("2026-03-01T10:00:00Z"), nil, *ts("2026-03-01T10:00:00Z")},
		// A phone whose clock runs an hour fast: both its times are an hour ahead.
		{"fast clock corrected", ts("2026-03-01T12:59:30Z"), ts("2026-03-01T13:00:00Z"), received.Add(-30 * time.Second)},
		{"slow clock corrected", ts("2025-01-01T00:00:00Z"), ts("2025-01-01T00:05:00Z"), received.Add(-5 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := correctedTime(tt.client, tt.sent, received); !got.Equal(tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseBatchSentAtAndOriginalTimestamp(t *testing.T) {
	// RudderStack sends originalTimestamp; sentAt may be on the envelope only.
	body := `{"batch":[{"type":"page","anonymousId":"a","originalTimestamp":"2026-03-01T09:00:00Z"}],"sentAt":"2026-03-01T09:00:02Z"}`
	p, err := Parse(EndpointBatch, []byte(body), received)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Events[0].Timestamp, received.Add(-2*time.Second); !got.Equal(want) {
		t.Errorf("timestamp = %s, want %s", got, want)
	}
}

func TestParseBatchKeepsValidNeighbours(t *testing.T) {
	big := `{"type":"track","userId":"u","event":"big","properties":{"x":"` + strings.Repeat("a", MaxMessageBytes) + `"}}`
	body := `{"writeKey":"wk","batch":[
		{"type":"track","userId":"u1","event":"ok","messageId":"m1"},
		{"type":"track","event":"no ids"},
		{"type":"nonsense","userId":"u"},
		{"userId":"u"},
		` + big + `,
		{"type":"track","userId":"u","event":""},
		{"type":"alias","userId":"u"},
		{"type":"group","userId":"u"},
		{"type":"identify","userId":"u","traits":[1]},
		{"type":"identify","userId":{"a":1}},
		{"type":"page","anonymousId":"a","timestamp":"yesterday"},
		{"type":5,"userId":"u"},
		"not an object",
		{"type":"identify","userId":42,"traits":{"email":"x@example.com"}}
	]}`
	p, err := Parse(EndpointBatch, []byte(body), received)
	if err != nil {
		t.Fatal(err)
	}
	if p.WriteKey != "wk" {
		t.Errorf("WriteKey = %q", p.WriteKey)
	}
	var gotIDs []string
	for _, e := range p.Events {
		gotIDs = append(gotIDs, e.UserID)
	}
	if diff := cmp.Diff([]string{"u1", "42"}, gotIDs); diff != "" {
		t.Errorf("accepted userIds (-want +got):\n%s", diff)
	}
	type rej struct {
		Index       int
		Code, Field string
	}
	var got []rej
	for _, r := range p.Rejected {
		if r.Message == "" {
			t.Errorf("rejection %d has no message", r.Index)
		}
		got = append(got, rej{r.Index, r.Code, r.Field})
	}
	want := []rej{
		{1, "invalid", "batch[1].userId"},
		{2, "invalid", "batch[2].type"},
		{3, "invalid", "batch[3].type"},
		{4, "too_large", "batch[4]"},
		{5, "invalid", "batch[5].event"},
		{6, "invalid", "batch[6].previousId"},
		{7, "invalid", "batch[7].groupId"},
		{8, "invalid", "batch[8].traits"},
		{9, "invalid", "batch[9].userId"},
		{10, "invalid", "batch[10].timestamp"},
		{11, "invalid", "batch[11].type"},
		{12, "invalid", "batch[12]"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rejections (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		endpoint Endpoint
		body     string
		code     string
		field    string
	}{
		{"empty body", "track", "", kith.EINVALID, ""},
		{"malformed", "track", `{"userId":`, kith.EINVALID, ""},
		{"array body", "track", `[1,2]`, kith.EINVALID, ""},
		{"missing ids", "track", `{"event":"x"}`, kith.EINVALID, "userId"},
		{"missing event", "track", `{"userId":"u"}`, kith.EINVALID, "event"},
		{"message too large", "identify", `{"userId":"u","traits":{"x":"` + strings.Repeat("b", MaxMessageBytes) + `"}}`, kith.ETOOLARGE, ""},
		{"batch too large", EndpointBatch, `{"batch":[` + strings.Repeat(" ", MaxBatchBytes) + `]}`, kith.ETOOLARGE, ""},
		{"batch missing", EndpointBatch, `{"sentAt":"2026-01-01T00:00:00Z"}`, kith.EINVALID, "batch"},
		{"batch not array", EndpointBatch, `{"batch":{"type":"track"}}`, kith.EINVALID, "batch"},
		{"batch sentAt bad", EndpointBatch, `{"batch":[],"sentAt":"noon"}`, kith.EINVALID, "sentAt"},
		{"NUL in an id", "track", `{"userId":"u\u0000x","event":"x"}`, kith.EINVALID, "userId"},
		{"newline in messageId", "track", `{"userId":"u","event":"x","messageId":"m\n1"}`, kith.EINVALID, "messageId"},
		{"id too long", "page", `{"anonymousId":"` + strings.Repeat("z", maxIDLength+1) + `"}`, kith.EINVALID, "anonymousId"},
		{"nested too deep", "identify", `{"userId":"u","traits":{"x":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}}`, kith.EINVALID, ""},
		{"year out of range", "page", `{"anonymousId":"a","timestamp":"1500-01-01T00:00:00Z"}`, kith.EINVALID, "timestamp"},
		{"context not object", "page", `{"anonymousId":"a","context":"web"}`, kith.EINVALID, "context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.endpoint, []byte(tt.body), received)
			if err == nil {
				t.Fatalf("Parse ok with %d events; want %s error", len(p.Events), tt.code)
			}
			if got := kith.ErrorCode(err); got != tt.code {
				t.Errorf("code = %q, want %q (%v)", got, tt.code, err)
			}
			if got := kith.ErrorField(err); got != tt.field {
				t.Errorf("field = %q, want %q (%v)", got, tt.field, err)
			}
		})
	}
}

func TestMissingMessageIDIsStableAcrossRetries(t *testing.T) {
	body := []byte(`{"userId":"u","event":"x","timestamp":"2026-03-01T10:00:00Z"}`)
	a, err := Parse("track", body, received)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("track", body, received.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if a.Events[0].MessageID == "" || a.Events[0].MessageID != b.Events[0].MessageID {
		t.Errorf("generated ids %q and %q; want equal and non-empty", a.Events[0].MessageID, b.Events[0].MessageID)
	}
	c, _ := Parse("track", []byte(`{"userId":"u","event":"y","timestamp":"2026-03-01T10:00:00Z"}`), received)
	if c.Events[0].MessageID == a.Events[0].MessageID {
		t.Errorf("different messages got the same generated id %q", a.Events[0].MessageID)
	}
}

func TestWriteKeyInsideBatchMessage(t *testing.T) {
	p, err := Parse(EndpointBatch, []byte(`{"batch":[{"type":"track","userId":"u","event":"e","writeKey":"inner"}]}`), received)
	if err != nil {
		t.Fatal(err)
	}
	if p.WriteKey != "inner" {
		t.Errorf("WriteKey = %q, want inner", p.WriteKey)
	}
}

func TestDepth(t *testing.T) {
	for _, tt := range []struct {
		json string
		want int
	}{
		{`{}`, 1},
		{`{"a":[1,{"b":[]}]}`, 4},
		{`{"s":"{{{[[[ \" {{{"}`, 1},
		{`{"s":"\\","t":{}}`, 2},
	} {
		if got := depth([]byte(tt.json)); got != tt.want {
			t.Errorf("depth(%s) = %d, want %d", tt.json, got, tt.want)
		}
	}
	// At the limit a message is accepted; braces inside strings do not count.
	ok := `{"userId":"u","traits":{"x":` + strings.Repeat("[", MaxDepth-2) + strings.Repeat("]", MaxDepth-2) + `,"s":"` + strings.Repeat("{", 200) + `"}}`
	if _, err := Parse("identify", []byte(ok), received); err != nil {
		t.Errorf("message at the depth limit refused: %v", err)
	}
}

func TestImplausibleClocks(t *testing.T) {
	// A time in the future is replaced by the received time.
	p, err := Parse("identify", []byte(`{"userId":"u","timestamp":"2199-01-01T00:00:00Z"}`), received)
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Events[0]; !e.Timestamp.Equal(received) || e.OriginalTimestamp.Year() != 2199 {
		t.Errorf("timestamp %s (original %s); want the received time, the client's kept", e.Timestamp, e.OriginalTimestamp)
	}
	// A correction that lands before 1900 rejects that message only.
	p, err = Parse(EndpointBatch, []byte(`{"batch":[
		{"type":"track","userId":"u","event":"ok"},
		{"type":"track","userId":"u","event":"skewed","timestamp":"1901-01-01T00:00:00Z","sentAt":"2199-01-01T00:00:00Z"}]}`), received)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 1 || len(p.Rejected) != 1 || p.Rejected[0].Field != "batch[1].timestamp" {
		t.Errorf("events %d, rejected %+v; want the first kept and batch[1].timestamp rejected", len(p.Events), p.Rejected)
	}
}
