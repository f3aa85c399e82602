package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type apiDecision struct {
	Allowed      bool      `json:"allowed"`
	Profile      string    `json:"profile"`
	Recipient    string    `json:"recipient"`
	Reason       string    `json:"reason"`
	Minor        bool      `json:"minor"`
	Decisions    []string  `json:"decisions"`
	CheckedAt    time.Time `json:"checked_at"`
	AsOf         time.Time `json:"as_of"`
	ContactPoint *struct {
		Address string `json:"address"`
		Status  string `json:"status"`
	} `json:"contact_point"`
}

func (c *profileClient) check(body map[string]any) apiDecision {
	c.t.Helper()
	status, b := c.call("POST", "/v1/consent/check", testAPIKey, body)
	if status != http.StatusOK {
		c.t.Fatalf("check %v: %d %s", body, status, b)
	}
	var d apiDecision
	if err := json.Unmarshal(b, &d); err != nil {
		c.t.Fatal(err)
	}
	return d
}

// Situation 5 over the API, as a call-center integration would do it: the
// household, the agent's change, the very next checks, the history.
func TestConsentSituation5(t *testing.T) { eachStore(t, testConsentSituation5) }

func testConsentSituation5(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, crm := c.createSource("callcenter-crm", "call_center")
	c.send(crm,
		msg("identify", "c1", t0, map[string]any{"userId": "maria", "traits": map[string]any{"name": "Maria Ramirez", "phone": "+44 7911 123451"}}),
		msg("identify", "c2", t0, map[string]any{"userId": "lucia", "traits": map[string]any{"name": "Lucia Ramirez", "phone": "+44 7911 123452", "birthday": "2011-03-14"}}))
	c.waitProcessed()
	mother, daughter := c.lookup("user_id", "maria").ID, c.lookup("user_id", "lucia").ID

	if status, b := c.call("POST", "/v1/relationships", testAPIKey, map[string]any{"from": mother, "to": daughter, "kind": "guardian",
		"household": "Ramirez", "recipient": true}); status != http.StatusOK {
		t.Fatalf("relate: %d %s", status, b)
	}
	status, b := c.call("POST", "/v1/profiles/"+daughter+"/consents", testAPIKey, map[string]any{"consents": []map[string]any{
		{"purpose": "marketing", "channel": "sms", "address": "+44 7911 123452", "state": "opted_out", "via": "call_center",
			"wording": "no more promotional texts to Lucia's phone"},
	}})
	if status != http.StatusCreated {
		t.Fatalf("record: %d %s", status, b)
	}
	if d := c.check(map[string]any{"identifier": map[string]any{"type": "phone", "value": "+44 7911 123452"}, "purpose": "marketing", "channel": "sms"}); d.Allowed || !d.Minor {
		t.Errorf("marketing SMS to the daughter's number: %+v", d)
	}
	d := c.check(map[string]any{"profile": daughter, "purpose": "alerts", "channel": "sms"})
	if !d.Allowed || d.Recipient != mother || d.ContactPoint == nil || d.ContactPoint.Address != "+447911123451" {
		t.Errorf("alerts for the daughter: %+v; want the mother's number", d)
	}
	var h struct {
		Consents []struct {
			State, Via, Actor string
			RecordedAt        time.Time `json:"recorded_at"`
		}
	}
	c.get("/v1/profiles/"+daughter+"/consents", &h)
	if len(h.Consents) != 1 || h.Consents[0].Via != "call_center" || h.Consents[0].State != "opted_out" || h.Consents[0].Actor == "" ||
		h.Consents[0].RecordedAt.IsZero() {
		t.Errorf("history %+v", h)
	}

	// The same for a list, in the order asked.
	status, b = c.call("POST", "/v1/consent/checks", testAPIKey, map[string]any{"profiles": []string{daughter, "prf_nobody", mother},
		"purpose": "alerts", "channel": "sms"})
	var list struct {
		Decisions []apiDecision
		Allowed   int
	}
	json.Unmarshal(b, &list)
	if status != http.StatusOK || len(list.Decisions) != 3 || list.Allowed != 2 || list.Decisions[0].Recipient != mother ||
		list.Decisions[1].Allowed || list.Decisions[2].Profile != mother {
		t.Errorf("list check: %d %s", status, b)
	}

	// Bad input: the field and the reason, and nothing stored.
	for _, bad := range []struct {
		path  string
		body  map[string]any
		field string
	}{
		{"/v1/consent/check", map[string]any{"profile": daughter, "purpose": "spam", "channel": "sms"}, "purpose"},
		{"/v1/consent/check", map[string]any{"purpose": "alerts", "channel": "sms"}, "profile"},
		{"/v1/profiles/" + daughter + "/consents", map[string]any{"purpose": "alerts", "channel": "fax", "state": "opted_in"}, "channel"},
		{"/v1/consent/suppressions", map[string]any{"channel": "sms", "address": "+44 7911 123452", "kind": "maybe"}, "kind"},
		{"/v1/consent/checks", map[string]any{"profiles": []string{}, "purpose": "alerts", "channel": "sms"}, "profiles"},
	} {
		status, b := c.call("POST", bad.path, testAPIKey, bad.body)
		var e struct {
			Error struct{ Field, Message string }
		}
		json.Unmarshal(b, &e)
		if status != http.StatusBadRequest || e.Error.Field != bad.field || e.Error.Message == "" {
			t.Errorf("POST %s %v: %d %s; want 400 on %s", bad.path, bad.body, status, b, bad.field)
		}
	}
	c.get("/v1/profiles/"+daughter+"/consents", &h)
	if len(h.Consents) != 1 {
		t.Errorf("refused input was stored: %+v", h)
	}
}

// A past answer over the API: "at" answers as the gate did then, from the
// decisions recorded by then and the contact point's status of the time;
// a malformed or future "at" is refused on its field.
func TestConsentCheckAsOf(t *testing.T) { eachStore(t, testConsentCheckAsOf) }

func testConsentCheckAsOf(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, crm := c.createSource("callcenter-crm", "call_center")
	c.send(crm, msg("identify", "s1", t0, map[string]any{"userId": "sofia", "traits": map[string]any{"phone": "+44 7911 123454"}}))
	c.waitProcessed()
	sofia := c.lookup("user_id", "sofia").ID
	if status, b := c.call("PUT", "/v1/profiles/"+sofia+"/contact-points", testAPIKey, map[string]any{"channel": "sms",
		"address": "+44 7911 123454", "status": "verified"}); status != http.StatusOK {
		t.Fatalf("set the contact point: %d %s", status, b)
	}
	status, b := c.call("POST", "/v1/profiles/"+sofia+"/consents", testAPIKey, map[string]any{"purpose": "marketing", "channel": "sms", "state": "opted_in"})
	var in struct{ Consents []struct{ ID string } }
	json.Unmarshal(b, &in)
	if status != http.StatusCreated || len(in.Consents) != 1 {
		t.Fatalf("record: %d %s", status, b)
	}
	ask := map[string]any{"profile": sofia, "purpose": "marketing", "channel": "sms"}
	then := c.check(ask)
	if !then.Allowed || !then.AsOf.Equal(then.CheckedAt) {
		t.Fatalf("marketing SMS after the opt-in: %+v", then)
	}
	time.Sleep(5 * time.Millisecond)
	if status, b := c.call("POST", "/v1/consent/suppressions", testAPIKey, map[string]any{"channel": "sms", "address": "+44 7911 123454",
		"kind": "hard_bounce"}); status != http.StatusOK {
		t.Fatalf("suppress: %d %s", status, b)
	}
	if status, b := c.call("POST", "/v1/profiles/"+sofia+"/consents", testAPIKey, map[string]any{"purpose": "marketing", "channel": "sms",
		"state": "opted_out"}); status != http.StatusCreated {
		t.Fatalf("record: %d %s", status, b)
	}
	if d := c.check(ask); d.Allowed || !strings.Contains(d.Reason, "bounced") {
		t.Errorf("marketing SMS now: %+v; want refused, bounced", d)
	}

	ask["at"] = then.CheckedAt.Format(time.RFC3339Nano)
	d := c.check(ask)
	if !d.Allowed || !d.AsOf.Equal(then.CheckedAt) || len(d.Decisions) != 1 || d.Decisions[0] != in.Consents[0].ID ||
		d.ContactPoint == nil || d.ContactPoint.Status != "verified" || d.Reason != then.Reason {
		t.Errorf("marketing SMS as of %s: %+v; want %+v", ask["at"], d, then)
	}
	if !d.CheckedAt.After(then.CheckedAt) {
		t.Errorf("checked at %s, before the time asked about %s", d.CheckedAt, then.CheckedAt)
	}

	for _, at := range []any{"3 March 2026", "2026-03-03", "", 20260303, time.Now().Add(time.Hour).Format(time.RFC3339)} {
		ask["at"] = at
		status, b := c.call("POST", "/v1/consent/check", testAPIKey, ask)
		var e struct {
			Error struct{ Code, Field, Message string }
		}
		json.Unmarshal(b, &e)
		if status != http.StatusBadRequest || e.Error.Field != "at" || e.Error.Message == "" {
			t.Errorf("check at %v: %d %s; want 400 on at", at, status, b)
		}
	}
}

// A change on one node and a check on another agree at once (PostgreSQL).
func TestConsentTwoNodes(t *testing.T) {
	store := postgresStore(t)
	a := startMain(t, func(c *Config) { c.Store = store })
	b := startMain(t, func(c *Config) { c.Store = store })
	ca, cb := newProfileClient(t, a), newProfileClient(t, b)
	_, web := ca.createSource("website", "web")
	ca.send(web, msg("identify", "w1", t0, map[string]any{"userId": "kim", "traits": map[string]any{"email": "kim@example.com"}}))
	ca.waitProcessed()
	kim := ca.lookup("user_id", "kim").ID
	for i, state := range []string{"opted_in", "opted_out", "opted_in"} {
		status, body := ca.call("POST", "/v1/profiles/"+kim+"/consents", testAPIKey, map[string]any{"purpose": "marketing", "channel": "email", "state": state})
		if status != http.StatusCreated {
			t.Fatalf("record on node a: %d %s", status, body)
		}
		d := cb.check(map[string]any{"profile": kim, "purpose": "marketing", "channel": "email"})
		if d.Allowed != (state == "opted_in") || !strings.Contains(d.Reason, strings.ReplaceAll(state, "_", " ")) {
			t.Errorf("change %d (%s) on node a, check on node b at once: %+v", i, state, d)
		}
	}
}

// Consent from the website's banner, carried by an event, reaches the gate.
func TestConsentFromEventsEndToEnd(t *testing.T) { eachStore(t, testConsentFromEvents) }

func testConsentFromEvents(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, web := c.createSource("website", "web")
	c.send(web, msg("track", "b1", time.Now().Add(-time.Minute), map[string]any{"userId": "eve", "event": "Consent Updated",
		"context": map[string]any{"traits": map[string]any{"email": "eve@example.com"},
			"consent": map[string]any{"categoryPreferences": map[string]any{"Advertising": true, "Analytics": false}}}}))
	c.waitProcessed()
	eve := map[string]any{"identifier": map[string]any{"type": "email", "value": "eve@example.com"}, "purpose": "marketing", "channel": "email"}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if d := c.check(eve); d.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the banner's opt-in never reached the gate: %+v", c.check(eve))
		}
	}
}

// The preference centre's API behind a signed link, with no login: the
// switches, a change, one-click unsubscribe (RFC 8058), and a tampered,
// withdrawn link refused.
func TestPreferenceLinksEndToEnd(t *testing.T) { eachStore(t, testPreferenceLinks) }

func testPreferenceLinks(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, web := c.createSource("website", "web")
	c.send(web, msg("identify", "p1", t0, map[string]any{"userId": "pat", "traits": map[string]any{"email": "pat@example.com"}}))
	c.waitProcessed()
	pat := c.lookup("user_id", "pat").ID
	status, b := c.call("POST", "/v1/profiles/"+pat+"/links", testAPIKey, map[string]any{"channel": "email", "address": "pat@example.com"})
	var link struct{ Token, Preferences, Unsubscribe string }
	json.Unmarshal(b, &link)
	if status != http.StatusCreated || link.Token == "" {
		t.Fatalf("issue a link: %d %s", status, b)
	}
	allowed := func() bool {
		t.Helper()
		status, b := c.call("GET", link.Preferences, "", nil)
		var p struct {
			Preferences []struct {
				Purpose, Channel string
				Allowed          bool
			}
		}
		json.Unmarshal(b, &p)
		if status != http.StatusOK || len(p.Preferences) != 18 {
			t.Fatalf("preferences: %d %s", status, b)
		}
		for _, s := range p.Preferences {
			if s.Purpose == "marketing" && s.Channel == "email" {
				return s.Allowed
			}
		}
		t.Fatal("no marketing e-mail switch")
		return false
	}
	if allowed() {
		t.Fatal("marketing e-mail allowed before any opt-in")
	}
	if status, b := c.call("POST", link.Preferences, "", map[string]any{"purpose": "marketing", "channel": "email", "state": "opted_in"}); status != http.StatusOK {
		t.Fatalf("switch on: %d %s", status, b)
	}
	if !allowed() {
		t.Error("the switch did not apply at once")
	}
	req, _ := http.NewRequest("POST", c.base+link.Unsubscribe, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click unsubscribe: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	if allowed() {
		t.Error("one-click unsubscribe did not apply at once")
	}
	body, sig, _ := strings.Cut(link.Token, ".")
	if status, _ := c.call("GET", "/v1/consent/links/"+body+"x."+sig, "", nil); status != http.StatusForbidden {
		t.Errorf("a tampered link: %d", status)
	}
	if status, b := c.call("POST", "/v1/profiles/"+pat+"/links/revoke", testAPIKey, nil); status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", status, b)
	}
	if status, _ := c.call("GET", link.Preferences, "", nil); status != http.StatusForbidden {
		t.Errorf("a withdrawn link: %d", status)
	}
}

// The export of a profile holds every identifier, trait, event and
// consent it has, for an admin key only, and is audited.
func TestProfileExport(t *testing.T) { eachStore(t, testProfileExport) }

func testProfileExport(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, web := c.createSource("website", "web")
	c.send(web,
		msg("identify", "x1", t0, map[string]any{"userId": "xan", "anonymousId": "dev-x", "traits": map[string]any{"email": "xan@example.com", "plan": "tv"}}),
		msg("track", "x2", t0.Add(time.Minute), map[string]any{"anonymousId": "dev-x", "event": "Page Read"}),
		msg("identify", "x3", t0.Add(2*time.Minute), map[string]any{"userId": "xan", "traits": map[string]any{"phone": "+44 7911 123460"}}))
	c.waitProcessed()
	xan := c.lookup("user_id", "xan").ID
	if status, b := c.call("POST", "/v1/profiles/"+xan+"/consents", testAPIKey, map[string]any{"purpose": "marketing", "channel": "email", "state": "opted_in"}); status != http.StatusCreated {
		t.Fatalf("record: %d %s", status, b)
	}
	status, b := c.call("GET", "/v1/profiles/"+xan+"/export", testAPIKey, nil)
	if status != http.StatusOK {
		t.Fatalf("export: %d %s", status, b)
	}
	var x struct {
		Identifiers []struct{ Type, Value string }
		Traits      map[string]json.RawMessage
		Events      []struct {
			MessageID string `json:"messageId"`
		}
		Consents []struct{ State string }
	}
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, i := range x.Identifiers {
		ids[i.Type+":"+i.Value] = true
	}
	for _, want := range []string{"user_id:xan", "anonymous_id:dev-x", "email:xan@example.com", "phone:+447911123460"} {
		if !ids[want] {
			t.Errorf("the export lacks %s: %v", want, ids)
		}
	}
	for _, tr := range []string{"email", "plan", "phone"} {
		if _, ok := x.Traits[tr]; !ok {
			t.Errorf("the export lacks trait %s", tr)
		}
	}
	seen := map[string]bool{}
	for _, e := range x.Events {
		seen[e.MessageID] = true
	}
	for _, id := range []string{"x1", "x2", "x3"} {
		if !seen[id] {
			t.Errorf("the export lacks event %s: %v", id, seen)
		}
	}
	if len(x.Consents) != 1 || x.Consents[0].State != "opted_in" {
		t.Errorf("the export's consents: %+v", x.Consents)
	}
	status, b = c.call("POST", "/v1/keys", testAPIKey, map[string]any{"name": "reader", "scopes": []string{"profiles:read"}})
	var key struct{ Secret string }
	json.Unmarshal(b, &key)
	if status != http.StatusCreated || key.Secret == "" {
		t.Fatalf("create a key: %d %s", status, b)
	}
	reader := key.Secret
	if status, _ := c.call("GET", "/v1/profiles/"+xan+"/export", reader, nil); status != http.StatusForbidden {
		t.Errorf("export with profiles:read: %d, want 403", status)
	}
	var audit struct {
		Records []struct{ Action, Target string }
	}
	c.get("/v1/audit?action=profile.export", &audit)
	found := false
	for _, r := range audit.Records {
		found = found || r.Action == "profile.export" && r.Target == xan
	}
	if !found {
		t.Errorf("the export was not audited: %+v", audit)
	}
}
