package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLifecycle opens the lifecycle page as an admin, checks that its
// SVG charts are drawn (and drawn under the CSP, with nothing on the page's
// console), asks for a new fit, and opens a customer whose page shows the
// "Value & lifecycle" panel.
func TestBrowserLifecycle(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) {
		c.BootstrapAdminPassword = testAdminPassword
		c.Lifecycle.MinCustomers, c.Lifecycle.MinRepeaters = 40, 10
	})
	id := seedBuyers(t, m, 120)
	if _, err := m.Lifecycle.Fit(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := m.Lifecycle.Sweep(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if m.Lifecycle.Model().Spend == nil {
		t.Fatalf("the models were not fitted to the seeded buyers: %+v", m.Lifecycle.Model())
	}

	tab := openConsoleTab(t, newBrowser(t, chromium), m.URL())
	tab.navigate("/login?next=/lifecycle")
	resp := tab.follow(
		chromedp.SendKeys(chromedp.ID("name"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), testAdminPassword),
		chromedp.Click(chromedp.ID("sign-in")),
	)
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/lifecycle" {
		t.Fatalf("signing in to /lifecycle answered %d at %s", resp.Status, loc)
	}
	if !evalIn[bool](tab, `document.querySelector('header.top nav a[href="/lifecycle"][aria-current]') !== null`) {
		t.Errorf("the menu has no current link to /lifecycle")
	}
	type svgBox struct {
		Section     string  `json:"section"`
		Title       string  `json:"title"`
		Width       float64 `json:"width"`
		Height      float64 `json:"height"`
		Bars        int     `json:"bars"`
		Filled      int     `json:"filled"` // bars with a fill from kith.css
		Thresholds  int     `json:"thresholds"`
		AxisLabels  int     `json:"axisLabels"`
		SampleColor string  `json:"sampleColor"`
	}
	charts := evalIn[[]svgBox](tab, `[...document.querySelectorAll("svg.chart")].map((s) => {
  const r = s.getBoundingClientRect();
  const bars = [...s.querySelectorAll(".bars rect")];
  const fill = (el) => getComputedStyle(el).fill;
  return {
    section: s.closest("section").dataset.testid,
    title: s.querySelector("title")?.textContent ?? "",
    width: r.width, height: r.height, bars: bars.length,
    filled: bars.filter((b) => fill(b) !== "rgb(0, 0, 0)" && fill(b) !== "none").length,
    thresholds: s.querySelectorAll('[data-testid="threshold"] line').length,
    axisLabels: s.querySelectorAll("text.axis-label").length,
    sampleColor: bars.length ? fill(bars[0]) : "",
  };
})`)
	want := map[string]bool{"stages-now": true, "stages-over-time": true, "value-histogram": true}
	for _, c := range charts {
		delete(want, c.Section)
		if c.Width < 200 || c.Height < 100 {
			t.Errorf("chart %s is drawn %gx%g, want a readable size", c.Section, c.Width, c.Height)
		}
		if c.Title == "" || c.AxisLabels != 2 {
			t.Errorf("chart %s has title %q and %d axis labels, want a title and 2", c.Section, c.Title, c.AxisLabels)
		}
		if c.Bars == 0 || c.Filled != c.Bars {
			t.Errorf("chart %s: %d of %d bars coloured by kith.css (first %s)", c.Section, c.Filled, c.Bars, c.SampleColor)
		}
		if c.Section == "value-histogram" && c.Thresholds != 2 {
			t.Errorf("the value histogram marks %d thresholds, want 2", c.Thresholds)
		}
	}
	for s := range want {
		t.Errorf("the lifecycle page draws no %s chart", s)
	}
	if got := tab.text(`[data-testid="params"]`); !strings.Contains(got, "BG/NBD") || !strings.Contains(got, "Gamma-Gamma") {
		t.Errorf("the fitted parameters read %q", got)
	}
	tab.checkAssets()
	tab.checkConsole(nil)
	tab.screenshot("lifecycle.png")

	// Fit again: back on the page, saying the fit was asked for.
	resp = tab.follow(chromedp.Click(chromedp.ID("fit-again")))
	if loc := tab.location(); resp.Status != 200 || loc.Path != "/lifecycle" {
		t.Errorf("Fit again answered %d at %s, want 200 at /lifecycle", resp.Status, loc)
	}
	if got := tab.text(`[role="status"]`); !strings.Contains(got, "fit") {
		t.Errorf("after Fit again the page says %q", got)
	}
	tab.checkConsole(nil)

	// A customer's page shows where they stand.
	tab.navigate("/profiles/" + id)
	if got := tab.text(`[data-testid="value-panel"] h2`); got != "Value & lifecycle" {
		t.Errorf("the customer's panel is headed %q", got)
	}
	for sel, check := range map[string]func(string) bool{
		`[data-testid="stage"]`:     func(s string) bool { return s != "" },
		`[data-testid="touch"]`:     func(s string) bool { return strings.HasSuffix(s, "touch") },
		`[data-testid="p-alive"]`:   func(s string) bool { return strings.HasSuffix(s, "%") },
		`[data-testid="ltv"]`:       func(s string) bool { return strings.Contains(s, ".") },
		`[data-testid="purchases"]`: func(s string) bool { return s == "5" },
		`[data-testid="spent"]`:     func(s string) bool { return s == "1,000.00" },
	} {
		if got := tab.text(sel); !check(got) {
			t.Errorf("the customer's panel shows %q in %s", got, sel)
		}
	}
	tab.screenshot("customer-value.png")
	tab.checkConsole(nil)
}

// seedBuyers sends the orders of n buyers who buy at their own pace while
// they last, as the purchase models assume, and returns the profile id of
// the first, who bought five times for 200.00 each, lately.
func seedBuyers(t *testing.T, m *Main, n int) string {
	t.Helper()
	c := newProfileClient(t, m)
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(1, 2))
	var batch []map[string]any
	order := func(user string, k int, at time.Time, amount float64) {
		batch = append(batch, msg("track", fmt.Sprintf("%s-o%d", user, k), at, map[string]any{"userId": user,
			"event": "Order Completed", "properties": map[string]any{"order_id": fmt.Sprintf("%s-%d", user, k),
				"revenue": math.Round(amount*100) / 100}}))
	}
	const week = 7 * 24 * time.Hour
	for i := range n {
		user := fmt.Sprintf("buyer-%03d", i)
		if i == 0 {
			for k := range 5 {
				order(user, k, now.Add(-time.Duration(4+30*k)*24*time.Hour), 200)
			}
			continue
		}
		rate := rng.ExpFloat64() * 0.15 // purchases a week while alive
		life := rng.ExpFloat64() * 40   // weeks
		first := now.Add(-time.Duration(rng.Float64() * 80 * float64(week)))
		end := first.Add(time.Duration(life * float64(week)))
		spend := 30 + rng.ExpFloat64()*60
		at := first
		for k := 0; at.Before(now) && at.Before(end) && k < 20; k++ {
			order(user, k, at, spend*(0.7+0.6*rng.Float64()))
			at = at.Add(time.Duration(rng.ExpFloat64() / rate * float64(week)))
		}
		if len(batch) >= 200 {
			c.send(testWriteKey, batch...)
			batch = nil
		}
	}
	if len(batch) > 0 {
		c.send(testWriteKey, batch...)
	}
	c.waitProcessed()
	return c.lookup("user_id", "buyer-000").ID
}
