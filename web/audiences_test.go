package web

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
)

// newAudiencesEnv is a console with the audience builder and eight people
// with a plan: Pat Lee0 to Lee4 on internet, Lee5 to Lee7 on mobile.
func newAudiencesEnv(t *testing.T) *consoleEnv {
	t.Helper()
	e := newConsoleEnv(t, false)
	cfg := e.con.c
	cfg.Audiences = audience.New(e.db, nil, nil, e.db)
	var err error
	if e.con, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 8 {
		plan := "internet"
		if i >= 5 {
			plan = "mobile"
		}
		id, user := fmt.Sprint("m", i), fmt.Sprint("pat-", i)
		p, _ := json.Marshal(map[string]any{"type": "identify", "messageId": id, "userId": user, "timestamp": now.Format(time.RFC3339Nano),
			"traits": map[string]any{"plan": plan, "name": fmt.Sprint("Pat Lee", i), "email": fmt.Sprintf("pat%d@example.com", i)}})
		e.pending = append(e.pending, kith.Event{MessageID: id, Type: kith.TypeIdentify, SourceID: e.src.ID, Channel: e.src.Kind,
			UserID: user, Timestamp: now, ReceivedAt: now, Payload: p})
	}
	e.process()
	return e
}

// preview posts an expression to path as role, as the builder's form does.
func (e *consoleEnv) preview(role kith.Role, path, expression string) (int, string) {
	e.t.Helper()
	status, _, body := e.do(role, "POST", path, url.Values{"csrf": {e.session[role].CSRF}, "expression": {expression}})
	return status, body
}

var (
	countRE   = regexp.MustCompile(`data-testid="audience-count">(\d+)</strong> of <span data-testid="audience-scanned">(\d+)<`)
	sampleRE  = regexp.MustCompile(`<li><a href="/profiles/(prf_[^"]+)" data-profile="[^"]+">([^<]*(?:<code>[^<]*</code>)?)</a></li>`)
	problemRE = regexp.MustCompile(`data-line="(\d+)" data-column="(\d+)"`)
	exampleRE = regexp.MustCompile(`<a href="([^"]+)" data-example="(.*?)">([^<]+)</a>`)
)

// shownCount is "count of scanned" as the result shows it.
func shownCount(t *testing.T, body string) string {
	t.Helper()
	m := countRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no count in\n%s", body)
	}
	return m[1] + " of " + m[2]
}

func TestAudienceBuilderByRole(t *testing.T) {
	e := newAudiencesEnv(t)
	for _, role := range []kith.Role{kith.RoleAdmin, kith.RoleMarketer, kith.RoleAnalyst} {
		t.Run(string(role), func(t *testing.T) {
			status, _, body := e.do(role, "GET", "/audiences/new", nil)
			if status != http.StatusOK {
				t.Fatalf("GET /audiences/new as %s: %d\n%s", role, status, body)
			}
			for _, want := range []string{`<a href="/audiences" aria-current="page">Audiences</a>`, `<form method="post" action="/audiences/new" id="audience-builder" data-preview="/audiences/preview">`,
				`<textarea id="expression" name="expression"`, `<input type="hidden" name="csrf" value="` + e.session[role].CSRF + `">`,
				`id="preview">Preview</button>`, `data-testid="audience-hint"`} {
				if !strings.Contains(body, want) {
					t.Errorf("the builder as %s lacks %s", role, want)
				}
			}
			for _, n := range audienceNames {
				if !strings.Contains(body, "<dt><code>"+n.Name+"</code></dt>") {
					t.Errorf("the reference lacks %s", n.Name)
				}
			}
			// Each example is a link to the builder with it, which the
			// script turns into inserting it.
			var links, want []string
			for _, m := range exampleRE.FindAllStringSubmatch(body, -1) {
				u, err := url.Parse(m[1])
				if err != nil || u.Path != "/audiences/new" || u.Query().Get("expression") != m[2] {
					t.Errorf("the example %s links to %s (%v)", m[2], m[1], err)
				}
				links = append(links, m[2]+" "+m[3])
			}
			for _, x := range audienceExamples {
				want = append(want, x.Expression+" "+x.Label)
			}
			if diff := cmp.Diff(want, links); diff != "" {
				t.Errorf("the examples (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("agent", func(t *testing.T) {
		want := "The agent role may not do this (it needs the audiences:build permission)"
		status, _, body := e.do(kith.RoleAgent, "GET", "/audiences/new", nil)
		if status != http.StatusForbidden || !strings.Contains(body, want) {
			t.Errorf("GET /audiences/new as agent: %d, want 403 saying %q\n%s", status, want, body)
		}
		_, _, home := e.do(kith.RoleAgent, "GET", "/", nil)
		if strings.Contains(home, `href="/audiences`) {
			t.Errorf("the agent's menu links to the audiences")
		}
		for _, path := range []string{"/audiences/preview", "/audiences/new"} {
			status, body = e.preview(kith.RoleAgent, path, `traits.plan == "internet"`)
			if status != http.StatusForbidden || !strings.Contains(body, want) || strings.Contains(body, "Pat Lee") {
				t.Errorf("POST %s as agent: %d\n%s", path, status, body)
			}
		}
		denied, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditPermissionDenied, Limit: 10})
		if err != nil || len(denied) != 3 {
			t.Errorf("refusals recorded: %d, %v; want 3", len(denied), err)
		}
	})

	t.Run("prefilled by an example link", func(t *testing.T) {
		x := audienceExamples[1].Expression
		status, _, body := e.do(kith.RoleMarketer, "GET", "/audiences/new?expression="+url.QueryEscape(x), nil)
		if status != http.StatusOK || !strings.Contains(body, "autofocus\n        placeholder='traits.plan == \"internet\" and stage == \"active\"' aria-describedby=\"audience-result\">"+x+"</textarea>") {
			t.Errorf("the builder opened from an example: %d\n%s", status, body)
		}
		if countRE.MatchString(body) {
			t.Errorf("opening the builder previewed the expression; only the form asks for that")
		}
	})
}

// A marketer sees who matches by name, an analyst by profile id only.
func TestAudiencePreviewByRole(t *testing.T) {
	e := newAudiencesEnv(t)
	for _, c := range []struct {
		role  kith.Role
		names bool
	}{
		{kith.RoleMarketer, true},
		{kith.RoleAdmin, true},
		{kith.RoleAnalyst, false},
	} {
		t.Run(string(c.role), func(t *testing.T) {
			for _, x := range []struct {
				expression, count string
				sample            int
			}{
				{`traits.plan == "internet"`, "5 of 8", 5},
				{`traits.plan == "mobile"`, "3 of 8", 3},
				{`traits.plan == "dial-up"`, "0 of 8", 0},
			} {
				status, body := e.preview(c.role, "/audiences/preview", x.expression)
				if status != http.StatusOK {
					t.Fatalf("preview %s: %d\n%s", x.expression, status, body)
				}
				if strings.Contains(body, "<html") || strings.Contains(body, `id="audience-builder"`) {
					t.Errorf("the preview for the script is a whole page")
				}
				if !strings.Contains(body, `data-testid="audience-preview" data-expression="`+x.expression+`"`) {
					t.Errorf("the preview does not say which expression it counted")
				}
				if got := shownCount(t, body); got != x.count {
					t.Errorf("%s: %s people match, want %s", x.expression, got, x.count)
				}
				sample := sampleRE.FindAllStringSubmatch(body, -1)
				if len(sample) != x.sample {
					t.Errorf("%s: a sample of %d, want %d", x.expression, len(sample), x.sample)
				}
				for _, s := range sample {
					if named := strings.HasPrefix(s[2], "Pat Lee"); named != c.names {
						t.Errorf("as %s a member shows as %q", c.role, s[2])
					}
					if !c.names && s[2] != "<code>"+s[1]+"</code>" {
						t.Errorf("as %s a member shows as %q, want the profile id", c.role, s[2])
					}
				}
				if !c.names && (strings.Contains(body, "Lee") || strings.Contains(body, "@example.com")) {
					t.Errorf("the %s's preview shows personal data:\n%s", c.role, body)
				}
			}
		})
	}
	// The sample is recorded as found, as a search would be.
	found, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditProfileSearch, Limit: 100})
	if err != nil || len(found) != 3*8 {
		t.Errorf("%d profiles recorded as found (%v), want 24", len(found), err)
	}
}

func TestAudiencePreviewNeedsCSRF(t *testing.T) {
	e := newAudiencesEnv(t)
	post := func(role kith.Role, form url.Values, origin string) (int, string) {
		r := httptest.NewRequest("POST", "http://kith.example/audiences/preview", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if role != "" {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.secret[role]})
		}
		w := httptest.NewRecorder()
		e.con.ServeHTTP(w, r)
		return w.Code, html.UnescapeString(w.Body.String())
	}
	x := `traits.plan == "internet"`
	csrf := e.session[kith.RoleMarketer].CSRF
	for _, c := range []struct {
		name   string
		role   kith.Role
		form   url.Values
		origin string
		status int
	}{
		{"no token", kith.RoleMarketer, url.Values{"expression": {x}}, "http://kith.example", http.StatusForbidden},
		{"another session's token", kith.RoleMarketer, url.Values{"expression": {x}, "csrf": {e.session[kith.RoleAnalyst].CSRF}}, "http://kith.example", http.StatusForbidden},
		{"another site", kith.RoleMarketer, url.Values{"expression": {x}, "csrf": {csrf}}, "http://evil.example", http.StatusForbidden},
		{"signed out", "", url.Values{"expression": {x}, "csrf": {csrf}}, "http://kith.example", http.StatusUnauthorized},
		{"as the builder sends it", kith.RoleMarketer, url.Values{"expression": {x}, "csrf": {csrf}}, "http://kith.example", http.StatusOK},
	} {
		status, body := post(c.role, c.form, c.origin)
		if status != c.status {
			t.Errorf("%s: %d, want %d\n%s", c.name, status, c.status, body)
			continue
		}
		if got := strings.Contains(body, "Pat Lee"); got != (c.status == http.StatusOK) {
			t.Errorf("%s: the answer names who matches: %v", c.name, got)
		}
	}
}

// An ill-typed expression is shown with its line, column and reason, the
// character there marked, on the page and in the part the script asks for.
func TestAudiencePreviewIllTyped(t *testing.T) {
	e := newAudiencesEnv(t)
	for _, c := range []struct {
		name, typed  string
		line, column int
		reason       string
		mark         string // the line as shown, the character at the column in [ ]
	}{
		{"mismatched types", `traits.plan == "internet" and stage > 2`, 1, 37, "mismatched types string and int",
			`traits.plan == "internet" and stage [>] 2`},
		// As a textarea posts it: CRLF, and space before the expression.
		{"second line", "\r\n  traits.plan == \"internet\"\r\n  and stage > 2", 3, 13, "mismatched types string and int",
			`  and stage [>] 2`},
		{"leading space", "   stage > 2", 1, 10, "mismatched types string and int", `   stage [>] 2`},
		{"unknown name", `trait.plan == "internet"`, 1, 1, "unknown name trait", `[t]rait.plan == "internet"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/audiences/preview", "/audiences/new"} {
				status, body := e.preview(kith.RoleMarketer, path, c.typed)
				want := http.StatusOK
				if path == "/audiences/new" {
					want = http.StatusBadRequest
				}
				if status != want {
					t.Errorf("POST %s: %d, want %d\n%s", path, status, want, body)
				}
				m := problemRE.FindStringSubmatch(body)
				if m == nil {
					t.Fatalf("POST %s shows no position\n%s", path, body)
				}
				if got, want := m[1]+":"+m[2], fmt.Sprint(c.line, ":", c.column); got != want {
					t.Errorf("POST %s: the error is at %s, want %s", path, got, want)
				}
				pos := fmt.Sprintf(`data-testid="audience-error-position" title="Show it in the expression">Line %d, column %d</button>: <span data-testid="audience-error-reason">`, c.line, c.column)
				if !strings.Contains(body, pos) || !strings.Contains(body, c.reason) {
					t.Errorf("POST %s does not say line %d, column %d: %s\n%s", path, c.line, c.column, c.reason, body)
				}
				shown := regexp.MustCompile(`<pre class="expr-line"><code>(.*)</code></pre>`).FindStringSubmatch(body)
				if shown == nil || strings.NewReplacer("<mark>", "[", "</mark>", "]").Replace(shown[1]) != c.mark {
					t.Errorf("POST %s shows the line as %q, want %q", path, shown, c.mark)
				}
				if countRE.MatchString(body) {
					t.Errorf("POST %s counts people for an ill-typed expression", path)
				}
			}
		})
	}
	t.Run("too long", func(t *testing.T) {
		status, body := e.preview(kith.RoleMarketer, "/audiences/preview", strings.Repeat("true and ", 500)+"true")
		if status != http.StatusOK || !strings.Contains(body, `<p data-testid="audience-error-reason">An expression is at most 4096 characters</p>`) {
			t.Errorf("a long expression: %d\n%s", status, body)
		}
	})
	t.Run("nothing typed", func(t *testing.T) {
		status, body := e.preview(kith.RoleMarketer, "/audiences/preview", " \r\n ")
		if status != http.StatusOK || !strings.Contains(body, `data-testid="audience-hint"`) || strings.Contains(body, `role="alert"`) {
			t.Errorf("an empty expression: %d\n%s", status, body)
		}
	})
}

// Without the script, the Preview button draws the builder again with the
// count, the expression kept as typed.
func TestAudiencePreviewWithoutScript(t *testing.T) {
	e := newAudiencesEnv(t)
	typed := "traits.plan == \"mobile\"\r\n  or traits.plan == \"satellite\""
	status, body := e.preview(kith.RoleMarketer, "/audiences/new", typed)
	if status != http.StatusOK {
		t.Fatalf("POST /audiences/new: %d\n%s", status, body)
	}
	for _, want := range []string{"<title>Build an audience · Kith</title>", `<a href="/audiences" aria-current="page">Audiences</a>`,
		`aria-describedby="audience-result">` + strings.ReplaceAll(typed, "\r\n", "\n") + "</textarea>",
		`data-testid="audience-preview" data-expression="` + strings.ReplaceAll(typed, "\r\n", "\n") + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if got := shownCount(t, body); got != "3 of 8" {
		t.Errorf("%s people match, want 3 of 8", got)
	}
	var names []string
	for _, s := range sampleRE.FindAllStringSubmatch(body, -1) {
		names = append(names, s[2])
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"Pat Lee5", "Pat Lee6", "Pat Lee7"}, names); diff != "" {
		t.Errorf("the sample (-want +got):\n%s", diff)
	}
}

// A console without the audience service has no builder.
func TestAudienceBuilderAbsent(t *testing.T) {
	e := newConsoleEnv(t, false)
	if status, _, _ := e.do(kith.RoleMarketer, "GET", "/audiences/new", nil); status != http.StatusNotFound {
		t.Errorf("GET /audiences/new without audiences: %d, want 404", status)
	}
	if _, _, home := e.do(kith.RoleMarketer, "GET", "/", nil); strings.Contains(home, "/audiences") {
		t.Errorf("the menu links to the audience builder")
	}
}

// The reference names everything an expression can use, and every
// expression the builder offers compiles.
func TestAudienceReference(t *testing.T) {
	listed := map[string]bool{}
	for _, n := range audienceNames {
		listed[strings.FieldsFunc(n.Name, func(r rune) bool { return r == '.' || r == '[' })[0]] = true
		if n.Example == "" {
			continue
		}
		if _, err := audience.Compile(n.Example); err != nil {
			t.Errorf("the example of %s: %v", n.Name, err)
		}
		if !strings.Contains(n.Example, strings.FieldsFunc(n.Name, func(r rune) bool { return r == '.' || r == '[' })[0]) {
			t.Errorf("the example of %s, %s, does not use it", n.Name, n.Example)
		}
	}
	person := reflect.TypeFor[audience.Person]()
	for i := range person.NumField() {
		f := person.Field(i)
		if name := f.Tag.Get("expr"); name != "" && !listed[name] {
			t.Errorf("the builder's reference does not explain %s (audience.Person.%s)", name, f.Name)
		}
	}
	if len(listed) != person.NumField() {
		t.Errorf("the reference explains %d names, audience.Person has %d", len(listed), person.NumField())
	}
	for _, x := range audienceExamples {
		if _, err := audience.Compile(x.Expression); err != nil {
			t.Errorf("the example %q: %v", x.Label, err)
		}
	}
}

func TestProblemIn(t *testing.T) {
	at := func(line, col int) error {
		return &kith.Error{Code: kith.EINVALID, Field: "expression", Message: "m",
			Detail: map[string]any{"line": line, "column": col, "reason": "r"}}
	}
	for _, c := range []struct {
		typed string
		err   error
		want  expressionProblem
	}{
		{"a > 1", at(1, 3), expressionProblem{Message: "m", Line: 1, Column: 3, Reason: "r", Before: "a ", At: ">", After: " 1"}},
		// Past the end of the line: a space is marked.
		{"a ==", at(1, 5), expressionProblem{Message: "m", Line: 1, Column: 5, Reason: "r", Before: "a ==", At: " "}},
		{"\n\n  a\n  b > 1", at(2, 5), expressionProblem{Message: "m", Line: 4, Column: 5, Reason: "r", Before: "  b ", At: ">", After: " 1"}},
		{"\n \tä > 1", at(1, 3), expressionProblem{Message: "m", Line: 2, Column: 5, Reason: "r", Before: " \tä ", At: ">", After: " 1"}},
		{"x", kith.Invalid("expression", "too long"), expressionProblem{Message: "too long"}},
	} {
		if diff := cmp.Diff(&c.want, problemIn(c.typed, c.err)); diff != "" {
			t.Errorf("problemIn(%q) (-want +got):\n%s", c.typed, diff)
		}
	}
}
