package web

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

func TestPagesParse(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"login", "error", "home", "profile", "timeline", "audit", "users", "keys", "lifecycle", "offers", "matches", "audiences", "computed", "erased", "imports", "import"} {
		if pages[want] == nil {
			t.Errorf("no %s page", want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/profiles/prf_1?x=1":  "/profiles/prf_1?x=1",
		"":                     "/",
		"https://evil.example": "/",
		"//evil.example/x":     "/",
		`/\evil.example`:       "/",
		"profiles":             "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckOrigin(t *testing.T) {
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://kith.example:8080", true},
		{"http://evil.example", false},
		{"http://kith.example:9090", false},
		{"null", false},
	} {
		r := httptest.NewRequest("POST", "http://kith.example:8080/users", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if err := checkOrigin(r); (err == nil) != c.ok {
			t.Errorf("Origin %q: %v, want ok=%v", c.origin, err, c.ok)
		}
		if err := checkOrigin(r); err != nil && !kith.IsCode(err, kith.EFORBIDDEN) {
			t.Errorf("Origin %q: %v, want EFORBIDDEN", c.origin, err)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		10 * time.Second:    "just now",
		time.Minute:         "1 minute ago",
		45 * time.Minute:    "45 minutes ago",
		3 * time.Hour:       "3 hours ago",
		72 * time.Hour:      "3 days ago",
		90 * 24 * time.Hour: "3 months ago",
		-2 * time.Hour:      "in 2 hours",
	} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(-%s) = %q, want %q", d, got, want)
		}
	}
	if got := ago(now, time.Time{}); got != "never" {
		t.Errorf("ago(zero) = %q", got)
	}
}

func TestSummary(t *testing.T) {
	ev := func(typ kith.EventType, payload string) kith.TimelineEvent {
		return kith.TimelineEvent{Event: kith.Event{Type: typ, Payload: json.RawMessage(payload)}}
	}
	for _, c := range []struct {
		e    kith.TimelineEvent
		want string
	}{
		{ev("page", `{"properties":{"path":"/insurance/car","title":"Car insurance"}}`), "Viewed “Car insurance” (/insurance/car)"},
		{ev("page", `{"context":{"page":{"path":"/x"}}}`), "Viewed /x"},
		{ev("page", `{}`), "Viewed a page"},
		{ev("screen", `{"name":"Home"}`), "Opened Home"},
		{ev("identify", `{"traits":{"phone":"1","email":"a"}}`), "Identified with email, phone"},
		{ev("track", `{"event":"Call Ended","properties":{"reason":"renewal","agent":"x"}}`), "Call Ended — reason renewal"},
		{ev("track", `{"event":"Order Completed","properties":{"revenue":129.5}}`), "Order Completed — revenue 129.5"},
		{ev("track", `not json`), "Event"},
	} {
		if got := summary(c.e); got != c.want {
			t.Errorf("summary(%s) = %q, want %q", c.e.Payload, got, c.want)
		}
	}
}

func TestTraitValue(t *testing.T) {
	for in, want := range map[string]string{`"Ann"`: "Ann", `42`: "42", `{"a": [1, 2]}`: `{"a":[1,2]}`, `true`: "true"} {
		if got := traitValue(json.RawMessage(in)); got != want {
			t.Errorf("traitValue(%s) = %q, want %q", in, got, want)
		}
	}
}
