package ingest

import (
	"encoding/json"
	"testing"

	"github.com/kithhq/kith"
)

// FuzzParse feeds arbitrary bodies to every endpoint. Parse must never
// panic, must classify every failure, and whatever it accepts must be a
// well-formed event: ids present, a type, a timestamp, a payload that is
// valid JSON no larger than the limit.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"userId":"u","event":"e"}`,
		`{"anonymousId":"a","timestamp":"2026-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:01Z"}`,
		`{"batch":[{"type":"track","userId":1,"event":"e"},{"type":"page"}],"sentAt":"2026-01-01T00:00:00Z","writeKey":"k"}`,
		`{"batch":[{"type":"alias","userId":"u","previousId":"p"},"x",null,[]]}`,
		`{"userId":"u","traits":{"email":"a@b.c"},"context":{"traits":{"phone":"+1"}}}`,
		`{"batch":null}`, `{"userId":"\u0000"}`, `{`, `[]`, ``,
	}
	for _, s := range seeds {
		f.Add(byte(0), []byte(s))
		f.Add(byte(6), []byte(s))
	}
	endpoints := []Endpoint{"track", "identify", "page", "screen", "group", "alias", EndpointBatch, EndpointImport}
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		ep := endpoints[int(which)%len(endpoints)]
		p, err := Parse(ep, body, received)
		if err != nil {
			if code := kith.ErrorCode(err); code != kith.EINVALID && code != kith.ETOOLARGE {
				t.Fatalf("unclassified error %q: %v", code, err)
			}
			return
		}
		for _, e := range p.Events {
			if e.UserID == "" && e.AnonymousID == "" {
				t.Fatalf("accepted event without ids: %s", e.Payload)
			}
			if e.MessageID == "" || e.Type == "" || e.Timestamp.IsZero() {
				t.Fatalf("accepted incomplete event %+v", e)
			}
			if len(e.Payload) > MaxMessageBytes || !json.Valid(e.Payload) {
				t.Fatalf("accepted bad payload %q", e.Payload)
			}
		}
		for _, r := range p.Rejected {
			if r.Code == "" || r.Message == "" {
				t.Fatalf("rejection without code or message: %+v", r)
			}
		}
	})
}
