package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
	"github.com/kithhq/kith/computed"
	"github.com/kithhq/kith/profile"
)

// newComputedEnv is a console with computed traits (and the audience
// builder, which reads them) over a processor that folds them: nobody is
// there yet and nothing is defined.
func newComputedEnv(t *testing.T) (*consoleEnv, *computed.Service) {
	t.Helper()
	e := newConsoleEnv(t, false)
	set := computed.NewSet()
	e.proc = profile.NewProcessor(e.db, profile.Config{Computed: set}, quiet, nil)
	svc := computed.NewService(e.db, set, e.proc, e.db, e.db, quiet)
	t.Cleanup(svc.Wait)
	return e, e.withComputed(svc)
}

// withComputed gives the console svc, and a profile service over e's
// processor.
func (e *consoleEnv) withComputed(svc *computed.Service) *computed.Service {
	e.t.Helper()
	cfg := e.con.c
	profiles := profile.NewService(e.db, e.proc)
	profiles.RecordTo(e.db)
	cfg.Profiles, cfg.Computed = profiles, svc
	cfg.Audiences = audience.New(e.db, nil, nil, e.db)
	cfg.Audiences.ReadComputed(svc.Set())
	var err error
	if e.con, err = New(cfg); err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// define posts the form to define a computed trait as role.
func (e *consoleEnv) define(role kith.Role, fields map[string]string) (int, string, string) {
	e.t.Helper()
	form := url.Values{"csrf": {e.session[role].CSRF}}
	for k, v := range fields {
		form.Set(k, v)
	}
	return e.do(role, "POST", "/computed", form)
}

// track adds a track event of user's to the events process appends.
func (e *consoleEnv) track(user, id, event string, at time.Time, props map[string]any) {
	e.t.Helper()
	p, _ := json.Marshal(map[string]any{"type": "track", "messageId": id, "userId": user, "event": event,
		"timestamp": at.Format(time.RFC3339Nano), "properties": props})
	e.pending = append(e.pending, kith.Event{MessageID: id, Type: kith.TypeTrack, SourceID: e.src.ID, Channel: e.src.Kind,
		UserID: user, Timestamp: at, ReceivedAt: at, Payload: p})
}

// computedRowIn is the list's row of the computed trait name.
func computedRowIn(t *testing.T, body, name string) string {
	t.Helper()
	start := strings.Index(body, `<tr data-computed="`+name+`"`)
	if start < 0 {
		t.Fatalf("the list has no row for %s\n%s", name, body)
	}
	end := strings.Index(body[start:], "</tr>")
	return body[start : start+end]
}

// Who may see the computed traits page and the menu's link to it: the
// roles that build audiences.
func TestComputedPageByRole(t *testing.T) {
	e, _ := newComputedEnv(t)
	for _, role := range []kith.Role{kith.RoleAdmin, kith.RoleMarketer, kith.RoleAnalyst} {
		status, _, body := e.do(role, "GET", "/computed", nil)
		for _, want := range []string{"<title>Computed traits · Kith</title>", `<a href="/computed" aria-current="page">Computed traits</a>`,
			`data-testid="no-computed"`, `<form method="post" action="/computed" id="define-computed" class="fields">`,
			`<input type="hidden" name="csrf" value="` + e.session[role].CSRF + `">`,
			`<option value="count" selected>count — how many events</option>`} {
			if status != http.StatusOK || !strings.Contains(body, want) {
				t.Errorf("GET /computed as %s (%d) lacks %s", role, status, want)
			}
		}
		// The menu names it next to Audiences, on every page.
		_, _, home := e.do(role, "GET", "/", nil)
		if !strings.Contains(home, `>Audiences</a>`+"\n    "+`<a href="/computed" >Computed traits</a>`) {
			t.Errorf("the menu of %s does not link to the computed traits next to Audiences", role)
		}
	}
	want := "The agent role may not do this (it needs the audiences:build permission)"
	if status, _, body := e.do(kith.RoleAgent, "GET", "/computed", nil); status != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("GET /computed as agent: %d\n%s", status, body)
	}
	if _, _, home := e.do(kith.RoleAgent, "GET", "/", nil); strings.Contains(home, `href="/computed"`) {
		t.Errorf("the agent's menu links to the computed traits")
	}
	if status, loc, _ := e.do("", "GET", "/computed", nil); status != http.StatusSeeOther || loc != "/login?next=%2Fcomputed" {
		t.Errorf("GET /computed signed out: %d to %s, want 303 to the sign-in", status, loc)
	}
	denied, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditPermissionDenied, Limit: 10})
	if err != nil || len(denied) != 1 || denied[0].Target != "/computed" || denied[0].Actor.Name != "user-agent" {
		t.Errorf("the refusal was recorded as %+v (%v)", denied, err)
	}

	// A console without computed traits has no page, no link.
	plain := newConsoleEnv(t, false)
	if status, _, _ := plain.do(kith.RoleMarketer, "GET", "/computed", nil); status != http.StatusNotFound {
		t.Errorf("GET /computed without computed traits: %d, want 404", status)
	}
	if _, _, home := plain.do(kith.RoleMarketer, "GET", "/", nil); strings.Contains(home, `href="/computed"`) {
		t.Errorf("the menu links to computed traits the console does not have")
	}
}

// A marketer defines computed traits from the form: each lands on the list
// with what it is, its window, who defined it and when; its computation
// over everyone's past events is recorded and ends.
func TestDefineComputed(t *testing.T) {
	e, svc := newComputedEnv(t)
	now := time.Now().UTC()
	e.track("ann", "o1", "Order Completed", now.Add(-time.Hour), map[string]any{"revenue": 40})
	e.track("bob", "o2", "Order Completed", now.Add(-time.Hour), map[string]any{"revenue": 10})
	e.process()

	status, loc, body := e.define(kith.RoleMarketer, map[string]string{"name": " total_spend ", "function": "sum",
		"event": "Order Completed", "property": "revenue", "window": ""})
	if status != http.StatusSeeOther || loc != "/computed?defined=total_spend" {
		t.Fatalf("define total_spend: %d to %q, want 303 to the list\n%s", status, loc, body)
	}
	svc.Wait()
	status, _, body = e.do(kith.RoleMarketer, "GET", loc, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", loc, status, body)
	}
	row := computedRowIn(t, body, "total_spend")
	for _, want := range []string{
		`<tr data-computed="total_spend" class="saved">`,
		`<code data-testid="computed-name">total_spend</code><span class="muted small block">computed.total_spend in audiences</span>`,
		`<td data-testid="computed-description">sum of revenue in "Order Completed" events</td>`,
		`<td class="nowrap" data-testid="computed-window">all time</td>`,
		`<span class="muted small">kept current; computed over 2 of 2 profiles</span>`,
		`<span class="block muted" data-testid="computed-by">by user-marketer</span>`,
		`>just now</time>`,
	} {
		if !strings.Contains(row, want) {
			t.Errorf("the row lacks %s\n%s", want, row)
		}
	}
	if want := `<p class="ok" role="status" data-testid="computed-defined">Defined <code>computed.total_spend</code>.</p>`; !strings.Contains(body, want) {
		t.Errorf("the list does not say what was defined: lacks %s", want)
	}
	if strings.Contains(body, `data-testid="no-computed"`) || strings.Contains(body, `class="error"`) {
		t.Errorf("the list says there are none, or shows an error")
	}

	// An analyst defines one too, as they save audiences: a window, in words.
	status, loc, _ = e.define(kith.RoleAnalyst, map[string]string{"name": "orders_90d", "function": "count", "event": "Order Completed", "window": "90d"})
	if status != http.StatusSeeOther || loc != "/computed?defined=orders_90d" {
		t.Fatalf("define orders_90d as analyst: %d to %q", status, loc)
	}
	svc.Wait()
	_, _, body = e.do(kith.RoleAdmin, "GET", "/computed", nil)
	row = computedRowIn(t, body, "orders_90d")
	for _, want := range []string{`<tr data-computed="orders_90d">`, `count in "Order Completed" events over the last 90d</td>`,
		`data-testid="computed-window">last 90 days</td>`, `by user-analyst</span>`} {
		if !strings.Contains(row, want) {
			t.Errorf("the analyst's row lacks %s\n%s", want, row)
		}
	}
	if a, b := strings.Index(body, `data-computed="orders_90d"`), strings.Index(body, `data-computed="total_spend"`); a > b {
		t.Errorf("the list is not by name")
	}
	created, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditComputedCreate, Limit: 10})
	if err != nil || len(created) != 2 {
		t.Fatalf("the definitions were recorded as %+v (%v)", created, err)
	}
	var by []string
	for _, c := range created {
		by = append(by, c.Actor.Name+" "+c.Detail)
	}
	slices.Sort(by)
	if want := []string{`user-analyst orders_90d: count in "Order Completed" events over the last 90d`,
		`user-marketer total_spend: sum of revenue in "Order Completed" events`}; !slices.Equal(by, want) {
		t.Errorf("recorded %q, want %q", by, want)
	}
}

// A refused definition is answered on the form, by the field at fault,
// with what was typed kept; nothing is saved.
func TestDefineComputedRefused(t *testing.T) {
	e, svc := newComputedEnv(t)
	if status, _, body := e.define(kith.RoleMarketer, map[string]string{"name": "total_spend", "function": "sum", "event": "Order Completed",
		"property": "revenue"}); status != http.StatusSeeOther {
		t.Fatalf("define total_spend: %d\n%s", status, body)
	}
	svc.Wait()
	good := map[string]string{"name": "avg_order", "function": "avg", "event": "Order Completed", "property": "revenue", "window": "90d"}
	for _, c := range []struct {
		name    string
		change  map[string]string
		status  int
		field   string
		message string // its start
	}{
		{"no name", map[string]string{"name": " "}, 400, "name", "A computed trait's name is 1 to 64 lower-case letters"},
		{"a name with capitals and a space", map[string]string{"name": "Avg Order"}, 400, "name", "A computed trait's name is 1 to 64"},
		{"a name taken", map[string]string{"name": "total_spend"}, 409, "name", `A computed trait named "total_spend" exists.`},
		{"no such function", map[string]string{"function": "median"}, 400, "function", `"median" is not a function: use one of count, sum, avg`},
		{"no function", map[string]string{"function": ""}, 400, "function", `"" is not a function`},
		{"no event", map[string]string{"event": "  "}, 400, "event", "Name the track event to aggregate"},
		{"an event name too long", map[string]string{"event": strings.Repeat("e", 201)}, 400, "event", "Name the track event to aggregate"},
		{"no property for avg", map[string]string{"property": ""}, 400, "property", "Avg needs the event property it aggregates"},
		{"an empty step in the property", map[string]string{"property": "product..price"}, 400, "property", `"product..price" is not a property path`},
		{"a window in words", map[string]string{"window": "90 days"}, 400, "window", `"90 days" is not a window`},
		{"a window without a unit", map[string]string{"window": "90"}, 400, "window", `"90" is not a window`},
		{"a window over ten years", map[string]string{"window": "3651d"}, 400, "window", `"3651d" is longer than ten years`},
	} {
		t.Run(c.name, func(t *testing.T) {
			typed := map[string]string{}
			for k, v := range good {
				typed[k] = v
			}
			for k, v := range c.change {
				typed[k] = v
			}
			status, _, body := e.define(kith.RoleMarketer, typed)
			if status != c.status {
				t.Fatalf("%d, want %d\n%s", status, c.status, body)
			}
			errs := regexp.MustCompile(`data-testid="computed-(\w+)-error">([^<]*)</p>`).FindAllStringSubmatch(body, -1)
			if len(errs) != 1 || errs[0][1] != c.field || !strings.HasPrefix(errs[0][2], c.message) || !strings.HasSuffix(errs[0][2], ".") {
				t.Errorf("the form says %q, want one error on %s starting %q", errs, c.field, c.message)
			}
			invalid := regexp.MustCompile(`id="computed-(\w+)"[^>]*aria-invalid="true" autofocus>`).FindAllStringSubmatch(body, -1)
			if len(invalid) != 1 || invalid[0][1] != c.field {
				t.Errorf("fields marked invalid: %q, want %s", invalid, c.field)
			}
			if want := `aria-describedby="computed-` + c.field + `-hint computed-` + c.field + `-error"`; !strings.Contains(body, want) {
				t.Errorf("the field does not point at its error: lacks %s", want)
			}
			for _, f := range []string{"name", "event", "property", "window"} {
				if want := `id="computed-` + f + `"`; !strings.Contains(body, want) {
					t.Fatalf("no %s field", f)
				}
				if want := ` value="` + typed[f] + `"`; !strings.Contains(body, want) {
					t.Errorf("the %s field does not keep %q", f, typed[f])
				}
			}
			if fn := typed["function"]; slices.Contains(computed.Functions, fn) {
				if want := `<option value="` + fn + `" selected>`; !strings.Contains(body, want) {
					t.Errorf("the function %s is not kept", fn)
				}
			} else if strings.Contains(body, " selected>") {
				t.Errorf("a function is selected for %q", fn)
			}
			// The list is still there above the form.
			if !strings.Contains(body, `<tr data-computed="total_spend">`) {
				t.Errorf("the refused form lost the list")
			}
		})
	}
	if got := svc.List(); len(got) != 1 || got[0].Name != "total_spend" {
		t.Errorf("after the refusals the traits are %+v, want total_spend alone", got)
	}
	if defs, err := e.db.ComputedTraits(t.Context()); err != nil || len(defs) != 1 {
		t.Errorf("%d definitions stored (%v), want 1", len(defs), err)
	}
}

// Only a role that builds audiences defines computed traits, from a form
// of this console's.
func TestDefineComputedPermissions(t *testing.T) {
	e, svc := newComputedEnv(t)
	def := map[string]string{"name": "orders", "function": "count", "event": "Order Completed"}
	want := "The agent role may not do this (it needs the audiences:build permission)"
	if status, _, body := e.define(kith.RoleAgent, def); status != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("POST /computed as agent: %d\n%s", status, body)
	}
	form := url.Values{"name": {"orders"}, "function": {"count"}, "event": {"Order Completed"}}
	if status, _, _ := e.do(kith.RoleMarketer, "POST", "/computed", form); status != http.StatusForbidden {
		t.Errorf("POST /computed without the CSRF token: %d, want 403", status)
	}
	form.Set("csrf", e.session[kith.RoleAnalyst].CSRF)
	if status, _, _ := e.do(kith.RoleMarketer, "POST", "/computed", form); status != http.StatusForbidden {
		t.Errorf("POST /computed with another session's token: %d, want 403", status)
	}
	if status, _, _ := e.do("", "POST", "/computed", form); status != http.StatusUnauthorized {
		t.Errorf("POST /computed signed out: %d, want 401", status)
	}
	if got := svc.List(); len(got) != 0 {
		t.Errorf("refused requests defined %+v", got)
	}
	if defs, _ := e.db.ComputedTraits(t.Context()); len(defs) != 0 {
		t.Errorf("refused requests stored %d definitions", len(defs))
	}
}

// held is a backfill held part of the way through: a Scanner that hands
// out pages of made-up profiles up to a point and then waits, and a
// Recomputer that rebuilds nothing.
type held struct {
	total, upTo int
	release     chan struct{}
}

func (h *held) CountProfiles(context.Context) (int64, error) { return int64(h.total), nil }

func (h *held) ScanStoredProfiles(ctx context.Context, after string, limit int) ([]kith.StoredProfile, error) {
	from := 0
	if after != "" {
		fmt.Sscanf(after, "prf_%d", &from)
	}
	if from >= h.upTo {
		<-h.release
		return nil, nil
	}
	var out []kith.StoredProfile
	for i := from + 1; i <= min(from+limit, h.upTo); i++ {
		out = append(out, kith.StoredProfile{ID: fmt.Sprintf("prf_%06d", i)})
	}
	return out, nil
}

func (h *held) Recompute(_ context.Context, ids, _ []string) (int, error) { return len(ids), nil }

// While a new computed trait is being computed over everyone's past
// events, the list says how far it is.
func TestComputedProgress(t *testing.T) {
	e := newConsoleEnv(t, false)
	h := &held{total: 34000, upTo: 12000, release: make(chan struct{})}
	svc := computed.NewService(e.db, computed.NewSet(), h, h, e.db, quiet)
	t.Cleanup(svc.Wait)
	t.Cleanup(func() { close(h.release) })
	e.withComputed(svc)
	if status, _, body := e.define(kith.RoleMarketer, map[string]string{"name": "orders", "function": "count", "event": "Order Completed"}); status != http.StatusSeeOther {
		t.Fatalf("define orders: %d\n%s", status, body)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if b := svc.List()[0].Backfill; b.Done == 12000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backfill is at %+v", svc.List()[0].Backfill)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, _, body := e.do(kith.RoleMarketer, "GET", "/computed?defined=orders", nil)
	row := computedRowIn(t, body, "orders")
	for _, want := range []string{`<progress max="34000" value="12000" aria-label="Profiles computed so far"></progress>`,
		`<span class="block small" data-testid="computed-progress">12,000 of 34,000 profiles</span>`} {
		if !strings.Contains(row, want) {
			t.Errorf("the row lacks %s\n%s", want, row)
		}
	}
	if want := `Defined <code>computed.orders</code>. Kith is computing it from everyone's past events: 12,000 of 34,000 profiles so far; reload to follow it.`; !strings.Contains(body, want) {
		t.Errorf("the list lacks %s", want)
	}
}

// The customer's page shows each computed trait's value now, for people;
// text a viewer without personal data may not see is hidden.
func TestComputedPanel(t *testing.T) {
	e, svc := newComputedEnv(t)
	ctx := kith.WithActor(t.Context(), kith.Actor{Kind: kith.ActorUser, Name: "user-marketer"})
	for _, d := range []kith.ComputedTraitDef{
		{Name: "total_spend", Function: "sum", Event: "Order Completed", Property: "revenue"},
		{Name: "orders", Function: "count", Event: "Order Completed"},
		{Name: "avg_order", Function: "avg", Event: "Order Completed", Property: "revenue", Window: "90d"},
		{Name: "big_order", Function: "max", Event: "Order Completed", Property: "revenue"},
		{Name: "last_product", Function: "last", Event: "Order Completed", Property: "product"},
		{Name: "last_customer", Function: "last", Event: "Order Completed", Property: "customer_id"},
		{Name: "avg_refund", Function: "avg", Event: "Refund Requested", Property: "amount"},
	} {
		if _, err := svc.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	svc.Wait()
	now := time.Now().UTC()
	for i, o := range []struct {
		revenue float64
		product string
	}{{40, "Trail shoes"}, {1200.5, "Wool coat"}, {25, "Sun hat"}} {
		e.track("ann", fmt.Sprint("o", i), "Order Completed", now.Add(time.Duration(i-3)*time.Hour),
			map[string]any{"revenue": o.revenue, "product": o.product, "customer_id": 7071})
	}
	e.process()
	id := e.profileID("ann")

	panel := func(role kith.Role) map[string][2]string {
		t.Helper()
		status, _, body := e.do(role, "GET", "/profiles/"+id, nil)
		if status != http.StatusOK {
			t.Fatalf("GET the profile as %s: %d\n%s", role, status, body)
		}
		start := strings.Index(body, `<section class="card computed-panel" data-testid="computed-panel" aria-labelledby="computed-heading">`)
		if start < 0 {
			t.Fatalf("the profile shows no computed traits to %s", role)
		}
		body = body[start:]
		body = body[:strings.Index(body, "</section>")]
		got := map[string][2]string{}
		for _, m := range regexp.MustCompile(`(?s)<tr data-computed="(\w+)" title="(.*?)">.*?data-testid="computed-value">(.*?)</td>\s*<td class="muted small" data-testid="computed-description">([^<]*)</td>`).FindAllStringSubmatch(body, -1) {
			if m[2] != m[4] {
				t.Errorf("%s is described %q in its title, %q in the panel", m[1], m[2], m[4])
			}
			got[m[1]] = [2]string{regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[3], "|"), m[4]}
		}
		return got
	}
	want := map[string][2]string{
		"avg_order":     {"421.83", `avg of revenue in "Order Completed" events over the last 90d`},
		"avg_refund":    {`|—||no value yet|`, `avg of amount in "Refund Requested" events`},
		"big_order":     {"1,200.5", `max of revenue in "Order Completed" events`},
		"last_product":  {"Sun hat", `last of product in "Order Completed" events`},
		"last_customer": {"7,071", `last of customer_id in "Order Completed" events`},
		"orders":        {"3", `count in "Order Completed" events`},
		"total_spend":   {"1,265.5", `sum of revenue in "Order Completed" events`},
	}
	for _, role := range []kith.Role{kith.RoleMarketer, kith.RoleAgent, kith.RoleAdmin} {
		if diff := cmp.Diff(want, panel(role)); diff != "" {
			t.Errorf("the panel as %s (-want +got):\n%s", role, diff)
		}
	}
	// An analyst sees the numbers, not the text or the customer's id.
	want["last_product"] = [2]string{"|(hidden)|", want["last_product"][1]}
	want["last_customer"] = [2]string{"|(hidden)|", want["last_customer"][1]}
	if diff := cmp.Diff(want, panel(kith.RoleAnalyst)); diff != "" {
		t.Errorf("the panel as analyst (-want +got):\n%s", diff)
	}
	_, _, body := e.do(kith.RoleAnalyst, "GET", "/profiles/"+id, nil)
	if strings.Contains(body, "Sun hat") || strings.Contains(body, "7,071") || strings.Contains(body, "7071") {
		t.Errorf("the analyst is shown the hidden values")
	}
}

// Without computed traits defined, or without the service, the customer's
// page has no panel.
func TestComputedPanelAbsent(t *testing.T) {
	e, _ := newComputedEnv(t)
	e.order("ann", 1, time.Now().UTC(), 10)
	e.process()
	if _, _, body := e.do(kith.RoleAgent, "GET", "/profiles/"+e.profileID("ann"), nil); strings.Contains(body, "computed-panel") {
		t.Errorf("the profile shows a panel of computed traits when none is defined")
	}
	plain := newConsoleEnv(t, false)
	plain.order("bob", 1, time.Now().UTC(), 10)
	plain.process()
	if status, _, body := plain.do(kith.RoleAgent, "GET", "/profiles/"+plain.profileID("bob"), nil); status != http.StatusOK || strings.Contains(body, "computed-panel") {
		t.Errorf("without computed traits the profile answers %d with a panel of them", status)
	}
}

// The builder's reference names the computed traits defined and links to
// their page.
func TestAudienceReferenceComputed(t *testing.T) {
	e, svc := newComputedEnv(t)
	_, _, body := e.do(kith.RoleMarketer, "GET", "/audiences/new", nil)
	if want := `<a class="block" href="/computed" data-testid="computed-link">See every computed trait, or define one</a></dd>`; !strings.Contains(body, want) {
		t.Errorf("the reference lacks %s", want)
	}
	if strings.Contains(body, "Defined now") {
		t.Errorf("the reference names computed traits when none is defined")
	}
	ctx := kith.WithActor(t.Context(), kith.Actor{Kind: kith.ActorUser, Name: "user-marketer"})
	for i := range computedReference + 2 {
		if _, err := svc.Create(ctx, kith.ComputedTraitDef{Name: fmt.Sprintf("orders_%02d", i), Function: "count", Event: "Order Completed"}); err != nil {
			t.Fatal(err)
		}
	}
	svc.Wait()
	_, _, body = e.do(kith.RoleMarketer, "GET", "/audiences/new", nil)
	m := regexp.MustCompile(`data-testid="computed-defined-names"><span class="muted">Defined now:</span> (.*?)</span>`).FindStringSubmatch(body)
	want := "<code>computed.orders_00</code>, <code>computed.orders_01</code>, "
	if m == nil || !strings.HasPrefix(m[1], want) || !strings.HasSuffix(m[1], "<code>computed.orders_11</code> and 2 more.") {
		t.Errorf("the reference names %v", m)
	}
	// Only computed.NAME has them.
	if n := strings.Count(body, `data-testid="computed-link"`); n != 1 {
		t.Errorf("%d links to the computed traits, want 1", n)
	}
	// A builder without computed traits says nothing of them.
	plain := newAudiencesEnv(t)
	if _, _, body := plain.do(kith.RoleMarketer, "GET", "/audiences/new", nil); strings.Contains(body, `href="/computed"`) {
		t.Errorf("the builder links to computed traits the console does not have")
	}
}

func TestComputedFunctions(t *testing.T) {
	var names []string
	for _, f := range computedFunctions {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, computed.Functions) {
		t.Errorf("the form offers %v, the functions are %v", names, computed.Functions)
	}
}

func TestComputedValue(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{0, "0"}, {3, "3"}, {12000, "12,000"}, {-4500, "-4,500"},
		{65.0, "65"}, {65.5, "65.5"}, {65.25, "65.25"}, {21.666666, "21.67"}, {1999.999, "2,000"}, {1234567.891, "1,234,567.89"},
		{-3.5, "-3.5"}, {0.0, "0"}, {0.5, "0.5"}, {0.123456, "0.123"}, {0.004, "0.004"}, {0.0041234, "0.00412"}, {-0.001, "-0.001"},
		{-0.0000000001, "-0.0000000001"}, {1e20, "100,000,000,000,000,000,000"}, {math.NaN(), "–"},
		{"shoes", "shoes"}, {"", ""}, {true, "true"}, {false, "false"},
		{map[string]any{"size": 42.0, "name": "boot"}, `{"name":"boot","size":42}`}, {[]any{"a", 1.0}, `["a",1]`},
	} {
		if got := computedValue(c.in); got != c.want {
			t.Errorf("computedValue(%#v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPersonalComputed(t *testing.T) {
	def := func(fn, prop string) *computed.Def {
		d, err := computed.Parse(kith.ComputedTraitDef{Name: "x", Function: fn, Event: "*", Property: prop})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		d    *computed.Def
		val  any
		want bool
	}{
		{def("count", ""), 3, false},
		{def("count", "email"), 3, false}, // how many events carried an e-mail
		{def("sum", "revenue"), 65.0, false},
		{def("avg", "customer_id"), 65.0, false}, // an average is nobody's id
		{def("max", "revenue"), 65.0, false},
		{def("max", "customer_id"), 7071.0, true},
		{def("last", "shipping.zip"), 94110.0, true},
		{def("last", "rating"), 4.0, false},
		{def("first", "gift"), true, false},
		{def("last", "category"), "shoes", true},
		{def("most_frequent", "product.category"), "shoes", true},
		{def("last", "cart"), map[string]any{"n": 2.0}, true},
		{def("last", "items"), []any{1.0}, true},
	} {
		if got := personalComputed(c.d, c.val); got != c.want {
			t.Errorf("%s = %v: personal %v, want %v", c.d, c.val, got, c.want)
		}
	}
}

func TestWindowText(t *testing.T) {
	for in, want := range map[string]string{"": "all time", "90d": "last 90 days", "1d": "last 1 day", "30m": "last 30 minutes",
		"12h": "last 12 hours", "4w": "last 4 weeks", "1w": "last 1 week"} {
		if got := windowText(in); got != want {
			t.Errorf("windowText(%q) = %q, want %q", in, got, want)
		}
	}
}
