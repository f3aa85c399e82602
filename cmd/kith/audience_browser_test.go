package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// TestBrowserAudienceBuilder is a marketer building an audience in headless
// Chromium: from the menu to the builder, types an expression over a trait
// and sees how many people match and who they are, changes it and sees the
// count follow without leaving the page, mistypes one and is shown the line
// and column, and starts again from an example.
func TestBrowserAudienceBuilder(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	var msgs []map[string]any
	for i := range 7 {
		plan := "internet"
		if i >= 4 {
			plan = "mobile"
		}
		msgs = append(msgs, msg("identify", fmt.Sprint("w", i), time.Now().UTC(), map[string]any{"userId": fmt.Sprint("pat-", i),
			"traits": map[string]any{"plan": plan, "name": fmt.Sprint("Pat Lee", i), "email": fmt.Sprintf("pat%d@example.com", i)}}))
	}
	c.send(webKey, msgs...)
	c.waitProcessed()
	profiles := map[string]string{} // name → profile id
	for i := range 7 {
		profiles[fmt.Sprint("Pat Lee", i)] = c.lookup("email", fmt.Sprintf("pat%d@example.com", i)).ID
	}
	if _, err := m.Users.Add(t.Context(), "marketer1", "marketer", "password-of-marketer1"); err != nil {
		t.Fatal(err)
	}
	tab := openConsoleTab(t, newBrowser(t, chromium), m.URL())
	signInAs(tab, "marketer1")
	// The menu leads to the saved audiences, and they to the builder.
	resp := tab.follow(chromedp.Click(chromedp.CSS(`header.top nav a[href="/audiences"]`)))
	if loc := tab.location(); resp.Status != 200 || loc.String() != m.URL()+"/audiences" {
		t.Fatalf("the menu's Audiences answered %d at %s, want 200 at /audiences", resp.Status, loc)
	}
	resp = tab.follow(chromedp.Click(chromedp.CSS(`#build`)))
	builder := m.URL() + "/audiences/new"
	if loc := tab.location(); resp.Status != 200 || loc.String() != builder {
		t.Fatalf("Build an audience answered %d at %s, want 200 at %s", resp.Status, loc, builder)
	}
	if got := tab.text(`header.top nav a[aria-current]`); got != "Audiences" {
		t.Errorf("the menu's current page is %q, want Audiences", got)
	}
	if got := tab.text(`[data-testid="audience-hint"]`); !strings.HasPrefix(got, "Type an expression") {
		t.Errorf("before anything is typed the builder says %q", got)
	}
	tab.checkAssets()
	tab.checkConsole(nil)

	// Internet, then mobile: the count follows the expression.
	for _, want := range []shownAudience{
		{Expression: `traits.plan == "internet"`, Count: "4", Scanned: "7", Sample: []string{"Pat Lee0", "Pat Lee1", "Pat Lee2", "Pat Lee3"}},
		{Expression: `traits.plan == "mobile"`, Count: "3", Scanned: "7", Sample: []string{"Pat Lee4", "Pat Lee5", "Pat Lee6"}},
	} {
		start := time.Now()
		tab.retype("#expression", want.Expression)
		got := tab.audienceShown(want.Expression)
		took := time.Since(start)
		for i, name := range got.Sample {
			if href := "/profiles/" + profiles[name]; got.Links[i] != href {
				t.Errorf("%s links to %s, want %s", name, got.Links[i], href)
			}
		}
		slices.Sort(got.Sample)
		got.Links = nil
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after typing %s the builder shows (-want +got):\n%s", want.Expression, diff)
		}
		t.Logf("%s: %s of %s people after %s", want.Expression, got.Count, got.Scanned, took.Round(time.Millisecond))
	}
	if loc := tab.location(); loc.String() != builder {
		t.Errorf("typing left the builder for %s", loc)
	}
	if got := tab.status(m.URL() + "/audiences/preview"); got != 200 {
		t.Errorf("the last preview was answered %d, want 200", got)
	}
	tab.checkConsole(nil)
	tab.screenshot("audience-builder.png")

	// An ill-typed expression over two lines: where, why, and the
	// character there marked; its position selects it in the expression.
	typed := "traits.plan == \"mobile\"\nand stage > 2"
	tab.retype("#expression", typed)
	got := tab.audienceShown(typed)
	if got.Count != "" || len(got.Sample) != 0 || got.Position != "Line 2, column 11" ||
		!strings.Contains(got.Reason, "mismatched types string and int") || got.Marked != ">" {
		t.Errorf("after typing an ill-typed expression the builder shows %+v", got)
	}
	if err := chromedp.Do(tab.ctx, chromedp.Click(chromedp.CSS(`[data-testid="audience-error-position"]`))); err != nil {
		t.Fatalf("click the position: %v", err)
	}
	sel := evalIn[[]int](tab, `(() => { const e = document.getElementById("expression"); return document.activeElement === e ? [e.selectionStart, e.selectionEnd] : []; })()`)
	if at := strings.LastIndex(typed, ">"); !slices.Equal(sel, []int{at, at + 1}) {
		t.Errorf("clicking the position selected %v in the expression, want [%d %d]", sel, at, at+1)
	}
	tab.checkConsole(nil)
	tab.screenshot("audience-error.png")

	// An example replaces the expression, and is counted.
	if err := chromedp.Do(tab.ctx, chromedp.Click(chromedp.CSS(`a[data-example]`))); err != nil {
		t.Fatalf("click an example: %v", err)
	}
	example := evalIn[string](tab, `document.querySelector("a[data-example]").dataset.example`)
	if v := evalIn[string](tab, `document.getElementById("expression").value`); v != example || example != `traits.plan == "internet"` {
		t.Errorf("the example %q put %q in the expression", example, v)
	}
	if got := tab.audienceShown(example); got.Count != "4" {
		t.Errorf("the example counts %+v, want 4 people", got)
	}
	if loc := tab.location(); loc.String() != builder {
		t.Errorf("the example left the builder for %s", loc)
	}

	// An example opened in a tab of its own is counted at once.
	tab.navigate("/audiences/new?" + url.Values{"expression": {`traits.plan == "mobile"`}}.Encode())
	if got := tab.audienceShown(`traits.plan == "mobile"`); got.Count != "3" {
		t.Errorf("the builder opened with an expression counts %+v, want 3 people", got)
	}
	tab.checkAssets()
	tab.checkConsole(nil)
}

// TestBrowserSaveAudience is a marketer saving an audience in headless
// Chromium: types an expression in the builder, names it and saves it,
// lands on the list of audiences and sees it there with its size and a
// chart of its size over time; a second audience under the same name is
// refused on the builder, by the name, with what was typed kept.
func TestBrowserSaveAudience(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, func(c *Config) { c.BootstrapAdminPassword = testAdminPassword })
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	var msgs []map[string]any
	for i := range 7 {
		plan := "internet"
		if i >= 4 {
			plan = "mobile"
		}
		msgs = append(msgs, msg("identify", fmt.Sprint("w", i), time.Now().UTC(), map[string]any{"userId": fmt.Sprint("pat-", i),
			"traits": map[string]any{"plan": plan, "name": fmt.Sprint("Pat Lee", i)}}))
	}
	c.send(webKey, msgs...)
	c.waitProcessed()
	if _, err := m.Users.Add(t.Context(), "marketer1", "marketer", "password-of-marketer1"); err != nil {
		t.Fatal(err)
	}
	tab := openConsoleTab(t, newBrowser(t, chromium), m.URL())
	signInAs(tab, "marketer1")
	tab.navigate("/audiences")
	if got := tab.text(`[data-testid="no-audiences"]`); !strings.HasPrefix(got, "No saved audiences yet") {
		t.Errorf("before any is saved the list says %q", got)
	}
	tab.follow(chromedp.Click(chromedp.CSS(`#build`)))

	x := `traits.plan == "internet"`
	tab.retype("#expression", x)
	if got := tab.audienceShown(x); got.Count != "4" {
		t.Fatalf("the builder counts %+v, want 4 people", got)
	}
	tab.retype("#audience-name", "Internet customers")
	resp := tab.follow(chromedp.Click(chromedp.CSS(`#save`)))
	loc := tab.location()
	if resp.Status != 200 || loc.Path != "/audiences" || !strings.HasPrefix(loc.Query().Get("saved"), "aud_") {
		t.Fatalf("Save audience answered %d at %s, want 200 on the list", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="audience-saved"]`); !strings.HasPrefix(got, "Saved “Internet customers”.") {
		t.Errorf("the list says %q after saving", got)
	}
	// Its members are counted in the background: the list shows its size
	// once they are.
	var got listedAudience
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = evalIn[listedAudience](tab, listedAudienceJS)
		if got.Size == "4" && !got.Counting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the list shows %+v, want a size of 4", got)
		}
		time.Sleep(100 * time.Millisecond)
		tab.navigate("/audiences?saved=" + loc.Query().Get("saved"))
	}
	want := listedAudience{Name: "Internet customers", Expression: x, Size: "4", Created: "by marketer1", Chart: true, ChartDrawn: true}
	want.ChartLabel = got.ChartLabel // checked below
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the list shows (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got.ChartLabel, "Size of Internet customers: 4 on ") {
		t.Errorf("the chart is labelled %q", got.ChartLabel)
	}
	tab.checkAssets()
	tab.checkConsole(nil)
	tab.screenshot("audience-list.png")

	// The same name again, saved with Enter: refused by the name, the
	// builder keeping what was typed.
	tab.follow(chromedp.Click(chromedp.CSS(`#build`)))
	tab.retype("#expression", `traits.plan == "mobile"`)
	tab.retype("#audience-name", "Internet customers")
	resp = tab.follow(chromedp.SendKeys(chromedp.CSS("#audience-name"), "\r"))
	if loc := tab.location(); resp.Status != 409 || loc.Path != "/audiences" {
		t.Errorf("saving a name taken answered %d at %s, want 409", resp.Status, loc)
	}
	if got := tab.text(`[data-testid="audience-name-error"]`); got != `An audience named "Internet customers" exists.` {
		t.Errorf("the name's error says %q", got)
	}
	if v := evalIn[[]string](tab, `["expression", "audience-name"].map((id) => document.getElementById(id).value)`); !slices.Equal(v, []string{`traits.plan == "mobile"`, "Internet customers"}) {
		t.Errorf("the builder kept %q", v)
	}
	if inv := evalIn[string](tab, `document.getElementById("audience-name").getAttribute("aria-invalid") ?? ""`); inv != "true" {
		t.Errorf("the name field is not marked invalid")
	}
	tab.checkConsole([]string{m.URL() + "/audiences"})
	tab.screenshot("audience-name-taken.png")
}

// listedAudience is the first row of the list of audiences as the browser
// draws it.
type listedAudience struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Size       string `json:"size"`
	Counting   bool   `json:"counting"`
	Created    string `json:"created"`
	Chart      bool   `json:"chart"`      // an SVG chart, labelled for screen readers
	ChartDrawn bool   `json:"chartDrawn"` // with a line or a dot on the page
	ChartLabel string `json:"chartLabel"`
}

const listedAudienceJS = `(() => {
  const r = document.querySelector("table.audiences tbody tr");
  if (!r) return {};
  const q = (s) => r.querySelector(s)?.innerText.trim() ?? "";
  const svg = r.querySelector('svg[data-testid="audience-chart"]');
  const box = svg?.querySelector(".spark-dot")?.getBoundingClientRect();
  return {
    name: q('[data-testid="audience-name"]'), expression: q('[data-testid="audience-expression"]'),
    size: q('[data-testid="audience-size"]'), counting: !!r.querySelector('[data-testid="audience-counting"]'),
    created: q("td:last-child .block"),
    chart: !!svg && svg.getAttribute("role") === "img" && !!svg.querySelector("title")?.textContent,
    chartDrawn: !!box && box.width > 0 && box.height > 0,
    chartLabel: svg?.getAttribute("aria-label") ?? "",
  };
})()`

// shownAudience is the builder's result as the browser draws it.
type shownAudience struct {
	Expression string   `json:"expression"`
	Count      string   `json:"count"`
	Scanned    string   `json:"scanned"`
	Sample     []string `json:"sample"` // the names
	Links      []string `json:"links"`  // where each name leads
	Position   string   `json:"position"`
	Reason     string   `json:"reason"`
	Marked     string   `json:"marked"`
}

const shownAudienceJS = `(() => {
  const r = document.getElementById("audience-result");
  const q = (s) => r.querySelector(s)?.textContent.trim() ?? "";
  const as = [...r.querySelectorAll('[data-testid="audience-sample"] a')];
  return {
    expression: r.querySelector("[data-expression]")?.dataset.expression ?? "",
    count: q('[data-testid="audience-count"]'), scanned: q('[data-testid="audience-scanned"]'),
    sample: as.map((a) => a.textContent.trim()), links: as.map((a) => new URL(a.href).pathname),
    position: q('[data-testid="audience-error-position"]'), reason: q('[data-testid="audience-error-reason"]'),
    marked: r.querySelector(".expr-line mark")?.textContent ?? "",
  };
})()`

// retype replaces the text of the input or textarea sel with text, typed.
func (ct *consoleTab) retype(sel, text string) {
	ct.t.Helper()
	q, _ := json.Marshal(sel)
	evalIn[bool](ct, `(() => { document.querySelector(`+string(q)+`).select(); return true; })()`)
	if err := chromedp.Do(ct.ctx, chromedp.SendKeys(chromedp.CSS(sel), text)); err != nil {
		ct.t.Fatalf("type %q: %v", text, err)
	}
	if v := evalIn[string](ct, `document.querySelector(`+string(q)+`).value`); v != text {
		ct.t.Fatalf("typed %q, the field holds %q", text, v)
	}
}

// audienceShown waits for the builder to show the result for expression,
// as the marketer would (the count comes after a pause in typing), and
// returns it.
func (ct *consoleTab) audienceShown(expression string) shownAudience {
	ct.t.Helper()
	x, _ := json.Marshal(strings.TrimSpace(expression))
	_, err := chromedp.Run(ct.ctx, chromedp.Poll[bool](`(() => {
		const r = document.getElementById("audience-result");
		return !r.hasAttribute("aria-busy") && r.querySelector("[data-expression]")?.dataset.expression === `+string(x)+`;
	})()`, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		ct.t.Fatalf("the builder did not show the result for %s: %v\nit shows %+v", expression, err, evalIn[shownAudience](ct, shownAudienceJS))
	}
	return evalIn[shownAudience](ct, shownAudienceJS)
}
