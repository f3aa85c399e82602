package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// These tests use the console as a person does, over HTTP with cookies:
// sign in, search, open a customer, and are refused what their role may not do.

const testAdminPassword = "admin-password-0001"

// consoleUser is a browser session of one console user.
type consoleUser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newConsoleUser(t *testing.T, m *Main) *consoleUser {
	jar, _ := cookiejar.New(nil)
	return &consoleUser{t: t, base: m.URL(), hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var (
	tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)
	csrfRE  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// do makes a request and returns status, Location and body.
func (u *consoleUser) do(method, path string, form url.Values) (int, string, string) {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.base+path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", u.base)
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		u.csrf = string(m[1])
	}
	// Compare text as a person reads it: html/template writes "+" as "&#43;".
	return resp.StatusCode, resp.Header.Get("Location"), html.UnescapeString(string(b))
}

// post submits a form with the session's CSRF token.
func (u *consoleUser) post(path string, form url.Values) (int, string, string) {
	u.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", u.csrf)
	return u.do("POST", path, form)
}

func (u *consoleUser) signIn(name, password string) (int, string) {
	u.t.Helper()
	status, _, page := u.do("GET", "/login", nil)
	m := tokenRE.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		u.t.Fatalf("GET /login: %d, token found: %v", status, m != nil)
	}
	status, loc, body := u.do("POST", "/login", url.Values{"name": {name}, "password": {password}, "token": {m[1]}, "next": {"/"}})
	if status == http.StatusSeeOther {
		u.do("GET", "/", nil) // picks up the CSRF token
		return status, loc
	}
	return status, body
}

func signedIn(t *testing.T, m *Main, name, password string) *consoleUser {
	t.Helper()
	u := newConsoleUser(t, m)
	if status, body := u.signIn(name, password); status != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d %s", name, status, body)
	}
	return u
}

// carInsuranceCustomer sends situation 3's history: web pages about car
// insurance after signing in with e-mail and phone, and a call keyed only by
// the phone number. It returns the profile id.
func carInsuranceCustomer(t *testing.T, m *Main) string {
	t.Helper()
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	_, ccKey := c.createSource("call-center", "call_center")
	now := time.Now().UTC()
	c.send(ccKey, msg("track", "call-1", now.Add(-30*24*time.Hour), map[string]any{
		"anonymousId": "caller-1", "event": "Call Ended",
		"properties": map[string]any{"reason": "membership renewal"},
		"context":    map[string]any{"traits": map[string]any{"phone": "+1 925 413 2876"}},
	}))
	c.send(webKey,
		msg("identify", "web-1", now.Add(-2*time.Hour), map[string]any{"userId": "u-sofia",
			"traits": map[string]any{"email": "sofia@example.com", "phone": "(925) 413-2876", "name": "Sofia Ramirez"}}),
		msg("page", "web-2", now.Add(-time.Hour), map[string]any{"userId": "u-sofia",
			"properties": map[string]any{"path": "/insurance/car/quote", "title": "Car insurance quote"}}),
		msg("page", "web-3", now.Add(-50*time.Minute), map[string]any{"userId": "u-sofia",
			"properties": map[string]any{"path": "/insurance/car/coverage", "title": "Car insurance coverage"}}),
	)
	c.waitProcessed()
	return c.lookup("phone", "+19254132876").ID
}

func auditCount(t *testing.T, m *Main, f kith.AuditFilter) int {
	t.Helper()
	f.Limit = 1000
	recs, err := m.DB.Audit(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func TestConsoleCustomer360(t *testing.T) { eachStore(t, testConsoleCustomer360) }

func testConsoleCustomer360(t *testing.T) {
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	id := carInsuranceCustomer(t, m)
	admin := signedIn(t, m, "admin", testAdminPassword)

	// Search by the phone as the caller id shows it: one match opens it.
	status, loc, _ := admin.do("GET", "/?q="+url.QueryEscape("925 413 2876"), nil)
	if status != http.StatusSeeOther || loc != "/profiles/"+id {
		t.Fatalf("search by phone: %d to %q, want 303 to /profiles/%s", status, loc, id)
	}
	reads := kith.AuditFilter{Target: id, Action: kith.AuditProfileRead}
	before := auditCount(t, m, reads)
	status, _, page := admin.do("GET", loc, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", loc, status, page)
	}
	for _, want := range []string{"Sofia Ramirez", "car insurance", "sofia@example.com", "+19254132876",
		"Call center", "Website", "Car insurance quote", "membership renewal"} {
		if !strings.Contains(page, want) {
			t.Errorf("the customer page lacks %q", want)
		}
	}
	if i, j := strings.Index(page, "Trying to do now"), strings.Index(page, "car insurance"); j < i {
		t.Errorf("car insurance is not under \"Trying to do now\"")
	}
	if got := auditCount(t, m, reads) - before; got != 1 {
		t.Errorf("opening the page left %d profile.read records, want 1", got)
	}
	recs, _ := m.DB.Audit(context.Background(), kith.AuditFilter{Target: id, Limit: 1})
	if len(recs) != 1 || recs[0].Actor.Name != "admin" || recs[0].Actor.Kind != kith.ActorUser || recs[0].Actor.Via != "console" ||
		!strings.HasPrefix(recs[0].Actor.Addr, "127.0.0.1:") {
		t.Errorf("latest record %+v, want admin from 127.0.0.1 via the console", recs)
	}

	// The same read through the API leaves one record naming the key.
	c := newProfileClient(t, m)
	before = auditCount(t, m, reads)
	c.profile(id)
	if got := auditCount(t, m, reads) - before; got != 1 {
		t.Errorf("GET /v1/profiles/%s left %d records, want 1", id, got)
	}
	recs, _ = m.DB.Audit(context.Background(), kith.AuditFilter{Target: id, Limit: 1})
	if len(recs) != 1 || recs[0].Actor.Kind != kith.ActorKey || recs[0].Actor.Name != "bootstrap-admin" || recs[0].Actor.Via != "api" {
		t.Errorf("latest record %+v, want the bootstrap-admin key via the api", recs)
	}

	// Several matches are listed, each linking to its customer.
	c.send(testWriteKey, msg("identify", "other-sofia", time.Now().Add(-time.Hour), map[string]any{"userId": "u-sofia-lopez",
		"traits": map[string]any{"name": "Sofia Lopez", "email": "sofia.lopez@example.org"}}))
	c.waitProcessed()
	status, _, page = admin.do("GET", "/?q=sofia", nil)
	if status != http.StatusOK || !strings.Contains(page, "2 matching customers") || !strings.Contains(page, "Sofia Lopez") ||
		!strings.Contains(page, `href="/profiles/`+id+`"`) {
		t.Errorf("search by first name: %d\n%s", status, page)
	}
	if status, _, page := admin.do("GET", "/?q=s", nil); status != http.StatusBadRequest || !strings.Contains(page, "at least 2 characters") {
		t.Errorf("one-letter search: %d", status)
	}
	if status, _, page := admin.do("GET", "/?q=nobody-like-this", nil); status != http.StatusOK || !strings.Contains(page, "Nobody matches") {
		t.Errorf("search without matches: %d", status)
	}

	// Sign out: the page is refused and sends the browser to sign in.
	if status, loc, _ := admin.post("/logout", nil); status != http.StatusSeeOther || loc != "/login" {
		t.Fatalf("sign out: %d to %q", status, loc)
	}
	status, loc, page = admin.do("GET", "/profiles/"+id, nil)
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("after sign-out the profile page answered %d to %q, want a redirect to /login", status, loc)
	}
	if strings.Contains(page, "sofia") || strings.Contains(page, "Sofia") {
		t.Errorf("the refusal shows personal data: %s", page)
	}
}

func TestConsoleRoles(t *testing.T) { eachStore(t, testConsoleRoles) }

func testConsoleRoles(t *testing.T) {
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	id := carInsuranceCustomer(t, m)
	ctx := context.Background()
	for _, r := range []kith.Role{kith.RoleAgent, kith.RoleMarketer, kith.RoleAnalyst} {
		if _, err := m.Users.Add(ctx, string(r)+"1", string(r), "password-of-"+string(r)); err != nil {
			t.Fatal(err)
		}
	}
	agent := signedIn(t, m, "agent1", "password-of-agent")
	for _, path := range []string{"/keys", "/users", "/audit", "/audit/export?format=csv"} {
		status, _, page := agent.do("GET", path, nil)
		if status != http.StatusForbidden || !strings.Contains(page, "The agent role may not do this") {
			t.Errorf("agent GET %s: %d, want 403 with a reason\n%s", path, status, page)
		}
	}
	users, _ := m.Users.List(ctx)
	for _, form := range []struct {
		path string
		v    url.Values
	}{
		{"/users", url.Values{"name": {"mallory"}, "role": {"admin"}, "password": {"mallory-password"}}},
		{"/keys", url.Values{"name": {"stolen"}, "scope": {"admin"}}},
		{"/users/agent1", url.Values{"action": {"role"}, "role": {"admin"}}},
	} {
		if status, _, _ := agent.post(form.path, form.v); status != http.StatusForbidden {
			t.Errorf("agent POST %s: %d, want 403", form.path, status)
		}
	}
	if after, _ := m.Users.List(ctx); len(after) != len(users) {
		t.Errorf("users went from %d to %d after refused posts", len(users), len(after))
	}
	if u, _ := m.Users.Get(ctx, "agent1"); u.Role != kith.RoleAgent {
		t.Errorf("agent1 became %s", u.Role)
	}
	keys, _ := m.Access.Keys(ctx)
	for _, k := range keys {
		if k.Name == "stolen" {
			t.Error("the agent created an API key")
		}
	}
	if n := auditCount(t, m, kith.AuditFilter{Actor: "user:agent1", Action: kith.AuditPermissionDenied}); n != 7 {
		t.Errorf("%d access.denied records for agent1, want 7", n)
	}
	// The agent reads whole profiles.
	if status, _, page := agent.do("GET", "/profiles/"+id, nil); status != http.StatusOK || !strings.Contains(page, "sofia@example.com") {
		t.Errorf("agent GET profile: %d, e-mail shown: %v", status, strings.Contains(page, "sofia@example.com"))
	}

	// The analyst sees behaviour, not the person.
	analyst := signedIn(t, m, "analyst1", "password-of-analyst")
	status, _, page := analyst.do("GET", "/profiles/"+id, nil)
	if status != http.StatusOK {
		t.Fatalf("analyst GET profile: %d", status)
	}
	for _, pii := range []string{"sofia", "Sofia", "Ramirez", "2876", "u-sofia", "caller-1"} {
		if strings.Contains(page, pii) {
			t.Errorf("the analyst's page shows %q", pii)
		}
	}
	for _, want := range []string{"car insurance", "Personal data is hidden", "Call center"} {
		if !strings.Contains(page, want) {
			t.Errorf("the analyst's page lacks %q", want)
		}
	}
	status, _, page = analyst.do("GET", "/?q="+url.QueryEscape("+19254132876"), nil)
	if status != http.StatusForbidden || !strings.Contains(page, "sees no personal data") {
		t.Errorf("analyst search by phone: %d, want 403 with a reason\n%s", status, page)
	}
	if status, loc, _ := analyst.do("GET", "/?q="+id, nil); status != http.StatusSeeOther || loc != "/profiles/"+id {
		t.Errorf("analyst search by id: %d to %q", status, loc)
	}
	// The analyst's timeline pages hide bodies too.
	if _, _, page := analyst.do("GET", "/profiles/"+id+"/timeline", nil); strings.Contains(page, "membership renewal") {
		t.Errorf("the analyst's timeline shows a call's reason")
	}

	// The marketer reads whole profiles but manages nothing.
	marketer := signedIn(t, m, "marketer1", "password-of-marketer")
	if status, _, _ := marketer.do("GET", "/profiles/"+id, nil); status != http.StatusOK {
		t.Errorf("marketer GET profile: %d", status)
	}
	if status, _, _ := marketer.do("GET", "/users", nil); status != http.StatusForbidden {
		t.Errorf("marketer GET /users: %d, want 403", status)
	}
}

func TestConsoleSignInAndForms(t *testing.T) { eachStore(t, testConsoleSignInAndForms) }

func testConsoleSignInAndForms(t *testing.T) {
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	ctx := context.Background()

	// Anonymous visitors see only the sign-in page.
	anon := newConsoleUser(t, m)
	for _, path := range []string{"/", "/profiles/prf_x", "/audit", "/users"} {
		if status, loc, _ := anon.do("GET", path, nil); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
			t.Errorf("anonymous GET %s: %d to %q", path, status, loc)
		}
	}
	if status, _, _ := anon.do("GET", "/status.json", nil); status != http.StatusUnauthorized {
		t.Errorf("anonymous GET /status.json: %d, want 401", status)
	}

	// A wrong password is refused with a message and no session.
	u := newConsoleUser(t, m)
	status, body := u.signIn("admin", "not-the-password")
	if status != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") {
		t.Errorf("wrong password: %d\n%s", status, body)
	}
	if status, _, _ := u.do("GET", "/", nil); status != http.StatusSeeOther {
		t.Errorf("after a failed sign-in GET / answered %d, want a redirect", status)
	}
	// A sign-in form posted without its token is refused.
	if status, _, _ := newConsoleUser(t, m).do("POST", "/login", url.Values{"name": {"admin"}, "password": {testAdminPassword}}); status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", status)
	}

	admin := signedIn(t, m, "admin", testAdminPassword)
	// CSRF: a form without the token, or from another site, changes nothing.
	if status, _, _ := admin.do("POST", "/users", url.Values{"name": {"eve"}, "role": {"admin"}, "password": {"eve-password-1"}}); status != http.StatusForbidden {
		t.Errorf("add user without the CSRF token: %d, want 403", status)
	}
	req, _ := http.NewRequest("POST", m.URL()+"/users", strings.NewReader(url.Values{"csrf": {admin.csrf}, "name": {"eve"},
		"role": {"admin"}, "password": {"eve-password-1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := admin.hc.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("add user from another origin: %v %v, want 403", resp.StatusCode, err)
	}
	if _, err := m.Users.Get(ctx, "eve"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("eve exists after refused posts: %v", err)
	}

	// Bad input is answered on the form with the field and reason; nothing is stored.
	status, _, page := admin.post("/users", url.Values{"name": {"bob"}, "role": {"agent"}, "password": {"short"}})
	if status != http.StatusBadRequest || !strings.Contains(page, `data-field="password"`) || !strings.Contains(page, "at least 10 characters") {
		t.Errorf("short password: %d\n%s", status, page)
	}
	if _, err := m.Users.Get(ctx, "bob"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("bob was stored despite the refusal: %v", err)
	}
	status, loc, _ := admin.post("/users", url.Values{"name": {"bob"}, "role": {"agent"}, "password": {"bob-password-1"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/users?done=") {
		t.Fatalf("add bob: %d to %q", status, loc)
	}
	status, _, page = admin.post("/users", url.Values{"name": {"bob"}, "role": {"agent"}, "password": {"bob-password-2"}})
	if status != http.StatusConflict || !strings.Contains(page, "already exists") {
		t.Errorf("adding bob twice: %d", status)
	}

	// A disabled user's session ends at once.
	bob := signedIn(t, m, "bob", "bob-password-1")
	if status, _, _ := admin.post("/users/bob", url.Values{"action": {"disable"}}); status != http.StatusSeeOther {
		t.Fatalf("disable bob: %d", status)
	}
	if status, _, _ := bob.do("GET", "/", nil); status != http.StatusSeeOther {
		t.Errorf("a disabled user's session still answers %d", status)
	}
	if status, _ := newConsoleUser(t, m).signIn("bob", "bob-password-1"); status != http.StatusUnauthorized {
		t.Errorf("a disabled user signed in: %d", status)
	}

	// Keys: the secret is shown once.
	status, _, page = admin.post("/keys", url.Values{"name": {"crm"}, "scope": {"profiles:read"}})
	if status != http.StatusCreated || !regexp.MustCompile(`data-testid="new-secret">kith_[A-Za-z0-9]+<`).MatchString(page) {
		t.Errorf("create key: %d", status)
	}
	if _, _, page := admin.do("GET", "/keys", nil); strings.Contains(page, "new-secret") {
		t.Error("the key list shows a secret again")
	}
}

func TestAuditSearchAndExport(t *testing.T) { eachStore(t, testAuditSearchAndExport) }

func testAuditSearchAndExport(t *testing.T) {
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	id := carInsuranceCustomer(t, m)
	admin := signedIn(t, m, "admin", testAdminPassword)
	admin.do("GET", "/profiles/"+id, nil)

	status, _, page := admin.do("GET", "/audit?target="+id, nil)
	if status != http.StatusOK || !strings.Contains(page, "profile.read") || !strings.Contains(page, "user:admin") {
		t.Errorf("audit search: %d\n%s", status, page)
	}
	if status, _, page := admin.do("GET", "/audit?from=yesterday", nil); status != http.StatusBadRequest || !strings.Contains(page, "is not a time") {
		t.Errorf("audit with a bad time: %d", status)
	}

	status, _, body := admin.do("GET", "/audit/export?format=csv&target="+id, nil)
	if status != http.StatusOK {
		t.Fatalf("export: %d %s", status, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 3 || rows[0][0] != "id" {
		t.Fatalf("export has %d rows: %v", len(rows), rows)
	}
	for _, r := range rows[1:] {
		if r[9] != id {
			t.Errorf("exported a record about %q, want only %s", r[9], id)
		}
	}
	if n := auditCount(t, m, kith.AuditFilter{Action: kith.AuditExport}); n != 1 {
		t.Errorf("%d audit.export records, want 1", n)
	}

	// The API answers the same search with an admin key, and refuses others.
	c := newProfileClient(t, m)
	var out struct {
		Records []struct{ Action, Actor, Target string }
	}
	c.get("/v1/audit?target="+id+"&limit=5", &out)
	if len(out.Records) == 0 || out.Records[0].Target != id {
		t.Errorf("GET /v1/audit: %+v", out)
	}
	_, secret := createKey(t, c, "reader", "profiles:read")
	if status, body := c.call("GET", "/v1/audit", secret, nil); status != http.StatusForbidden {
		t.Errorf("GET /v1/audit with profiles:read: %d %s", status, body)
	}
	status, b := c.call("GET", "/v1/audit/export?format=jsonl&action=profile.", testAPIKey, nil)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var first map[string]any
	if status != http.StatusOK || len(lines) < 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || !strings.HasPrefix(first["action"].(string), "profile.") {
		t.Errorf("jsonl export: %d %s", status, b)
	}
}

func createKey(t *testing.T, c *profileClient, name string, scopes ...string) (id, secret string) {
	t.Helper()
	status, body := c.call("POST", "/v1/keys", testAPIKey, map[string]any{"name": name, "scopes": scopes})
	if status != http.StatusCreated {
		t.Fatalf("create key: %d %s", status, body)
	}
	var k struct{ ID, Secret string }
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatal(err)
	}
	return k.ID, k.Secret
}
