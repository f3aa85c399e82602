package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/matching"
)

// matchesEnv is a console with the live matcher and two pairs in its
// review queue: Maria Lopez and Ana Lopez, who shop at Maria's address
// without a birth date, and Maria and Luis Lopez, born on her birthday in
// her town (her twin).
type matchesEnv struct {
	*consoleEnv
	svc               *matching.Service
	maria, ana, luis  string // profile ids
	anaPair, luisPair string
}

var kew = map[string]any{"street": "12 Tullaroop Street", "city": "Kew", "postalCode": "3101", "state": "VIC"}

func newMatchesEnv(t *testing.T) *matchesEnv {
	t.Helper()
	e := newConsoleEnv(t, false)
	src, err := e.con.c.Access.CreateSource(t.Context(), "kith-match", "server")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := matching.New(e.db, e.db, e.db, e.db, matching.Config{Source: src}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	cfg := e.con.c
	cfg.Matching = svc
	if e.con, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	me := &matchesEnv{consoleEnv: e, svc: svc}
	me.maria = me.identify("crm-maria", map[string]any{"email": "maria@example.com", "first_name": "Maria", "last_name": "Lopez",
		"birthday": "1980-05-01", "address": kew})
	me.ana = me.identify("shop-ana", map[string]any{"email": "ana@example.com", "first_name": "Ana", "last_name": "Lopez", "address": kew})
	me.luis = me.identify("crm-luis", map[string]any{"email": "luis@example.com", "first_name": "Luis", "last_name": "Lopez",
		"birthday": "1980-05-01", "address": map[string]any{"city": "Kew", "postalCode": "3101", "state": "VIC"}})
	me.anaPair, me.luisPair = matching.PairID(me.maria, me.ana), matching.PairID(me.maria, me.luis)
	if got := me.pendingPairs(); !cmp.Equal(got, []string{me.luisPair, me.anaPair}) {
		t.Fatalf("pending pairs %v, want %s (Luis) then %s (Ana)", got, me.luisPair, me.anaPair)
	}
	return me
}

// identify sends an identify of an anonymous visitor, folds it and has the
// matcher score the profile, as the processor's callback does when served.
func (e *matchesEnv) identify(anon string, traits map[string]any) string {
	e.t.Helper()
	now := time.Now().UTC()
	p, _ := json.Marshal(map[string]any{"type": "identify", "messageId": anon, "anonymousId": anon,
		"timestamp": now.Format(time.RFC3339Nano), "traits": traits})
	e.pending = append(e.pending, kith.Event{MessageID: anon, Type: kith.TypeIdentify, SourceID: e.src.ID, Channel: e.src.Kind,
		AnonymousID: anon, Timestamp: now, ReceivedAt: now, Payload: p})
	e.process()
	id := e.profileOf(anon)
	if _, err := e.svc.Check(e.t.Context(), id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *matchesEnv) profileOf(anon string) string {
	e.t.Helper()
	ids, err := e.db.ProfileIDsFor(e.t.Context(), kith.Identifier{Type: kith.IDAnonymousID, Value: anon})
	if err != nil || len(ids) != 1 {
		e.t.Fatalf("profile of %s: %v %v", anon, ids, err)
	}
	cur, _, err := e.db.Members(e.t.Context(), ids[0])
	if err != nil {
		e.t.Fatal(err)
	}
	return cur
}

// pendingPairs lists the ids of the pending pairs, most probable first.
func (e *matchesEnv) pendingPairs() []string {
	e.t.Helper()
	ps, err := e.svc.Pairs(e.t.Context(), kith.MatchPending, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

func (e *matchesEnv) pair(id string) *kith.MatchPair {
	e.t.Helper()
	p, err := e.svc.Pair(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// decide is what the Accept or Reject button posts as role, confirmed.
func (e *matchesEnv) decide(role kith.Role, id, verb string) (int, string, string) {
	e.t.Helper()
	return e.do(role, "POST", "/matches/"+id+"/"+verb, url.Values{"csrf": {e.session[role].CSRF}, "confirmed": {"yes"}})
}

var pairsOnPage = regexp.MustCompile(`data-testid="pair" data-pair="([^"]+)"`)

func TestMatchesPageByRole(t *testing.T) {
	e := newMatchesEnv(t)
	for _, role := range []kith.Role{kith.RoleAgent, kith.RoleMarketer, kith.RoleAnalyst} {
		t.Run(string(role), func(t *testing.T) {
			status, _, body := e.do(role, "GET", "/matches", nil)
			want := "The " + string(role) + " role may not do this (it needs the matches:review permission)"
			if status != http.StatusForbidden || !strings.Contains(body, want) {
				t.Errorf("GET /matches as %s: %d, want 403 saying %q\n%s", role, status, want, body)
			}
			if strings.Contains(body, "maria") || strings.Contains(body, "Lopez") {
				t.Errorf("the refusal shows personal data")
			}
			_, _, home := e.do(role, "GET", "/", nil)
			if strings.Contains(home, `href="/matches"`) {
				t.Errorf("the %s's menu links to the review queue", role)
			}
			status, _, _ = e.decide(role, e.anaPair, "accept")
			if status != http.StatusForbidden || e.pair(e.anaPair).Status != kith.MatchPending {
				t.Errorf("accepting as %s: %d, pair %s", role, status, e.pair(e.anaPair).Status)
			}
		})
	}
	denied, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditPermissionDenied, Target: "/matches"})
	if err != nil || len(denied) != 3 {
		t.Errorf("refusals recorded: %d, %v; want 3", len(denied), err)
	}

	t.Run("admin", func(t *testing.T) {
		status, _, body := e.do(kith.RoleAdmin, "GET", "/matches", nil)
		if status != http.StatusOK {
			t.Fatalf("GET /matches as admin: %d\n%s", status, body)
		}
		// The pair names Maria and Ana in the order of their profile ids.
		both := "Maria Lopez and Ana Lopez"
		if e.pair(e.anaPair).Left == e.ana {
			both = "Ana Lopez and Maria Lopez"
		}
		var shown []string
		for _, m := range pairsOnPage.FindAllStringSubmatch(body, -1) {
			shown = append(shown, m[1])
		}
		if diff := cmp.Diff([]string{e.luisPair, e.anaPair}, shown); diff != "" {
			t.Errorf("the queue shows (-want +got):\n%s", diff)
		}
		for _, want := range []string{`href="/matches" aria-current="page">Review matches</a>`, `data-testid="pending-count">2<`,
			"Maria Lopez", "Ana Lopez", "Luis Lopez", "maria@example.com", "ana@example.com", "12 Tullaroop Street", "1980-05-01",
			`href="/profiles/` + e.maria + `"`, `href="/profiles/` + e.ana + `"`, `href="/profiles/` + e.luis + `"`,
			"The names disagree: a steward decides", `action="/matches/` + e.anaPair + `/accept"`, `action="/matches/` + e.anaPair + `/reject"`,
			`data-confirm="Merge ` + both + ` into one person?`, `data-confirm="Keep ` + both + ` apart as two people?`,
			`name="csrf" value="` + e.session[kith.RoleAdmin].CSRF + `"`, `name="confirmed" value=""`} {
			if !strings.Contains(body, want) {
				t.Errorf("the queue lacks %q", want)
			}
		}
		// Both profiles of each pair were read as the admin, and recorded.
		for _, id := range []string{e.maria, e.ana, e.luis} {
			recs, err := e.db.Audit(t.Context(), kith.AuditFilter{Actor: "user:user-admin", Action: kith.AuditProfileRead, Target: id})
			if err != nil || len(recs) == 0 {
				t.Errorf("no read of %s recorded for the admin: %v", id, err)
			}
		}
	})

	t.Run("evidence", func(t *testing.T) {
		_, _, body := e.do(kith.RoleAdmin, "GET", "/matches", nil)
		card := body[strings.Index(body, `data-pair="`+e.anaPair+`"`):]
		ev := evidenceRows(card[strings.Index(card, `data-testid="evidence"`):])
		p := e.pair(e.anaPair)
		left, right := "maria", "ana" // the pair's Left and Right
		if p.Left == e.ana {
			left, right = right, left
		}
		want := map[string]evidenceRow{
			"given_name": {Class: "against", Label: "Given name", Left: left, Right: right, Level: "different", Weight: "−6.07", Verdict: "against"},
			"surname":    {Class: "for", Label: "Family name", Left: "lopez", Right: "lopez", Level: "exact", Verdict: "for"},
			"address_1":  {Class: "for", Label: "Street", Left: "12 tullaroop street", Right: "12 tullaroop street", Level: "exact", Verdict: "for"},
		}
		for f, w := range want {
			got, ok := ev[f]
			if !ok {
				t.Errorf("the evidence has no %s row: %v", f, ev)
				continue
			}
			if w.Weight == "" {
				w.Weight = got.Weight
				if !strings.HasPrefix(got.Weight, "+") {
					t.Errorf("%s weighs %s, want a positive weight", f, got.Weight)
				}
			}
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("evidence row %s (-want +got):\n%s", f, diff)
			}
		}
		if _, ok := ev["date_of_birth"]; ok {
			t.Errorf("Ana has no birth date, yet the evidence weighs one")
		}
		for _, want := range []string{"<th scope=\"row\">Prior</th>", "−12.97", "<strong>+7.56</strong>", "99.5%"} {
			if !strings.Contains(card, want) {
				t.Errorf("the pair lacks %q", want)
			}
		}
	})

	t.Run("no matcher", func(t *testing.T) {
		plain := newConsoleEnv(t, false)
		if status, _, _ := plain.do(kith.RoleAdmin, "GET", "/matches", nil); status != http.StatusNotFound {
			t.Errorf("GET /matches without a matcher: %d, want 404", status)
		}
		if _, _, home := plain.do(kith.RoleAdmin, "GET", "/", nil); strings.Contains(home, `href="/matches"`) {
			t.Errorf("the menu links to the review queue without a matcher")
		}
	})
}

type evidenceRow struct {
	Class, Label, Left, Right, Level, Weight, Verdict string
}

var evidenceRowRE = regexp.MustCompile(`<tr class="([a-z]*)" data-field="([a-z_0-9]+)">\s*<th scope="row">([^<]*)</th><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>\s*` +
	`<td class="num"><span class="w">([^<]*)</span> <span class="verdict">([^<]*)</span></td>`)

// evidenceRows reads the first evidence table in html, by field.
func evidenceRows(html string) map[string]evidenceRow {
	html = html[:strings.Index(html, "</table>")]
	out := map[string]evidenceRow{}
	for _, m := range evidenceRowRE.FindAllStringSubmatch(html, -1) {
		out[m[2]] = evidenceRow{Class: m[1], Label: m[3], Left: m[4], Right: m[5], Level: m[6], Weight: m[7], Verdict: m[8]}
	}
	return out
}

func TestMatchDecisions(t *testing.T) {
	e := newMatchesEnv(t)
	admin := e.session[kith.RoleAdmin]

	// A decision needs the session's CSRF token.
	for _, form := range []url.Values{{"confirmed": {"yes"}}, {"csrf": {"forged"}, "confirmed": {"yes"}}} {
		status, _, body := e.do(kith.RoleAdmin, "POST", "/matches/"+e.anaPair+"/accept", form)
		if status != http.StatusForbidden || !strings.Contains(body, "This form has expired or did not come from the console") {
			t.Errorf("accepting with %v: %d\n%s", form, status, body)
		}
	}
	if p := e.pair(e.anaPair); p.Status != kith.MatchPending {
		t.Fatalf("after forged posts the pair is %s", p.Status)
	}

	// Without the script's yes, the server asks on a page of its own.
	status, _, body := e.do(kith.RoleAdmin, "POST", "/matches/"+e.anaPair+"/accept", url.Values{"csrf": {admin.CSRF}})
	if status != http.StatusOK || !strings.Contains(body, `data-testid="match-confirm"`) || !strings.Contains(body, "Yes, merge them") ||
		!strings.Contains(body, `name="confirmed" value="yes"`) || !strings.Contains(body, `data-testid="evidence"`) {
		t.Fatalf("accepting unconfirmed: %d\n%s", status, body)
	}
	if p := e.pair(e.anaPair); p.Status != kith.MatchPending {
		t.Fatalf("asking for confirmation decided the pair: %s", p.Status)
	}
	_, _, body = e.do(kith.RoleAdmin, "POST", "/matches/"+e.luisPair+"/reject", url.Values{"csrf": {admin.CSRF}})
	if !strings.Contains(body, "Yes, they are two people") || !strings.Contains(body, "Luis Lopez") {
		t.Errorf("rejecting unconfirmed asks:\n%s", body)
	}

	// Accept: back to the queue, which says so.
	status, loc, _ := e.decide(kith.RoleAdmin, e.anaPair, "accept")
	if status != http.StatusSeeOther || loc != "/matches?decided="+e.anaPair {
		t.Fatalf("accepting: %d to %q", status, loc)
	}
	p := e.pair(e.anaPair)
	if p.Status != kith.MatchMerged || p.DecidedBy != "user:user-admin" || p.MergeEvent == "" {
		t.Errorf("the accepted pair is %+v", p)
	}
	_, _, body = e.do(kith.RoleAdmin, "GET", loc, nil)
	if !strings.Contains(body, `data-testid="match-notice" data-pair="`+e.anaPair+`" data-status="merged">Merged: `) {
		t.Errorf("after accepting the queue says:\n%s", body)
	}
	if got := pairsOnPage.FindAllStringSubmatch(body, -1); len(got) != 1 || got[0][1] != e.luisPair {
		t.Errorf("after accepting the queue shows %v, want only %s", got, e.luisPair)
	}
	e.process()
	if a, m := e.profileOf("shop-ana"), e.profileOf("crm-maria"); a != m {
		t.Errorf("after accepting Ana is %s and Maria %s, want one profile", a, m)
	}

	// A second decision on it, by a colleague whose page still shows it,
	// is refused with who decided it, on the queue as it is now.
	for _, verb := range []string{"accept", "reject"} {
		for _, form := range []url.Values{{"csrf": {admin.CSRF}, "confirmed": {"yes"}}, {"csrf": {admin.CSRF}}} {
			status, _, body = e.do(kith.RoleAdmin, "POST", "/matches/"+e.anaPair+"/"+verb, form)
			want := "Pair " + e.anaPair + " was already decided: merged by user:user-admin on "
			if status != http.StatusConflict || !strings.Contains(body, `<p class="error" role="alert" data-testid="match-refusal">`+want) {
				t.Errorf("%s %v of a decided pair: %d, want 409 saying %q\n%s", verb, form, status, want, body)
			}
			if !strings.Contains(body, `data-pair="`+e.luisPair+`"`) {
				t.Errorf("the refusal does not show the queue")
			}
		}
	}
	if p := e.pair(e.anaPair); p.Status != kith.MatchMerged {
		t.Errorf("after the refused decisions the pair is %s", p.Status)
	}

	// Reject: two people, and the queue is empty.
	status, loc, _ = e.decide(kith.RoleAdmin, e.luisPair, "reject")
	if status != http.StatusSeeOther {
		t.Fatalf("rejecting: %d", status)
	}
	_, _, body = e.do(kith.RoleAdmin, "GET", loc, nil)
	if !strings.Contains(body, `data-status="rejected">Rejected: `) || !strings.Contains(body, "will not be proposed again") ||
		!strings.Contains(body, `data-testid="queue-empty"`) {
		t.Errorf("after rejecting the queue says:\n%s", body)
	}
	e.process()
	if l, m := e.profileOf("crm-luis"), e.profileOf("crm-maria"); l == m {
		t.Errorf("the rejected pair was merged")
	}

	// The decided tab shows both, with their reason and who decided.
	status, _, body = e.do(kith.RoleAdmin, "GET", "/matches?status=decided", nil)
	if status != http.StatusOK {
		t.Fatalf("the decided tab: %d\n%s", status, body)
	}
	rows := decidedRows(body)
	ap, lp := e.pair(e.anaPair), e.pair(e.luisPair)
	want := map[string]decidedRow{
		e.anaPair:  {Left: ap.Left, Right: ap.Right, Status: "merged", Reason: "accepted by a data steward", By: "user-admin"},
		e.luisPair: {Left: lp.Left, Right: lp.Right, Status: "rejected", Reason: "rejected by a data steward", By: "user-admin"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("the decided tab shows (-want +got):\n%s", diff)
	}
	for tab, want := range map[string][]string{"merged": {e.anaPair}, "rejected": {e.luisPair}, "undone": nil, "refused": nil} {
		_, _, body := e.do(kith.RoleAdmin, "GET", "/matches?status="+tab, nil)
		var got []string
		for id := range decidedRows(body) {
			got = append(got, id)
		}
		if !cmp.Equal(want, got) {
			t.Errorf("the %s tab shows %v, want %v", tab, got, want)
		}
		if !strings.Contains(body, `data-tab="`+tab+`" aria-current="page"`) {
			t.Errorf("the %s tab is not marked current", tab)
		}
	}
	if status, _, _ := e.do(kith.RoleAdmin, "GET", "/matches?status=maybe", nil); status != http.StatusBadRequest {
		t.Errorf("an unknown tab: %d, want 400", status)
	}
	if status, _, _ := e.decide(kith.RoleAdmin, "mp_nope", "accept"); status != http.StatusNotFound {
		t.Errorf("accepting an unknown pair: %d, want 404", status)
	}
	if status, _, _ := e.decide(kith.RoleAdmin, e.luisPair, "merge"); status != http.StatusNotFound {
		t.Errorf("an unknown decision: %d, want 404", status)
	}

	// Both decisions are in the audit log, by the admin.
	for action, pair := range map[string]string{kith.AuditMatchAccept: e.anaPair, kith.AuditMatchReject: e.luisPair} {
		recs, err := e.db.Audit(t.Context(), kith.AuditFilter{Actor: "user:user-admin", Action: action})
		if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Detail, pair) {
			t.Errorf("%s records: %+v, %v", action, recs, err)
		}
	}
}

type decidedRow struct {
	Left, Right        string // the profiles it links to
	Status, Reason, By string
}

var decidedRowRE = regexp.MustCompile(`(?s)<tr data-pair="([^"]+)" data-status="([a-z]+)">\s*<td class="nowrap"><a href="/profiles/([^"]+)" data-testid="left">[^<]*</a>` +
	`<span class="block"><a href="/profiles/([^"]+)" data-testid="right">.*?data-testid="pair-reason">([^<]*)</td>\s*<td data-testid="decided-by">([^<]*)</td>`)

// decidedRows reads a tab of decided pairs, by pair id.
func decidedRows(html string) map[string]decidedRow {
	out := map[string]decidedRow{}
	for _, m := range decidedRowRE.FindAllStringSubmatch(html, -1) {
		out[m[1]] = decidedRow{Status: m[2], Left: m[3], Right: m[4], Reason: m[5], By: m[6]}
	}
	return out
}

func TestEvidenceHiddenWithoutPII(t *testing.T) {
	raw := json.RawMessage(`{"prior":-12.97,"weight":7.56,"fields":[{"field":"given_name","level":"different","left":"maria","right":"ana","weight":-6.07},{"field":"state","level":"exact","left":"vic","weight":1.9}]}`)
	want := matchEvidence{Prior: -12.97, Weight: 7.56, Fields: []fieldEvidence{
		{Field: "given_name", Level: "different", Left: "(hidden)", Right: "(hidden)", Weight: -6.07},
		{Field: "state", Level: "exact", Left: "(hidden)", Weight: 1.9}}}
	if diff := cmp.Diff(want, parseEvidence(raw, false)); diff != "" {
		t.Errorf("evidence without PII (-want +got):\n%s", diff)
	}
	if got := parseEvidence(raw, true); got.Fields[0].Left != "maria" || got.Fields[0].Right != "ana" {
		t.Errorf("evidence with PII: %+v", got)
	}
}

func TestMatchFigures(t *testing.T) {
	for p, want := range map[float64]string{0.9947: "99.5%", 0.6009: "60.1%", 0.9999: "over 99.9%", 0.5: "50.0%", 0.0001: "under 0.1%"} {
		if got := matchProbability(p); got != want {
			t.Errorf("matchProbability(%g) = %q, want %q", p, got, want)
		}
	}
	for w, want := range map[float64]string{6.1006: "+6.10", -6.074: "−6.07", 0: "0.00"} {
		if got := bits(w); got != want {
			t.Errorf("bits(%g) = %q, want %q", w, got, want)
		}
	}
	for by, want := range map[string]string{"user:ann": "ann", "kith-match": "kith-match", "key:crm": "key:crm"} {
		if got := decider(by); got != want {
			t.Errorf("decider(%q) = %q, want %q", by, got, want)
		}
	}
}

// A pair whose profile was merged into another since it was proposed says
// so: Ana and Luis, both at Maria's address without a birth date, are a pair
// of their own; once Ana is merged into Maria, their pair shows Ana's side
// merged since, so the steward knows accepting it joins Luis to Maria.
func TestMatchQueueAfterMerge(t *testing.T) {
	e := newMatchesEnv(t)
	neighbour := e.identify("shop-luis", map[string]any{"email": "luis.lopez@example.com", "first_name": "Luis", "last_name": "Lopez", "address": kew})
	anaLuis := matching.PairID(e.ana, neighbour)
	if p := e.pair(anaLuis); p.Status != kith.MatchPending {
		t.Fatalf("Ana and the neighbour: %+v", p)
	}
	if status, _, _ := e.decide(kith.RoleAdmin, e.anaPair, "accept"); status != http.StatusSeeOther {
		t.Fatalf("accepting: %d", status)
	}
	e.process()
	if got := e.profileOf("shop-ana"); got != e.maria {
		t.Fatalf("Ana is profile %s after the merge, want Maria's %s (the older survives)", got, e.maria)
	}
	_, _, body := e.do(kith.RoleAdmin, "GET", "/matches", nil)
	card := body[strings.Index(body, `data-pair="`+anaLuis+`"`):]
	card = card[:strings.Index(card, "</article>")]
	if !strings.Contains(card, `data-testid="merged-since">since merged into <a href="/profiles/`+e.maria+`">`) {
		t.Errorf("the pair of Ana and the neighbour does not say Ana was merged into Maria:\n%s", card)
	}
}
