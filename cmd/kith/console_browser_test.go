package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// These tests use the console in headless Chromium, as an agent does: sign
// in, search for a caller by the phone number they heard, read the customer's
// page, and sign out; and they check what the browser itself enforces and
// shows, which the HTTP tests in console_test.go cannot see: the CSP, the
// stylesheet and script, and errors on the page's console.

// TestBrowserConsole signs in, finds the car-insurance customer by her phone
// number as an agent hears it, checks her page as the browser draws it, and
// signs out, after which her page is refused.
func TestBrowserConsole(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	id := carInsuranceCustomer(t, m)
	tab := openConsoleTab(t, newBrowser(t, chromium), m.URL())

	// An anonymous visitor is sent to sign in, and back where they were going after.
	resp := tab.navigate("/")
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/login" || loc.Query().Get("next") != "/" {
		t.Fatalf("opening the console as nobody answered %d at %s, want 200 at /login?next=%%2F", resp.Status, loc)
	}
	resp = tab.follow(
		chromedp.SendKeys(chromedp.ID("name"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), testAdminPassword),
		chromedp.Click(chromedp.ID("sign-in")),
	)
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/" {
		t.Fatalf("signing in answered %d at %s, want 200 at /", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="signed-in-as"]`); got != "admin" {
		t.Errorf("the customers page says signed in as %q, want admin", got)
	}
	tab.checkConsole(nil)

	// The phone number as the caller reads it out: one match opens her page.
	resp = tab.follow(chromedp.SendKeys(chromedp.ID("q"), "(925) 413-2876"+kb.Enter))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/profiles/"+id {
		t.Fatalf("searching for (925) 413-2876 answered %d at %s, want 200 at /profiles/%s", resp.Status, loc, id)
	}
	page := evalIn[customerPage](tab, customerPageJS)
	tab.screenshot("customer-360.png")
	checkCustomerPage(t, page)
	tab.checkAssets()
	tab.checkConsole(nil)

	// Sign out: the sign-in page, and her page is refused from now on.
	resp = tab.follow(chromedp.Click(chromedp.ID("sign-out")))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/login" {
		t.Fatalf("signing out answered %d at %s, want 200 at /login", resp.Status, loc)
	}
	if evalIn[bool](tab, `document.querySelector('[data-testid="signed-in-as"]') !== null`) {
		t.Errorf("the sign-in page after signing out still shows who is signed in")
	}
	// Back, as the next person at a shared desk might press it: the browser
	// must ask the server again, which refuses, and not show a kept copy.
	if err := chromedp.Do(tab.ctx, chromedp.NavigateBack()); err != nil {
		t.Fatalf("go back after signing out: %v", err)
	}
	if loc := tab.location(); loc.Path != "/login" {
		t.Errorf("back after signing out shows %s, want the sign-in page", loc)
	}
	tab.checkNoCustomer("going back after signing out")

	tab.navigate("/profiles/" + id)
	loc := tab.location()
	if !strings.HasPrefix(loc.String(), m.URL()+"/login?next=") || loc.Query().Get("next") != "/profiles/"+id {
		t.Errorf("her page after signing out went to %s, want /login?next=/profiles/%s", loc, id)
	}
	if got := tab.status(m.URL() + "/profiles/" + id); got != 303 {
		t.Errorf("the server answered her page after signing out with %d, want a 303 to sign in", got)
	}
	tab.checkNoCustomer("her page after signing out")
	tab.checkConsole(nil)
}

// TestBrowserConsoleRefusals checks what a person sees when the console says
// no: a wrong password, and an agent opening the admins' users page.
func TestBrowserConsoleRefusals(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	if _, err := m.Users.Add(t.Context(), "agent1", "agent", "password-of-agent"); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t, chromium)

	t.Run("wrong password", func(t *testing.T) {
		tab := openConsoleTab(t, browser, m.URL())
		tab.navigate("/login")
		resp := tab.follow(
			chromedp.SendKeys(chromedp.ID("name"), "admin"),
			chromedp.SendKeys(chromedp.ID("password"), "not-the-password"),
			chromedp.Click(chromedp.ID("sign-in")),
		)
		if loc := tab.location(); resp.Status != 401 || loc.Path != "/login" {
			t.Errorf("a wrong password answered %d at %s, want 401 at /login", resp.Status, loc)
		}
		if got := tab.text(`[data-testid="login-error"]`); !strings.Contains(got, "Wrong user name or password") {
			t.Errorf("the sign-in error says %q, want it to say the name or password is wrong", got)
		}
		if got := evalIn[string](tab, `document.getElementById("name").value`); got != "admin" {
			t.Errorf("the name field holds %q after the error, want admin kept", got)
		}
		if got := evalIn[string](tab, `document.getElementById("password").value`); got != "" {
			t.Errorf("the password field holds %q after the error, want it empty", got)
		}
		// The 401 itself is logged by the browser; nothing else may be.
		tab.checkConsole([]string{m.URL() + "/login"})
		if tab.navigate("/"); tab.location().Path != "/login" {
			t.Errorf("after a wrong password the console opened %s, want the sign-in page", tab.location())
		}
	})

	t.Run("agent opens users", func(t *testing.T) {
		tab := openConsoleTab(t, browser, m.URL())
		tab.navigate("/login")
		tab.follow(
			chromedp.SendKeys(chromedp.ID("name"), "agent1"),
			chromedp.SendKeys(chromedp.ID("password"), "password-of-agent"),
			chromedp.Click(chromedp.ID("sign-in")),
		)
		if got := tab.text(`[data-testid="signed-in-as"]`); got != "agent1" {
			t.Fatalf("signed in as %q, want agent1", got)
		}
		if evalIn[bool](tab, `document.querySelector('header.top nav a[href="/users"]') !== null`) {
			t.Errorf("the agent's menu links to Users")
		}
		resp := tab.navigate("/users")
		if resp.Status != 403 || tab.location().Path != "/users" {
			t.Errorf("the agent's GET /users answered %d at %s, want 403 at /users", resp.Status, tab.location())
		}
		if got := tab.text("h1"); got != "403 · Forbidden" {
			t.Errorf("the refusal's heading is %q", got)
		}
		if got := tab.text(`[data-testid="error-message"]`); !strings.Contains(got, "The agent role may not do this") {
			t.Errorf("the refusal says %q, want it to say the agent role may not do this", got)
		}
		if evalIn[bool](tab, `document.querySelector('table, form[action="/users"]') !== null`) {
			t.Errorf("the refusal shows the users table or its form")
		}
		tab.checkConsole([]string{m.URL() + "/users"})
	})
}

// customerPage is what the customer's page shows, read from the drawn page.
type customerPage struct {
	Name    string `json:"name"`
	Intents []struct {
		Section      string `json:"section"` // heading of the card it is in
		Topic        string `json:"topic"`
		ChannelClass string `json:"channelClass"`
		Channel      string `json:"channel"`
		Ago          string `json:"ago"`
	} `json:"intents"`
	Events []struct {
		Class   string `json:"class"`
		Channel string `json:"channel"`
		What    string `json:"what"`
		Time    string `json:"time"` // RFC 3339
		Shown   bool   `json:"shown"`
	} `json:"events"`
	Text        string   `json:"text"`        // all visible text
	HeaderColor string   `json:"headerColor"` // computed background of header.top
	Overlaps    []string `json:"overlaps"`    // timeline cells drawn over each other
}

// customerPageJS reads a customerPage. innerText is what a person sees;
// textContent is used where CSS changes case.
const customerPageJS = `(() => {
  const text = (el) => el ? el.innerText.trim() : "";
  const shown = (el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const overlaps = [];
  const events = [...document.querySelectorAll('[data-testid="timeline"] > li.event')].map((li, i) => {
    const cells = [...li.children].filter(shown);
    for (let a = 0; a < cells.length; a++) for (let b = a + 1; b < cells.length; b++) {
      const r = cells[a].getBoundingClientRect(), s = cells[b].getBoundingClientRect();
      if (r.width && s.width && r.right > s.left + 1 && s.right > r.left + 1 && r.bottom > s.top + 1 && s.bottom > r.top + 1)
        overlaps.push("event " + i + ": ." + cells[a].className + " and ." + cells[b].className);
    }
    return {
      class: li.className,
      channel: text(li.querySelector(".chan")),
      what: text(li.querySelector(".what")),
      time: li.querySelector("time")?.getAttribute("datetime") ?? "",
      shown: shown(li),
    };
  });
  const intents = [...document.querySelectorAll('[data-testid="intents"] > li.intent')].map((li) => ({
    section: text(li.closest("section")?.querySelector("h2")),
    topic: li.querySelector(".topic")?.textContent.trim() ?? "",
    channelClass: li.querySelector(".meta .ch")?.className ?? "",
    channel: text(li.querySelector(".meta .ch")),
    ago: text(li.querySelector(".meta span[title]")),
  }));
  const header = document.querySelector("header.top");
  return {
    name: text(document.querySelector('[data-testid="customer-name"]')),
    intents, events, overlaps,
    text: document.body.innerText,
    headerColor: header ? getComputedStyle(header).backgroundColor : "",
  };
})()`

var recently = regexp.MustCompile(`^(just now|\d+ minutes? ago|1 hour ago)$`)

func checkCustomerPage(t *testing.T, p customerPage) {
	t.Helper()
	if p.Name != "Sofia Ramirez" {
		t.Errorf("the customer's name shows as %q, want Sofia Ramirez", p.Name)
	}
	for _, want := range []string{"sofia@example.com", "+19254132876"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("the customer's page does not show %s", want)
		}
	}

	if len(p.Intents) == 0 {
		t.Errorf("the customer's page shows no intents")
	} else {
		top := p.Intents[0]
		if top.Section != "Trying to do now" || top.Topic != "car insurance" {
			t.Errorf("the top intent is %q under %q, want car insurance under \"Trying to do now\"", top.Topic, top.Section)
		}
		if !strings.Contains(" "+top.ChannelClass+" ", " ch-web ") || top.Channel != "Website" {
			t.Errorf("the top intent's channel is %q (class %q), want Website (ch-web)", top.Channel, top.ChannelClass)
		}
		if !recently.MatchString(top.Ago) {
			t.Errorf("the top intent was last seen %q, want minutes ago", top.Ago)
		}
	}

	// The timeline: every channel she used, newest first, as a person reads it.
	want := map[string]struct{ channel, what string }{
		"ch-web":         {"Website", "Car insurance quote"},
		"ch-call_center": {"Call center", "membership renewal"},
	}
	seen := map[string]bool{}
	var last time.Time
	for i, e := range p.Events {
		if !e.Shown {
			t.Errorf("timeline entry %d (%s) is not drawn", i, e.What)
		}
		ts, err := time.Parse(time.RFC3339, e.Time)
		if err != nil {
			t.Errorf("timeline entry %d has time %q: %v", i, e.Time, err)
		} else if i > 0 && ts.After(last) {
			t.Errorf("timeline entry %d (%s) is newer than the one above it", i, e.Time)
		}
		last = ts
		for class, w := range want {
			if !slices.Contains(strings.Fields(e.Class), class) {
				continue
			}
			if e.Channel != w.channel {
				t.Errorf("timeline entry %d has class %s but says channel %q, want %q", i, class, e.Channel, w.channel)
			}
			if strings.Contains(e.What, w.what) {
				seen[class] = true
			}
		}
	}
	for class, w := range want {
		if !seen[class] {
			t.Errorf("the timeline has no %s entry (%s) showing %q; it has %+v", class, w.channel, w.what, p.Events)
		}
	}
	for _, o := range p.Overlaps {
		t.Errorf("timeline cells overlap: %s", o)
	}

	// kith.css applied under the CSP: the header has the brand colour.
	if p.HeaderColor != "rgb(31, 78, 95)" {
		t.Errorf("header.top is drawn in %q, want rgb(31, 78, 95) from kith.css", p.HeaderColor)
	}
}

// consoleTab is one person's tab on the console, in a browser context of
// its own (its own cookies). It records what the pages wrote to the console
// and the answer to each request, in the order the browser reported them.
type consoleTab struct {
	t    *testing.T
	ctx  context.Context // the tab, ending when the test's time is up
	base string

	mu        sync.Mutex
	console   []consoleEntry
	responses []tabResponse
	urls      map[network.RequestID]string
}

type consoleEntry struct {
	kind, text, url string
}

func (e consoleEntry) String() string {
	if e.url != "" {
		return fmt.Sprintf("%s: %s (%s)", e.kind, e.text, e.url)
	}
	return e.kind + ": " + e.text
}

type tabResponse struct {
	url     string
	status  int64
	failure string // why the request failed, blocked by CSP for one
}

// openConsoleTab opens a tab on the console at base. Its actions share one
// deadline, so that a page that never comes fails the test in seconds.
func openConsoleTab(t *testing.T, browser context.Context, base string) *consoleTab {
	t.Helper()
	tab, closeTab := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(closeTab)
	// Open the tab with a context that has no deadline: the tab lives as
	// long as the context of its first run. A desktop-sized window.
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	ct := &consoleTab{t: t, base: base, urls: map[network.RequestID]string{}}
	// Listen, not an iterator: its func runs before the command that
	// follows an event returns, so a check after a page loads has seen
	// everything the page did while loading.
	err := chromedp.Listen(tab, func(ev any) {
		ct.mu.Lock()
		defer ct.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			ct.console = append(ct.console, consoleEntry{"exception", text, d.URL})
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range e.Args {
				var s string
				if a.Type != runtime.RemoteObjectTypeString || json.Unmarshal(a.Value, &s) != nil {
					s = cmp.Or(a.Description, string(a.Value), string(a.Type))
				}
				args = append(args, s)
			}
			ct.console = append(ct.console, consoleEntry{"console." + string(e.Type), strings.Join(args, " "), ""})
		case *log.EventEntryAdded:
			en := e.Entry
			ct.console = append(ct.console, consoleEntry{string(en.Level) + " " + string(en.Source), en.Text, en.URL})
		case *network.EventRequestWillBeSent:
			ct.urls[e.RequestID] = e.Request.URL
			if r := e.RedirectResponse; r != nil {
				ct.responses = append(ct.responses, tabResponse{url: r.URL, status: r.Status})
			}
		case *network.EventResponseReceived:
			ct.responses = append(ct.responses, tabResponse{url: e.Response.URL, status: e.Response.Status})
		case *network.EventLoadingFailed:
			f := e.ErrorText
			if e.BlockedReason != "" {
				f += " (blocked: " + string(e.BlockedReason) + ")"
			}
			ct.responses = append(ct.responses, tabResponse{url: ct.urls[e.RequestID], failure: f})
		}
	})
	if err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, 15*time.Second)
	t.Cleanup(cancel)
	ct.ctx = ctx
	t.Cleanup(func() {
		if t.Failed() {
			ct.mu.Lock()
			defer ct.mu.Unlock()
			for _, r := range ct.responses {
				t.Logf("browser: %s -> %d %s", r.url, r.status, r.failure)
			}
			for _, e := range ct.console {
				t.Logf("console: %v", e)
			}
		}
	})
	return ct
}

// navigate opens path as if typed into the address bar, and returns the
// answer to the page that loaded in the end, after any redirects.
func (ct *consoleTab) navigate(path string) *network.Response {
	ct.t.Helper()
	resp, err := chromedp.Run(ct.ctx, chromedp.NavigateResponse(ct.base+path))
	if err != nil {
		ct.t.Fatalf("open %s: %v", path, err)
	}
	return resp
}

// follow runs actions that leave the page, such as a click on a form's
// button, and returns the answer to the page that loaded in the end.
func (ct *consoleTab) follow(actions ...chromedp.Action[chromedp.Void]) *network.Response {
	ct.t.Helper()
	resp, err := chromedp.RunResponse(ct.ctx, actions...)
	if err != nil {
		ct.t.Fatalf("from %s: %v", ct.location(), err)
	}
	return resp
}

func (ct *consoleTab) location() *url.URL {
	ct.t.Helper()
	loc, err := chromedp.Run(ct.ctx, chromedp.Location())
	if err != nil {
		ct.t.Fatalf("read the location: %v", err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		ct.t.Fatalf("the browser is at %q: %v", loc, err)
	}
	return u
}

// text is the visible text of the first element that matches the CSS
// selector on the page shown.
func (ct *consoleTab) text(sel string) string {
	ct.t.Helper()
	q, _ := json.Marshal(sel)
	s := evalIn[*string](ct, `document.querySelector(`+string(q)+`)?.innerText ?? null`)
	if s == nil {
		ct.t.Fatalf("%s shows no %s", ct.location(), sel)
	}
	return strings.TrimSpace(*s)
}

// evalIn evaluates a JavaScript expression in the tab's page.
func evalIn[T any](ct *consoleTab, expr string) T {
	ct.t.Helper()
	v, err := chromedp.Run(ct.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		ct.t.Fatalf("evaluate on %s: %v\n%s", ct.location(), err, expr)
	}
	return v
}

// status is the last answer the browser got for url, 0 if none.
func (ct *consoleTab) status(url string) int64 {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, r := range slices.Backward(ct.responses) {
		if r.url == url {
			return r.status
		}
	}
	return 0
}

// checkAssets checks that the page's stylesheet and script loaded, and
// that the script ran: it asks for /status.json as soon as it starts.
func (ct *consoleTab) checkAssets() {
	ct.t.Helper()
	for _, p := range []string{"/static/kith.css", "/static/kith.js"} {
		if got := ct.status(ct.base + p); got != 200 {
			ct.t.Errorf("%s: the browser got %d, want 200", p, got)
		}
	}
	_, err := chromedp.Run(ct.ctx, chromedp.Poll[bool](
		`performance.getEntriesByType("resource").some((e) => new URL(e.name).pathname === "/status.json")`,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(3*time.Second)))
	if err != nil {
		ct.t.Errorf("kith.js did not run (it did not ask for /status.json): %v", err)
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, r := range ct.responses {
		if r.failure != "" {
			ct.t.Errorf("request %s failed: %s", r.url, r.failure)
		}
	}
}

// checkConsole fails the test for each error or warning the pages wrote to
// the console since the last check, but for the browser's own report of an
// error status on one of the documents named in expected.
func (ct *consoleTab) checkConsole(expected []string) {
	ct.t.Helper()
	// A round trip, so that the listener has seen what came before it.
	evalIn[bool](ct, `true`)
	ct.mu.Lock()
	entries := ct.console
	ct.console = nil
	ct.mu.Unlock()
	for _, e := range entries {
		switch {
		case e.kind == "exception",
			e.kind == "console.error", e.kind == "console.assert", e.kind == "console.warning",
			strings.HasPrefix(e.kind, "error "), strings.HasPrefix(e.kind, "warning "):
			if e.kind == "error network" && slices.Contains(expected, e.url) && strings.Contains(e.text, "the server responded with a status of") {
				continue
			}
			ct.t.Errorf("the page's console: %v", e)
		default:
			ct.t.Logf("the page's console: %v", e)
		}
	}
}

// checkNoCustomer checks that the page shown holds nothing about the customer.
func (ct *consoleTab) checkNoCustomer(when string) {
	ct.t.Helper()
	html := evalIn[string](ct, `document.documentElement.outerHTML`)
	for _, pii := range []string{"sofia", "ramirez", "2876"} {
		if strings.Contains(strings.ToLower(html), pii) {
			ct.t.Errorf("%s the page (%s) shows %q", when, ct.location(), pii)
		}
	}
}

// screenshot saves a full-page PNG in the test's artifact directory, kept
// with `go test -artifacts`.
func (ct *consoleTab) screenshot(name string) {
	ct.t.Helper()
	png, err := chromedp.Run(ct.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		ct.t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(ct.t.ArtifactDir(), name), png, 0o644); err != nil {
		ct.t.Error(err)
	}
}
