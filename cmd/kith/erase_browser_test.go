package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserErase: a person asks to be forgotten, in headless Chromium.
// An agent on their page sees no way to erase them. An admin at the foot
// of it gives the ticket as the reason; a confirmation that is not the
// profile id is refused by the field, nothing erased; with the id typed,
// the person is erased and the page says so with the erasure's id and
// counts. The API no longer knows them; the other person is untouched.
func TestBrowserErase(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, web := c.createSource("website", "web")
	// Ann browses before she signs in: two profiles, merged into one.
	c.send(web,
		msg("track", "e0", t0, map[string]any{"anonymousId": "dev-ann", "event": "Broadband Viewed"}),
		msg("identify", "e1", t0.Add(time.Minute), map[string]any{"userId": "er-ann",
			"traits": map[string]any{"name": "Ann Erasmus", "email": "ann.erasmus@example.com"}}),
		msg("identify", "e3", t0.Add(2*time.Minute), map[string]any{"userId": "er-ann", "anonymousId": "dev-ann"}),
		msg("identify", "e2", t0, map[string]any{"userId": "er-bob", "traits": map[string]any{"name": "Bob Stone", "email": "bob@example.com"}}))
	c.waitProcessed()
	ann, bob := c.lookup("user_id", "er-ann").ID, c.lookup("user_id", "er-bob").ID
	for name, role := range map[string]string{"admin1": "admin", "agent1": "agent"} {
		if _, err := m.Users.Add(t.Context(), name, role, "password-of-"+name); err != nil {
			t.Fatal(err)
		}
	}
	browser := newBrowser(t, chromium)

	// The agent sees her page, without the section.
	desk := openConsoleTab(t, browser, m.URL())
	signInAs(desk, "agent1")
	if resp := desk.navigate("/profiles/" + ann); resp.Status != 200 {
		t.Fatalf("Ann's page as the agent answered %d", resp.Status)
	}
	if got := desk.text(`[data-testid="customer-name"]`); got != "Ann Erasmus" {
		t.Fatalf("the agent's page names %q", got)
	}
	if evalIn[bool](desk, `!!document.querySelector('[data-testid="erase-panel"], form[action$="/erase"]')`) {
		t.Errorf("the agent sees the section to erase the person")
	}
	desk.checkConsole(nil)

	tab := openConsoleTab(t, browser, m.URL())
	signInAs(tab, "admin1")
	if resp := tab.navigate("/profiles/" + ann); resp.Status != 200 {
		t.Fatalf("Ann's page as the admin answered %d", resp.Status)
	}
	if got := tab.text(`#erase-heading`); got != "Erase this person" {
		t.Errorf("the section's heading reads %q", got)
	}
	if got := tab.text(`[data-testid="erase-panel"] p`); !strings.Contains(got, "cannot be undone") || !strings.Contains(got, "A record that it happened stays") {
		t.Errorf("the section says %q", got)
	}
	if got := tab.text(`[data-testid="erase-word"]`); got != ann {
		t.Errorf("the word to type is %q, want the profile id %s", got, ann)
	}
	last := evalIn[string](tab, `[...document.querySelectorAll("main > section")].at(-1).dataset.testid ?? ""`)
	if last != "erase-panel" {
		t.Errorf("the last section of the page is %q, want the erase section", last)
	}
	tab.checkAssets()
	tab.checkConsole(nil)
	tab.screenshot("erase-section.png")

	// A wrong confirmation: refused by the field, what was typed kept.
	tab.retype("#erase-reason", "request 2026-114")
	tab.retype("#erase-confirm", "Ann Erasmus")
	resp := tab.follow(chromedp.Click(chromedp.CSS("#erase-person")))
	if loc := tab.location(); resp.Status != 400 || loc.Path != "/profiles/"+ann+"/erase" {
		t.Errorf("a wrong confirmation answered %d at %s, want 400", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="erase-confirm-error"]`); !strings.HasPrefix(got, "That is not this person's profile id; type "+ann) {
		t.Errorf("the confirmation's error says %q", got)
	}
	kept := evalIn[[]string](tab, `[document.getElementById("erase-reason").value, document.getElementById("erase-confirm").value, document.activeElement.id]`)
	if len(kept) != 3 || kept[0] != "request 2026-114" || kept[1] != "Ann Erasmus" || kept[2] != "erase-confirm" {
		t.Errorf("the refused form kept %q", kept)
	}
	if status, _ := c.call("GET", "/v1/profiles/"+ann, testAPIKey, nil); status != http.StatusOK {
		t.Fatalf("after a wrong confirmation Ann's profile answers %d", status)
	}
	tab.checkConsole([]string{m.URL() + "/profiles/" + ann + "/erase"})

	// The profile id typed: erased.
	tab.retype("#erase-confirm", ann)
	resp = tab.follow(chromedp.Click(chromedp.CSS("#erase-person")))
	loc := tab.location()
	if resp.Status != 200 || !strings.HasPrefix(loc.Path, "/erasures/era_") {
		t.Fatalf("erasing answered %d at %s, want the erasure's page", resp.Status, loc)
	}
	id := strings.TrimPrefix(loc.Path, "/erasures/")
	if got := tab.text("h1"); got != "The person was erased" {
		t.Errorf("the erasure's page is headed %q", got)
	}
	if got := tab.text(`[data-testid="erasure-id"]`); got != id {
		t.Errorf("the page names the erasure %q, want %s", got, id)
	}
	if got := tab.text(`[data-testid="erased-summary"]`); !strings.Contains(got, "by admin1") {
		t.Errorf("the page says %q", got)
	}
	if got := tab.text(`[data-testid="erasure-reason"]`); got != "request 2026-114" {
		t.Errorf("the reason reads %q", got)
	}
	counts := evalIn[map[string]string](tab, `Object.fromEntries([...document.querySelectorAll('[data-testid="erased-counts"] tbody tr')].map((r) => [r.dataset.count, r.querySelector(".num").innerText]))`)
	if counts["profiles"] != "2" || counts["events"] != "3" || counts["identifiers"] == "0" || counts["identifiers"] == "" {
		t.Errorf("the counts shown: %v", counts)
	}
	if html := evalIn[string](tab, `document.documentElement.outerHTML`); strings.Contains(html, "Erasmus") || strings.Contains(html, "ann.erasmus@") {
		t.Errorf("the erasure's page shows Ann's personal data")
	}
	tab.checkAssets()
	tab.checkConsole(nil)
	tab.screenshot("erased.png")

	// The API no longer knows her; Bob is untouched.
	if status, b := c.call("GET", "/v1/profiles/"+ann, testAPIKey, nil); status != http.StatusNotFound {
		t.Errorf("Ann's profile after the erasure: %d %s", status, b)
	}
	if status, _ := c.call("GET", "/v1/profiles/"+bob, testAPIKey, nil); status != http.StatusOK {
		t.Errorf("Bob's profile after Ann's erasure: %d", status)
	}
	var e struct {
		State, Reason, By string
	}
	c.get("/v1/erasures/"+id, &e)
	if e.State != "done" || e.Reason != "request 2026-114" || e.By != "user:admin1" {
		t.Errorf("the erasure over the API: %+v", e)
	}

	// Back to search.
	resp = tab.follow(chromedp.Click(chromedp.CSS("#back-to-search")))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/" {
		t.Errorf("back to search answered %d at %s", resp.Status, loc)
	}
	tab.checkConsole(nil)
}
