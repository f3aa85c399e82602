package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// TestBrowserPreferences is Situation 5 in headless Chromium: during a
// call a mother asks that promotional texts stop going to her daughter of
// 15, whose alerts go to her. The agent opens the daughter's page, records
// the opt-out from the Preferences panel, and sees it in the history as
// theirs through the call center; the grid says marketing by SMS is
// refused (minor) and alerts by SMS go to the mother's number. A number
// the form cannot read is refused by the address, with what was typed
// kept.
func TestBrowserPreferences(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	c := newProfileClient(t, m)
	_, crm := c.createSource("callcenter-crm", "call_center")
	born := time.Now().AddDate(-15, -2, 0).Format("2006-01-02")
	c.send(crm,
		msg("identify", "p1", t0, map[string]any{"userId": "pref-maria", "traits": map[string]any{"name": "Maria Ramirez", "phone": "+44 7911 123451"}}),
		msg("identify", "p2", t0, map[string]any{"userId": "pref-lucia", "traits": map[string]any{"name": "Lucia Ramirez", "phone": "+44 7911 123452", "birthday": born}}))
	c.waitProcessed()
	mother, daughter := c.lookup("user_id", "pref-maria").ID, c.lookup("user_id", "pref-lucia").ID
	if status, b := c.call("POST", "/v1/relationships", testAPIKey, map[string]any{"from": mother, "to": daughter, "kind": "guardian",
		"household": "Ramirez", "recipient": true}); status != http.StatusOK {
		t.Fatalf("relate: %d %s", status, b)
	}
	if _, err := m.Users.Add(t.Context(), "agent1", "agent", "password-of-agent1"); err != nil {
		t.Fatal(err)
	}
	tab := openConsoleTab(t, newBrowser(t, chromium), m.URL())
	signInAs(tab, "agent1")

	resp := tab.navigate("/profiles/" + daughter)
	if resp.Status != 200 {
		t.Fatalf("the daughter's page answered %d", resp.Status)
	}
	if got := tab.text(`[data-testid="minor"]`); !strings.HasPrefix(got, "Minor — 15 years old by birthday.") || !strings.Contains(got, "go to the guardian Maria Ramirez") {
		t.Errorf("the minor's banner says %q", got)
	}
	if got := tab.text(`[data-testid="no-consents"]`); !strings.HasPrefix(got, "No decision recorded") {
		t.Errorf("before any decision the history says %q", got)
	}
	tab.checkAssets()
	tab.checkConsole(nil)

	// A number the form cannot read: refused by the address, kept.
	fill := func(address string) {
		t.Helper()
		err := chromedp.Do(tab.ctx,
			chromedp.SetValue(chromedp.CSS("#consent-purpose"), "marketing"),
			chromedp.SetValue(chromedp.CSS("#consent-channel"), "sms"),
			chromedp.Click(chromedp.CSS(`#record-consent input[name="state"][value="opted_out"]`)))
		if err != nil {
			t.Fatal(err)
		}
		tab.retype("#consent-address", address)
		tab.retype("#consent-wording", "no more promotional texts to Lucia's phone")
	}
	fill("her number")
	resp = tab.follow(chromedp.Click(chromedp.CSS("#record-decision")))
	if loc := tab.location(); resp.Status != 400 || loc.Path != "/profiles/"+daughter+"/consents" {
		t.Errorf("a bad number answered %d at %s, want 400", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="consent-address-error"]`); !strings.HasPrefix(got, "Not a phone number") {
		t.Errorf("the address's error says %q", got)
	}
	kept := evalIn[[]string](tab, `[document.getElementById("consent-address").value, document.getElementById("consent-wording").value,
	  document.activeElement.id, document.querySelector('#record-consent input[name="state"]:checked').value]`)
	if want := []string{"her number", "no more promotional texts to Lucia's phone", "consent-address", "opted_out"}; !slices.Equal(kept, want) {
		t.Errorf("the refused form kept %q, want %q", kept, want)
	}
	tab.checkConsole([]string{m.URL() + "/profiles/" + daughter + "/consents"})

	// Her number: recorded, back on her page.
	fill("+44 7911 123452")
	resp = tab.follow(chromedp.Click(chromedp.CSS("#record-decision")))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/profiles/"+daughter || !strings.HasPrefix(loc.RawQuery, "consent=cns_") || loc.Fragment != "preferences" {
		t.Fatalf("recording answered %d at %s, want the daughter's page", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="preferences-notice"]`); got != "Recorded: Opted out of marketing by SMS at +447911123452, via call center." {
		t.Errorf("the page says %q after recording", got)
	}
	got := evalIn[[]shownConsent](tab, shownConsentsJS)
	want := []shownConsent{{For: "Marketing by SMS at +447911123452", State: "Opted out", Via: "call center", By: "agent1",
		Wording: "no more promotional texts to Lucia's phone"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the history shows (-want +got):\n%s", diff)
	}
	marketing := evalIn[shownCell](tab, shownCellJS("marketing", "sms"))
	if marketing.Verdict != "Refused" || !marketing.Minor || !strings.HasPrefix(marketing.Reason, "No marketing to a minor") {
		t.Errorf("marketing by SMS shows %+v, want refused, minor", marketing)
	}
	alerts := evalIn[shownCell](tab, shownCellJS("alerts", "sms"))
	if want := (shownCell{Verdict: "Allowed", To: "to +447911123451", Guardian: "the guardian Maria Ramirez",
		Reason: "Alerts messages are sent unless opted out"}); alerts != want {
		t.Errorf("alerts by SMS show %+v, want %+v", alerts, want)
	}
	tab.checkAssets()
	tab.checkConsole(nil)
	tab.screenshot("preferences.png")

	// The number's row changes its status in one step.
	if err := chromedp.Do(tab.ctx, chromedp.SetValue(chromedp.CSS(`tr[data-channel="sms"] select[name="status"]`), "verified")); err != nil {
		t.Fatal(err)
	}
	resp = tab.follow(chromedp.Click(chromedp.CSS(`tr[data-channel="sms"] .status-change button`)))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/profiles/"+daughter || loc.RawQuery != "contact=sms" {
		t.Errorf("the status change answered %d at %s", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="preferences-notice"]`); got != "Saved the SMS contact point +447911123452: verified." {
		t.Errorf("the page says %q after the status change", got)
	}
	if got := tab.text(`tr[data-channel="sms"] [data-testid="contact-status"]`); got != "verified" {
		t.Errorf("the SMS row's status reads %q", got)
	}
	tab.checkConsole(nil)

	// The API agrees: the agent's decision, through the call center.
	var h struct {
		Consents []struct{ State, Via, Actor string }
	}
	c.get("/v1/profiles/"+daughter+"/consents", &h)
	if len(h.Consents) != 1 || h.Consents[0].Via != "call_center" || h.Consents[0].Actor != "user:agent1" || h.Consents[0].State != "opted_out" {
		t.Errorf("the API's history: %+v", h)
	}
}

// shownConsent is a line of the Preferences panel's history as the
// browser draws it.
type shownConsent struct {
	For     string `json:"for"`
	State   string `json:"state"`
	Via     string `json:"via"`
	By      string `json:"by"`
	Wording string `json:"wording"`
}

const shownConsentsJS = `[...document.querySelectorAll('[data-testid="consent-history"] tbody tr')].map((r) => {
  const q = (s) => r.querySelector('[data-testid="' + s + '"]')?.innerText.trim() ?? "";
  return {for: q("consent-for"), state: q("consent-state"), via: q("consent-via"), by: q("consent-by"), wording: q("consent-wording")};
})`

// shownCell is a cell of the Preferences panel's grid as the browser
// draws it.
type shownCell struct {
	Verdict  string `json:"verdict"`
	Minor    bool   `json:"minor"`
	To       string `json:"to"`
	Reason   string `json:"reason"`
	Guardian string `json:"guardian"`
}

func shownCellJS(purpose, channel string) string {
	return `(() => {
  const c = document.querySelector('[data-testid="consent-grid"] tr[data-purpose="` + purpose + `"] td[data-channel="` + channel + `"]');
  if (!c) return {};
  const q = (s) => c.querySelector(s)?.innerText.trim() ?? "";
  return {verdict: q(".verdict"), minor: !!c.querySelector(".minor-badge"), to: q('[data-testid="consent-to"]'), reason: q('[data-testid="consent-reason"]'),
    guardian: q('[data-testid="consent-guardian"]')};
})()`
}
