package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/lifecycle"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/sqlite"
)

// consoleEnv is a console over a real embedded store, with a signed-in
// session per role.
type consoleEnv struct {
	t       *testing.T
	db      *sqlite.DB
	con     *Console
	life    *lifecycle.Service
	proc    *profile.Processor
	src     *kith.Source
	session map[kith.Role]*kith.Session
	secret  map[kith.Role]string
	pending []kith.Event
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newConsoleEnv starts a console; withLifecycle false leaves the lifecycle
// service out of its config.
func newConsoleEnv(t *testing.T, withLifecycle bool) *consoleEnv {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acc := access.New(db, db, time.Minute)
	src, err := acc.CreateSource(ctx, "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	lifeSrc, err := acc.CreateSource(ctx, "kith-lifecycle", "server")
	if err != nil {
		t.Fatal(err)
	}
	users := access.NewUsers(db, db, db)
	proc := profile.NewProcessor(db, profile.Config{LifecycleSource: lifeSrc.ID}, quiet, nil)
	profiles := profile.NewService(db, proc)
	profiles.RecordTo(db)
	e := &consoleEnv{t: t, db: db, proc: proc, src: src, session: map[kith.Role]*kith.Session{}, secret: map[kith.Role]string{}}
	cfg := Config{Access: acc, Users: users, Profiles: profiles, Audit: db, Logger: quiet, Version: "test"}
	if withLifecycle {
		e.life, err = lifecycle.New(db, db, lifecycle.Config{Source: lifeSrc,
			Rules: lifecycle.Rules{MinCustomers: 30, MinRepeaters: 10}}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Lifecycle = e.life
	}
	if e.con, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	for _, r := range kith.Roles {
		name := "user-" + string(r)
		if _, err := users.Add(ctx, name, string(r), "password-of-"+name); err != nil {
			t.Fatal(err)
		}
		secret, sess, _, err := users.SignIn(ctx, name, "password-of-"+name, "127.0.0.1", "test")
		if err != nil {
			t.Fatal(err)
		}
		e.secret[r], e.session[r] = secret, sess
	}
	return e
}

// do sends a request as role ("" for nobody) and returns the status, the
// Location and the body as a person reads it.
func (e *consoleEnv) do(role kith.Role, method, path string, form url.Values) (int, string, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "http://kith.example"+path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if role != "" {
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.secret[role]})
	}
	w := httptest.NewRecorder()
	e.con.ServeHTTP(w, r)
	return w.Code, w.Header().Get("Location"), html.UnescapeString(w.Body.String())
}

// order adds an order of user's to the events process appends.
func (e *consoleEnv) order(user string, k int, at time.Time, amount float64) {
	e.t.Helper()
	id := fmt.Sprintf("%s-o%d", user, k)
	p, _ := json.Marshal(map[string]any{"type": "track", "messageId": id, "userId": user, "event": "Order Completed",
		"timestamp": at.Format(time.RFC3339Nano), "properties": map[string]any{"order_id": id, "revenue": amount}})
	ev := kith.Event{MessageID: id, Type: kith.TypeTrack, SourceID: e.src.ID, Channel: e.src.Kind, UserID: user,
		Timestamp: at, ReceivedAt: at, Payload: p}
	e.pending = append(e.pending, ev)
}

// process appends the pending events and folds the log into profiles.
func (e *consoleEnv) process() {
	e.t.Helper()
	if len(e.pending) > 0 {
		if _, err := e.db.Append(e.t.Context(), e.pending); err != nil {
			e.t.Fatal(err)
		}
		e.pending = nil
	}
	for {
		n, err := e.proc.Step(e.t.Context())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// seed sends the orders of n buyers who buy at their own pace while they
// last; buyer-000 bought three times for 120.50, lately.
func (e *consoleEnv) seed(n int) {
	e.t.Helper()
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(1, 2))
	const week = 7 * 24 * time.Hour
	for i := range n {
		user := fmt.Sprintf("buyer-%03d", i)
		if i == 0 {
			for k := range 3 {
				e.order(user, k, now.Add(-time.Duration(2+20*k)*24*time.Hour), 120.5)
			}
			continue
		}
		rate, life := rng.ExpFloat64()*0.15, rng.ExpFloat64()*40
		first := now.Add(-time.Duration(rng.Float64() * 80 * float64(week)))
		end := first.Add(time.Duration(life * float64(week)))
		spend := 30 + rng.ExpFloat64()*60
		at := first
		for k := 0; at.Before(now) && at.Before(end) && k < 20; k++ {
			e.order(user, k, at, math.Round(spend*(70+60*rng.Float64()))/100)
			at = at.Add(time.Duration(rng.ExpFloat64() / rate * float64(week)))
		}
	}
	e.process()
}

// fitAndSweep fits the models and sweeps twice, as Run would.
func (e *consoleEnv) fitAndSweep() {
	e.t.Helper()
	if _, err := e.life.Fit(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	for range 2 {
		if _, err := e.life.Sweep(e.t.Context()); err != nil {
			e.t.Fatal(err)
		}
	}
	e.process()
}

func (e *consoleEnv) profileID(user string) string {
	e.t.Helper()
	ids, err := e.db.ProfileIDsFor(e.t.Context(), kith.Identifier{Type: kith.IDUserID, Value: user})
	if err != nil || len(ids) != 1 {
		e.t.Fatalf("profile of %s: %v %v", user, ids, err)
	}
	return ids[0]
}

func TestLifecyclePageByRole(t *testing.T) {
	e := newConsoleEnv(t, true)
	e.seed(120)
	e.fitAndSweep()
	for _, c := range []struct {
		role   kith.Role
		status int
		fit    bool // sees the Fit again button
	}{
		{kith.RoleAdmin, 200, true},
		{kith.RoleMarketer, 200, false},
		{kith.RoleAnalyst, 200, false},
		{kith.RoleAgent, 403, false},
	} {
		t.Run(string(c.role), func(t *testing.T) {
			status, _, body := e.do(c.role, "GET", "/lifecycle", nil)
			if status != c.status {
				t.Fatalf("GET /lifecycle as %s: %d, want %d\n%s", c.role, status, c.status, body)
			}
			if got := strings.Contains(body, `id="fit-again"`); got != c.fit {
				t.Errorf("as %s the Fit again button shows: %v, want %v", c.role, got, c.fit)
			}
			_, _, home := e.do(c.role, "GET", "/", nil)
			if got, want := strings.Contains(home, `href="/lifecycle"`), c.status == 200; got != want {
				t.Errorf("as %s the menu links to /lifecycle: %v, want %v", c.role, got, want)
			}
			if c.status != 200 {
				if !strings.Contains(body, "lifecycle:read") || strings.Contains(body, "<svg") {
					t.Errorf("the refusal does not name the permission, or shows a chart:\n%s", body)
				}
				return
			}
			if n := strings.Count(body, `<svg class="chart"`); n != 3 {
				t.Errorf("as %s the page draws %d charts, want 3", c.role, n)
			}
		})
	}
	recs, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditPermissionDenied, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Target != "/lifecycle" {
		t.Errorf("refusals recorded: %+v, want the agent's GET /lifecycle", recs)
	}
}

var (
	svgRE   = regexp.MustCompile(`(?s)<svg class="chart".*?</svg>`)
	tableRE = regexp.MustCompile(`(?s)<table class="sr-only" data-testid="stages-now-table">.*?</table>`)
	cellRE  = regexp.MustCompile(`<tr><td>([^<]+)</td><td>([^<]+)</td></tr>`)
)

func TestLifecyclePageCharts(t *testing.T) {
	e := newConsoleEnv(t, true)
	e.seed(120)
	e.fitAndSweep()
	_, _, body := e.do(kith.RoleAnalyst, "GET", "/lifecycle", nil)
	hist := e.life.History()
	last := hist[len(hist)-1]

	// Every chart is an image with a title and a description, axis labels
	// and bars with their counts.
	svgs := svgRE.FindAllString(body, -1)
	if len(svgs) != 3 {
		t.Fatalf("%d charts, want 3:\n%s", len(svgs), body)
	}
	for i, s := range svgs {
		for _, want := range []string{`role="img"`, "<title id=", "<desc id=", `class="axis-label"`, "<rect class=", `<g class="counts"><text`} {
			if !strings.Contains(s, want) {
				t.Errorf("chart %d has no %s", i, want)
			}
		}
		if strings.Contains(s, "style=") {
			t.Errorf("chart %d has an inline style, which the CSP refuses", i)
		}
	}

	// The stages now: the count of every stage on its bar and in the table.
	table := tableRE.FindString(body)
	got := map[string]string{}
	for _, m := range cellRE.FindAllStringSubmatch(table, -1) {
		got[m[1]] = m[2]
	}
	for _, s := range stages {
		want := count(last.Stages[s])
		if got[stageName(s)] != want {
			t.Errorf("the table says %s: %q, want %q", stageName(s), got[stageName(s)], want)
		}
		if bar := fmt.Sprintf(`<title>%s: %s</title>`, stageName(s), want); !strings.Contains(svgs[0], bar) {
			t.Errorf("the stages chart has no bar %q", bar)
		}
	}
	if last.Stages[kith.StageActive] == 0 || !strings.Contains(svgs[0], ">"+count(last.Stages[kith.StageActive])+"</text>") {
		t.Errorf("the active count %d is not written on its bar", last.Stages[kith.StageActive])
	}

	// The value histogram marks both thresholds, as the model has them.
	m := e.life.Model()
	if m == nil || m.Spend == nil {
		t.Fatalf("no model fitted: %+v", m)
	}
	for _, want := range []string{"low value below " + money(m.LowValue), "high value from " + money(m.HighValue)} {
		if !strings.Contains(svgs[2], want) {
			t.Errorf("the value histogram does not mark %q", want)
		}
	}
	if n := strings.Count(svgs[2], `data-testid="threshold"`); n != 2 {
		t.Errorf("the value histogram has %d threshold marks, want 2", n)
	}
	buyers := 0
	for _, b := range m.ValueHisto {
		buyers += b.Count
	}
	if buyers != m.Customers {
		t.Errorf("the histogram holds %d buyers, the model %d", buyers, m.Customers)
	}

	// Flows: the moves out of prospect the first sweep recorded.
	for k, n := range hist[len(hist)-2].Flows {
		from, to, _ := strings.Cut(k, "→")
		if from == "none" {
			from = kith.StageProspect
		}
		want := fmt.Sprintf(`data-flow="%s→%s"`, from, to)
		if !strings.Contains(body, want) || n == 0 {
			t.Errorf("the flows do not show %s (%d)", want, n)
		}
	}

	// The models and their log-likelihoods.
	for _, want := range []string{"BG/NBD", "Pareto/NBD", "Gamma-Gamma", fmt.Sprintf("%.2f", m.BGNBD.LL),
		fmt.Sprintf("%.2f", m.Purchases.LL), fmt.Sprintf("%.2f", m.Spend.LL)} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
}

func TestLifecyclePageEmpty(t *testing.T) {
	e := newConsoleEnv(t, true)
	status, _, body := e.do(kith.RoleAdmin, "GET", "/lifecycle", nil)
	if status != 200 {
		t.Fatalf("GET /lifecycle before any fit: %d\n%s", status, body)
	}
	for _, want := range []string{"No model is fitted yet", "No sweep yet", "No fit has run yet", "No predictions yet"} {
		if !strings.Contains(body, want) {
			t.Errorf("before any fit the page does not say %q", want)
		}
	}
	if strings.Contains(body, "<svg") {
		t.Errorf("before any sweep the page draws a chart")
	}

	// Too few buyers: the fit is skipped, and the page says why.
	e.seed(5)
	e.fitAndSweep()
	_, _, body = e.do(kith.RoleAdmin, "GET", "/lifecycle", nil)
	if !strings.Contains(body, "Not fitted: 5 buyers") || !strings.Contains(body, "No predictions yet") {
		t.Errorf("after a skipped fit the page does not say why:\n%s", body)
	}
	if n := strings.Count(body, `<svg class="chart"`); n != 2 {
		t.Errorf("after a sweep without a model %d charts, want the 2 of stages", n)
	}
}

func TestLifecycleFitAgain(t *testing.T) {
	e := newConsoleEnv(t, true)
	for _, c := range []struct {
		name   string
		role   kith.Role
		csrf   string
		status int
	}{
		{"no token", kith.RoleAdmin, "", 403},
		{"wrong token", kith.RoleAdmin, "not-the-token", 403},
		{"another session's token", kith.RoleAdmin, "marketer", 403},
		{"marketer", kith.RoleMarketer, "own", 403},
		{"nobody", "", "", 401},
	} {
		csrf := c.csrf
		switch csrf {
		case "own":
			csrf = e.session[c.role].CSRF
		case "marketer":
			csrf = e.session[kith.RoleMarketer].CSRF
		}
		status, _, body := e.do(c.role, "POST", "/lifecycle/fit", url.Values{"csrf": {csrf}})
		if status != c.status {
			t.Errorf("%s: POST /lifecycle/fit answered %d, want %d\n%s", c.name, status, c.status, body)
		}
		if st := e.life.Status(); st.Phase != "" {
			t.Errorf("%s: the fit was asked for (%+v)", c.name, st)
		}
	}
	status, loc, _ := e.do(kith.RoleAdmin, "POST", "/lifecycle/fit", url.Values{"csrf": {e.session[kith.RoleAdmin].CSRF}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/lifecycle?done=") {
		t.Fatalf("the admin's Fit again answered %d to %q, want 303 to /lifecycle?done=…", status, loc)
	}
	if st := e.life.Status(); st.Phase != "queued" {
		t.Errorf("after Fit again the fit is %+v, want queued", st)
	}
	_, _, body := e.do(kith.RoleAdmin, "GET", loc, nil)
	if !strings.Contains(body, "A fit is queued") || !strings.Contains(body, `role="status"`) {
		t.Errorf("back on the page after Fit again it does not say the fit is queued:\n%s", body)
	}
	// A cross-site form is refused even with the token.
	r := httptest.NewRequest("POST", "http://kith.example/lifecycle/fit",
		strings.NewReader(url.Values{"csrf": {e.session[kith.RoleAdmin].CSRF}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "http://evil.example")
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.secret[kith.RoleAdmin]})
	w := httptest.NewRecorder()
	e.con.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Errorf("a cross-site Fit again answered %d, want 403", w.Code)
	}
}

var panelRE = regexp.MustCompile(`(?s)<section class="card value.*?</section>`)

func TestValuePanel(t *testing.T) {
	e := newConsoleEnv(t, true)
	e.seed(120)
	id := e.profileID("buyer-000")

	// Before a fit: the stage and the purchases, and no predictions.
	_, _, body := e.do(kith.RoleAgent, "GET", "/profiles/"+id, nil)
	panel := panelRE.FindString(body)
	for _, want := range []string{"Value & lifecycle", "No model is fitted yet", `data-testid="purchases">3<`,
		`data-testid="spent">361.50<`, "2 days ago", `data-testid="tier">Medium value<`} {
		if !strings.Contains(panel, want) {
			t.Errorf("before a fit the panel does not show %q:\n%s", want, panel)
		}
	}

	e.fitAndSweep()
	a := e.life.Assess(mustProfile(t, e.db, id))
	for _, role := range kith.Roles {
		status, _, body := e.do(role, "GET", "/profiles/"+id, nil)
		if status != 200 {
			t.Fatalf("as %s: GET /profiles/%s answered %d", role, id, status)
		}
		panel := panelRE.FindString(body)
		for _, want := range []string{
			`data-testid="stage">` + stageName(a.Stage) + "<",
			a.Reason,
			`data-testid="touch">` + touches[a.Touch].Name + "<",
			touches[a.Touch].Advice,
			`data-testid="ltv">` + money(*a.LifetimeValue) + "<",
			`data-testid="p-alive">` + probability(*a.PAlive) + "<",
			`data-testid="expected">` + fmt.Sprintf("%.1f", *a.ExpectedPurchases) + "<",
			`data-testid="at-risk"`,
			"next 13 weeks",
		} {
			if !strings.Contains(panel, want) {
				t.Errorf("as %s the panel does not show %q:\n%s", role, want, panel)
			}
		}
		if strings.Contains(panel, "No model") {
			t.Errorf("as %s after a fit the panel says there is no model", role)
		}
	}
	// The sweep recorded the stage: the panel says since when.
	if p := mustProfile(t, e.db, id); p.Lifecycle.Stage != a.Stage {
		t.Fatalf("the recorded stage is %+v, want %s", p.Lifecycle, a.Stage)
	}
	_, _, body = e.do(kith.RoleAgent, "GET", "/profiles/"+id, nil)
	if panel := panelRE.FindString(body); !strings.Contains(panel, "since <span") || !strings.Contains(panel, "before: Prospect") {
		t.Errorf("the panel does not say since when, and what came before:\n%s", panel)
	}
}

func mustProfile(t *testing.T, db *sqlite.DB, id string) *kith.Profile {
	t.Helper()
	p, err := db.Profile(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWithoutLifecycle(t *testing.T) {
	e := newConsoleEnv(t, false)
	e.order("solo", 0, time.Now().Add(-time.Hour), 10)
	e.process()
	if status, _, _ := e.do(kith.RoleAdmin, "GET", "/lifecycle", nil); status != 404 {
		t.Errorf("GET /lifecycle without the service: %d, want 404", status)
	}
	_, _, body := e.do(kith.RoleAdmin, "GET", "/profiles/"+e.profileID("solo"), nil)
	if strings.Contains(body, "value-panel") || strings.Contains(body, `href="/lifecycle"`) {
		t.Errorf("without the service the profile shows the panel or links to /lifecycle")
	}
}

func TestFormats(t *testing.T) {
	for v, want := range map[float64]string{0: "0.00", 1234.5: "1,234.50", 1234567.891: "1,234,567.89", -12.345: "-12.35",
		999.999: "1,000.00", math.NaN(): "–"} {
		if got := money(v); got != want {
			t.Errorf("money(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0%", 0.004: "under 1%", 0.5: "50%", 0.996: "over 99%", 1: "100%"} {
		if got := probability(v); got != want {
			t.Errorf("probability(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{7.15: "7", 950: "950", 1234: "1.2k", 34000: "34k", 1.5e6: "1.5M"} {
		if got := shortAmount(v); got != want {
			t.Errorf("shortAmount(%v) = %q, want %q", v, got, want)
		}
	}
	for n, want := range map[int]int{0: 4, 3: 4, 7: 8, 69: 80, 120: 200, 1001: 2000} {
		if got := niceMax(n); got != want {
			t.Errorf("niceMax(%d) = %d, want %d", n, got, want)
		}
	}
}
