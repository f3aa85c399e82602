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

// TestBrowserMatchReview is the data steward's review queue in headless
// Chromium. The CRM knows Maria Lopez with her birth date and address; the
// shop knows "Ana Lopez" at her address, without a birth date (Ana is the
// name Maria goes by), and the CRM "Luis Lopez", born on Maria's birthday in
// her town (her twin). The matcher queues both pairs for a steward, who
// compares each pair side by side with the evidence, merges Maria and Ana
// (after thinking twice: the confirmation is cancelled once) and keeps Maria
// and Luis apart. The graph follows: Ana's and Maria's e-mails lead to one
// profile, Luis's to another; the queue is empty and the decided tab shows
// both decisions. A colleague whose page still shows the queue is told who
// decided first.
func TestBrowserMatchReview(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	if m.Matching == nil {
		t.Fatal("the matcher is not running")
	}
	c := newProfileClient(t, m)
	_, crmKey := c.createSource("crm", "call_center")
	_, shopKey := c.createSource("shop", "store")
	kew := map[string]any{"street": "12 Tullaroop Street", "city": "Kew", "postalCode": "3101", "state": "VIC"}
	c.send(crmKey, msg("identify", "crm-1", t0, map[string]any{"anonymousId": "crm-maria", "traits": map[string]any{
		"email": "maria@example.com", "first_name": "Maria", "last_name": "Lopez", "birthday": "1980-05-01", "address": kew}}))
	c.waitProcessed()
	c.send(shopKey, msg("identify", "shop-1", t0.Add(time.Hour), map[string]any{"anonymousId": "card-ana", "traits": map[string]any{
		"email": "ana@example.com", "first_name": "Ana", "last_name": "Lopez", "address": kew}}))
	waitPairs(t, c, "pending", 1)
	c.send(crmKey, msg("identify", "crm-2", t0.Add(2*time.Hour), map[string]any{"anonymousId": "crm-luis", "traits": map[string]any{
		"email": "luis@example.com", "first_name": "Luis", "last_name": "Lopez", "birthday": "1980-05-01",
		"address": map[string]any{"city": "Kew", "postalCode": "3101", "state": "VIC"}}}))
	pending := waitPairs(t, c, "pending", 2)
	maria, ana, luis := c.lookup("email", "maria@example.com").ID, c.lookup("email", "ana@example.com").ID, c.lookup("email", "luis@example.com").ID
	var anaPair, luisPair string
	for _, p := range pending {
		switch {
		case sameProfiles(p, maria, ana):
			anaPair = p.ID
		case sameProfiles(p, maria, luis):
			luisPair = p.ID
		default:
			t.Errorf("an unexpected pending pair: %+v", p)
		}
	}
	if len(pending) != 2 || anaPair == "" || luisPair == "" {
		t.Fatalf("pending pairs %+v; want Maria (%s) with Ana (%s) and with Luis (%s)", pending, maria, ana, luis)
	}
	if _, err := m.Users.Add(t.Context(), "steward2", "admin", "password-of-steward2"); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t, chromium)

	// The steward signs in to the review queue: both pairs, the likelier
	// first, each with both people side by side and the evidence.
	tab := openConsoleTab(t, browser, m.URL())
	dialogs := answerDialogs(t, tab)
	tab.navigate("/login?next=/matches")
	resp := tab.follow(
		chromedp.SendKeys(chromedp.ID("name"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), testAdminPassword),
		chromedp.Click(chromedp.ID("sign-in")),
	)
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/matches" {
		t.Fatalf("signing in to /matches answered %d at %s", resp.Status, loc)
	}
	if !evalIn[bool](tab, `document.querySelector('header.top nav a[href="/matches"][aria-current]')?.innerText.trim() === "Review matches"`) {
		t.Errorf("the menu has no current link Review matches")
	}
	pairs := evalIn[[]shownPair](tab, shownPairsJS)
	if got := pairIDs(pairs); !slices.Equal(got, []string{luisPair, anaPair}) {
		t.Fatalf("the queue shows %v, want %s (Luis, likelier) then %s (Ana)", got, luisPair, anaPair)
	}
	for _, p := range pairs {
		other, name := ana, "Ana Lopez"
		if p.ID == luisPair {
			other, name = luis, "Luis Lopez"
		}
		if !slices.Contains(p.Names, "Maria Lopez") || !slices.Contains(p.Names, name) ||
			!slices.Contains(p.Links, "/profiles/"+maria) || !slices.Contains(p.Links, "/profiles/"+other) {
			t.Errorf("pair %s shows %v linked to %v; want Maria Lopez and %s", p.ID, p.Names, p.Links, name)
		}
		if !strings.Contains(p.IDs, "maria@example.com") || !strings.Contains(p.IDs, strings.ToLower(strings.Fields(name)[0])+"@example.com") {
			t.Errorf("pair %s shows the identifiers %q", p.ID, p.IDs)
		}
		if !strings.HasSuffix(p.Probability, "%") || !p.Shown {
			t.Errorf("pair %s: probability %q, shown %v", p.ID, p.Probability, p.Shown)
		}
		ev := map[string]shownEvidence{}
		for _, f := range p.Evidence {
			ev[f.Field] = f
		}
		given := ev["given_name"]
		if given.Class != "against" || !strings.HasPrefix(given.Weight, "−") || given.Verdict != "against" || given.Level != "different" ||
			!slices.Contains([]string{given.Left, given.Right}, "maria") {
			t.Errorf("pair %s weighs the given names as %+v; want evidence against", p.ID, given)
		}
		if s := ev["surname"]; s.Class != "for" || !strings.HasPrefix(s.Weight, "+") || s.Left != "lopez" || s.Right != "lopez" {
			t.Errorf("pair %s weighs the family names as %+v; want evidence for", p.ID, s)
		}
		if dob, ok := ev["date_of_birth"]; (p.ID == luisPair) != ok || ok && dob.Class != "for" {
			t.Errorf("pair %s weighs the birth dates as %+v (%v)", p.ID, dob, ok)
		}
	}
	tab.checkAssets()
	tab.checkConsole(nil)
	tab.screenshot("matches-queue.png")

	// A colleague has the queue open too.
	other := openConsoleTab(t, browser, m.URL())
	answerDialogs(t, other).accept(true)
	signInAs(other, "steward2")
	other.navigate("/matches")
	if n := len(evalIn[[]shownPair](other, shownPairsJS)); n != 2 {
		t.Fatalf("the colleague's queue shows %d pairs, want 2", n)
	}

	// Accept Maria and Ana, and cancel at the confirmation: nothing happens.
	accept := chromedp.Click(chromedp.CSS(`[data-pair="` + anaPair + `"] [data-testid="accept"]`))
	dialogs.accept(false)
	if err := chromedp.Do(tab.ctx, accept); err != nil {
		t.Fatalf("click Accept: %v", err)
	}
	msgs := dialogs.wait(t, 1)
	if !strings.HasPrefix(msgs[0], "Merge ") || !strings.Contains(msgs[0], "Ana Lopez") || !strings.Contains(msgs[0], "Maria Lopez") {
		t.Errorf("the confirmation asks %q", msgs[0])
	}
	if loc := tab.location(); loc.Path != "/matches" || c.pair(anaPair).Status != "pending" {
		t.Fatalf("after cancelling the confirmation the tab is at %s and the pair is %s", loc, c.pair(anaPair).Status)
	}

	// Accept, and confirm: back to the queue, which says so.
	dialogs.accept(true)
	resp = tab.follow(accept)
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/matches" || loc.Query().Get("decided") != anaPair {
		t.Fatalf("accepting answered %d at %s, want 200 at /matches?decided=%s", resp.Status, loc, anaPair)
	}
	dialogs.wait(t, 2)
	if got := tab.text(`[data-testid="match-notice"]`); !strings.HasPrefix(got, "Merged: ") || !strings.Contains(got, "are one person now") {
		t.Errorf("after accepting the queue says %q", got)
	}
	if got := pairIDs(evalIn[[]shownPair](tab, shownPairsJS)); !slices.Equal(got, []string{luisPair}) {
		t.Errorf("after accepting the queue shows %v, want only %s", got, luisPair)
	}
	tab.checkConsole(nil)

	// Reject Maria and Luis: two people.
	resp = tab.follow(chromedp.Click(chromedp.CSS(`[data-pair="` + luisPair + `"] [data-testid="reject"]`)))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/matches" || loc.Query().Get("decided") != luisPair {
		t.Fatalf("rejecting answered %d at %s, want 200 at /matches?decided=%s", resp.Status, loc, luisPair)
	}
	if msgs := dialogs.wait(t, 3); !strings.HasPrefix(msgs[2], "Keep ") || !strings.Contains(msgs[2], "Luis Lopez") ||
		!strings.Contains(msgs[2], "two people") {
		t.Errorf("the confirmation asks %q", msgs[2])
	}
	if got := tab.text(`[data-testid="match-notice"]`); !strings.HasPrefix(got, "Rejected: ") || !strings.Contains(got, "stay two people") {
		t.Errorf("after rejecting the queue says %q", got)
	}
	tab.checkConsole(nil)

	// The graph follows: Ana is Maria, Luis is not.
	var merged apiProfile
	for deadline := time.Now().Add(20 * time.Second); ; {
		c.waitProcessed()
		merged = c.lookup("email", "ana@example.com")
		if merged.has("email", "maria@example.com") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ana and Maria were not merged: %+v", merged)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := c.lookup("email", "maria@example.com").ID; got != merged.ID {
		t.Errorf("maria@example.com is profile %s, ana@example.com %s; want one", got, merged.ID)
	}
	if l := c.lookup("email", "luis@example.com"); l.ID == merged.ID || l.has("email", "maria@example.com") {
		t.Errorf("Luis was merged with Maria: %+v", l)
	}
	ids := c.identities(merged.ID)
	if len(ids.Merges) != 1 || ids.Merges[0].Event.MessageID != c.pair(anaPair).MergeEvent {
		t.Errorf("merges %+v; want the one the steward accepted", ids.Merges)
	}
	for id, want := range map[string]string{anaPair: "merged", luisPair: "rejected"} {
		if p := c.pair(id); p.Status != want || p.DecidedBy != "user:admin" {
			t.Errorf("the API says pair %s is %s by %s, want %s by user:admin", id, p.Status, p.DecidedBy, want)
		}
	}
	// The customer's page: one person with both e-mails.
	tab.navigate("/profiles/" + ana)
	if loc := tab.location(); loc.Path != "/profiles/"+merged.ID {
		t.Errorf("Ana's page is at %s, want the merged profile %s", loc, merged.ID)
	}
	shown := tab.text(`[data-testid="identifiers"]`)
	if !strings.Contains(shown, "ana@example.com") || !strings.Contains(shown, "maria@example.com") || strings.Contains(shown, "luis@example.com") {
		t.Errorf("the merged customer's identifiers read %q", shown)
	}
	tab.checkConsole(nil)

	// The queue stays empty once the merge is folded and matched again, and
	// the decided tab shows both decisions.
	time.Sleep(200 * time.Millisecond)
	c.waitProcessed()
	if p := waitPairs(t, c, "all", 2); len(p) != 2 {
		t.Errorf("the matcher holds %d pairs after the decisions, want 2: %+v", len(p), p)
	}
	tab.navigate("/matches")
	if n := evalIn[int](tab, `document.querySelectorAll('[data-testid="pair"]').length`); n != 0 || tab.text(`[data-testid="queue-empty"]`) == "" {
		t.Errorf("after both decisions the queue shows %d pairs", n)
	}
	resp = tab.follow(chromedp.Click(chromedp.CSS(`nav.tabs a[data-tab="decided"]`)))
	if loc := tab.location(); resp.Status != 200 || loc.Query().Get("status") != "decided" {
		t.Fatalf("the decided tab answered %d at %s", resp.Status, loc)
	}
	decided := evalIn[[]shownDecision](tab, shownDecisionsJS)
	links := func(id string) []string {
		p := c.pair(id)
		return []string{"/profiles/" + p.Left, "/profiles/" + p.Right}
	}
	want := []shownDecision{
		{ID: luisPair, Links: links(luisPair), Status: "rejected", Reason: "rejected by a data steward", By: "admin"},
		{ID: anaPair, Links: links(anaPair), Status: "merged", Reason: "accepted by a data steward", By: "admin"},
	}
	if diff := cmp.Diff(want, decided); diff != "" {
		t.Errorf("the decided tab shows (-want +got):\n%s", diff)
	}
	tab.checkAssets()
	tab.checkConsole(nil)
	tab.screenshot("matches-decided.png")

	// The colleague's page still offers to merge Maria and Luis: refused,
	// saying who decided first.
	resp = other.follow(chromedp.Click(chromedp.CSS(`[data-pair="` + luisPair + `"] [data-testid="accept"]`)))
	post := m.URL() + "/matches/" + luisPair + "/accept"
	if loc := other.location(); resp.Status != http.StatusConflict || loc.String() != post {
		t.Fatalf("the colleague's accept answered %d at %s, want 409 at %s", resp.Status, loc, post)
	}
	refusal := other.text(`[data-testid="match-refusal"]`)
	if want := "Pair " + luisPair + " was already decided: rejected by user:admin on "; !strings.HasPrefix(refusal, want) {
		t.Errorf("the colleague is told %q, want %q…", refusal, want)
	}
	if got := evalIn[string](other, `document.querySelector('[data-testid="match-refusal"]').getAttribute("role")`); got != "alert" {
		t.Errorf("the refusal has role %q, want alert", got)
	}
	other.checkConsole([]string{post})
	other.screenshot("matches-refused.png")
	if p := c.pair(luisPair); p.Status != "rejected" {
		t.Errorf("after the colleague's refused accept the pair is %s", p.Status)
	}
}

func sameProfiles(p apiPair, a, b string) bool {
	return p.Left == a && p.Right == b || p.Left == b && p.Right == a
}

// pair reads one pair through the API.
func (c *profileClient) pair(id string) apiDecidedPair {
	c.t.Helper()
	var p apiDecidedPair
	c.get("/v1/matches/"+id, &p)
	return p
}

type apiDecidedPair struct {
	apiPair
	DecidedBy string `json:"decided_by"`
}

// shownPair is a pair as the review queue draws it.
type shownPair struct {
	ID          string          `json:"id"`
	Names       []string        `json:"names"` // the column headings
	Links       []string        `json:"links"` // to the customers' pages
	IDs         string          `json:"ids"`   // the identifiers row
	Probability string          `json:"probability"`
	Evidence    []shownEvidence `json:"evidence"`
	Shown       bool            `json:"shown"`
}

type shownEvidence struct {
	Field   string `json:"field"`
	Class   string `json:"class"`
	Left    string `json:"left"`
	Right   string `json:"right"`
	Level   string `json:"level"`
	Weight  string `json:"weight"`
	Verdict string `json:"verdict"`
}

func pairIDs(ps []shownPair) []string {
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

const shownPairsJS = `[...document.querySelectorAll('[data-testid="pair"]')].map((card) => {
  const text = (el) => el ? el.innerText.trim().replace(/\s+/g, " ") : "";
  return {
    id: card.dataset.pair,
    names: [...card.querySelectorAll('[data-testid="compare"] thead [data-testid="profile-link"]')].map(text),
    links: [...card.querySelectorAll('[data-testid="compare"] thead [data-testid="profile-link"]')].map((a) => a.getAttribute("href")),
    ids: text(card.querySelector('[data-testid="compare"] tbody tr')),
    probability: text(card.querySelector('[data-testid="probability"]')),
    evidence: [...card.querySelectorAll('[data-testid="evidence"] tbody tr')].map((tr) => ({
      field: tr.dataset.field, class: tr.className,
      left: text(tr.children[1]), right: text(tr.children[2]), level: text(tr.children[3]),
      weight: text(tr.querySelector(".w")), verdict: text(tr.querySelector(".verdict")),
    })),
    shown: card.getClientRects().length > 0 && getComputedStyle(card).visibility !== "hidden",
  };
})`

// shownDecision is a line of a tab of decided pairs.
type shownDecision struct {
	ID     string   `json:"id"`
	Links  []string `json:"links"` // to the customers' pages
	Status string   `json:"status"`
	Reason string   `json:"reason"`
	By     string   `json:"by"`
}

const shownDecisionsJS = `[...document.querySelectorAll('[data-testid="decided"] > tbody > tr')].map((tr) => {
  const text = (sel) => tr.querySelector(sel)?.innerText.trim() ?? "";
  return {id: tr.dataset.pair, links: [...tr.children[0].querySelectorAll("a")].map((a) => a.getAttribute("href")), status: text('[data-testid="pair-status"]').toLowerCase(),
    reason: text('[data-testid="pair-reason"]'), by: text('[data-testid="decided-by"]')};
})`
