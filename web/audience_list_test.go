package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
)

// newSavingEnv is newAudiencesEnv whose audiences can be saved, and are
// kept current by an engine: a new audience is counted at once.
func newSavingEnv(t *testing.T) (*consoleEnv, *audience.Engine) {
	t.Helper()
	e := newAudiencesEnv(t)
	svc := e.con.c.Audiences
	svc.SaveTo(e.db)
	eng := audience.NewEngine(svc, e.db, e.db, &kith.Source{ID: "src_aud", Name: "kith-audiences", Kind: kith.KindServer}, quiet)
	return e, eng
}

// save posts the builder's form with the Save button, as role.
func (e *consoleEnv) save(role kith.Role, name, expression string) (int, string, string) {
	e.t.Helper()
	return e.do(role, "POST", "/audiences", url.Values{"csrf": {e.session[role].CSRF}, "name": {name}, "expression": {expression}})
}

// counted waits for a new audience's first count to finish.
func counted(t *testing.T, eng *audience.Engine, id string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if p := eng.Progress(id); p != nil && p.Done {
			if p.Error != "" {
				t.Fatal(p.Error)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("audience %s was not counted in 10 s", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var savedRE = regexp.MustCompile(`^/audiences\?saved=(aud_[0-9a-f]+)$`)

// A marketer names the expression in the builder and saves it: the list
// shows it with its size now, what it says, who made it, and a chart of
// its size over time.
func TestSaveAudience(t *testing.T) {
	e, eng := newSavingEnv(t)
	status, _, body := e.do(kith.RoleMarketer, "GET", "/audiences/new", nil)
	for _, want := range []string{`<a href="/audiences" id="all-audiences">← All audiences</a>`,
		`<input id="audience-name" name="name" form="audience-builder" maxlength="200"`,
		`<button type="submit" form="audience-builder" formaction="/audiences" id="save">Save audience</button>`} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("the builder (%d) lacks %s", status, want)
		}
	}

	x := "traits.plan == \"internet\"\r\n  and true"
	status, loc, body := e.save(kith.RoleMarketer, "  Internet customers ", x)
	m := savedRE.FindStringSubmatch(loc)
	if status != http.StatusSeeOther || m == nil {
		t.Fatalf("save: %d to %q, want 303 to the list\n%s", status, loc, body)
	}
	id := m[1]
	counted(t, eng, id)
	now := time.Now().UTC()
	for i, n := range []int{1, 4, 2} {
		at := now.Add(time.Duration(i-3) * 24 * time.Hour).Truncate(time.Minute)
		if err := e.db.RecordAudienceSizes(t.Context(), at, map[string]int{id: n}); err != nil {
			t.Fatal(err)
		}
	}
	// Older than the chart: not drawn.
	if err := e.db.RecordAudienceSizes(t.Context(), now.Add(-40*24*time.Hour), map[string]int{id: 99}); err != nil {
		t.Fatal(err)
	}

	status, _, body = e.do(kith.RoleMarketer, "GET", loc, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", loc, status, body)
	}
	row := audienceRowIn(t, body, id)
	if end := time.Now().UTC(); end.Day() != now.Day() {
		t.Skip("the day changed while the test ran; its dates are of either")
	}
	first, last := now.Add(-3*24*time.Hour).Truncate(time.Minute).Format("2 Jan"), now.Format("2 Jan")
	for _, want := range []string{
		`<tr data-audience="` + id + `" class="saved">`,
		`<span data-testid="audience-name">Internet customers</span>`,
		`<code class="block expr" data-testid="audience-expression">traits.plan == "internet"` + "\n" + `  and true</code>`,
		`<strong class="size" data-testid="audience-size">5</strong>`,
		`<span class="block muted">by user-marketer</span>`,
		`<svg class="spark" viewBox="0 0 280 76" width="280" height="76" role="img" aria-label="Size of Internet customers from ` + first + ` to ` + last +
			`: 1 then, 5 at the end; lowest 1, highest 5 (4 counts)." data-testid="audience-chart" data-points="4">`,
		`<title>Size of Internet customers from ` + first + ` to ` + last + `: 1 then, 5 at the end; lowest 1, highest 5 (4 counts).</title>`,
		`data-testid="chart-max">5</text>`, `data-testid="chart-min">1</text>`,
		`data-testid="chart-first">` + first + `</text>`, `data-testid="chart-last">` + last + `</text>`,
		`<polyline class="spark-line" points="`,
	} {
		if !strings.Contains(row, want) {
			t.Errorf("the list's row lacks %s\n%s", want, row)
		}
	}
	for _, want := range []string{`<a href="/audiences" aria-current="page">Audiences</a>`, `<a class="button primary" href="/audiences/new" id="build">Build an audience</a>`,
		`<p class="ok" role="status" data-testid="audience-saved">Saved “Internet customers”.</p>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %s", want)
		}
	}
	// The list is counts only: nobody is named.
	if strings.Contains(body, "Pat Lee") || strings.Contains(body, "@example.com") {
		t.Errorf("the list shows personal data")
	}
	created, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditAudienceCreate, Limit: 10})
	if err != nil || len(created) != 1 || created[0].Actor.Name != "user-marketer" || created[0].Target != id {
		t.Errorf("the save was recorded as %+v (%v)", created, err)
	}

	// Another audience, saved by an analyst, has no history yet: its chart
	// is its size now.
	status, loc, _ = e.save(kith.RoleAnalyst, "Mobile", `traits.plan == "mobile"`)
	m = savedRE.FindStringSubmatch(loc)
	if status != http.StatusSeeOther || m == nil {
		t.Fatalf("save as analyst: %d to %q", status, loc)
	}
	counted(t, eng, m[1])
	before := time.Now().UTC()
	status, _, body = e.do(kith.RoleAnalyst, "GET", "/audiences", nil)
	after := time.Now().UTC()
	if status != http.StatusOK {
		t.Fatalf("GET /audiences as analyst: %d", status)
	}
	row = audienceRowIn(t, body, m[1])
	for _, want := range []string{`<tr data-audience="` + m[1] + `">`, `data-testid="audience-size">3</strong>`,
		`" data-testid="audience-chart" data-points="1">`, `<circle class="spark-dot"`} {
		if !strings.Contains(row, want) {
			t.Errorf("the new audience's row lacks %s\n%s", want, row)
		}
	}
	label := func(at time.Time) string {
		return `aria-label="Size of Mobile: 3 on ` + at.Format("2 Jan 15:04") + `."`
	}
	if !strings.Contains(row, label(before)) && !strings.Contains(row, label(after)) {
		t.Errorf("the new audience's chart is not labelled with its size now, %s\n%s", label(before), row)
	}
	if strings.Contains(body, `data-testid="audience-saved"`) {
		t.Errorf("the list says something was just saved when nothing was")
	}
	// By name.
	var names []string
	for _, n := range regexp.MustCompile(`data-testid="audience-name">([^<]+)<`).FindAllStringSubmatch(body, -1) {
		names = append(names, n[1])
	}
	if diff := cmp.Diff([]string{"Internet customers", "Mobile"}, names); diff != "" {
		t.Errorf("the list's audiences (-want +got):\n%s", diff)
	}
}

// audienceRowIn returns the list's row of one audience.
func audienceRowIn(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `<tr data-audience="`+id+`"`)
	if i < 0 {
		t.Fatalf("the list has no row for %s\n%s", id, body)
	}
	j := strings.Index(body[i:], "</tr>")
	return body[i : i+j]
}

// What cannot be saved is said on the builder, by the field at fault, with
// what was typed kept; nothing is saved.
func TestSaveAudienceRefused(t *testing.T) {
	e, eng := newSavingEnv(t)
	_, loc, _ := e.save(kith.RoleMarketer, "Internet", `traits.plan == "internet"`)
	if m := savedRE.FindStringSubmatch(loc); m != nil {
		counted(t, eng, m[1])
	}
	for _, c := range []struct {
		name, typed, expression string
		status                  int
		nameError               string // "" when the name is not at fault
		line                    string // the expression's mistake at line:column
	}{
		{"no name", " ", `traits.plan == "mobile"`, http.StatusBadRequest, "An audience needs a name of 1 to 200 characters.", ""},
		{"a long name", strings.Repeat("n", 201), `traits.plan == "mobile"`, http.StatusBadRequest, "An audience needs a name of 1 to 200 characters.", ""},
		{"a name taken", "Internet", `traits.plan == "mobile"`, http.StatusConflict, `An audience named "Internet" exists.`, ""},
		{"an ill-typed expression", "Mobile", "traits.plan == \"mobile\"\r\nand stage > 2", http.StatusBadRequest, "", "2:11"},
		{"no expression", "Mobile", "  ", http.StatusBadRequest, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.save(kith.RoleMarketer, c.typed, c.expression)
			if status != c.status {
				t.Fatalf("%d, want %d\n%s", status, c.status, body)
			}
			for _, want := range []string{"<title>Build an audience · Kith</title>", `id="audience-builder"`,
				`aria-describedby="audience-result">` + strings.ReplaceAll(c.expression, "\r\n", "\n") + "</textarea>",
				`placeholder="e.g. Internet customers"` + "\n" + `          value="` + c.typed + `"`} {
				if !strings.Contains(body, want) {
					t.Errorf("the builder lacks %s", want)
				}
			}
			nameErr := regexp.MustCompile(`data-testid="audience-name-error">([^<]*)</p>`).FindStringSubmatch(body)
			switch {
			case c.nameError == "" && nameErr != nil:
				t.Errorf("the name is said to be at fault: %s", nameErr[1])
			case c.nameError != "" && (nameErr == nil || nameErr[1] != c.nameError):
				t.Errorf("the name's error is %v, want %q", nameErr, c.nameError)
			case c.nameError != "" && !strings.Contains(body, `aria-invalid="true" aria-describedby="audience-name-error"`):
				t.Errorf("the name field is not marked invalid")
			}
			if c.nameError == "" {
				if !strings.Contains(body, `data-testid="audience-save-refused"`) || !strings.Contains(body, `data-testid="audience-error"`) {
					t.Errorf("the builder does not say the expression stopped the save")
				}
				if p := problemRE.FindStringSubmatch(body); c.line != "" && (p == nil || p[1]+":"+p[2] != c.line) {
					t.Errorf("the expression's mistake is shown at %v, want %s", p, c.line)
				}
			}
		})
	}
	defs, err := e.db.Audiences(t.Context())
	if err != nil || len(defs) != 1 {
		t.Errorf("%d audiences saved (%v), want 1", len(defs), err)
	}
}

// Only a role that builds audiences sees or saves them, from a form of this
// console's.
func TestAudienceListPermissions(t *testing.T) {
	e, _ := newSavingEnv(t)
	want := "The agent role may not do this (it needs the audiences:build permission)"
	if status, _, body := e.do(kith.RoleAgent, "GET", "/audiences", nil); status != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("GET /audiences as agent: %d\n%s", status, body)
	}
	if status, _, body := e.save(kith.RoleAgent, "Agents' pick", "true"); status != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("POST /audiences as agent: %d\n%s", status, body)
	}
	if status, loc, _ := e.do("", "GET", "/audiences", nil); status != http.StatusSeeOther || loc != "/login?next=%2Faudiences" {
		t.Errorf("GET /audiences signed out: %d to %s, want 303 to the sign-in", status, loc)
	}
	if status, _, _ := e.do(kith.RoleMarketer, "POST", "/audiences", url.Values{"name": {"No token"}, "expression": {"true"}}); status != http.StatusForbidden {
		t.Errorf("POST /audiences without the CSRF token: %d, want 403", status)
	}
	if defs, _ := e.db.Audiences(t.Context()); len(defs) != 0 {
		t.Errorf("%d audiences saved by refused requests", len(defs))
	}
	for _, role := range []kith.Role{kith.RoleAdmin, kith.RoleMarketer, kith.RoleAnalyst} {
		status, _, body := e.do(role, "GET", "/audiences", nil)
		if status != http.StatusOK || !strings.Contains(body, `data-testid="no-audiences"`) {
			t.Errorf("GET /audiences as %s with none saved: %d\n%s", role, status, body)
		}
	}
	// A console without the audience service has no list.
	plain := newConsoleEnv(t, false)
	if status, _, _ := plain.do(kith.RoleMarketer, "GET", "/audiences", nil); status != http.StatusNotFound {
		t.Errorf("GET /audiences without audiences: %d, want 404", status)
	}
}

func TestSparkline(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	sizes := func(ns ...int) []kith.AudienceSize {
		out := make([]kith.AudienceSize, len(ns))
		for i, n := range ns {
			out[i] = kith.AudienceSize{At: t0.Add(time.Duration(i) * 24 * time.Hour), Size: n}
		}
		return out
	}
	if newSparkline("none", nil) != nil {
		t.Errorf("a chart of nothing")
	}
	// Time runs left to right over the plot, sizes bottom (lowest) to top.
	s := newSparkline("A", sizes(10, 30, 20))
	if s.Line != "44.0,56.0 158.0,8.0 272.0,32.0" || s.Min != 10 || s.Max != 30 || s.First != "1 Nov" || s.Last != "3 Nov" {
		t.Errorf("chart %+v", s)
	}
	if s.Area != "44.0,56.0 "+s.Line+" 272.0,56.0" || s.DotX != 272 || s.DotY != 32 {
		t.Errorf("area %q, dot %v,%v", s.Area, s.DotX, s.DotY)
	}
	// One size: a dot in the middle, dated with its time.
	one := newSparkline("B", sizes(7))
	if one.Line != "158.0,32.0" || one.Area != "" || one.First != "1 Nov 00:00" || one.First != one.Last || one.Desc != "Size of B: 7 on 1 Nov 00:00." {
		t.Errorf("one size: %+v", one)
	}
	// The same size throughout: a flat line across the middle.
	flat := newSparkline("C", sizes(4, 4))
	if flat.Line != "44.0,32.0 272.0,32.0" || flat.Min != 4 || flat.Max != 4 {
		t.Errorf("flat: %+v", flat)
	}
}

// A long history is thinned to the lowest and highest of each stretch of
// time, so a peak of one minute still shows.
func TestThin(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var sizes []kith.AudienceSize
	for i := range 30 * 24 * 60 { // a size a minute for 30 days
		n := 100
		if i == 20000 {
			n = 5000
		}
		if i == 30000 {
			n = 1
		}
		sizes = append(sizes, kith.AudienceSize{At: t0.Add(time.Duration(i) * time.Minute), Size: n})
	}
	got := thin(sizes, sparkBuckets)
	if len(got) > 2*sparkBuckets+2 || got[0] != sizes[0] || got[len(got)-1] != sizes[len(sizes)-1] {
		t.Fatalf("thinned to %d sizes from %v to %v", len(got), got[0], got[len(got)-1])
	}
	var peak, dip bool
	for i, p := range got {
		peak = peak || p.Size == 5000
		dip = dip || p.Size == 1
		if i > 0 && !p.At.After(got[i-1].At) {
			t.Fatalf("thinned sizes out of order at %d: %v after %v", i, p.At, got[i-1].At)
		}
	}
	if !peak || !dip {
		t.Errorf("thinning lost the peak (%v) or the dip (%v)", peak, dip)
	}
	if short := sizes[:100]; len(thin(short, sparkBuckets)) != 100 {
		t.Errorf("a short history was thinned")
	}
	s := newSparkline("Long", sizes)
	if s.Points != len(sizes) || s.Min != 1 || s.Max != 5000 || strings.Count(s.Line, " ")+1 != len(got) {
		t.Errorf("the chart of a long history: %d points, %d..%d, %d drawn", s.Points, s.Min, s.Max, strings.Count(s.Line, " ")+1)
	}
}
