package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/consent"
)

// preferencesEnv is a console with the consent service and a household: a
// mother, and her daughter of 15 whose service and alert messages go to
// her.
type preferencesEnv struct {
	*consoleEnv
	consent          *consent.Service
	mother, daughter string
}

func newPreferencesEnv(t *testing.T) *preferencesEnv {
	t.Helper()
	e := newConsoleEnv(t, false)
	now := time.Now().UTC()
	born := now.AddDate(-15, 0, -10).Format("2006-01-02")
	for i, u := range []struct {
		user   string
		traits map[string]any
	}{
		{"maria", map[string]any{"name": "Maria Ramirez", "phone": "+44 7911 123451", "email": "maria@example.com"}},
		{"lucia", map[string]any{"name": "Lucia Ramirez", "phone": "+44 7911 123452", "birthday": born}},
	} {
		id := "m" + string(rune('1'+i))
		p, _ := json.Marshal(map[string]any{"type": "identify", "messageId": id, "userId": u.user, "timestamp": now.Format(time.RFC3339Nano),
			"traits": u.traits})
		e.pending = append(e.pending, kith.Event{MessageID: id, Type: kith.TypeIdentify, SourceID: e.src.ID, Channel: e.src.Kind,
			UserID: u.user, Timestamp: now, ReceivedAt: now, Payload: p})
	}
	e.process()
	svc := consent.New(e.db, e.con.c.Profiles, e.db, consent.Config{}, quiet)
	cfg := e.con.c
	cfg.Consent = svc
	var err error
	if e.con, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	pe := &preferencesEnv{consoleEnv: e, consent: svc, mother: e.profileID("maria"), daughter: e.profileID("lucia")}
	ctx := kith.WithActor(t.Context(), kith.Actor{Kind: kith.ActorSystem, Via: "test"})
	if _, err := svc.Relate(ctx, kith.Relationship{From: pe.mother, To: pe.daughter, Kind: kith.RelationGuardian, Recipient: true}); err != nil {
		t.Fatal(err)
	}
	return pe
}

// panel is the Preferences panel of the daughter's page as role sees it.
func (e *preferencesEnv) panel(role kith.Role, query string) (int, string) {
	e.t.Helper()
	status, _, body := e.do(role, "GET", "/profiles/"+e.daughter+query, nil)
	return status, preferencesIn(body)
}

func preferencesIn(body string) string {
	return regexp.MustCompile(`(?s)<section class="card preferences".*?\n</section>`).FindString(body)
}

// cell is the grid's cell for a purpose and channel.
func cell(t *testing.T, panel, purpose, channel string) string {
	t.Helper()
	row := regexp.MustCompile(`(?s)<tr data-purpose="` + purpose + `">.*?</tr>`).FindString(panel)
	c := regexp.MustCompile(`(?s)<td class="\w+" data-channel="` + channel + `".*?</td>`).FindString(row)
	if c == "" {
		t.Fatalf("no cell for %s by %s in\n%s", purpose, channel, panel)
	}
	return c
}

func (e *preferencesEnv) recordForm(role kith.Role, fields map[string]string) url.Values {
	form := url.Values{"csrf": {e.session[role].CSRF}, "purpose": {"marketing"}, "channel": {"sms"}, "state": {"opted_out"}}
	for k, v := range fields {
		form.Set(k, v)
	}
	return form
}

// Every role that reads profiles sees the panel; the addresses only with
// personal data, the forms only with consent:change.
func TestPreferencesPanelByRole(t *testing.T) {
	e := newPreferencesEnv(t)
	for _, c := range []struct {
		role        kith.Role
		pii, change bool
	}{
		{kith.RoleAdmin, true, true},
		{kith.RoleAgent, true, true},
		{kith.RoleMarketer, true, false},
		{kith.RoleAnalyst, false, false},
	} {
		t.Run(string(c.role), func(t *testing.T) {
			status, panel := e.panel(c.role, "")
			if status != http.StatusOK || panel == "" {
				t.Fatalf("the daughter's page as %s: %d, panel %q", c.role, status, panel)
			}
			for _, want := range []string{`<h2 id="preferences-heading">Preferences`, `data-testid="minor"`, `data-testid="consent-grid"`,
				`data-testid="no-consents"`, `<a href="/profiles/` + e.mother + `" data-testid="guardian">`} {
				if !strings.Contains(panel, want) {
					t.Errorf("the panel as %s lacks %q", c.role, want)
				}
			}
			marketing := cell(t, panel, "marketing", "sms")
			if !strings.Contains(marketing, "Refused") || !strings.Contains(marketing, `<span class="minor-badge">minor</span>`) ||
				!strings.Contains(marketing, "No marketing to a minor") {
				t.Errorf("marketing by SMS as %s:\n%s", c.role, marketing)
			}
			alerts := cell(t, panel, "alerts", "sms")
			if !strings.Contains(alerts, "Allowed") || !strings.Contains(alerts, "Alerts messages are sent unless opted out</span>") ||
				strings.Contains(alerts, "minor-badge") {
				t.Errorf("alerts by SMS as %s:\n%s", c.role, alerts)
			}
			for _, personal := range []string{"+447911123452", "+447911123451", "maria@example.com", "15 years old", "Maria Ramirez"} {
				if got := strings.Contains(panel, personal); got != c.pii {
					t.Errorf("the panel as %s shows %s: %v, want %v", c.role, personal, got, c.pii)
				}
			}
			if c.pii {
				if !strings.Contains(alerts, `to +447911123451`) || !strings.Contains(alerts, `data-testid="consent-guardian">the guardian Maria Ramirez</span>`) || !strings.Contains(panel, "<strong>Minor</strong> — 15 years old by birthday.") {
					t.Errorf("as %s the alerts do not say the mother's number, or the banner not why:\n%s", c.role, panel)
				}
			} else if !strings.Contains(alerts, "to (hidden)") || !strings.Contains(alerts, `data-testid="consent-guardian">the guardian <code>`+e.mother+`</code></span>`) || !strings.Contains(panel, `<span class="muted" title="Personal data is hidden for your role">(hidden)</span>`) {
				t.Errorf("as %s the addresses are not said hidden:\n%s", c.role, panel)
			}
			for _, form := range []string{`action="/profiles/` + e.daughter + `/consents"`, `action="/profiles/` + e.daughter + `/contact-points"`} {
				if got := strings.Contains(panel, form); got != c.change {
					t.Errorf("the panel as %s has the form %s: %v, want %v", c.role, form, got, c.change)
				}
			}
			if c.change && !strings.Contains(panel, `<input type="hidden" name="csrf" value="`+e.session[c.role].CSRF+`">`) {
				t.Errorf("the forms as %s do not carry the session's CSRF token", c.role)
			}
		})
	}

	// A console without the consent service has no panel, no routes.
	plain := newConsoleEnv(t, false)
	if _, _, body := plain.do(kith.RoleAgent, "GET", "/profiles/"+e.daughter, nil); strings.Contains(body, "preferences-panel") {
		t.Errorf("a console without consent shows the panel")
	}
}

// The agent records what the mother says on the call: the decision is
// the agent's, via the call center; the page says so, and the gate
// answers from it at once.
func TestRecordConsentAsAgent(t *testing.T) {
	e := newPreferencesEnv(t)
	form := e.recordForm(kith.RoleAgent, map[string]string{"channel": "email", "state": "opted_in",
		"wording": "  newsletters to her address, please "})
	// The daughter's e-mail: an opt-in, overridden by the minor rule.
	status, loc, body := e.do(kith.RoleAgent, "POST", "/profiles/"+e.daughter+"/consents", form)
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/profiles/"+e.daughter+"?consent=cns_") || !strings.HasSuffix(loc, "#preferences") {
		t.Fatalf("the agent's decision: %d to %q\n%s", status, loc, body)
	}
	form = e.recordForm(kith.RoleAgent, map[string]string{"address": "+44 7911 123452", "wording": "no more promotional texts to Lucia's phone"})
	status, loc, body = e.do(kith.RoleAgent, "POST", "/profiles/"+e.daughter+"/consents", form)
	if status != http.StatusSeeOther {
		t.Fatalf("the agent's second decision: %d\n%s", status, body)
	}
	hist, err := e.consent.History(t.Context(), consent.Who{Profile: e.daughter})
	if err != nil || len(hist) != 2 {
		t.Fatalf("history %+v %v", hist, err)
	}
	h := hist[1]
	if h.Via != "call_center" || h.Actor != "user:user-agent" || h.State != "opted_out" || h.Address != "+447911123452" ||
		h.Wording != "no more promotional texts to Lucia's phone" || hist[0].Wording != "newsletters to her address, please" {
		t.Errorf("recorded %+v", hist)
	}

	u, _ := url.Parse(loc)
	_, panel := e.panel(kith.RoleAgent, "?"+u.RawQuery)
	if want := `<p class="ok" role="status" data-testid="preferences-notice">Recorded: Opted out of marketing by SMS at +447911123452, via call center.</p>`; !strings.Contains(panel, want) {
		t.Errorf("the page after recording lacks %s\n%s", want, panel)
	}
	rows := regexp.MustCompile(`(?s)<tr data-consent="cns_\w+" data-state="(\w+)">.*?</tr>`).FindAllStringSubmatch(panel, -1)
	if len(rows) != 2 || rows[0][1] != "opted_out" || rows[1][1] != "opted_in" {
		t.Fatalf("the history rows, newest first: %q", rows)
	}
	for _, want := range []string{`<td data-testid="consent-for">Marketing by SMS at +447911123452</td>`,
		`<span class="cs cs-opted_out" data-testid="consent-state">Opted out</span>`, `<td data-testid="consent-via">call center</td>`,
		`<td data-testid="consent-by">user-agent</td>`, `<td class="small" data-testid="consent-wording">no more promotional texts to Lucia's phone</td>`} {
		if !strings.Contains(rows[0][0], want) {
			t.Errorf("the newest history line lacks %s\n%s", want, rows[0][0])
		}
	}
	if c := cell(t, panel, "marketing", "email"); !strings.Contains(c, "Refused") || !strings.Contains(c, "minor") {
		t.Errorf("the minor's opt-in let marketing e-mail through:\n%s", c)
	}
	// The analyst sees the lines, not the address or the wording.
	_, panel = e.panel(kith.RoleAnalyst, "")
	if strings.Contains(panel, "Lucia's phone") || strings.Contains(panel, "+447911123452") ||
		!strings.Contains(panel, `<td data-testid="consent-for">Marketing by SMS at (hidden)</td>`) {
		t.Errorf("the analyst's history:\n%s", panel)
	}

	// A contact point's status: the mother's number bounced for the
	// daughter's alerts? No: the daughter's own number is set unreachable.
	status, loc, body = e.do(kith.RoleAgent, "POST", "/profiles/"+e.daughter+"/contact-points", url.Values{"csrf": {e.session[kith.RoleAgent].CSRF},
		"channel": {"sms"}, "address": {"+44 7911 123452"}, "status": {"unreachable"}, "label": {"mobile"}, "reason": {"asked on a call"}})
	if status != http.StatusSeeOther || loc != "/profiles/"+e.daughter+"?contact=sms#preferences" {
		t.Fatalf("the agent's contact point: %d to %q\n%s", status, loc, body)
	}
	_, panel = e.panel(kith.RoleAgent, "?contact=sms")
	for _, want := range []string{"Saved the SMS contact point +447911123452: unreachable.", `<tr data-channel="sms" data-status="unreachable">`,
		"(asked on a call)", "<td>mobile</td>", `<span class="muted">by user-agent</span>`} {
		if !strings.Contains(panel, want) {
			t.Errorf("after setting the contact point the panel lacks %s", want)
		}
	}
	// Each contact point's row changes its status in one step, keeping
	// its label.
	row := regexp.MustCompile(`(?s)<tr data-channel="sms" data-status="unreachable">.*?</tr>`).FindString(panel)
	for _, want := range []string{`<input type="hidden" name="address" value="+447911123452">`, `<input type="hidden" name="label" value="mobile">`,
		`<option value="unreachable" selected>unreachable</option>`} {
		if !strings.Contains(row, want) {
			t.Errorf("the row's status form lacks %s\n%s", want, row)
		}
	}
	status, _, _ = e.do(kith.RoleAgent, "POST", "/profiles/"+e.daughter+"/contact-points", url.Values{"csrf": {e.session[kith.RoleAgent].CSRF},
		"channel": {"sms"}, "address": {"+447911123452"}, "label": {"mobile"}, "status": {"verified"}})
	cps, err := e.consent.ContactPoints(t.Context(), consent.Who{Profile: e.daughter})
	if status != http.StatusSeeOther || err != nil || len(cps) != 1 || cps[0].Status != "verified" || cps[0].Label != "mobile" || cps[0].Reason != "" {
		t.Errorf("the row's status change: %d, %+v %v", status, cps, err)
	}
	if _, panel := e.panel(kith.RoleMarketer, ""); strings.Contains(panel, "status-change") {
		t.Errorf("the marketer may change a contact point's status")
	}

	recs, err := e.db.Audit(t.Context(), kith.AuditFilter{Target: e.daughter, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range recs {
		if strings.HasPrefix(r.Action, "consent.") && r.Actor.Name == "user-agent" {
			actions = append(actions, r.Action)
		}
	}
	if strings.Join(actions, " ") != "consent.contact consent.contact consent.record consent.record" {
		t.Errorf("audited as the agent: %q", actions)
	}
}

// A field at fault answers 400 with the reason by the field and what was
// typed kept; nothing is recorded.
func TestRecordConsentRefused(t *testing.T) {
	e := newPreferencesEnv(t)
	for _, c := range []struct {
		fields map[string]string
		field  string
		want   string
	}{
		{map[string]string{"address": "not a number", "wording": "typed on the call"}, "address", "not a number"},
		{map[string]string{"state": "maybe"}, "state", `"maybe" is not a state`},
		{map[string]string{"channel": "fax"}, "channel", `"fax" is not a channel`},
	} {
		status, _, body := e.do(kith.RoleAgent, "POST", "/profiles/"+e.daughter+"/consents", e.recordForm(kith.RoleAgent, c.fields))
		panel := preferencesIn(body)
		msg := regexp.MustCompile(`<p class="error" id="consent-` + c.field + `-error" role="alert" data-testid="consent-` + c.field + `-error">([^<]*)</p>`).FindStringSubmatch(panel)
		if status != http.StatusBadRequest || msg == nil || !strings.Contains(msg[1], c.want) {
			t.Errorf("%v: %d, the %s's error %q\n%s", c.fields, status, c.field, msg, panel)
		}
		if c.field == "address" && (!strings.Contains(panel, `value="not a number" list="known-addresses"`) ||
			!strings.Contains(panel, `>typed on the call</textarea>`) || !strings.Contains(panel, `aria-invalid="true" autofocus`)) {
			t.Errorf("the refused form did not keep what was typed:\n%s", panel)
		}
	}
	status, _, body := e.do(kith.RoleAgent, "POST", "/profiles/"+e.daughter+"/contact-points", url.Values{"csrf": {e.session[kith.RoleAgent].CSRF},
		"channel": {"sms"}, "address": {""}, "status": {"verified"}})
	if status != http.StatusBadRequest || !strings.Contains(body, `data-testid="contact-address-error">A contact point needs an address.</p>`) {
		t.Errorf("a contact point without an address: %d\n%s", status, preferencesIn(body))
	}
	if hist, err := e.consent.History(t.Context(), consent.Who{Profile: e.daughter}); err != nil || len(hist) != 0 {
		t.Errorf("refused decisions were recorded: %+v %v", hist, err)
	}
}

// Without the session's CSRF token, or from another site, or as an
// analyst or a marketer: refused, nothing recorded, the refusal audited.
func TestRecordConsentForbidden(t *testing.T) {
	e := newPreferencesEnv(t)
	path := "/profiles/" + e.daughter + "/consents"
	noToken := e.recordForm(kith.RoleAgent, nil)
	noToken.Del("csrf")
	if status, _, body := e.do(kith.RoleAgent, "POST", path, noToken); status != http.StatusForbidden || !strings.Contains(body, "This form has expired or did not come from the console") {
		t.Errorf("without the CSRF token: %d\n%s", status, body)
	}
	wrong := e.recordForm(kith.RoleAgent, nil)
	wrong.Set("csrf", e.session[kith.RoleAdmin].CSRF)
	if status, _, _ := e.do(kith.RoleAgent, "POST", path, wrong); status != http.StatusForbidden {
		t.Errorf("with another session's token: %d", status)
	}
	for _, role := range []kith.Role{kith.RoleAnalyst, kith.RoleMarketer} {
		status, _, body := e.do(role, "POST", path, e.recordForm(role, nil))
		if status != http.StatusForbidden || !strings.Contains(body, "may not do this (it needs the consent:change permission)") {
			t.Errorf("as %s: %d\n%s", role, status, body)
		}
		status, _, _ = e.do(role, "POST", "/profiles/"+e.daughter+"/contact-points", url.Values{"csrf": {e.session[role].CSRF},
			"channel": {"sms"}, "address": {"+447911123452"}, "status": {"bounced"}})
		if status != http.StatusForbidden {
			t.Errorf("a contact point as %s: %d", role, status)
		}
	}
	if status, loc, _ := e.do("", "POST", path, e.recordForm(kith.RoleAgent, nil)); status != http.StatusUnauthorized && status != http.StatusSeeOther {
		t.Errorf("signed out: %d to %s", status, loc)
	}
	if hist, err := e.consent.History(t.Context(), consent.Who{Profile: e.daughter}); err != nil || len(hist) != 0 {
		t.Errorf("refused decisions were recorded: %+v %v", hist, err)
	}
	cps, err := e.consent.ContactPoints(t.Context(), consent.Who{Profile: e.daughter})
	if err != nil || len(cps) != 0 {
		t.Errorf("refused contact points were set: %+v %v", cps, err)
	}
	denied, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditPermissionDenied, Limit: 10})
	if err != nil || len(denied) != 4 {
		t.Errorf("refusals audited: %+v %v", denied, err)
	}
}
