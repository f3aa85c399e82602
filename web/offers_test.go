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
	"github.com/kithhq/kith/offer"
)

// offersEnv is a console with the offer ledger, one customer and one grant
// of the free upgrade, made through e-mail.
type offersEnv struct {
	*consoleEnv
	offers  *offer.Service
	profile string
	grant   *offer.View
}

func newOffersEnv(t *testing.T) *offersEnv {
	t.Helper()
	ctx := t.Context()
	e := newConsoleEnv(t, false)
	src, err := e.con.c.Access.CreateSource(ctx, "kith-offers", "server")
	if err != nil {
		t.Fatal(err)
	}
	svc := offer.New(e.db, offer.Config{People: e.con.c.Profiles, Log: e.db, Source: src, Audit: e.db, Logger: quiet})
	cfg := e.con.c
	cfg.Offers = svc
	if e.con, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	oe := &offersEnv{consoleEnv: e, offers: svc}

	now := time.Now().UTC()
	p, _ := json.Marshal(map[string]any{"type": "identify", "messageId": "m1", "userId": "maria-1", "timestamp": now.Format(time.RFC3339Nano),
		"traits": map[string]any{"email": "maria@example.com", "phone": "+14155550101", "name": "Maria Lopez"}})
	e.pending = append(e.pending, kith.Event{MessageID: "m1", Type: kith.TypeIdentify, SourceID: e.src.ID, Channel: e.src.Kind,
		UserID: "maria-1", Timestamp: now, ReceivedAt: now, Payload: p})
	e.process()
	oe.profile = e.profileID("maria-1")

	if _, err := svc.Create(ctx, freeUpgrade("FREE-UPGRADE")); err != nil {
		t.Fatal(err)
	}
	if oe.grant, err = svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Profile: oe.profile},
		Channel: kith.KindEmail, Campaign: "autumn-upgrade"}); err != nil {
		t.Fatal(err)
	}
	return oe
}

func freeUpgrade(code string) kith.Offer {
	return kith.Offer{Code: code, Name: "Free upgrade", Description: "Internet only: upgrade to 1 Gbit",
		Terms: kith.Terms{Price: kith.Money{Amount: 0, Currency: "USD"}, RegularPrice: &kith.Money{Amount: 130, Currency: "USD"},
			Summary: "upgrade at 0 USD instead of 130"},
		ValidUntil: time.Now().Add(60 * 24 * time.Hour), PerPerson: 1,
		Channels: []kith.Kind{kith.KindStore, kith.KindCallCenter, kith.KindWeb},
		Honour: map[kith.Kind]kith.Honour{
			kith.KindPOS:       {Action: kith.HonourWithFee, Fee: &kith.Money{Amount: 10, Currency: "USD"}, Note: "partner shops"},
			kith.OtherChannels: {Action: kith.HonourAlternative, Alternative: "20% off the upgrade"},
		}}
}

// redeemForm is what the Redeem button of the grant posts as role.
func (e *offersEnv) redeemForm(role kith.Role, channel string) url.Values {
	return url.Values{"csrf": {e.session[role].CSRF}, "channel": {channel}, "key": {newToken()}, "confirmed": {"yes"}}
}

func (e *offersEnv) redeemPath() string {
	return "/profiles/" + e.profile + "/grants/" + e.grant.ID + "/redeem"
}

// state is the grant's state as the ledger has it.
func (e *offersEnv) state() string {
	e.t.Helper()
	g, err := e.offers.GrantOf(e.t.Context(), e.grant.ID, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return g.State
}

func TestOffersPageByRole(t *testing.T) {
	e := newOffersEnv(t)
	for _, c := range []struct {
		role   kith.Role
		redeem bool // sees the Redeem button and the code on the customer's page
	}{
		{kith.RoleAdmin, true},
		{kith.RoleAgent, true},
		{kith.RoleMarketer, false},
		{kith.RoleAnalyst, false},
	} {
		t.Run(string(c.role), func(t *testing.T) {
			status, _, body := e.do(c.role, "GET", "/offers", nil)
			if status != http.StatusOK {
				t.Fatalf("GET /offers as %s: %d\n%s", c.role, status, body)
			}
			for _, want := range []string{`href="/offers" aria-current="page"`, "Free upgrade", "FREE-UPGRADE", "0.00 USD",
				"instead of <s data-testid=\"regular-price\">130.00 USD</s>", "upgrade at 0 USD instead of 130",
				"Call center", "Point of sale", "Honour it with a fee of 10.00 USD", "partner shops",
				"Do not redeem it; offer instead: 20% off the upgrade", `data-testid="granted">1<`, `data-testid="redeemed">0<`} {
				if !strings.Contains(body, want) {
					t.Errorf("the offers page as %s lacks %q", c.role, want)
				}
			}
			if strings.Contains(body, "maria") || strings.Contains(body, e.grant.Code) {
				t.Errorf("the offers page shows personal data or a redemption code")
			}

			status, _, body = e.do(c.role, "GET", "/profiles/"+e.profile, nil)
			if status != http.StatusOK || !strings.Contains(body, `data-testid="offers-panel"`) {
				t.Fatalf("the customer's page as %s: %d, has an Offers panel: %v", c.role, status, strings.Contains(body, "offers-panel"))
			}
			if got := strings.Contains(body, `data-testid="redeem-form"`); got != c.redeem {
				t.Errorf("as %s the Redeem form shows: %v, want %v", c.role, got, c.redeem)
			}
			if got := strings.Contains(body, e.grant.Code); got != c.redeem {
				t.Errorf("as %s the redemption code shows: %v, want %v", c.role, got, c.redeem)
			}
		})
	}
}

func TestOffersPageSearch(t *testing.T) {
	e := newOffersEnv(t)
	ctx := t.Context()
	roaming := freeUpgrade("ROAMING")
	roaming.Name, roaming.Description, roaming.Terms.Summary = "Roaming week", "A week of roaming abroad", "roaming at 5 USD"
	roaming.Terms.Price.Amount = 5
	roaming.Honour = map[kith.Kind]kith.Honour{kith.OtherChannels: {Action: kith.HonourAsGranted}}
	if _, err := e.offers.Create(ctx, roaming); err != nil {
		t.Fatal(err)
	}
	if _, err := e.offers.SetStatus(ctx, "ROAMING", kith.OfferPaused); err != nil {
		t.Fatal(err)
	}
	offersOn := func(path string) []string {
		t.Helper()
		status, _, body := e.do(kith.RoleAnalyst, "GET", path, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, status, body)
		}
		var codes []string
		for _, m := range regexp.MustCompile(`<tr data-offer="([^"]+)">`).FindAllStringSubmatch(body, -1) {
			codes = append(codes, m[1])
		}
		return codes
	}
	for path, want := range map[string][]string{
		"/offers":                            {"FREE-UPGRADE"},
		"/offers?q=free+upgrade":             {"FREE-UPGRADE"},
		"/offers?q=Free+Upgrade+gbit":        {"FREE-UPGRADE"},
		"/offers?q=roaming":                  nil,
		"/offers?all=1":                      {"FREE-UPGRADE", "ROAMING"},
		"/offers?all=1&q=roaming":            {"ROAMING"},
		"/offers?q=free+upgrade+abroad":      nil,
		"/offers?all=1&q=upgrade+instead+of": {"FREE-UPGRADE"},
	} {
		if diff := cmp.Diff(want, offersOn(path)); diff != "" {
			t.Errorf("GET %s lists (-want +got):\n%s", path, diff)
		}
	}
	_, _, body := e.do(kith.RoleAgent, "GET", "/offers?q=free+upgrade", nil)
	if !strings.Contains(body, `href="/offers?all=1&q=free+upgrade"`) {
		t.Errorf("the toggle to all offers does not keep the search:\n%s", body)
	}

	// The detail page, and an earlier version of an edited offer.
	edited := freeUpgrade("FREE-UPGRADE")
	edited.Terms.Price.Amount = 20
	if _, err := e.offers.Update(ctx, "FREE-UPGRADE", edited); err != nil {
		t.Fatal(err)
	}
	status, _, body := e.do(kith.RoleAnalyst, "GET", "/offers/FREE-UPGRADE", nil)
	if status != http.StatusOK || !strings.Contains(body, "20.00 USD") || !strings.Contains(body, `href="/offers/FREE-UPGRADE?version=1"`) {
		t.Errorf("the offer's page: %d\n%s", status, body)
	}
	status, _, body = e.do(kith.RoleAnalyst, "GET", "/offers/FREE-UPGRADE?version=1", nil)
	if status != http.StatusOK || !strings.Contains(body, ">0.00 USD<") || !strings.Contains(body, "not the current one, 2") {
		t.Errorf("version 1 of the offer: %d\n%s", status, body)
	}
	if status, _, _ := e.do(kith.RoleAnalyst, "GET", "/offers/FREE-UPGRADE?version=3", nil); status != http.StatusBadRequest {
		t.Errorf("version 3 of the offer: %d, want 400", status)
	}
	if status, _, _ := e.do(kith.RoleAnalyst, "GET", "/offers/NOPE", nil); status != http.StatusNotFound {
		t.Errorf("an unknown offer: %d, want 404", status)
	}
	// The grant keeps the terms of its version: 0 on the customer's page.
	_, _, body = e.do(kith.RoleAgent, "GET", "/profiles/"+e.profile, nil)
	if !strings.Contains(body, `<strong class="price" data-testid="price">0.00 USD</strong>`) {
		t.Errorf("after the edit the customer's grant does not show 0.00 USD")
	}
}

func TestOffersPanel(t *testing.T) {
	e := newOffersEnv(t)
	_, _, body := e.do(kith.RoleAgent, "GET", "/profiles/"+e.profile, nil)
	panel := regexp.MustCompile(`(?s)<section class="card offers-panel".*?</section>`).FindString(body)
	for _, want := range []string{
		`<strong class="price" data-testid="price">0.00 USD</strong>`, "instead of <s data-testid=\"regular-price\">130.00 USD</s>",
		"upgrade at 0 USD instead of 130", `<span class="ch ch-email">E-mail</span>`, "campaign autumn-upgrade", `<time datetime="` + e.grant.ExpiresAt.Format(time.RFC3339) + `">`, "(in 59 days)",
		`data-testid="redeem-on"><span class="ch ch-store">Store</span> <span class="ch ch-call_center">Call center</span> <span class="ch ch-web">Website</span>`,
		"Honour it with a fee of 10.00 USD", "Do not redeem it; offer instead: 20% off the upgrade",
		`action="/profiles/` + e.profile + `/grants/` + e.grant.ID + `/redeem"`, `data-confirm="Redeem Free upgrade for this customer now, at 0.00 USD?`,
		`name="csrf" value="` + e.session[kith.RoleAgent].CSRF + `"`, `<option value="call_center" selected>Call center</option>`,
		`<option value="pos">Point of sale (fee 10.00 USD)</option>`, `<label class="inline-label" for="channel-` + e.grant.ID + `">`,
	} {
		if !strings.Contains(panel, want) {
			t.Errorf("the Offers panel lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("the panel:\n%s", panel)
	}
	if strings.Contains(panel, `<option value="sms"`) {
		t.Errorf("the panel offers to redeem through SMS, whose policy is an alternative")
	}
}

func TestRedeemByRole(t *testing.T) {
	e := newOffersEnv(t)
	// The analyst sees the grant but may not redeem it.
	status, _, body := e.do(kith.RoleAnalyst, "POST", e.redeemPath(), e.redeemForm(kith.RoleAnalyst, "call_center"))
	if status != http.StatusForbidden || !strings.Contains(body, "The analyst role may not do this") || !strings.Contains(body, "offers:redeem") {
		t.Errorf("the analyst's redeem: %d\n%s", status, body)
	}
	if s := e.state(); s != kith.GrantHeld {
		t.Fatalf("after the analyst's refusal the grant is %s", s)
	}

	// The agent, without the script's yes: a page that asks first.
	form := e.redeemForm(kith.RoleAgent, "call_center")
	form.Set("confirmed", "")
	status, _, body = e.do(kith.RoleAgent, "POST", e.redeemPath(), form)
	if status != http.StatusOK || !strings.Contains(body, `data-testid="redeem-confirm"`) || !strings.Contains(body, `name="confirmed" value="yes"`) ||
		!strings.Contains(body, `value="`+form.Get("key")+`"`) || !strings.Contains(body, `<option value="call_center" selected>`) {
		t.Errorf("the unconfirmed redeem: %d\n%s", status, body)
	}
	if s := e.state(); s != kith.GrantHeld {
		t.Fatalf("after asking the grant is %s", s)
	}

	// Confirmed: redeemed as the agent, back on the customer's page.
	form.Set("confirmed", "yes")
	status, loc, body := e.do(kith.RoleAgent, "POST", e.redeemPath(), form)
	if status != http.StatusSeeOther || loc != "/profiles/"+e.profile+"?redeemed="+e.grant.ID+"#offers" {
		t.Fatalf("the agent's redeem: %d to %q\n%s", status, loc, body)
	}
	g, err := e.offers.GrantOf(t.Context(), e.grant.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := g.Redemption; r == nil || r.Channel != kith.KindCallCenter || r.Actor != "user-agent" {
		t.Fatalf("the redemption: %+v", r)
	}
	recs, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: kith.AuditRedeem, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Actor.Name != "user-agent" || recs[0].Actor.Via != "console" || recs[0].Target != e.profile {
		t.Errorf("the redemption's audit records: %+v", recs)
	}
	status, _, body = e.do(kith.RoleAgent, "GET", strings.TrimSuffix(loc, "#offers"), nil)
	for _, want := range []string{
		`data-testid="offer-notice">Redeemed Free upgrade through Call center by user-agent.`,
		`data-testid="redeemed-where"><span class="ch ch-call_center">Call center</span>`, `data-testid="redeemed-by">user-agent`,
		`<span class="state state-redeemed">Redeemed</span>`, `data-testid="no-offers"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("after the redemption the customer's page (%d) lacks %q", status, want)
		}
	}
	if strings.Contains(body, `data-testid="redeem-form"`) {
		t.Errorf("after the redemption the page still offers to redeem the grant")
	}

	// The same form again (a double click): the first result, not a refusal.
	if status, loc, _ := e.do(kith.RoleAgent, "POST", e.redeemPath(), form); status != http.StatusSeeOther || !strings.Contains(loc, "redeemed=") {
		t.Errorf("the same form again: %d to %q, want the first result", status, loc)
	}
}

func TestRedeemRefusals(t *testing.T) {
	e := newOffersEnv(t)
	// A channel whose policy is an alternative: refused with the instruction.
	status, _, body := e.do(kith.RoleAgent, "POST", e.redeemPath(), e.redeemForm(kith.RoleAgent, "sms"))
	refusal := regexp.MustCompile(`data-testid="offer-refusal">([^<]*)<`).FindStringSubmatch(body)
	if status != http.StatusConflict || refusal == nil || !strings.Contains(refusal[1], "offer instead: 20% off the upgrade") {
		t.Errorf("redeeming through SMS: %d, refusal %q", status, refusal)
	}
	if !strings.Contains(body, `<option value="call_center" selected>`) || !strings.Contains(body, `data-testid="customer-name">Maria Lopez`) {
		t.Errorf("the refusal is not shown on the customer's page with the grant still to redeem")
	}
	if s := e.state(); s != kith.GrantHeld {
		t.Fatalf("after the refusal the grant is %s", s)
	}

	// The store redeems it; the agent's page, loaded before, tries again.
	if _, err := e.offers.Redeem(t.Context(), offer.RedeemRequest{Code: e.grant.Code, Channel: kith.KindStore, Actor: "till 4", Location: "Market St"}); err != nil {
		t.Fatal(err)
	}
	status, _, body = e.do(kith.RoleAgent, "POST", e.redeemPath(), e.redeemForm(kith.RoleAgent, "call_center"))
	refusal = regexp.MustCompile(`data-testid="offer-refusal">([^<]*)<`).FindStringSubmatch(body)
	if status != http.StatusConflict || refusal == nil || !regexp.MustCompile(`^Free upgrade was already redeemed on .+ through store \(Market St\) by till 4$`).MatchString(refusal[1]) {
		t.Errorf("the second redemption: %d, refusal %q\n%s", status, refusal, body)
	}
	if !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `data-testid="redeemed-by">till 4`) {
		t.Errorf("the refusal's page does not show the redemption it refers to")
	}

	// A grant that is not this customer's, and an unknown channel.
	other := "/profiles/" + e.profile + "/grants/gr_nope/redeem"
	if status, _, body := e.do(kith.RoleAgent, "POST", other, e.redeemForm(kith.RoleAgent, "call_center")); status != http.StatusNotFound || !strings.Contains(body, "holds no grant gr_nope") {
		t.Errorf("an unknown grant: %d\n%s", status, body)
	}
}

func TestRedeemNeedsCSRF(t *testing.T) {
	e := newOffersEnv(t)
	for name, csrf := range map[string][]string{"none": nil, "wrong": {"not-the-token"}, "another session's": {e.session[kith.RoleAdmin].CSRF}} {
		form := e.redeemForm(kith.RoleAgent, "call_center")
		form["csrf"] = csrf
		if csrf == nil {
			form.Del("csrf")
		}
		status, _, body := e.do(kith.RoleAgent, "POST", e.redeemPath(), form)
		if status != http.StatusForbidden || !strings.Contains(body, "form has expired or did not come from the console") {
			t.Errorf("%s CSRF token: %d\n%s", name, status, body)
		}
	}
	if s := e.state(); s != kith.GrantHeld {
		t.Errorf("after posts without the CSRF token the grant is %s", s)
	}
}

func TestHonourRows(t *testing.T) {
	o := freeUpgrade("X")
	rows := honourRows(o.Channels, o.Honour)
	var got []string
	for _, r := range rows {
		got = append(got, string(r.Channel)+": "+honourText(r.Honour)+" "+channelList(r.Covers))
	}
	want := []string{
		"pos: Honour it with a fee of 10.00 USD ",
		"*: Do not redeem it; offer instead: 20% off the upgrade App, E-mail, SMS, Push, Chat, Social, Beacon and Server",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("honour rows (-want +got):\n%s", diff)
	}
	// An offer that names every channel needs no "any other channel" row.
	all := honourRows(kith.Kinds, map[kith.Kind]kith.Honour{kith.OtherChannels: {Action: kith.HonourAsGranted}})
	if len(all) != 0 {
		t.Errorf("an offer redeemed everywhere has honour rows %+v", all)
	}
}
