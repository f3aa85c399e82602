package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/erasure"
)

// eraseEnv is a console with the erasure service and two people: Ann, to
// be erased, and Bob, who stays.
type eraseEnv struct {
	*consoleEnv
	erasure  *erasure.Service
	ann, bob string
}

func newEraseEnv(t *testing.T, cfg erasure.Config) *eraseEnv {
	t.Helper()
	e := newConsoleEnv(t, false)
	e.identify("ann", "m1", map[string]any{"name": "Ann Example", "email": "ann@example.com", "phone": "+44 7911 123450", "plan": "tv"})
	e.identify("bob", "m2", map[string]any{"name": "Bob Example", "email": "bob@example.com"})
	e.process()
	svc := erasure.New(e.db, e.proc, e.db, e.db, e.db, cfg, quiet)
	c := e.con.c
	c.Erasure = svc
	var err error
	if e.con, err = New(c); err != nil {
		t.Fatal(err)
	}
	return &eraseEnv{consoleEnv: e, erasure: svc, ann: e.profileID("ann"), bob: e.profileID("bob")}
}

// identify adds an identify event of user's to the events process appends.
func (e *consoleEnv) identify(user, id string, traits map[string]any) {
	now := time.Now().UTC()
	p, _ := json.Marshal(map[string]any{"type": "identify", "messageId": id, "userId": user, "timestamp": now.Format(time.RFC3339Nano),
		"traits": traits})
	e.pending = append(e.pending, kith.Event{MessageID: id, Type: kith.TypeIdentify, SourceID: e.src.ID, Channel: e.src.Kind,
		UserID: user, Timestamp: now, ReceivedAt: now, Payload: p})
}

func (e *eraseEnv) eraseForm(role kith.Role, reason, confirm string) url.Values {
	return url.Values{"csrf": {e.session[role].CSRF}, "reason": {reason}, "confirm": {confirm}}
}

// exists reports whether the profile can still be read.
func (e *eraseEnv) exists(id string) bool {
	e.t.Helper()
	ctx := kith.WithActor(e.t.Context(), kith.Actor{Kind: kith.ActorSystem, Via: "test"})
	_, err := e.con.c.Profiles.Customer(ctx, id, 1)
	if err != nil && !kith.IsCode(err, kith.ENOTFOUND) {
		e.t.Fatal(err)
	}
	return err == nil
}

func (e *eraseEnv) erasures() []kith.Erasure {
	e.t.Helper()
	es, err := e.erasure.List(e.t.Context(), time.Time{}, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

func erasePanelIn(body string) string {
	return regexp.MustCompile(`(?s)<section class="card erase".*?\n</section>`).FindString(body)
}

// Only an admin sees the section; a console without the erasure service
// shows it to nobody.
func TestErasePanelByRole(t *testing.T) {
	e := newEraseEnv(t, erasure.Config{})
	for _, c := range []struct {
		role kith.Role
		see  bool
	}{
		{kith.RoleAdmin, true},
		{kith.RoleAgent, false},
		{kith.RoleMarketer, false},
		{kith.RoleAnalyst, false},
	} {
		status, _, body := e.do(c.role, "GET", "/profiles/"+e.ann, nil)
		if status != http.StatusOK {
			t.Fatalf("Ann's page as %s: %d", c.role, status)
		}
		panel := erasePanelIn(body)
		if got := panel != "" || strings.Contains(body, "/erase\""); got != c.see {
			t.Errorf("as %s the section is shown: %v, want %v", c.role, got, c.see)
		}
		if !c.see {
			continue
		}
		for _, want := range []string{`<h2 id="erase-heading">Erase this person</h2>`, "cannot be undone", "A record that it happened stays",
			`<form method="post" action="/profiles/` + e.ann + `/erase" id="erase-form"`,
			`<input type="hidden" name="csrf" value="` + e.session[c.role].CSRF + `">`,
			`<input id="erase-reason" name="reason" maxlength="500"`, "Never personal data",
			`type the profile id <code data-testid="erase-word">` + e.ann + `</code>`, `<input id="erase-confirm" name="confirm"`} {
			if !strings.Contains(panel, want) {
				t.Errorf("the section as %s lacks %s\n%s", c.role, want, panel)
			}
		}
		// At the foot of the page, after the timeline.
		if strings.Index(body, `data-testid="timeline"`) > strings.Index(body, `data-testid="erase-panel"`) {
			t.Errorf("the section is not after the timeline")
		}
	}

	plain := newConsoleEnv(t, false)
	plain.identify("ann", "m1", map[string]any{"name": "Ann Example"})
	plain.process()
	_, _, body := plain.do(kith.RoleAdmin, "GET", "/profiles/"+plain.profileID("ann"), nil)
	if strings.Contains(body, "erase-panel") {
		t.Errorf("a console without the erasure service shows the section")
	}
	if status, _, _ := plain.do(kith.RoleAdmin, "POST", "/profiles/"+plain.profileID("ann")+"/erase",
		url.Values{"csrf": {plain.session[kith.RoleAdmin].CSRF}, "confirm": {plain.profileID("ann")}}); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		t.Errorf("erasing on a console without the service: %d", status)
	}
}

// An admin who types the profile id erases the person: the answer is the
// erasure's page with its counts; the profile is gone, the other person
// is not, and the erasure is the admin's with the reason given.
func TestEraseAsAdmin(t *testing.T) {
	e := newEraseEnv(t, erasure.Config{})
	status, loc, body := e.do(kith.RoleAdmin, "POST", "/profiles/"+e.ann+"/erase", e.eraseForm(kith.RoleAdmin, "  request 2026-114 ", " "+e.ann+" "))
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/erasures/era_") {
		t.Fatalf("erasing as admin: %d to %q\n%s", status, loc, body)
	}
	es := e.erasures()
	if len(es) != 1 {
		t.Fatalf("erasures: %+v", es)
	}
	er := es[0]
	if loc != "/erasures/"+er.ID || er.State != kith.ErasureDone || er.Reason != "request 2026-114" || er.By != "user:user-admin" ||
		er.Profiles[0] != e.ann || er.Removed.Profiles != 1 || er.Removed.Events != 1 {
		t.Errorf("the erasure: %+v, answered with %s", er, loc)
	}
	if e.exists(e.ann) || !e.exists(e.bob) {
		t.Errorf("after the erasure Ann's profile exists: %v, Bob's: %v", e.exists(e.ann), e.exists(e.bob))
	}
	if status, _, _ := e.do(kith.RoleAdmin, "GET", "/profiles/"+e.ann, nil); status != http.StatusNotFound {
		t.Errorf("Ann's page after the erasure: %d", status)
	}

	status, _, body = e.do(kith.RoleAdmin, "GET", loc, nil)
	if status != http.StatusOK {
		t.Fatalf("the erasure's page: %d\n%s", status, body)
	}
	for _, want := range []string{"<h1>The person was erased</h1>", `<code data-testid="erasure-id">` + er.ID + `</code>`, "by user-admin",
		`<dd data-testid="erasure-reason">request 2026-114</dd>`, `<tr data-count="profiles"><td>Profiles</td><td class="num">1</td></tr>`,
		`<tr data-count="events"><td>Events</td><td class="num">1</td></tr>`,
		`<tr data-count="identifiers"><td>Identifiers</td><td class="num">` + strconv.Itoa(er.Removed.Identifiers) + `</td></tr>`,
		`<a href="/" class="button" id="back-to-search">`} {
		if !strings.Contains(body, want) {
			t.Errorf("the erasure's page lacks %s", want)
		}
	}
	for _, personal := range []string{"Ann Example", "ann@example.com"} {
		if strings.Contains(body, personal) {
			t.Errorf("the erasure's page shows %s", personal)
		}
	}
	if status, _, _ := e.do(kith.RoleAdmin, "GET", "/erasures/era_nonesuch", nil); status != http.StatusNotFound {
		t.Errorf("an unknown erasure: %d", status)
	}

	recs, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditProfileErase, Limit: 10})
	if err != nil || len(recs) != 1 || recs[0].Actor.Name != "user-admin" || recs[0].Target != e.ann {
		t.Errorf("audited: %+v %v", recs, err)
	}
}

// A confirmation that is not the profile id, or none, draws the page again
// with the error by the field and what was typed kept: nothing erased.
func TestEraseConfirmation(t *testing.T) {
	e := newEraseEnv(t, erasure.Config{})
	for _, c := range []struct {
		confirm, want string
	}{
		{"", "Type the profile id " + e.ann + " to confirm; nothing was erased."},
		{"yes", "That is not this person's profile id; type " + e.ann + " to confirm. Nothing was erased."},
		{e.bob, "That is not this person's profile id"},
		{strings.ToUpper(e.ann), "That is not this person's profile id"},
	} {
		status, _, body := e.do(kith.RoleAdmin, "POST", "/profiles/"+e.ann+"/erase", e.eraseForm(kith.RoleAdmin, "ticket 7", c.confirm))
		panel := erasePanelIn(body)
		msg := regexp.MustCompile(`<p class="error" id="erase-confirm-error" role="alert" data-testid="erase-confirm-error">([^<]*)</p>`).FindStringSubmatch(panel)
		if status != http.StatusBadRequest || msg == nil || !strings.HasPrefix(msg[1], c.want) {
			t.Errorf("confirming with %q: %d, the error %q\n%s", c.confirm, status, msg, panel)
		}
		for _, want := range []string{`value="ticket 7"`, `value="` + c.confirm + `"`, `aria-invalid="true" aria-describedby="erase-confirm-error" autofocus`,
			`data-testid="customer-name">Ann Example</h1>`} {
			if !strings.Contains(body, want) {
				t.Errorf("confirming with %q: the page lacks %s", c.confirm, want)
			}
		}
	}
	// The confirmation of another person's page does not erase this one.
	if status, _, _ := e.do(kith.RoleAdmin, "POST", "/profiles/"+e.bob+"/erase", e.eraseForm(kith.RoleAdmin, "", e.ann)); status != http.StatusBadRequest {
		t.Errorf("Bob's page confirmed with Ann's id: %d", status)
	}
	// A reason longer than 500 characters: by the reason, nothing erased.
	status, _, body := e.do(kith.RoleAdmin, "POST", "/profiles/"+e.ann+"/erase", e.eraseForm(kith.RoleAdmin, strings.Repeat("x", 501), e.ann))
	if status != http.StatusBadRequest || !strings.Contains(body, `data-testid="erase-reason-error">A reason is at most 500 characters (501 given).</p>`) {
		t.Errorf("a reason of 501 characters: %d\n%s", status, erasePanelIn(body))
	}
	if !e.exists(e.ann) || !e.exists(e.bob) || len(e.erasures()) != 0 {
		t.Errorf("a refused confirmation erased: Ann %v, Bob %v, erasures %+v", e.exists(e.ann), e.exists(e.bob), e.erasures())
	}
}

// A reason is kept after the person is gone, so one that holds their
// identifiers or personal traits is refused by the field: nothing erased.
func TestErasePersonalReason(t *testing.T) {
	e := newEraseEnv(t, erasure.Config{})
	p, _, links, err := e.con.c.Profiles.Person(t.Context(), e.ann)
	if err != nil {
		t.Fatal(err)
	}
	for reason, what := range map[string]string{
		"asked by ANN@example.com":         "email",
		"call from +44 (7911) 123-450":     "phone",
		"Ann  Example wants out":           "name",
		"user ann asked by mail, ann@x.io": "", // too short to name her
		"request 2026-114, plan tv":        "",
	} {
		if got := personalIn(reason, p, links); got != what {
			t.Errorf("personalIn(%q) = %q, want %q", reason, got, what)
		}
		if what == "" {
			continue
		}
		status, _, body := e.do(kith.RoleAdmin, "POST", "/profiles/"+e.ann+"/erase", e.eraseForm(kith.RoleAdmin, reason, e.ann))
		want := `data-testid="erase-reason-error">The reason stays after the person is gone, so it may not hold their personal data, and it holds their ` + what + `. Nothing was erased.</p>`
		if status != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("reason %q: %d, want the error by the reason naming %s\n%s", reason, status, what, erasePanelIn(body))
		}
	}
	if !e.exists(e.ann) || len(e.erasures()) != 0 {
		t.Errorf("a reason with personal data erased: %v %+v", e.exists(e.ann), e.erasures())
	}
}

// Agents, marketers and analysts may not erase: 403, nothing erased, each
// refusal audited as access.denied. Nor may anyone without the session's
// CSRF token.
func TestEraseForbidden(t *testing.T) {
	e := newEraseEnv(t, erasure.Config{})
	path := "/profiles/" + e.ann + "/erase"
	for _, role := range []kith.Role{kith.RoleAgent, kith.RoleMarketer, kith.RoleAnalyst} {
		status, _, body := e.do(role, "POST", path, e.eraseForm(role, "", e.ann))
		if status != http.StatusForbidden || !strings.Contains(body, "may not do this (it needs the profiles:erase permission)") {
			t.Errorf("erasing as %s: %d\n%s", role, status, body)
		}
	}
	noToken := e.eraseForm(kith.RoleAdmin, "", e.ann)
	noToken.Del("csrf")
	if status, _, body := e.do(kith.RoleAdmin, "POST", path, noToken); status != http.StatusForbidden || !strings.Contains(body, "did not come from the console") {
		t.Errorf("without the CSRF token: %d\n%s", status, body)
	}
	if status, loc, _ := e.do("", "POST", path, e.eraseForm(kith.RoleAdmin, "", e.ann)); status != http.StatusUnauthorized {
		t.Errorf("signed out: %d to %s", status, loc)
	}
	if !e.exists(e.ann) || len(e.erasures()) != 0 {
		t.Fatalf("a refused request erased Ann: %v %+v", e.exists(e.ann), e.erasures())
	}
	denied, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditPermissionDenied, Limit: 10})
	if err != nil || len(denied) != 3 {
		t.Fatalf("refusals audited: %+v %v", denied, err)
	}
	for _, d := range denied {
		if d.Target != path || d.Detail != "POST" || d.Actor.Name == "user-admin" {
			t.Errorf("refusal audited as %+v", d)
		}
	}
	// The erasure's page is the admin's too.
	if _, _, _ = e.do(kith.RoleAdmin, "POST", path, e.eraseForm(kith.RoleAdmin, "", e.ann)); len(e.erasures()) != 1 {
		t.Fatalf("the admin did not erase Ann")
	}
	if status, _, _ := e.do(kith.RoleAgent, "GET", "/erasures/"+e.erasures()[0].ID, nil); status != http.StatusForbidden {
		t.Errorf("the erasure's page as an agent: %d", status)
	}
}

// A refusal of the service, here the processor behind the log, draws the
// page again with its message and the erasure it left to finish.
func TestEraseUnavailable(t *testing.T) {
	e := newEraseEnv(t, erasure.Config{CatchUp: 20 * time.Millisecond})
	e.identify("carol", "m3", map[string]any{"name": "Carol"})
	if _, err := e.db.Append(t.Context(), e.pending); err != nil { // in the log, not yet applied
		t.Fatal(err)
	}
	e.pending = nil
	status, _, body := e.do(kith.RoleAdmin, "POST", "/profiles/"+e.ann+"/erase", e.eraseForm(kith.RoleAdmin, "ticket 9", e.ann))
	es := e.erasures()
	if len(es) != 1 || es[0].State != kith.ErasurePending {
		t.Fatalf("erasures after the refusal: %+v", es)
	}
	panel := erasePanelIn(body)
	if status != http.StatusServiceUnavailable || !strings.Contains(panel, `<p class="error" role="alert" data-testid="erase-error">The profile processor is 1 events behind the log`) ||
		!strings.Contains(panel, "The erasure <code>"+es[0].ID+"</code> is recorded and finishes on its own") || !strings.Contains(panel, `value="ticket 9"`) {
		t.Errorf("the processor behind: %d\n%s", status, panel)
	}
	if !e.exists(e.ann) {
		t.Errorf("Ann was erased while the processor was behind")
	}
}
