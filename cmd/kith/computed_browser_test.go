package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// TestBrowserComputedTraits is a marketer defining a computed trait in
// headless Chromium: from the menu to the computed traits, defines the
// total each person spent from the form, sees it listed and computed over
// everyone's past orders, is refused a second one under the same name by
// the name with what was typed kept, and opens a customer whose orders it
// counts: the customer's page shows its value, kept current by a new order.
func TestBrowserComputedTraits(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	c := newProfileClient(t, m)
	_, shopKey := c.createSource("shop", "web")
	order := func(id, user string, at time.Time, revenue float64) map[string]any {
		return msg("track", id, at, map[string]any{"userId": user, "event": "Order Completed",
			"properties": map[string]any{"order_id": id, "revenue": revenue}})
	}
	c.send(shopKey, order("o1", "ct-ann", t0, 40), order("o2", "ct-ann", t0.Add(time.Hour), 25.5), order("o3", "ct-bob", t0, 10))
	c.waitProcessed()
	ann := c.lookup("user_id", "ct-ann").ID
	if _, err := m.Users.Add(t.Context(), "marketer1", "marketer", "password-of-marketer1"); err != nil {
		t.Fatal(err)
	}
	tab := openConsoleTab(t, newBrowser(t, chromium), m.URL())
	signInAs(tab, "marketer1")

	// The menu leads to the computed traits, next to Audiences.
	if got := evalIn[[]string](tab, `[...document.querySelectorAll("header.top nav a")].map((a) => a.textContent.trim())`); !slices.Contains(got, "Computed traits") ||
		slices.Index(got, "Computed traits") != slices.Index(got, "Audiences")+1 {
		t.Errorf("the menu reads %q, want Computed traits after Audiences", got)
	}
	resp := tab.follow(chromedp.Click(chromedp.CSS(`header.top nav a[href="/computed"]`)))
	if loc := tab.location(); resp.Status != 200 || loc.String() != m.URL()+"/computed" {
		t.Fatalf("the menu's Computed traits answered %d at %s, want 200 at /computed", resp.Status, loc)
	}
	if got := tab.text(`header.top nav a[aria-current]`); got != "Computed traits" {
		t.Errorf("the menu's current page is %q, want Computed traits", got)
	}
	if got := tab.text(`[data-testid="no-computed"]`); !strings.HasPrefix(got, "No computed traits yet") {
		t.Errorf("before any is defined the page says %q", got)
	}
	tab.checkAssets()
	tab.checkConsole(nil)

	// Define the total spent.
	tab.retype("#computed-name", "total_spend")
	if err := chromedp.Do(tab.ctx, chromedp.SetValue(chromedp.CSS("#computed-function"), "sum")); err != nil {
		t.Fatal(err)
	}
	tab.retype("#computed-event", "Order Completed")
	tab.retype("#computed-property", "revenue")
	resp = tab.follow(chromedp.Click(chromedp.CSS(`#define`)))
	if loc := tab.location(); resp.Status != 200 || loc.String() != m.URL()+"/computed?defined=total_spend" {
		t.Fatalf("Define answered %d at %s, want 200 on the list", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="computed-defined"]`); !strings.HasPrefix(got, "Defined computed.total_spend.") {
		t.Errorf("the list says %q after defining", got)
	}
	// It is computed over everyone's past orders in the background: the
	// list says so once it is done.
	var got listedComputed
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = evalIn[listedComputed](tab, listedComputedJS)
		if strings.HasPrefix(got.Values, "kept current") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the list shows %+v, want total_spend kept current", got)
		}
		time.Sleep(100 * time.Millisecond)
		tab.navigate("/computed?defined=total_spend")
	}
	want := listedComputed{Name: "total_spend", Description: `sum of revenue in "Order Completed" events`, Window: "all time",
		Values: "kept current; computed over 2 of 2 profiles", By: "by marketer1", Marked: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the list shows (-want +got):\n%s", diff)
	}
	tab.checkAssets()
	tab.checkConsole(nil)
	tab.screenshot("computed-list.png")

	// The same name again, sent with Enter: refused by the name, with what
	// was typed kept.
	tab.retype("#computed-name", "total_spend")
	tab.retype("#computed-event", "Product Viewed")
	resp = tab.follow(chromedp.SendKeys(chromedp.CSS("#computed-name"), "\r"))
	if loc := tab.location(); resp.Status != 409 || loc.Path != "/computed" {
		t.Errorf("defining a name taken answered %d at %s, want 409", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="computed-name-error"]`); got != `A computed trait named "total_spend" exists.` {
		t.Errorf("the name's error says %q", got)
	}
	kept := evalIn[[]string](tab, `["computed-name", "computed-function", "computed-event", "computed-property", "computed-window"].map((id) => document.getElementById(id).value)`)
	if want := []string{"total_spend", "count", "Product Viewed", "", ""}; !slices.Equal(kept, want) {
		t.Errorf("the form kept %q, want %q", kept, want)
	}
	focus := evalIn[[]string](tab, `[document.activeElement.id, document.getElementById("computed-name").getAttribute("aria-invalid") ?? ""]`)
	if !slices.Equal(focus, []string{"computed-name", "true"}) {
		t.Errorf("the focus and the name's aria-invalid are %q, want the name, invalid", focus)
	}
	tab.checkConsole([]string{m.URL() + "/computed"})
	tab.screenshot("computed-name-taken.png")

	// The customer's page shows the value now, described; a new order
	// moves it.
	for _, want := range []string{"65.5", "100.5"} {
		tab.navigate("/profiles/" + ann)
		got := evalIn[shownComputed](tab, shownComputedJS)
		if diff := cmp.Diff(shownComputed{Name: "total_spend", Value: want, Title: `sum of revenue in "Order Completed" events`,
			Description: `sum of revenue in "Order Completed" events`, Heading: "Computed traits from their events, now"}, got); diff != "" {
			t.Errorf("the customer's page shows (-want +got):\n%s", diff)
		}
		if want == "65.5" {
			tab.checkAssets()
			tab.checkConsole(nil)
			tab.screenshot("computed-profile.png")
			c.send(shopKey, order("o4", "ct-ann", t0.Add(2*time.Hour), 35))
			c.waitProcessed()
		}
	}

	// The builder's reference leads to them too.
	tab.navigate("/audiences/new")
	if got := tab.text(`[data-testid="computed-defined-names"]`); got != "Defined now: computed.total_spend." {
		t.Errorf("the builder's reference says %q", got)
	}
	resp = tab.follow(chromedp.Click(chromedp.CSS(`[data-testid="computed-link"]`)))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/computed" {
		t.Errorf("the reference's link answered %d at %s, want 200 at /computed", resp.Status, loc)
	}
	tab.checkConsole(nil)
}

// listedComputed is the first row of the list of computed traits as the
// browser draws it.
type listedComputed struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Window      string `json:"window"`
	Values      string `json:"values"`
	By          string `json:"by"`
	Marked      bool   `json:"marked"` // as the one just defined
}

const listedComputedJS = `(() => {
  const r = document.querySelector("table.computed tbody tr");
  if (!r) return {};
  const q = (s) => r.querySelector(s)?.innerText.trim() ?? "";
  return {
    name: q('[data-testid="computed-name"]'), description: q('[data-testid="computed-description"]'),
    window: q('[data-testid="computed-window"]'), values: q('[data-testid="computed-backfill"]'),
    by: q('[data-testid="computed-by"]'), marked: r.classList.contains("saved"),
  };
})()`

// shownComputed is the first computed trait of the customer's page as the
// browser draws it, with its panel's heading.
type shownComputed struct {
	Heading     string `json:"heading"`
	Name        string `json:"name"`
	Value       string `json:"value"`
	Title       string `json:"title"` // the row's tooltip
	Description string `json:"description"`
}

const shownComputedJS = `(() => {
  const p = document.querySelector('[data-testid="computed-panel"]');
  if (!p) return {};
  const r = p.querySelector("tbody tr");
  const q = (s) => r?.querySelector(s)?.innerText.trim() ?? "";
  return {
    heading: p.querySelector("h2").innerText.trim(), name: q("code"), value: q('[data-testid="computed-value"]'),
    title: r?.title ?? "", description: q('[data-testid="computed-description"]'),
  };
})()`
