package main

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"
)

// TestBrowserOffers is situation 4 at the call center's desk, in headless
// Chromium: the e-mail channel granted a customer the free upgrade; an agent
// who finds her by the phone number she reads out sees the offer at 0
// instead of 130 in her Offers panel, with where it can be redeemed and what
// every other channel does; thinks twice (cancels the confirmation), then
// redeems it, and sees it redeemed, when, where and by whom. A colleague
// whose page still shows the Redeem button tries again and is told it was
// already redeemed. Then the offers page, searched by a caller's words.
func TestBrowserOffers(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	c.send(webKey, msg("identify", "w1", time.Now().UTC(), map[string]any{"userId": "maria-1",
		"traits": map[string]any{"email": "maria@example.com", "phone": "+1 415 555 0101", "name": "Maria Lopez"}}))
	c.waitProcessed()
	if status, body := c.call("POST", "/v1/offers", testAPIKey, freeUpgrade("FREE-UPGRADE")); status != http.StatusCreated {
		t.Fatalf("create the offer: %d %s", status, body)
	}
	status, body := c.call("POST", "/v1/grants", testAPIKey, map[string]any{"offer": "FREE-UPGRADE", "email": "maria@example.com",
		"channel": "email", "campaign": "autumn-upgrade"})
	if status != http.StatusCreated {
		t.Fatalf("grant the offer: %d %s", status, body)
	}
	g := decodeInto[apiGrant](t, body)
	id := c.lookup("phone", "(415) 555-0101").ID
	for _, name := range []string{"agent1", "agent2"} {
		if _, err := m.Users.Add(t.Context(), name, "agent", "password-of-"+name); err != nil {
			t.Fatal(err)
		}
	}
	browser := newBrowser(t, chromium)

	// The agent finds her by the phone number as she reads it out.
	desk := openConsoleTab(t, browser, m.URL())
	dialogs := answerDialogs(t, desk)
	signInAs(desk, "agent1")
	if !evalIn[bool](desk, `document.querySelector('header.top nav a[href="/offers"]') !== null`) {
		t.Errorf("the agent's menu has no link to the offers page")
	}
	resp := desk.follow(chromedp.SendKeys(chromedp.ID("q"), "(415) 555-0101"+kb.Enter))
	if loc := desk.location(); resp.Status != 200 || loc.Path != "/profiles/"+id {
		t.Fatalf("searching for (415) 555-0101 answered %d at %s, want 200 at /profiles/%s", resp.Status, loc, id)
	}
	grants := evalIn[[]shownGrant](desk, shownGrantsJS)
	want := []shownGrant{{ID: g.ID, State: "held", Name: "Free upgrade", Price: "0.00 USD", Regular: "130.00 USD",
		Summary: "upgrade at 0 USD instead of 130", GrantedVia: "E-mail", RedeemOn: []string{"Store", "Call center", "Website"},
		Code: g.Code, Channel: "call_center", Shown: true}}
	if len(grants) == 1 {
		// Checked on their own below.
		want[0].Expires, want[0].Honour, want[0].Confirm = grants[0].Expires, grants[0].Honour, grants[0].Confirm
	}
	if diff := cmp.Diff(want, grants); diff != "" {
		t.Fatalf("the Offers panel shows (-want +got):\n%s", diff)
	}
	if exp, err := time.Parse(time.RFC3339, grants[0].Expires); err != nil || exp.Before(time.Now().Add(59*24*time.Hour)) {
		t.Errorf("the grant expires %q (%v), want in about 60 days", grants[0].Expires, err)
	}
	if len(grants[0].Honour) != 1 || !strings.Contains(grants[0].Honour[0], "Any other channel") ||
		!strings.Contains(grants[0].Honour[0], "Point of sale") || !strings.Contains(grants[0].Honour[0], "offer instead: 20% off the upgrade") {
		t.Errorf("the other channels' instructions read %q", grants[0].Honour)
	}
	desk.checkAssets()
	desk.checkConsole(nil)
	desk.screenshot("offers-panel.png")

	// A colleague at another desk has her page open too.
	other := openConsoleTab(t, browser, m.URL())
	answerDialogs(t, other).accept(true)
	signInAs(other, "agent2")
	other.navigate("/profiles/" + id)
	if n := evalIn[int](other, `document.querySelectorAll('[data-testid="redeem"]').length`); n != 1 {
		t.Fatalf("the colleague's page has %d Redeem buttons, want 1", n)
	}

	// Redeem, and cancel at the confirmation: nothing happens.
	redeem := chromedp.Click(chromedp.CSS(`[data-grant="` + g.ID + `"] [data-testid="redeem"]`))
	dialogs.accept(false)
	if err := chromedp.Do(desk.ctx, redeem); err != nil {
		t.Fatalf("click Redeem: %v", err)
	}
	msgs := dialogs.wait(t, 1)
	if !strings.HasPrefix(msgs[0], "Redeem Free upgrade for this customer now, at 0.00 USD?") {
		t.Errorf("the confirmation asks %q", msgs[0])
	}
	if loc := desk.location(); loc.Path != "/profiles/"+id || c.grant(id, g.ID).State != "held" {
		t.Fatalf("after cancelling the confirmation the tab is at %s and the grant is %s", loc, c.grant(id, g.ID).State)
	}

	// Redeem, and confirm: back on her page, which shows it redeemed.
	dialogs.accept(true)
	resp = desk.follow(redeem)
	if loc := desk.location(); resp.Status != 200 || loc.Path != "/profiles/"+id || loc.Query().Get("redeemed") != g.ID {
		t.Fatalf("redeeming answered %d at %s, want 200 at /profiles/%s?redeemed=%s", resp.Status, loc, id, g.ID)
	}
	dialogs.wait(t, 2)
	if got := desk.text(`[data-testid="offer-notice"]`); got != "Redeemed Free upgrade through Call center by agent1." {
		t.Errorf("after redeeming the page says %q", got)
	}
	if n := evalIn[int](desk, `document.querySelectorAll('[data-testid="redeem"]').length`); n != 0 {
		t.Errorf("after redeeming the page still has %d Redeem buttons", n)
	}
	row := evalIn[historyRow](desk, historyRowJS(g.ID))
	at, err := time.Parse(time.RFC3339, row.At)
	if row.State != "Redeemed" || row.Where != "Call center" || row.By != "agent1" || err != nil || time.Since(at) > time.Minute {
		t.Errorf("the redemption history shows %+v (%v), want redeemed just now through Call center by agent1", row, err)
	}
	if r := c.grant(id, g.ID).Redemption; r == nil || r.Channel != "call_center" || r.Actor != "agent1" {
		t.Errorf("the API says the redemption was %+v", r)
	}
	desk.checkConsole(nil)
	desk.screenshot("offers-redeemed.png")

	// The colleague's page still shows the Redeem button: the refusal says
	// when, where and by whom it was redeemed, next to her history.
	resp = other.follow(redeem)
	post := m.URL() + "/profiles/" + id + "/grants/" + g.ID + "/redeem"
	if loc := other.location(); resp.Status != http.StatusConflict || loc.String() != post {
		t.Fatalf("the second redemption answered %d at %s, want 409 at %s", resp.Status, loc, post)
	}
	refusal := other.text(`[data-testid="offer-refusal"]`)
	if !strings.HasPrefix(refusal, "Free upgrade was already redeemed on ") || !strings.HasSuffix(refusal, " through call_center by agent1") {
		t.Errorf("the second redemption is refused with %q", refusal)
	}
	if got := evalIn[string](other, `document.querySelector('[data-testid="offer-refusal"]').getAttribute("role")`); got != "alert" {
		t.Errorf("the refusal has role %q, want alert", got)
	}
	if row := evalIn[historyRow](other, historyRowJS(g.ID)); row.By != "agent1" {
		t.Errorf("next to the refusal the history shows %+v", row)
	}
	other.screenshot("offers-refused.png")
	other.checkConsole([]string{post})
	if r := c.grant(id, g.ID).Redemption; r == nil || r.Actor != "agent1" {
		t.Errorf("after the refusal the redemption is %+v", r)
	}

	// The offers page, searched by the words a caller would use.
	desk.navigate("/offers")
	resp = desk.follow(chromedp.SendKeys(chromedp.ID("q"), "free upgrade"+kb.Enter))
	if loc := desk.location(); resp.Status != 200 || loc.Path != "/offers" || loc.Query().Get("q") != "free upgrade" {
		t.Fatalf("searching the offers answered %d at %s", resp.Status, loc)
	}
	offers := evalIn[[]shownOffer](desk, shownOffersJS)
	if len(offers) != 1 || offers[0].Code != "FREE-UPGRADE" || offers[0].Price != "0.00 USD" || offers[0].Regular != "130.00 USD" ||
		offers[0].Granted != "1" || offers[0].Redeemed != "1" || !slices.Equal(offers[0].RedeemOn, []string{"Store", "Call center", "Website"}) ||
		!strings.Contains(offers[0].Honour, "offer instead: 20% off the upgrade") {
		t.Errorf("searching for free upgrade lists %+v", offers)
	}
	if !evalIn[bool](desk, `document.querySelector('header.top nav a[href="/offers"][aria-current]') !== null`) {
		t.Errorf("the menu has no current link to /offers")
	}
	desk.checkAssets()
	desk.checkConsole(nil)
	desk.screenshot("offers.png")
	desk.navigate("/offers")
	desk.follow(chromedp.SendKeys(chromedp.ID("q"), "roaming"+kb.Enter))
	if n := len(evalIn[[]shownOffer](desk, shownOffersJS)); n != 0 || !strings.Contains(desk.text(`[data-testid="no-offers"]`), "No live offer matches “roaming”") {
		t.Errorf("searching for roaming lists %d offers", n)
	}
	desk.checkConsole(nil)
}

func signInAs(tab *consoleTab, name string) {
	tab.t.Helper()
	tab.navigate("/login")
	tab.follow(
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), "password-of-"+name),
		chromedp.Click(chromedp.ID("sign-in")),
	)
	if got := tab.text(`[data-testid="signed-in-as"]`); got != name {
		tab.t.Fatalf("signed in as %q, want %s", got, name)
	}
}

// grant reads one grant of a profile through the API.
func (c *profileClient) grant(profile, id string) apiGrant {
	c.t.Helper()
	var held struct{ Grants []apiGrant }
	c.get("/v1/profiles/"+profile+"/grants", &held)
	for _, g := range held.Grants {
		if g.ID == id {
			return g
		}
	}
	c.t.Fatalf("profile %s holds no grant %s: %+v", profile, id, held)
	return apiGrant{}
}

// dialogs answers the JavaScript dialogs of a tab (the console's
// confirmations) as told, and keeps what they asked.
type dialogs struct {
	mu       sync.Mutex
	yes      bool
	messages []string
	closed   int
}

func answerDialogs(t *testing.T, tab *consoleTab) *dialogs {
	t.Helper()
	d := &dialogs{}
	err := chromedp.Listen(tab.ctx, func(ev any) {
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			d.mu.Lock()
			d.messages = append(d.messages, e.Message)
			yes := d.yes
			d.mu.Unlock()
			// The page waits for the answer, and so may the click that
			// opened it: answer from another goroutine than the listener's.
			go func() {
				if _, err := chromedp.Call(tab.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: yes}); err != nil && tab.ctx.Err() == nil {
					t.Errorf("answer the dialog %q: %v", e.Message, err)
				}
			}()
		case *page.EventJavascriptDialogClosed:
			d.mu.Lock()
			d.closed++
			d.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen for dialogs: %v", err)
	}
	return d
}

// accept sets the answer to the dialogs to come.
func (d *dialogs) accept(yes bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.yes = yes
}

// wait waits until n dialogs were answered, and returns what they asked.
func (d *dialogs) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.mu.Lock()
		closed, msgs := d.closed, slices.Clone(d.messages)
		d.mu.Unlock()
		if closed >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d confirmations answered after 5 s (asked: %q)", closed, n, msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shownGrant is a held grant as the Offers panel draws it.
type shownGrant struct {
	ID         string   `json:"id"`
	State      string   `json:"state"`
	Name       string   `json:"name"`
	Price      string   `json:"price"`
	Regular    string   `json:"regular"`
	Summary    string   `json:"summary"`
	Expires    string   `json:"expires"`
	GrantedVia string   `json:"grantedVia"`
	RedeemOn   []string `json:"redeemOn"`
	Honour     []string `json:"honour"`
	Code       string   `json:"code"`
	Channel    string   `json:"channel"` // chosen in the Redeem form
	Confirm    string   `json:"confirm"`
	Shown      bool     `json:"shown"`
}

const shownGrantsJS = `(() => {
  const text = (el) => el ? el.innerText.trim().replace(/\s+/g, " ") : "";
  return [...document.querySelectorAll('[data-testid="offers-panel"] [data-testid="grant"]')].map((li) => ({
    id: li.dataset.grant, state: li.dataset.state,
    name: text(li.querySelector("h3")),
    price: text(li.querySelector('[data-testid="price"]')),
    regular: text(li.querySelector('[data-testid="regular-price"]')),
    summary: text(li.querySelector('[data-testid="terms-summary"]')),
    expires: li.querySelector('[data-testid="expires"] time')?.getAttribute("datetime") ?? "",
    grantedVia: text(li.querySelector('[data-testid="granted-via"] .ch')),
    redeemOn: [...li.querySelectorAll('[data-testid="redeem-on"] .ch')].map(text),
    honour: [...li.querySelectorAll('[data-testid="honour"] li')].map(text),
    code: text(li.querySelector('[data-testid="redemption-code"]')),
    channel: li.querySelector('select[name="channel"]')?.value ?? "",
    confirm: li.querySelector("form")?.dataset.confirm ?? "",
    shown: li.getClientRects().length > 0 && getComputedStyle(li).visibility !== "hidden",
  }));
})()`

// historyRow is one line of the panel's redemption history.
type historyRow struct {
	State string `json:"state"`
	At    string `json:"at"`
	Where string `json:"where"`
	By    string `json:"by"`
}

func historyRowJS(grant string) string {
	return `(() => {
  const tr = document.querySelector('[data-testid="offer-history"] tr[data-grant="` + grant + `"]');
  const text = (sel) => tr?.querySelector(sel)?.innerText.trim() ?? "";
  return {state: text(".state"), at: tr?.querySelector('[data-testid="redeemed-at"] time')?.getAttribute("datetime") ?? "",
    where: text('[data-testid="redeemed-where"]'), by: text('[data-testid="redeemed-by"]')};
})()`
}

// shownOffer is one line of the offers page.
type shownOffer struct {
	Code     string   `json:"code"`
	Price    string   `json:"price"`
	Regular  string   `json:"regular"`
	RedeemOn []string `json:"redeemOn"`
	Honour   string   `json:"honour"`
	Granted  string   `json:"granted"`
	Redeemed string   `json:"redeemed"`
}

const shownOffersJS = `[...document.querySelectorAll('[data-testid="offers"] tbody tr')].map((tr) => {
  const text = (el) => el ? el.innerText.trim().replace(/\s+/g, " ") : "";
  return {
    code: tr.dataset.offer,
    price: text(tr.querySelector('[data-testid="price"]')),
    regular: text(tr.querySelector('[data-testid="regular-price"]')),
    redeemOn: [...tr.children[3].querySelectorAll(".ch")].map(text),
    honour: text(tr.querySelector('[data-testid="honour"]')),
    granted: text(tr.querySelector('[data-testid="granted"]')),
    redeemed: text(tr.querySelector('[data-testid="redeemed"]')),
  };
})`
