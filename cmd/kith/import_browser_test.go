package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserImport is an admin bringing in a loyalty programme's export
// from the console, in headless Chromium. From the menu to Imports, chooses
// the file: the form takes its delimiter (semicolons) and fills in the
// mapping from its header, identifiers by their names. A source left out
// is refused by its field, with the file's mapping kept; with the source
// chosen the import runs, its page follows it to the end and shows what it
// did; the rejected row is there to download with its line and reason; the
// list shows the import; and the people are in Kith, a known one joined.
// An agent has no Imports in the menu and is refused the page.
func TestBrowserImport(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	c := newProfileClient(t, m)
	_, web := c.createSource("website", "web")
	loyalty, _ := c.createSource("loyalty", "store")
	// Ann is known from the website by her e-mail address.
	c.send(web, msg("identify", "w1", t0, map[string]any{"userId": "web-ann", "traits": map[string]any{"email": "ann.loyal@example.com"}}))
	c.waitProcessed()
	for name, role := range map[string]string{"admin1": "admin", "agent1": "agent"} {
		if _, err := m.Users.Add(t.Context(), name, role, "password-of-"+name); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "loyalty-members.csv")
	csv := "Card number;E-mail;Mobile;First name;Tier\n" +
		"L-1001;ann.loyal@example.com;+14155550101;Ann;gold\n" +
		"L-1002;bob.loyal@example.com;not a phone;Bob;silver\n" +
		"L-1003;cy.loyal@example.com;;Cy;bronze\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t, chromium)

	agent := openConsoleTab(t, browser, m.URL())
	signInAs(agent, "agent1")
	if evalIn[bool](agent, `!!document.querySelector('header.top nav a[href="/imports"]')`) {
		t.Error("the agent's menu has Imports")
	}
	if resp := agent.navigate("/imports"); resp.Status != 403 {
		t.Errorf("the agent opened /imports: %d, want 403", resp.Status)
	}
	agent.checkConsole([]string{m.URL() + "/imports"})

	tab := openConsoleTab(t, browser, m.URL())
	signInAs(tab, "admin1")
	if got := evalIn[[]string](tab, `[...document.querySelectorAll("header.top nav a")].map((a) => a.textContent.trim())`); !slices.Contains(got, "Imports") {
		t.Fatalf("the admin's menu reads %q, without Imports", got)
	}
	resp := tab.follow(chromedp.Click(chromedp.CSS(`header.top nav a[href="/imports"]`)))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/imports" {
		t.Fatalf("the menu's Imports answered %d at %s", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="no-imports"]`); !strings.HasPrefix(got, "No imports on this server") {
		t.Errorf("before any import the page says %q", got)
	}
	tab.checkAssets()
	tab.checkConsole(nil)

	// Choosing the file fills in the form from its header.
	if err := chromedp.Do(tab.ctx, chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file})); err != nil {
		t.Fatal(err)
	}
	wantMap := "Card number=trait:card_number\nE-mail=identifier:email\nMobile=identifier:phone\nFirst name=trait:first_name\nTier=trait:tier"
	if _, err := chromedp.Run(tab.ctx, chromedp.Poll[bool](`document.querySelector("#import-map").value !== ""`,
		chromedp.WithPollingTimeout(3*time.Second))); err != nil {
		t.Fatalf("the mapping was not filled in: %v", err)
	}
	if got := evalIn[string](tab, `document.querySelector("#import-map").value`); got != wantMap {
		t.Errorf("the mapping filled in reads\n%s\nwant\n%s", got, wantMap)
	}
	if got := evalIn[string](tab, `document.querySelector("#import-delimiter").value`); got != ";" {
		t.Errorf("the delimiter chosen is %q, want ;", got)
	}
	// The admin maps the card number as the loyalty id it is, and forgets
	// the source.
	tab.retype("#import-map", strings.Replace(wantMap, "Card number=trait:card_number", "Card number=identifier:loyalty_id", 1))
	resp = tab.follow(chromedp.Click(chromedp.CSS("#import")))
	if resp.Status != 400 {
		t.Fatalf("Import without a source answered %d, want 400", resp.Status)
	}
	if got := tab.text(`[data-testid="import-source-error"]`); got != "Choose the source the records come from." {
		t.Errorf("the source's error reads %q", got)
	}
	if got := evalIn[string](tab, `document.activeElement.id`); got != "import-source" {
		t.Errorf("the focus is on %q, want the source", got)
	}
	if got := evalIn[string](tab, `document.querySelector("#import-map").value`); !strings.HasPrefix(got, "Card number=identifier:loyalty_id\nE-mail") {
		t.Errorf("the mapping typed is lost: %q", got)
	}
	if got := evalIn[string](tab, `document.querySelector("#import-delimiter").value`); got != ";" {
		t.Errorf("the delimiter chosen is lost: %q", got)
	}
	tab.checkConsole([]string{m.URL() + "/imports"})

	// The file is chosen again (a browser never keeps it), with the source.
	if err := chromedp.Do(tab.ctx, chromedp.SetValue(chromedp.CSS("#import-source"), "loyalty")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab.ctx, chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file})); err != nil {
		t.Fatal(err)
	}
	if got := evalIn[string](tab, `document.querySelector("#import-map").value`); !strings.HasPrefix(got, "Card number=identifier:loyalty_id") {
		t.Errorf("choosing the file again overwrote the mapping: %q", got)
	}
	resp = tab.follow(chromedp.Click(chromedp.CSS("#import")))
	loc := tab.location()
	if resp.Status != 200 || !strings.HasPrefix(loc.Path, "/imports/imp_") {
		t.Fatalf("Import answered %d at %s", resp.Status, loc)
	}
	id := strings.TrimPrefix(loc.Path, "/imports/")
	// The page follows the import until it is done, reloading itself: an
	// evaluation may meet the page between two loads.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		done, err := chromedp.Run(tab.ctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="import-done"]')`))
		if err == nil && done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import's page did not say done in 10 s (%v)", err)
		}
	}
	got := evalIn[map[string]string](tab, `Object.fromEntries([...document.querySelectorAll('[data-testid^="sum-"]')].map((e) => [e.dataset.testid, e.textContent]))`)
	want := map[string]string{"sum-rows": "3", "sum-appended": "2", "sum-duplicates": "0", "sum-created": "1", "sum-linked": "1", "sum-merged": "0", "sum-rejected": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("the summary shows %s %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	tab.screenshot("import.png")
	if h := tab.text("h1"); h != "Import of loyalty-members.csv" {
		t.Errorf("the page's heading reads %q", h)
	}
	rejects, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`fetch(document.querySelector("#rejects").href).then((r) => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch the rejected rows: %v", err)
	}
	if want := "line,reason\n3,\"column \"\"Mobile\"\": \"\"not a phone\"\" is not a valid phone"; !strings.HasPrefix(rejects, want) {
		t.Errorf("the rejected rows read %q, want them to start %q", rejects, want)
	}
	tab.checkConsole(nil)

	resp = tab.follow(chromedp.Click(chromedp.CSS(`a[href="/imports"]`)))
	if resp.Status != 200 {
		t.Fatalf("back to the imports: %d", resp.Status)
	}
	if row := tab.text(`tr[data-import="` + id + `"]`); !strings.Contains(row, "loyalty-members.csv") || !strings.Contains(row, "loyalty") || !strings.Contains(row, "done") {
		t.Errorf("the list's row reads %q", row)
	}
	tab.screenshot("imports.png")

	// Ann, known from the website, is one person with her loyalty card.
	ann := c.lookup("user_id", "web-ann")
	if byCard := c.lookup("loyalty_id", "L-1001"); byCard.ID != ann.ID {
		t.Errorf("Ann's card is on %s, her website profile is %s", byCard.ID, ann.ID)
	}
	if tier := ann.Traits["tier"]; string(tier.Value) != `"gold"` || tier.Source != loyalty {
		t.Errorf("Ann's tier %s from %q, want gold from loyalty", tier.Value, tier.Source)
	}
	if cy := c.lookup("email", "cy.loyal@example.com"); string(cy.Traits["first_name"].Value) != `"Cy"` {
		t.Errorf("Cy's first name %s", cy.Traits["first_name"].Value)
	}
}

// TestBrowserImportsFollow: the imports list follows a running import in
// place — its progress, then done — without drawing the page (and the form
// the admin may be filling in) again.
func TestBrowserImportsFollow(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	c := newProfileClient(t, m)
	c.createSource("crm", "call_center")
	if _, err := m.Users.Add(t.Context(), "admin1", "admin", "password-of-admin1"); err != nil {
		t.Fatal(err)
	}
	// Enough rows to be running for a few seconds.
	var csv strings.Builder
	csv.WriteString("Email,Name\n")
	const rows = 50000
	for i := range rows {
		fmt.Fprintf(&csv, "follow%d@example.com,Person %d\n", i, i)
	}
	tab := openConsoleTab(t, newBrowser(t, chromium), m.URL())
	// This test waits for an import: a longer budget than a page's.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tab.ctx), 60*time.Second)
	defer cancel()
	tab.ctx = ctx
	signInAs(tab, "admin1")

	q := url.Values{"source": {"crm"}, "map": {"Email=identifier:email", "Name=trait:name"}, "file": {"follow.csv"}}
	req, _ := http.NewRequest("POST", m.URL()+"/v1/imports?"+q.Encode(), strings.NewReader(csv.String()))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var job importJob
	err = json.NewDecoder(resp.Body).Decode(&job)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("POST /v1/imports: %d (%v)", resp.StatusCode, err)
	}
	tab.navigate("/imports")
	row := `tr[data-import="` + job.ID + `"]`
	if !evalIn[bool](tab, `!!document.querySelector('`+row+`[data-running] progress')`) {
		t.Fatalf("the list does not show the import running: %q", tab.text(row))
	}
	// The admin starts on the form while it runs; the page is not drawn again.
	tab.retype("#import-map", "Email=identifier:email")
	evalIn[bool](tab, `window.sameListPage = true`)
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if evalIn[string](tab, `document.querySelector('`+row+` [data-testid="import-status"]').textContent.trim()`) == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the list's row still reads %q after 45 s", tab.text(row))
		}
	}
	if got := tab.text(row + ` [data-testid="import-rows"]`); got != "50,000" {
		t.Errorf("the row counts %q rows, want 50,000", got)
	}
	if !evalIn[bool](tab, `window.sameListPage === true && document.querySelector("#import-map").value === "Email=identifier:email"`) {
		t.Error("the page was drawn again while it followed the import, losing the form")
	}
	tab.checkConsole(nil)
}
