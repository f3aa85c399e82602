package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// A person asks to be forgotten: after the erasure nothing of them is
// findable by any identifier, by name, in the timeline, the log, the
// gate, audiences or exports; the other person is untouched; what stays
// is the record that it happened and an audit trail without their details.
func TestErasureEndToEnd(t *testing.T) { eachStore(t, testErasure) }

func testErasure(t *testing.T) {
	ctx := context.Background()
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, web := c.createSource("website", "web")
	// Xan browses anonymously, then signs in (two profiles merged), and
	// gives a phone; Bob is someone else on the same plan.
	c.send(web,
		msg("track", "x0", t0, map[string]any{"anonymousId": "dev-x", "event": "Car Insurance Viewed"}),
		msg("identify", "x1", t0.Add(time.Minute), map[string]any{"userId": "xan", "traits": map[string]any{"email": "xan@example.com", "name": "Xan Quill", "plan": "tv"}}),
		msg("identify", "x2", t0.Add(2*time.Minute), map[string]any{"userId": "xan", "anonymousId": "dev-x", "traits": map[string]any{"phone": "+44 7911 123460"}}),
		msg("identify", "b1", t0, map[string]any{"userId": "bob", "traits": map[string]any{"email": "bob@example.com", "name": "Bob Stone", "plan": "tv"}}))
	c.waitProcessed()
	xan, bob := c.lookup("user_id", "xan").ID, c.lookup("user_id", "bob").ID
	if status, b := c.call("POST", "/v1/profiles/"+xan+"/consents", testAPIKey, map[string]any{"purpose": "marketing", "channel": "email", "state": "opted_in"}); status != http.StatusCreated {
		t.Fatalf("record: %d %s", status, b)
	}
	if status, b := c.call("POST", "/v1/relationships", testAPIKey, map[string]any{"from": bob, "to": xan, "kind": "partner"}); status != http.StatusOK {
		t.Fatalf("relate: %d %s", status, b)
	}
	status, body := c.call("POST", "/v1/audiences", testAPIKey, map[string]any{"name": "TV", "expression": `traits.plan == "tv"`})
	if status != http.StatusCreated {
		t.Fatalf("audience: %d %s", status, body)
	}
	var aud struct{ ID string }
	json.Unmarshal(body, &aud)
	waitFor(t, "both in the audience", func() bool { return len(c.members(aud.ID)) == 2 })
	// and their entries announced and applied (Audience Entered is on the timeline too)
	waitFor(t, "the announcements in the log", func() bool { n, _ := m.DB.CountEvents(ctx); return n == 6 })
	c.waitProcessed()
	before, err := m.DB.CountEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Only an admin key may erase.
	status, b := c.call("POST", "/v1/keys", testAPIKey, map[string]any{"name": "reader", "scopes": []string{"profiles:read"}})
	var key struct{ Secret string }
	json.Unmarshal(b, &key)
	if status != http.StatusCreated {
		t.Fatalf("create a key: %d %s", status, b)
	}
	if status, _ := c.call("POST", "/v1/profiles/"+xan+"/erase", key.Secret, nil); status != http.StatusForbidden {
		t.Errorf("erase with profiles:read: %d, want 403", status)
	}
	if status, b := c.call("POST", "/v1/profiles/prf_nobody/erase", testAPIKey, nil); status != http.StatusNotFound {
		t.Errorf("erase an unknown profile: %d %s, want 404", status, b)
	}
	if status, b := c.call("POST", "/v1/profiles/"+xan+"/erase", testAPIKey, map[string]any{"reason": strings.Repeat("x", 501)}); status != http.StatusBadRequest || !strings.Contains(string(b), `"reason"`) {
		t.Errorf("a 501-character reason: %d %s, want 400 on reason", status, b)
	}

	status, b = c.call("POST", "/v1/profiles/"+xan+"/erase", testAPIKey, map[string]any{"reason": "request 2026-114"})
	if status != http.StatusOK {
		t.Fatalf("erase: %d %s", status, b)
	}
	var e kith.Erasure
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if e.State != kith.ErasureDone || e.Profiles[0] != xan || len(e.Profiles) != 2 || e.Removed.Events != 4 || e.Removed.Consents != 1 ||
		e.Removed.Relationships != 1 || e.Removed.Memberships != 1 || e.Removed.Identifiers != 4 || e.Removed.AuditRedacted == 0 {
		t.Errorf("the erasure = %+v", e)
	}

	// Nothing of Xan is findable.
	for _, id := range [][2]string{{"user_id", "xan"}, {"anonymous_id", "dev-x"}, {"email", "xan@example.com"}, {"phone", "+447911123460"}} {
		if status, b := c.call("GET", "/v1/profiles/lookup?"+url.Values{id[0]: {id[1]}}.Encode(), testAPIKey, nil); status != http.StatusNotFound {
			t.Errorf("lookup %s after the erasure: %d %s", id, status, b)
		}
	}
	for _, p := range e.Profiles {
		for _, path := range []string{"/v1/profiles/" + p, "/v1/profiles/" + p + "/events", "/v1/profiles/" + p + "/export", "/v1/profiles/" + p + "/consents"} {
			if status, b := c.call("GET", path, testAPIKey, nil); status != http.StatusNotFound {
				t.Errorf("GET %s after the erasure: %d %s", path, status, b)
			}
		}
	}
	var found struct{ Profiles []struct{ ID string } }
	c.get("/v1/profiles?q=quill", &found)
	if len(found.Profiles) != 0 {
		t.Errorf("search for Quill after the erasure: %+v", found)
	}
	if status, b := c.call("POST", "/v1/consent/check", testAPIKey, map[string]any{"identifier": map[string]any{"type": "email", "value": "xan@example.com"},
		"purpose": "marketing", "channel": "email"}); status != http.StatusNotFound {
		t.Errorf("a check for Xan's address after the erasure: %d %s", status, b)
	}
	evs, err := m.DB.ReadEvents(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if bytes.Contains(ev.Payload, []byte("xan")) || bytes.Contains(ev.Payload, []byte("dev-x")) {
			t.Errorf("the log still holds %s: %s", ev.MessageID, ev.Payload)
		}
	}
	if after, _ := m.DB.CountEvents(ctx); after < before-int64(e.Removed.Events) || after > before-int64(e.Removed.Events)+1 {
		t.Errorf("the log holds %d events after the erasure of %d of %d", after, e.Removed.Events, before)
	}
	if got := c.members(aud.ID); len(got) != 1 || got[0] != bob {
		t.Errorf("the audience after the erasure: %v, want only %s", got, bob)
	}
	status, b = c.call("GET", "/v1/audiences/"+aud.ID+"/export?format=csv", testAPIKey, nil)
	if status != http.StatusOK || strings.Contains(string(b), xan) || !strings.Contains(string(b), bob) {
		t.Errorf("the audience export after the erasure: %d %s", status, b)
	}
	// Bob keeps everything of his own.
	if got := c.lookup("email", "bob@example.com").ID; got != bob {
		t.Errorf("bob is %s after the erasure, want %s", got, bob)
	}
	if rels, err := m.DB.Relationships(ctx, bob); err != nil || len(rels) != 0 {
		t.Errorf("bob's relationships after the erasure: %+v, %v; want none", rels, err)
	}
	// The audit trail keeps who did what, not what Xan was looked up by;
	// the erasure itself is recorded.
	var audit struct {
		Records []struct{ Action, Target, Detail string }
	}
	c.get("/v1/audit?limit=500", &audit)
	erased := false
	for _, r := range audit.Records {
		if r.Target == xan && r.Action == kith.AuditProfileLookup && r.Detail != "" && !strings.HasPrefix(r.Detail, "redacted") {
			t.Errorf("an audit record still says what Xan was looked up by: %+v", r)
		}
		if strings.Contains(r.Detail, "xan@example.com") {
			t.Errorf("an audit record still holds Xan's e-mail: %+v", r)
		}
		erased = erased || r.Action == kith.AuditProfileErase && r.Target == xan && strings.Contains(r.Detail, e.ID)
	}
	if !erased {
		t.Errorf("the erasure is not audited")
	}
	var list struct{ Erasures []kith.Erasure }
	c.get("/v1/erasures", &list)
	if len(list.Erasures) != 1 || list.Erasures[0].ID != e.ID || list.Erasures[0].Reason != "request 2026-114" || list.Erasures[0].By != "key:bootstrap" && list.Erasures[0].By == "" {
		t.Errorf("the erasures = %+v", list.Erasures)
	}
	if status, b := c.call("GET", "/v1/erasures?since=yesterday", testAPIKey, nil); status != http.StatusBadRequest || !strings.Contains(string(b), `"since"`) {
		t.Errorf("erasures since=yesterday: %d %s, want 400 on since", status, b)
	}
	// Erasing again: the profile is gone.
	if status, _ := c.call("POST", "/v1/profiles/"+xan+"/erase", testAPIKey, nil); status != http.StatusNotFound {
		t.Errorf("erase again: %d, want 404", status)
	}
	// If Xan comes back, they are a new person.
	c.send(web, msg("identify", "x9", time.Now(), map[string]any{"userId": "xan"}))
	c.waitProcessed()
	if again := c.lookup("user_id", "xan"); again.ID == xan || again.ID == e.Profiles[1] {
		t.Errorf("Xan came back as the erased profile %s", again.ID)
	}
}

// kith erase finds the person, says whom it would erase, and erases with --yes.
func TestEraseCommand(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, web := c.createSource("website", "web")
	c.send(web, msg("identify", "z1", t0, map[string]any{"userId": "zed", "traits": map[string]any{"email": "zed@example.com"}}))
	c.waitProcessed()
	zed := c.lookup("user_id", "zed").ID
	t.Setenv("KITH_API_KEY", testAPIKey)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"erase", "email:zed@example.com", "--url", m.URL()}, &out, &errOut); err != nil {
		t.Fatalf("kith erase (dry run): %v %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "would erase "+zed) {
		t.Errorf("the dry run says %q", out.String())
	}
	c.lookup("user_id", "zed") // still there
	out.Reset()
	if err := run(context.Background(), []string{"erase", zed, "--yes", "--reason", "ticket 7", "--url", m.URL()}, &out, &errOut); err != nil {
		t.Fatalf("kith erase --yes: %v %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "erased "+zed) || !strings.Contains(out.String(), "1 profiles, 2 identifiers, 1 events") {
		t.Errorf("kith erase --yes says %q", out.String())
	}
	if status, _ := c.call("GET", "/v1/profiles/"+zed, testAPIKey, nil); status != http.StatusNotFound {
		t.Errorf("the profile after kith erase: %d", status)
	}
	err := run(context.Background(), []string{"erase", "email:nobody@example.com", "--yes", "--url", m.URL()}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("kith erase of nobody: %v, want a 404", err)
	}
	if err := run(context.Background(), []string{"erase"}, &out, &errOut); err == nil {
		t.Errorf("kith erase with no person succeeded")
	}
}

// members lists an audience's members' ids.
func (c *profileClient) members(audience string) []string {
	c.t.Helper()
	var page struct {
		Members []struct{ ID string } `json:"members"`
	}
	c.get("/v1/audiences/"+audience+"/members?limit=100", &page)
	out := make([]string, len(page.Members))
	for i, p := range page.Members {
		out[i] = p.ID
	}
	return out
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
	}
}

// Every change of a contact point is listed, and in the export.
func TestContactPointHistoryAPI(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, crm := c.createSource("callcenter-crm", "call_center")
	c.send(crm, msg("identify", "h1", t0, map[string]any{"userId": "hal", "traits": map[string]any{"phone": "+44 7911 123470"}}))
	c.waitProcessed()
	hal := c.lookup("user_id", "hal").ID
	for _, status := range []string{"verified", "bounced"} {
		if code, b := c.call("PUT", "/v1/profiles/"+hal+"/contact-points", testAPIKey, map[string]any{"channel": "sms",
			"address": "+44 7911 123470", "status": status}); code != http.StatusOK {
			t.Fatalf("set the contact point %s: %d %s", status, code, b)
		}
	}
	var h struct{ History []kith.ContactPoint }
	c.get("/v1/profiles/"+hal+"/contact-points/history", &h)
	if len(h.History) != 2 || h.History[0].Status != "verified" || h.History[1].Status != "bounced" {
		t.Errorf("history = %+v, want verified then bounced", h.History)
	}
	var x struct {
		History []kith.ContactPoint `json:"contact_point_history"`
	}
	c.get("/v1/profiles/"+hal+"/export", &x)
	if len(x.History) != 2 {
		t.Errorf("the export's contact point history = %+v", x.History)
	}
	if code, _ := c.call("GET", "/v1/profiles/prf_nobody/contact-points/history", testAPIKey, nil); code != http.StatusNotFound {
		t.Errorf("history of nobody: %d, want 404", code)
	}
}
