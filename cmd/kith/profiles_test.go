package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/kithhq/kith"
)

// These tests use Kith as its users do: events in through the Segment API
// with a write key, profiles out through the REST API with an API key.

// profileClient talks to one running Kith over HTTP.
type profileClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newProfileClient(t *testing.T, m *Main) *profileClient {
	return &profileClient{t: t, base: m.URL(), hc: &http.Client{Timeout: 30 * time.Second}}
}

// call makes one request; key is an API key sent as Bearer ("" for none).
func (c *profileClient) call(method, path, key string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// get GETs path with the admin key, requires 200 and decodes the answer.
func (c *profileClient) get(path string, out any) {
	c.t.Helper()
	status, body := c.call("GET", path, testAPIKey, nil)
	if status != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		c.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// send posts messages as one batch with a source's write key (Basic auth,
// as the SDKs send it) and requires every one to be accepted.
func (c *profileClient) send(writeKey string, msgs ...map[string]any) {
	c.t.Helper()
	if err := c.trySend(writeKey, msgs); err != nil {
		c.t.Fatal(err)
	}
}

func (c *profileClient) trySend(writeKey string, msgs []map[string]any) error {
	b, err := json.Marshal(map[string]any{"batch": msgs})
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", c.base+"/v1/batch", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.SetBasicAuth(writeKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var ack struct {
		Success  bool              `json:"success"`
		Rejected []json.RawMessage `json:"rejected"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &ack) != nil || !ack.Success || len(ack.Rejected) > 0 {
		return fmt.Errorf("send batch: %d %s", resp.StatusCode, body)
	}
	return nil
}

type processing struct {
	Cursor    int64   `json:"cursor"`
	LastSeq   int64   `json:"last_seq"`
	LagEvents int64   `json:"lag_events"`
	LagSecs   float64 `json:"lag_seconds"`
	// Partitions, on a partitioned store.
	Partitions []struct {
		Partition int    `json:"partition"`
		Node      string `json:"node"`
		LagEvents int64  `json:"lag_events"`
	} `json:"partitions"`
}

func (c *profileClient) processing() processing {
	c.t.Helper()
	var p processing
	c.get("/v1/processing", &p)
	return p
}

// waitProcessed waits until processing has caught up with every event
// acknowledged so far.
func (c *profileClient) waitProcessed() {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := c.processing()
		if p.LagEvents == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("processing still %d events behind (cursor %d, last %d) after 20s", p.LagEvents, p.Cursor, p.LastSeq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// createSource creates a source with the admin key; it returns its id and write key.
func (c *profileClient) createSource(name, kind string) (id, writeKey string) {
	c.t.Helper()
	status, body := c.call("POST", "/v1/sources", testAPIKey, map[string]string{"name": name, "kind": kind})
	if status != http.StatusCreated {
		c.t.Fatalf("create source %s: %d %s", name, status, body)
	}
	var src struct{ ID, WriteKey string }
	if err := json.Unmarshal(body, &src); err != nil || src.WriteKey == "" {
		c.t.Fatalf("create source %s: %v %s", name, err, body)
	}
	return src.ID, src.WriteKey
}

type apiIdentifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type apiProfile struct {
	ID          string          `json:"id"`
	RequestedID string          `json:"requested_id"`
	Name        string          `json:"name"`
	Identifiers []apiIdentifier `json:"identifiers"`
	Traits      map[string]struct {
		Value   json.RawMessage `json:"value"`
		Source  string          `json:"source"`
		Channel string          `json:"channel"`
		Time    time.Time       `json:"time"`
	} `json:"traits"`
	Channels map[string]struct {
		First  time.Time `json:"first"`
		Last   time.Time `json:"last"`
		Events int       `json:"events"`
	} `json:"channels"`
	Intents []struct {
		Topic    string    `json:"topic"`
		Strength float64   `json:"strength"`
		Channel  string    `json:"channel"`
		LastSeen time.Time `json:"last_seen"`
	} `json:"intents"`
	Events int `json:"events"`
}

// has reports whether the profile holds an identifier.
func (p apiProfile) has(typ, value string) bool {
	return slices.Contains(p.Identifiers, apiIdentifier{typ, value})
}

func (c *profileClient) profile(id string) apiProfile {
	c.t.Helper()
	var p apiProfile
	c.get("/v1/profiles/"+url.PathEscape(id), &p)
	return p
}

// lookup finds the one profile holding an identifier.
func (c *profileClient) lookup(typ, value string) apiProfile {
	c.t.Helper()
	var p apiProfile
	c.get("/v1/profiles/lookup?"+url.Values{typ: {value}}.Encode(), &p)
	if p.ID == "" {
		c.t.Fatalf("lookup %s=%s: no id at the top level", typ, value)
	}
	return p
}

type apiRef struct {
	MessageID string    `json:"messageId"`
	Seq       int64     `json:"seq"`
	Source    string    `json:"source"`
	At        time.Time `json:"at"`
}

type apiMerge struct {
	MergeID  string     `json:"mergeId"`
	Survivor string     `json:"survivor"`
	Absorbed string     `json:"absorbed"`
	Reason   string     `json:"reason"`
	Event    apiRef     `json:"event"`
	UndoneAt *time.Time `json:"undone_at"`
}

type apiIdentities struct {
	ProfileID   string `json:"profile_id"`
	Identifiers []struct {
		Type     string `json:"type"`
		Value    string `json:"value"`
		LinkedBy apiRef `json:"linked_by"`
	} `json:"identifiers"`
	Merges    []apiMerge `json:"merges"`
	Conflicts []struct {
		Profiles []string `json:"profiles"`
		Reason   string   `json:"reason"`
		Event    apiRef   `json:"event"`
	} `json:"conflicts"`
}

// linkedBy returns identifier → messageId of the event that linked it.
func (ids apiIdentities) linkedBy() map[string]string {
	out := map[string]string{}
	for _, l := range ids.Identifiers {
		out[l.Type+":"+l.Value] = l.LinkedBy.MessageID
	}
	return out
}

func (c *profileClient) identities(id string) apiIdentities {
	c.t.Helper()
	var ids apiIdentities
	c.get("/v1/profiles/"+url.PathEscape(id)+"/identities", &ids)
	return ids
}

type apiEvent struct {
	MessageID   string    `json:"messageId"`
	Seq         int64     `json:"seq"`
	Type        string    `json:"type"`
	Channel     string    `json:"channel"`
	Source      string    `json:"source"`
	Timestamp   time.Time `json:"timestamp"`
	ReceivedAt  time.Time `json:"receivedAt"`
	UserID      string    `json:"userId"`
	AnonymousID string    `json:"anonymousId"`
	// Message is the event as sent.
	Message json.RawMessage `json:"message"`
}

// timeline pages through a profile's whole timeline, limit events a page,
// and checks each page's shape.
func (c *profileClient) timeline(id string, limit int) []apiEvent {
	c.t.Helper()
	var all []apiEvent
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			c.t.Fatalf("timeline of %s: the cursor never ends", id)
		}
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Events     []apiEvent `json:"events"`
			NextCursor *string    `json:"next_cursor"`
		}
		c.get("/v1/profiles/"+url.PathEscape(id)+"/events?"+q.Encode(), &page)
		if len(page.Events) > limit {
			c.t.Fatalf("timeline of %s: %d events on a page, limit %d", id, len(page.Events), limit)
		}
		all = append(all, page.Events...)
		if page.NextCursor == nil {
			return all
		}
		if len(page.Events) != limit {
			c.t.Fatalf("timeline of %s: a page of %d events (limit %d) with a next cursor", id, len(page.Events), limit)
		}
		cursor = *page.NextCursor
	}
}

// msg is one Segment message of a batch, with a messageId and the time it
// happened; fields adds the rest.
func msg(typ, id string, ts time.Time, fields map[string]any) map[string]any {
	m := map[string]any{"type": typ, "messageId": id, "timestamp": ts.UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		m[k] = v
	}
	return m
}

func messageIDs(evs []apiEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.MessageID
	}
	return out
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}

var t0 = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// TestTwoDevicesThenLogin: a person browses anonymously on a laptop and a
// phone, then logs in on both; Kith ends with one profile holding both
// devices' anonymous ids, and says which event linked what.
func TestTwoDevicesThenLogin(t *testing.T) { eachStore(t, testTwoDevicesThenLogin) }

func testTwoDevicesThenLogin(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)

	c.send(testWriteKey,
		msg("page", "laptop-page", t0, map[string]any{"anonymousId": "laptop-anon", "properties": map[string]any{"path": "/sports/basketball/hoops"}}),
		msg("page", "phone-page", t0.Add(time.Hour), map[string]any{"anonymousId": "phone-anon", "properties": map[string]any{"path": "/sports/basketball/hoops/pro"}}),
	)
	c.waitProcessed()
	laptop, phone := c.lookup("anonymous_id", "laptop-anon").ID, c.lookup("anonymous_id", "phone-anon").ID
	if laptop == phone {
		t.Fatalf("two anonymous devices share profile %s before any login", laptop)
	}

	c.send(testWriteKey, msg("identify", "laptop-login", t0.Add(2*time.Hour),
		map[string]any{"userId": "hoop-fan-1", "anonymousId": "laptop-anon", "traits": map[string]any{"name": "Hank Hooper"}}))
	// The two devices' events may be in different partitions of the log,
	// which apply in no set order between them (on a partitioned store):
	// the phone logs in after the laptop's login is applied.
	c.waitProcessed()
	c.send(testWriteKey, msg("identify", "phone-login", t0.Add(3*time.Hour),
		map[string]any{"userId": "hoop-fan-1", "anonymousId": "phone-anon"}))
	c.waitProcessed()

	byUser := c.lookup("user_id", "hoop-fan-1")
	if byUser.ID != laptop {
		t.Errorf("lookup by user_id: profile %s, want the laptop's %s (the oldest survives)", byUser.ID, laptop)
	}
	for _, anon := range []string{"laptop-anon", "phone-anon"} {
		if p := c.lookup("anonymous_id", anon); p.ID != byUser.ID {
			t.Errorf("lookup by anonymous_id %s: profile %s, want %s", anon, p.ID, byUser.ID)
		}
		if !byUser.has("anonymous_id", anon) {
			t.Errorf("profile identifiers %v lack anonymous_id %s", byUser.Identifiers, anon)
		}
	}
	if byUser.Events != 4 || byUser.Name != "Hank Hooper" {
		t.Errorf("profile: %d events, name %q; want 4 events, Hank Hooper", byUser.Events, byUser.Name)
	}

	ids := c.identities(byUser.ID)
	wantLinks := map[string]string{
		"anonymous_id:laptop-anon": "laptop-page",
		"anonymous_id:phone-anon":  "phone-page",
		"user_id:hoop-fan-1":       "laptop-login",
	}
	if got := ids.linkedBy(); !mapsEqual(got, wantLinks) {
		t.Errorf("identifiers linked by %v, want %v", got, wantLinks)
	}
	if len(ids.Merges) != 1 {
		t.Fatalf("merges %+v, want one", ids.Merges)
	}
	mg := ids.Merges[0]
	if mg.MergeID == "" || mg.Survivor != laptop || mg.Absorbed != phone || mg.Event.MessageID != "phone-login" || mg.UndoneAt != nil {
		t.Errorf("merge %+v: want an id, survivor %s, absorbed %s, by phone-login, not undone", mg, laptop, phone)
	}
	if !strings.Contains(mg.Reason, "phone-anon") && !strings.Contains(mg.Reason, "hoop-fan-1") {
		t.Errorf("merge reason %q names neither identifier that linked the profiles", mg.Reason)
	}

	// The phone's old profile id still answers, with the survivor.
	old := c.profile(phone)
	if old.ID != laptop || old.RequestedID != phone {
		t.Errorf("GET absorbed %s: id %s requested_id %q; want %s and %s", phone, old.ID, old.RequestedID, laptop, phone)
	}
	if got := sorted(messageIDs(c.timeline(phone, 50))); !slices.Equal(got, []string{"laptop-login", "laptop-page", "phone-login", "phone-page"}) {
		t.Errorf("timeline through the absorbed id: %v", got)
	}
}

// TestMergeWithinOneBatch: profiles created and merged by events that are
// processed together still leave the absorbed id answering the survivor.
func TestMergeWithinOneBatch(t *testing.T) { eachStore(t, testMergeWithinOneBatch) }

func testMergeWithinOneBatch(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	// Both devices in one partition of the log (on a partitioned store,
	// events of different partitions apply in no set order between them).
	laptop := "ob-laptop"
	phone := samePartition(laptop, "ob-phone-")
	c.send(testWriteKey,
		msg("page", "ob-laptop", t0, map[string]any{"anonymousId": laptop}),
		msg("page", "ob-phone", t0.Add(time.Minute), map[string]any{"anonymousId": phone}),
		msg("identify", "ob-login-1", t0.Add(2*time.Minute), map[string]any{"userId": "ob-user", "anonymousId": laptop}),
		msg("identify", "ob-login-2", t0.Add(3*time.Minute), map[string]any{"userId": "ob-user", "anonymousId": phone}),
	)
	c.waitProcessed()
	p := c.lookup("user_id", "ob-user")
	if !p.has("anonymous_id", laptop) || !p.has("anonymous_id", phone) || p.Events != 4 {
		t.Fatalf("profile %s holds %v with %d events; want both anonymous ids and 4 events", p.ID, p.Identifiers, p.Events)
	}
	ids := c.identities(p.ID)
	if len(ids.Merges) != 1 || ids.Merges[0].Survivor != p.ID || ids.Merges[0].Event.MessageID != "ob-login-2" {
		t.Fatalf("merges %+v: want one into %s by ob-login-2", ids.Merges, p.ID)
	}
	absorbed := ids.Merges[0].Absorbed
	status, body := c.call("GET", "/v1/profiles/"+absorbed, testAPIKey, nil)
	var got apiProfile
	json.Unmarshal(body, &got)
	if status != http.StatusOK || got.ID != p.ID || got.RequestedID != absorbed {
		t.Errorf("GET absorbed %s: %d %s; want the survivor %s with requested_id", absorbed, status, body, p.ID)
	}
}

// samePartition returns an anonymous id starting with prefix that falls in
// key's partition of the log (8 partitions, as the PostgreSQL store and
// the NATS log have), so that their events apply in the order they were sent.
func samePartition(key, prefix string) string {
	want := (kith.Event{AnonymousID: key}).Partition(8)
	for i := 0; ; i++ {
		if id := fmt.Sprint(prefix, i); (kith.Event{AnonymousID: id}).Partition(8) == want {
			return id
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCallCenterAndWebOneProfile: a call-center event with only a phone and
// a web event with an e-mail and the same phone spelled differently are one
// person, seen on both channels.
func TestCallCenterAndWebOneProfile(t *testing.T) { eachStore(t, testCallCenterAndWebOneProfile) }

func testCallCenterAndWebOneProfile(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	ccID, ccKey := c.createSource("call-center", "call_center")
	webID, webKey := c.createSource("website", "web")

	// The tracking API needs a userId or an anonymousId: the call-center
	// system sends its caller id as the anonymous id.
	c.send(ccKey, msg("track", "call-1", t0, map[string]any{
		"anonymousId": "caller-7731", "event": "Call Started",
		"context": map[string]any{"traits": map[string]any{"phone": "(415) 555-0199"}},
	}))
	c.waitProcessed()
	c.send(webKey, msg("identify", "web-1", t0.Add(time.Hour), map[string]any{
		"anonymousId": "web-anon-77",
		"traits":      map[string]any{"email": "mia@example.com", "phone": "+1 415-555-0199"},
	}))
	c.waitProcessed()

	p := c.lookup("phone", "+14155550199")
	for _, q := range [][2]string{{"email", "mia@example.com"}, {"anonymous_id", "caller-7731"}, {"anonymous_id", "web-anon-77"}} {
		if got := c.lookup(q[0], q[1]); got.ID != p.ID {
			t.Errorf("lookup %s=%s: %s, want %s", q[0], q[1], got.ID, p.ID)
		}
	}
	for _, want := range []apiIdentifier{{"phone", "+14155550199"}, {"email", "mia@example.com"}, {"anonymous_id", "caller-7731"}, {"anonymous_id", "web-anon-77"}} {
		if !p.has(want.Type, want.Value) {
			t.Errorf("identifiers %v lack %v", p.Identifiers, want)
		}
	}
	if n := countType(p.Identifiers, "phone"); n != 1 {
		t.Errorf("%d phone identifiers in %v, want one", n, p.Identifiers)
	}
	cc, web := p.Channels["call_center"], p.Channels["web"]
	if cc.Events != 1 || !cc.First.Equal(t0) || web.Events != 1 || !web.First.Equal(t0.Add(time.Hour)) {
		t.Errorf("channels %+v: want call_center once at %s and web once at %s", p.Channels, t0, t0.Add(time.Hour))
	}
	if p.Events != 2 {
		t.Errorf("%d events, want 2", p.Events)
	}
	sources := map[string]string{}
	for _, e := range c.timeline(p.ID, 10) {
		sources[e.MessageID] = e.Source + "/" + e.Channel
	}
	if want := map[string]string{"call-1": ccID + "/call_center", "web-1": webID + "/web"}; !mapsEqual(sources, want) {
		t.Errorf("timeline sources %v, want %v", sources, want)
	}
}

func countType(ids []apiIdentifier, typ string) int {
	n := 0
	for _, id := range ids {
		if id.Type == typ {
			n++
		}
	}
	return n
}

// TestDifferentUserIDsNeverMerge: two people sharing a family e-mail stay
// two profiles; the conflict is recorded and lookups say who the candidates are.
func TestDifferentUserIDsNeverMerge(t *testing.T) { eachStore(t, testDifferentUserIDsNeverMerge) }

func testDifferentUserIDsNeverMerge(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	c.send(testWriteKey, msg("identify", "dad-1", t0, map[string]any{"userId": "dad",
		"traits": map[string]any{"email": "family@example.com", "phone": "+1 415 555 0100"}}))
	c.waitProcessed()
	c.send(testWriteKey, msg("identify", "kid-1", t0.Add(time.Minute), map[string]any{"userId": "kid",
		"traits": map[string]any{"email": "Family@Example.com"}}))
	c.waitProcessed()

	dad, kid := c.lookup("user_id", "dad"), c.lookup("user_id", "kid")
	if dad.ID == kid.ID {
		t.Fatalf("two user ids merged into %s", dad.ID)
	}
	if dad.has("user_id", "kid") || kid.has("user_id", "dad") {
		t.Errorf("a profile holds both user ids: %v / %v", dad.Identifiers, kid.Identifiers)
	}
	for _, p := range []apiProfile{dad, kid} {
		ids := c.identities(p.ID)
		if len(ids.Merges) != 0 {
			t.Errorf("%s: merges %+v, want none", p.ID, ids.Merges)
		}
		found := false
		for _, cf := range ids.Conflicts {
			if cf.Event.MessageID == "kid-1" && slices.Equal(sorted(cf.Profiles), sorted([]string{dad.ID, kid.ID})) && cf.Reason != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: conflicts %+v, want one by kid-1 naming %s and %s with a reason", p.ID, ids.Conflicts, dad.ID, kid.ID)
		}
	}

	status, body := c.call("GET", "/v1/profiles/lookup?email=family%40example.com", testAPIKey, nil)
	var amb struct {
		Error struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		} `json:"error"`
		Candidates []string `json:"candidates"`
	}
	if err := json.Unmarshal(body, &amb); status != http.StatusConflict || err != nil || amb.Error.Code != "conflict" ||
		!slices.Equal(sorted(amb.Candidates), sorted([]string{dad.ID, kid.ID})) {
		t.Errorf("lookup of the shared e-mail: %d %s; want 409 listing %s and %s", status, body, dad.ID, kid.ID)
	}

	// A + sent unencoded arrives as a space; it still finds the phone.
	var p apiProfile
	c.get("/v1/profiles/lookup?phone=+14155550100", &p)
	if p.ID != dad.ID {
		t.Errorf("lookup ?phone=+14155550100 (raw +): %s, want %s", p.ID, dad.ID)
	}
	status, body = c.call("GET", "/v1/profiles/lookup?user_id=nobody", testAPIKey, nil)
	if status != http.StatusNotFound {
		t.Errorf("lookup of an unknown user: %d %s, want 404", status, body)
	}
	status, body = c.call("GET", "/v1/profiles/lookup?shoe_size=42", testAPIKey, nil)
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte(`"field":"shoe_size"`)) {
		t.Errorf("lookup by an unknown type: %d %s, want 400 naming the field", status, body)
	}
}

// TestUndoMerge: undoing a merge gives both people back their identifiers
// and events, and the same evidence does not merge them again.
func TestUndoMerge(t *testing.T) { eachStore(t, testUndoMerge) }

func testUndoMerge(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	c.send(testWriteKey,
		msg("page", "a-page", t0, map[string]any{"anonymousId": "anon-a", "properties": map[string]any{"path": "/a"}}),
		msg("page", "b-page", t0.Add(time.Minute), map[string]any{"anonymousId": "anon-b", "properties": map[string]any{"path": "/b"}}),
		msg("identify", "a-login", t0.Add(2*time.Minute), map[string]any{"anonymousId": "anon-a", "userId": "ula",
			"traits": map[string]any{"name": "Ula A"}}),
	)
	c.waitProcessed()
	a, b := c.lookup("anonymous_id", "anon-a").ID, c.lookup("anonymous_id", "anon-b").ID
	// A shared computer: someone logs in as ula where anon-b browsed.
	c.send(testWriteKey, msg("identify", "b-login", t0.Add(3*time.Minute), map[string]any{"anonymousId": "anon-b", "userId": "ula"}))
	c.waitProcessed()
	merged := c.lookup("anonymous_id", "anon-b")
	if merged.ID != a {
		t.Fatalf("anon-b is on %s after the login, want the merged profile %s", merged.ID, a)
	}
	ids := c.identities(a)
	if len(ids.Merges) != 1 || ids.Merges[0].Absorbed != b || ids.Merges[0].Survivor != a {
		t.Fatalf("merges %+v: want %s absorbed into %s", ids.Merges, b, a)
	}
	mergeID := ids.Merges[0].MergeID

	status, body := c.call("POST", "/v1/merges/"+mergeID+"/undo", testAPIKey, nil)
	if status != http.StatusOK {
		t.Fatalf("undo: %d %s", status, body)
	}
	var undone apiMerge
	if err := json.Unmarshal(body, &undone); err != nil || undone.MergeID != mergeID || undone.UndoneAt == nil {
		t.Errorf("undo answered %s: want the merge with undone_at", body)
	}

	checkSplit := func(when string) {
		t.Helper()
		pa, pb := c.profile(a), c.profile(b)
		if pa.ID != a || pa.RequestedID != "" || pb.ID != b || pb.RequestedID != "" {
			t.Errorf("%s: GET %s → %s (requested %q), GET %s → %s (requested %q); want each its own",
				when, a, pa.ID, pa.RequestedID, b, pb.ID, pb.RequestedID)
		}
		if got := c.lookup("user_id", "ula").ID; got != a {
			t.Errorf("%s: user_id ula on %s, want %s", when, got, a)
		}
		if got := c.lookup("anonymous_id", "anon-a").ID; got != a {
			t.Errorf("%s: anon-a on %s, want %s", when, got, a)
		}
		if !pb.has("anonymous_id", "anon-b") || len(pb.Identifiers) != 1 {
			t.Errorf("%s: %s holds %v, want only anonymous_id anon-b", when, b, pb.Identifiers)
		}
		if !pa.has("anonymous_id", "anon-a") || !pa.has("user_id", "ula") {
			t.Errorf("%s: %s holds %v, want anon-a and ula", when, a, pa.Identifiers)
		}
		if pa.Name != "Ula A" {
			t.Errorf("%s: %s name %q, want Ula A", when, a, pa.Name)
		}
		if got := sorted(messageIDs(c.timeline(b, 50))); !slices.Equal(got, []string{"b-page"}) || pb.Events != 1 {
			t.Errorf("%s: %s timeline %v, %d events; want [b-page]", when, b, got, pb.Events)
		}
		tlA := sorted(messageIDs(c.timeline(a, 50)))
		if !slices.Contains(tlA, "a-page") || !slices.Contains(tlA, "a-login") || slices.Contains(tlA, "b-page") || pa.Events != len(tlA) {
			t.Errorf("%s: %s timeline %v with %d events; want a-page and a-login, not b-page", when, a, tlA, pa.Events)
		}
	}
	checkSplit("after undo")

	status, body = c.call("POST", "/v1/merges/"+mergeID+"/undo", testAPIKey, nil)
	if status != http.StatusConflict {
		t.Errorf("second undo: %d %s, want 409", status, body)
	}
	status, body = c.call("POST", "/v1/merges/mrg_nosuchmerge/undo", testAPIKey, nil)
	if status != http.StatusNotFound {
		t.Errorf("undo of an unknown merge: %d %s, want 404", status, body)
	}

	// The same evidence again: still two people, and a conflict says why.
	c.send(testWriteKey, msg("identify", "b-login-again", t0.Add(time.Hour), map[string]any{"anonymousId": "anon-b", "userId": "ula"}))
	c.waitProcessed()
	checkSplit("after the same evidence again")
	for _, id := range []string{a, b} {
		ids := c.identities(id)
		found := false
		for _, cf := range ids.Conflicts {
			if cf.Event.MessageID == "b-login-again" && slices.Contains(cf.Profiles, a) && slices.Contains(cf.Profiles, b) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: conflicts %+v, want one recorded for b-login-again naming %s and %s", id, ids.Conflicts, a, b)
		}
		for _, mg := range ids.Merges {
			if mg.UndoneAt == nil {
				t.Errorf("%s: merge %+v is live after the undo", id, mg)
			}
		}
	}
}

// TestSpellingsOfOneIdentifier: e-mail and phone spelled differently are
// one identifier, found by any spelling.
func TestSpellingsOfOneIdentifier(t *testing.T) { eachStore(t, testSpellingsOfOneIdentifier) }

func testSpellingsOfOneIdentifier(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	c.send(testWriteKey,
		msg("identify", "s-1", t0, map[string]any{"anonymousId": "sp-1",
			"traits": map[string]any{"email": " Ann@Example.COM ", "phone": "(415) 555-0123"}}),
		msg("identify", "s-2", t0.Add(time.Minute), map[string]any{"anonymousId": "sp-2",
			"traits": map[string]any{"email": "ann@example.com", "phone": "+1 415.555.0123"}}),
		msg("track", "s-3", t0.Add(2*time.Minute), map[string]any{"anonymousId": "sp-3", "event": "Newsletter Opened",
			"context": map[string]any{"traits": map[string]any{"email": "ANN@EXAMPLE.COM", "phone": "001 415 555 0123"}}}),
	)
	c.waitProcessed()
	p := c.lookup("email", "ann@example.com")
	want := []apiIdentifier{{"anonymous_id", "sp-1"}, {"anonymous_id", "sp-2"}, {"anonymous_id", "sp-3"},
		{"email", "ann@example.com"}, {"phone", "+14155550123"}}
	got := slices.Clone(p.Identifiers)
	sort.Slice(got, func(i, j int) bool { return got[i].Type+got[i].Value < got[j].Type+got[j].Value })
	if !slices.Equal(got, want) {
		t.Errorf("identifiers %v, want %v", got, want)
	}
	for _, q := range [][2]string{
		{"email", "ANN@example.com"}, {"email", "  ann@EXAMPLE.com  "},
		{"phone", "4155550123"}, {"phone", "(415) 555-0123"}, {"phone", "+1 415 555 0123"}, {"phone", "+14155550123"},
	} {
		if got := c.lookup(q[0], q[1]); got.ID != p.ID {
			t.Errorf("lookup %s=%q: %s, want %s", q[0], q[1], got.ID, p.ID)
		}
	}
	status, body := c.call("GET", "/v1/profiles/lookup?email=not-an-email", testAPIKey, nil)
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte(`"field":"email"`)) {
		t.Errorf("lookup of a malformed e-mail: %d %s, want 400 on field email", status, body)
	}
}

// TestTraitsByEventTime: the newest event time wins, not the later arrival.
func TestTraitsByEventTime(t *testing.T) { eachStore(t, testTraitsByEventTime) }

func testTraitsByEventTime(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	webID, webKey := c.createSource("web", "web")
	t1, t2 := t0, t0.Add(24*time.Hour)

	c.send(webKey, msg("identify", "plan-gold", t2, map[string]any{"userId": "member-9", "traits": map[string]any{"plan": "gold"}}))
	c.waitProcessed()
	// Arrives later, happened earlier (an app that was offline), from another channel.
	c.send(testWriteKey, msg("identify", "plan-silver", t1, map[string]any{"userId": "member-9",
		"traits": map[string]any{"plan": "silver", "city": "Oslo"}}))
	c.waitProcessed()

	p := c.lookup("user_id", "member-9")
	plan := p.Traits["plan"]
	if string(plan.Value) != `"gold"` || plan.Source != webID || plan.Channel != "web" || !plan.Time.Equal(t2) {
		t.Errorf("trait plan = %s from %s/%s at %s; want \"gold\" from %s/web at %s", plan.Value, plan.Source, plan.Channel, plan.Time, webID, t2)
	}
	// A trait only the older event said is still kept, with its provenance.
	city := p.Traits["city"]
	if string(city.Value) != `"Oslo"` || city.Channel != "server" || !city.Time.Equal(t1) {
		t.Errorf("trait city = %s from %s at %s; want \"Oslo\" from server at %s", city.Value, city.Channel, city.Time, t1)
	}
}

// TestTimelinePaging: newest first by event time, paged to the end, every
// event once.
func TestTimelinePaging(t *testing.T) { eachStore(t, testTimelinePaging) }

func testTimelinePaging(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	appID, appKey := c.createSource("app", "app")
	// Sent out of time order; two events share a timestamp.
	offsets := []int{5, 1, 9, 3, 3, 7, 0, 8, 2, 6, 4}
	var msgs []map[string]any
	for i, off := range offsets {
		ts := t0.Add(time.Duration(off) * time.Minute)
		switch i % 3 {
		case 0:
			msgs = append(msgs, msg("track", fmt.Sprintf("tl-%02d", i), ts, map[string]any{"userId": "pager", "event": "Tapped"}))
		case 1:
			msgs = append(msgs, msg("screen", fmt.Sprintf("tl-%02d", i), ts, map[string]any{"userId": "pager", "name": "Home"}))
		case 2:
			msgs = append(msgs, msg("identify", fmt.Sprintf("tl-%02d", i), ts, map[string]any{"userId": "pager"}))
		}
	}
	c.send(appKey, msgs[:6]...)
	c.send(testWriteKey, msgs[6:]...)
	c.waitProcessed()
	p := c.lookup("user_id", "pager")
	if p.Events != len(msgs) {
		t.Errorf("profile has %d events, want %d", p.Events, len(msgs))
	}
	for _, limit := range []int{1, 3, 4, 11, 50} {
		evs := c.timeline(p.ID, limit)
		if got := sorted(messageIDs(evs)); len(got) != len(msgs) || len(slices.Compact(slices.Clone(got))) != len(msgs) {
			t.Fatalf("limit %d: timeline %v, want each of %d events once", limit, got, len(msgs))
		}
		for i, e := range evs {
			if i > 0 {
				prev := evs[i-1]
				if e.Timestamp.After(prev.Timestamp) || e.Timestamp.Equal(prev.Timestamp) && e.Seq > prev.Seq {
					t.Errorf("limit %d: %s (%s) after %s (%s): not newest first", limit, e.MessageID, e.Timestamp, prev.MessageID, prev.Timestamp)
				}
			}
			var n int
			fmt.Sscanf(e.MessageID, "tl-%d", &n)
			wantType := []string{"track", "screen", "identify"}[n%3]
			wantCh := "app"
			if n >= 6 {
				wantCh = "server"
			}
			if e.Type != wantType || e.Channel != wantCh || (wantCh == "app") != (e.Source == appID) || e.Source == "" ||
				!e.Timestamp.Equal(t0.Add(time.Duration(offsets[n])*time.Minute)) || e.ReceivedAt.IsZero() || e.UserID != "pager" {
				t.Errorf("limit %d: event %+v; want type %s, channel %s, its source and time", limit, e, wantType, wantCh)
			}
		}
	}
	status, body := c.call("GET", "/v1/profiles/"+p.ID+"/events?cursor=garbage", testAPIKey, nil)
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte(`"field":"cursor"`)) {
		t.Errorf("bad cursor: %d %s, want 400 on field cursor", status, body)
	}
	status, body = c.call("GET", "/v1/profiles/prf_nosuchprofile/events", testAPIKey, nil)
	if status != http.StatusNotFound {
		t.Errorf("timeline of an unknown profile: %d %s, want 404", status, body)
	}
}

// TestIntents: page views map to topics with a strength that halves every
// three days.
func TestIntents(t *testing.T) { eachStore(t, testIntents) }

func testIntents(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, webKey := c.createSource("insurer-web", "web")
	now := time.Now().UTC()
	c.send(webKey,
		msg("page", "car-1", now.Add(-time.Minute), map[string]any{"anonymousId": "fresh",
			"properties": map[string]any{"path": "/insurance/car/quote", "url": "https://insurer.example/insurance/car/quote"}}),
		msg("page", "old-1", now.Add(-72*time.Hour), map[string]any{"anonymousId": "stale",
			"properties": map[string]any{"path": "/insurance/car/compare"}}),
		msg("page", "home-1", now.Add(-time.Hour), map[string]any{"anonymousId": "stale",
			"properties": map[string]any{"path": "/insurance/home"}}),
	)
	c.waitProcessed()

	type intent struct {
		strength float64
		channel  string
		last     time.Time
	}
	intents := func(anon string) map[string]intent {
		out := map[string]intent{}
		for _, in := range c.lookup("anonymous_id", anon).Intents {
			out[in.Topic] = intent{in.Strength, in.Channel, in.LastSeen}
		}
		return out
	}
	fresh := intents("fresh")
	if in, ok := fresh["car insurance"]; !ok || math.Abs(in.strength-1) > 0.01 || in.channel != "web" || !in.last.Equal(now.Add(-time.Minute)) {
		t.Errorf("fresh intents %+v: want car insurance ≈1 on web, last seen %s", fresh, now.Add(-time.Minute))
	}
	stale := intents("stale")
	if in, ok := stale["car insurance"]; !ok || math.Abs(in.strength-0.5) > 0.01 || in.channel != "web" || !in.last.Equal(now.Add(-72*time.Hour)) {
		t.Errorf("stale intents %+v: want car insurance ≈0.5 (one view 3 days ago)", stale)
	}
	if in, ok := stale["home insurance"]; !ok || in.strength < 0.98 {
		t.Errorf("stale intents %+v: want home insurance ≈1", stale)
	}
	p := c.lookup("anonymous_id", "stale")
	if len(p.Intents) < 2 || p.Intents[0].Topic != "home insurance" {
		t.Errorf("intents %+v: want the strongest first", p.Intents)
	}
}

// TestSearchAndAccess: agents find people by name, e-mail or phone prefix;
// the API checks input and scopes.
func TestSearchAndAccess(t *testing.T) { eachStore(t, testSearchAndAccess) }

func testSearchAndAccess(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	c.send(testWriteKey,
		msg("identify", "z-1", t0, map[string]any{"userId": "zq", "traits": map[string]any{
			"first_name": "Zelda", "last_name": "Quartermaine", "email": "zelda.q@example.org", "phone": "(415) 555-0177"}}),
		msg("identify", "o-1", t0, map[string]any{"userId": "other", "traits": map[string]any{
			"name": "Otto Other", "email": "otto@example.net", "phone": "+44 20 7946 0018"}}),
	)
	c.waitProcessed()
	zelda := c.lookup("user_id", "zq")

	search := func(key, q string) (int, []byte, []string) {
		t.Helper()
		status, body := c.call("GET", "/v1/profiles?"+url.Values{"q": {q}}.Encode(), key, nil)
		var out struct {
			Profiles []apiProfile `json:"profiles"`
		}
		json.Unmarshal(body, &out)
		var ids []string
		for _, p := range out.Profiles {
			ids = append(ids, p.ID)
		}
		return status, body, ids
	}
	for _, q := range []string{"Zel", "zelda quart", "Quartermaine", "quartermaine z", "zelda.q@", "ZELDA.Q@EXAMPLE", "415555017", "+1415555", "(415) 555-01", "4155550177"} {
		status, body, ids := search(testAPIKey, q)
		if status != http.StatusOK || !slices.Equal(ids, []string{zelda.ID}) {
			t.Errorf("search %q: %d %s; want only %s", q, status, body, zelda.ID)
		}
	}
	if status, body, ids := search(testAPIKey, "nobody-here"); status != http.StatusOK || len(ids) != 0 {
		t.Errorf("search for nobody: %d %s", status, body)
	}

	status, body, _ := search(testAPIKey, "z")
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte(`"field":"q"`)) {
		t.Errorf("search q=z: %d %s, want 400 on field q", status, body)
	}
	status, body, _ = search("", "Zel")
	if status != http.StatusUnauthorized {
		t.Errorf("search without a key: %d %s, want 401", status, body)
	}
	for _, path := range []string{"/v1/profiles/" + zelda.ID, "/v1/profiles/lookup?user_id=zq", "/v1/profiles/" + zelda.ID + "/events", "/v1/processing"} {
		if status, body := c.call("GET", path, "", nil); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a key: %d %s, want 401", path, status, body)
		}
	}
	if status, body := c.call("GET", "/v1/profiles/"+zelda.ID, testWriteKey, nil); status != http.StatusUnauthorized {
		t.Errorf("GET a profile with a write key: %d %s, want 401", status, body)
	}

	status, body = c.call("POST", "/v1/keys", testAPIKey, map[string]any{"name": "agent-desktop", "scopes": []string{"profiles:read"}})
	var key struct{ Secret string }
	if status != http.StatusCreated || json.Unmarshal(body, &key) != nil || key.Secret == "" {
		t.Fatalf("create a profiles:read key: %d %s", status, body)
	}
	if status, body, ids := search(key.Secret, "Zel"); status != http.StatusOK || !slices.Equal(ids, []string{zelda.ID}) {
		t.Errorf("search with a profiles:read key: %d %s", status, body)
	}
	if status, body := c.call("GET", "/v1/profiles/"+zelda.ID, key.Secret, nil); status != http.StatusOK {
		t.Errorf("GET a profile with a profiles:read key: %d %s", status, body)
	}
	status, body = c.call("POST", "/v1/merges/x/undo", key.Secret, nil)
	if status != http.StatusForbidden || !bytes.Contains(body, []byte(`"forbidden"`)) {
		t.Errorf("undo with a profiles:read key: %d %s, want 403", status, body)
	}
}

// TestRestartMidProcessing: a server stopped while it is processing, and
// started again on the same data, applies every event exactly once.
func TestRestartMidProcessing(t *testing.T) {
	const people, perPerson = 250, 20 // 5,000 events
	m := startMain(t, nil)
	dir := m.Config.DataDir
	c := newProfileClient(t, m)

	// Person i browses on two devices, logs in on both (a merge), then
	// acts as a known user.
	owner := map[string]int{}
	var all []map[string]any
	for k := range perPerson {
		for i := range people {
			id := fmt.Sprintf("r-%03d-%02d", i, k)
			owner[id] = i
			ts := t0.Add(time.Duration(k)*time.Minute + time.Duration(i)*time.Millisecond)
			devA, devB, user := fmt.Sprintf("r-anon-%d-a", i), fmt.Sprintf("r-anon-%d-b", i), fmt.Sprintf("r-user-%d", i)
			switch {
			case k < 5:
				all = append(all, msg("page", id, ts, map[string]any{"anonymousId": devA, "properties": map[string]any{"path": "/p"}}))
			case k < 10:
				all = append(all, msg("page", id, ts, map[string]any{"anonymousId": devB, "properties": map[string]any{"path": "/q"}}))
			case k == 10:
				all = append(all, msg("identify", id, ts, map[string]any{"anonymousId": devA, "userId": user,
					"traits": map[string]any{"email": fmt.Sprintf("r%d@example.com", i)}}))
			case k == 11:
				all = append(all, msg("identify", id, ts, map[string]any{"anonymousId": devB, "userId": user}))
			default:
				all = append(all, msg("track", id, ts, map[string]any{"userId": user, "event": "Clicked"}))
			}
		}
	}
	// Sent concurrently, so batches land in any order: whatever the order,
	// each person ends as one profile.
	const batch = 250
	var wg sync.WaitGroup
	errs := make(chan error, len(all)/batch)
	sem := make(chan struct{}, 4)
	for off := 0; off < len(all); off += batch {
		wg.Add(1)
		sem <- struct{}{}
		go func(msgs []map[string]any) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.trySend(testWriteKey, msgs); err != nil {
				errs <- err
			}
		}(all[off:min(off+batch, len(all))])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lag := c.processing()
	t.Logf("closing with processing at %d of %d (%d behind)", lag.Cursor, lag.LastSeq, lag.LagEvents)
	if lag.LastSeq < int64(len(all)) {
		t.Fatalf("log holds %d events, want %d", lag.LastSeq, len(all))
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	m2 := startMain(t, func(cfg *Config) { cfg.DataDir = dir })
	c = newProfileClient(t, m2)
	c.waitProcessed()

	seen := map[string]int{}
	sum := 0
	profiles := map[string]bool{}
	for i := range people {
		p := c.lookup("user_id", fmt.Sprintf("r-user-%d", i))
		if profiles[p.ID] {
			t.Fatalf("person %d shares profile %s with another", i, p.ID)
		}
		profiles[p.ID] = true
		for _, anon := range []string{fmt.Sprintf("r-anon-%d-a", i), fmt.Sprintf("r-anon-%d-b", i)} {
			if !p.has("anonymous_id", anon) {
				t.Errorf("person %d: profile %s lacks %s: %v", i, p.ID, anon, p.Identifiers)
			}
		}
		evs := c.timeline(p.ID, 8)
		if len(evs) != p.Events {
			t.Errorf("person %d: profile says %d events, its timeline has %d", i, p.Events, len(evs))
		}
		sum += p.Events
		for _, e := range evs {
			seen[e.MessageID]++
			if owner[e.MessageID] != i {
				t.Errorf("person %d: timeline holds %s, another person's event", i, e.MessageID)
			}
		}
	}
	for id := range owner {
		if seen[id] != 1 {
			t.Errorf("event %s is on timelines %d times, want exactly once", id, seen[id])
		}
	}
	if sum != len(all) {
		t.Errorf("profiles count %d events in all, want %d", sum, len(all))
	}
}

// TestAnalyticsGoOneProfile: Segment's own Go client, used as a site would
// (anonymous page, identify at login, track by user id), ends in one profile.
func TestAnalyticsGoOneProfile(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	rec := &recorder{}
	client, err := analytics.NewWithConfig(testWriteKey, analytics.Config{
		Endpoint: m.URL(), Interval: 20 * time.Millisecond, BatchSize: 1, Callback: rec, Logger: testLogger{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	// BatchSize 1 sends each message on its own, in order.
	msgs := []analytics.Message{
		analytics.Page{MessageId: "ago-1", AnonymousId: "ago-anon", Name: "Hoops",
			Properties: analytics.NewProperties().SetPath("/sports/basketball/hoop/pro")},
		analytics.Identify{MessageId: "ago-2", AnonymousId: "ago-anon", UserId: "ago-user",
			Traits: analytics.NewTraits().SetEmail("Go.Shopper@Example.com").SetName("Go Shopper")},
		analytics.Track{MessageId: "ago-3", UserId: "ago-user", Event: "Order Completed"},
	}
	for _, msg := range msgs {
		if err := client.Enqueue(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if len(rec.failed) > 0 || len(rec.delivered) != len(msgs) {
		t.Fatalf("client delivered %v, failed %v", rec.delivered, rec.failed)
	}
	c.waitProcessed()

	p := c.lookup("user_id", "ago-user")
	for _, q := range [][2]string{{"anonymous_id", "ago-anon"}, {"email", "go.shopper@example.com"}} {
		if got := c.lookup(q[0], q[1]); got.ID != p.ID {
			t.Errorf("lookup %s=%s: %s, want %s", q[0], q[1], got.ID, p.ID)
		}
		if !p.has(q[0], q[1]) {
			t.Errorf("profile identifiers %v lack %s %s", p.Identifiers, q[0], q[1])
		}
	}
	if got := sorted(messageIDs(c.timeline(p.ID, 2))); !slices.Equal(got, []string{"ago-1", "ago-2", "ago-3"}) || p.Events != 3 {
		t.Errorf("timeline %v, %d events; want ago-1..3", got, p.Events)
	}
	if in := p.Intents; len(in) == 0 || in[0].Topic != "basketball hoop" {
		t.Errorf("intents %+v, want basketball hoop", in)
	}
}
