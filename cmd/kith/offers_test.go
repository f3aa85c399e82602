package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type apiGrant struct {
	ID          string `json:"id"`
	Code        string `json:"code"`
	Offer       string `json:"offer"`
	Version     int    `json:"offer_version"`
	Profile     string `json:"profile"`
	State       string `json:"state"`
	Redeemable  bool   `json:"redeemable"`
	OfferStatus string `json:"offer_status"`
	Terms       struct {
		Price        struct{ Amount float64 }  `json:"price"`
		RegularPrice *struct{ Amount float64 } `json:"regular_price"`
		Summary      string                    `json:"summary"`
	} `json:"terms"`
	Redemption *struct {
		At       time.Time `json:"at"`
		Channel  string    `json:"channel"`
		Actor    string    `json:"actor"`
		Location string    `json:"location"`
	} `json:"redemption"`
}

type apiError struct {
	Error struct {
		Code    string         `json:"code"`
		Field   string         `json:"field"`
		Message string         `json:"message"`
		Detail  map[string]any `json:"detail"`
	} `json:"error"`
}

func decodeInto[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return v
}

func freeUpgrade(code string) map[string]any {
	return map[string]any{
		"code": code, "name": "Free upgrade", "description": "Internet only: upgrade to 1 Gbit",
		"terms":       map[string]any{"price": map[string]any{"amount": 0, "currency": "USD"}, "regular_price": map[string]any{"amount": 130, "currency": "USD"}, "summary": "upgrade at 0 USD instead of 130"},
		"valid_until": time.Now().Add(60 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"channels":    []string{"store", "call_center", "web"},
		"honour":      map[string]any{"*": map[string]any{"action": "alternative", "alternative": "20% off the upgrade"}},
	}
}

// Situation 4 over the public API: e-mail grants the offer to a customer
// known by e-mail; the call center, which knows her by phone, sees it at 0
// with its terms; a store redeems it by code; the call center then sees it
// redeemed, when and where; every further redemption gets 409.
func TestOffersSituation4(t *testing.T) { eachStore(t, testOffersSituation4) }

func testOffersSituation4(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, ccKey := c.createSource("call-center", "call_center")
	_, webKey := c.createSource("website", "web")
	c.send(webKey, msg("identify", "w1", t0, map[string]any{"userId": "maria-1", "traits": map[string]any{"email": "maria@example.com", "name": "Maria Lopez"}}))
	c.send(ccKey, msg("track", "c1", t0.Add(time.Hour), map[string]any{"userId": "maria-1", "event": "Call Started",
		"context": map[string]any{"traits": map[string]any{"phone": "+1 415 555 0101"}}}))
	c.waitProcessed()

	status, body := c.call("POST", "/v1/offers", testAPIKey, freeUpgrade("FREE-UPGRADE"))
	if status != http.StatusCreated {
		t.Fatalf("create offer: %d %s", status, body)
	}
	status, body = c.call("POST", "/v1/grants", testAPIKey, map[string]any{"offer": "free-upgrade", "email": "Maria@Example.com",
		"channel": "email", "campaign": "autumn-upgrade", "message": "mail-77"})
	if status != http.StatusCreated {
		t.Fatalf("grant: %d %s", status, body)
	}
	g := decodeInto[apiGrant](t, body)

	// The call center looks her up by phone.
	p := c.lookup("phone", "(415) 555-0101")
	var held struct {
		Profile string     `json:"profile"`
		Grants  []apiGrant `json:"grants"`
	}
	c.get("/v1/profiles/"+p.ID+"/grants", &held)
	if len(held.Grants) != 1 || held.Grants[0].ID != g.ID || held.Grants[0].Terms.Price.Amount != 0 ||
		held.Grants[0].Terms.RegularPrice.Amount != 130 || held.Grants[0].State != "held" || !held.Grants[0].Redeemable {
		t.Fatalf("the call center sees %+v", held)
	}
	// The website asks by any identifier.
	c.get("/v1/grants?type=phone&value=%2B14155550101&state=held", &held)
	if len(held.Grants) != 1 || held.Profile != p.ID {
		t.Errorf("by phone: %+v", held)
	}

	// The store redeems it by code, as typed at the till.
	status, body = c.call("POST", "/v1/redemptions", testAPIKey, map[string]any{"code": strings.ToLower(g.Code), "channel": "store",
		"actor": "till 4", "location": "Market St"})
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %s", status, body)
	}
	c.get("/v1/profiles/"+p.ID+"/grants", &held)
	r := held.Grants[0].Redemption
	if held.Grants[0].State != "redeemed" || r == nil || r.Channel != "store" || r.Location != "Market St" || r.Actor != "till 4" {
		t.Fatalf("the call center then sees %+v", held.Grants[0])
	}
	for _, try := range []struct{ path, channel string }{{"/v1/grants/" + g.ID + "/redeem", "call_center"}, {"/v1/redemptions", "store"}} {
		req := map[string]any{"channel": try.channel}
		if try.path == "/v1/redemptions" {
			req["code"] = g.Code
		}
		status, body = c.call("POST", try.path, testAPIKey, req)
		e := decodeInto[apiError](t, body)
		if status != http.StatusConflict || e.Error.Detail["reason"] != "already_redeemed" || !strings.Contains(e.Error.Message, "through store (Market St) by till 4") {
			t.Errorf("second redemption via %s: %d %s", try.channel, status, body)
		}
	}

	// The grant and its redemption are on her timeline.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.waitProcessed()
		var names []string
		for _, e := range c.timeline(p.ID, 10) {
			var m struct{ Event string }
			json.Unmarshal(e.Message, &m)
			names = append(names, m.Event)
		}
		if len(names) >= 2 && names[0] == "Offer Redeemed" && names[1] == "Offer Granted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeline %q lacks the ledger events", names)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Bad input is refused with status, field and reason; nothing is stored.
func TestOffersBadInput(t *testing.T) { eachStore(t, testOffersBadInput) }

func testOffersBadInput(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	c.send(webKey, msg("identify", "w1", t0, map[string]any{"userId": "u1", "traits": map[string]any{"email": "a@example.com"}}))
	c.waitProcessed()
	bad := freeUpgrade("X1")
	bad["terms"] = map[string]any{"price": map[string]any{"amount": -5, "currency": "USD"}}
	noHonour := freeUpgrade("X2")
	delete(noHonour, "honour")
	cases := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"malformed terms", "POST", "/v1/offers", bad, 400, "terms.price.amount"},
		{"no honour policy", "POST", "/v1/offers", noHonour, 400, "honour"},
		{"unknown field", "POST", "/v1/offers", map[string]any{"code": "X3", "cost": 5}, 400, ""},
		{"unknown offer", "POST", "/v1/grants", map[string]any{"offer": "NOPE", "email": "a@example.com", "channel": "email"}, 404, "offer"},
		{"unknown person", "POST", "/v1/grants", map[string]any{"offer": "FREE-UPGRADE", "email": "who@example.com", "channel": "email"}, 404, "profile.identifier"},
		{"unknown profile", "POST", "/v1/grants", map[string]any{"offer": "FREE-UPGRADE", "profile": "prof_nope", "channel": "email"}, 404, "profile"},
		{"bad channel", "POST", "/v1/grants", map[string]any{"offer": "FREE-UPGRADE", "email": "a@example.com", "channel": "fax"}, 400, "channel"},
		{"unknown grant", "POST", "/v1/grants/gr_nope/redeem", map[string]any{"channel": "store"}, 404, "grant"},
		{"unknown code", "POST", "/v1/redemptions", map[string]any{"code": "ZZZZ-ZZZZ-ZZZZ", "channel": "store"}, 404, "code"},
		{"no code", "POST", "/v1/redemptions", map[string]any{"channel": "store"}, 400, "code"},
	}
	if status, body := c.call("POST", "/v1/offers", testAPIKey, freeUpgrade("FREE-UPGRADE")); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	for _, tc := range cases {
		status, body := c.call(tc.method, tc.path, testAPIKey, tc.body)
		e := decodeInto[apiError](t, body)
		if status != tc.status || e.Error.Field != tc.field || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want %d field %q", tc.name, status, body, tc.status, tc.field)
		}
	}
	var list struct {
		Offers []struct {
			Code    string `json:"code"`
			Granted int    `json:"granted"`
		} `json:"offers"`
	}
	c.get("/v1/offers?all=true", &list)
	if len(list.Offers) != 1 || list.Offers[0].Granted != 0 {
		t.Errorf("after the refusals: %+v", list)
	}
	// Searching by the words a caller would use.
	c.get("/v1/offers?q=free+upgrade", &list)
	if len(list.Offers) != 1 {
		t.Errorf("search 'free upgrade': %+v", list)
	}
	c.get("/v1/offers?q=roaming", &list)
	if len(list.Offers) != 0 {
		t.Errorf("search 'roaming': %+v", list)
	}
	// A read-only key cannot grant.
	status, body := c.call("POST", "/v1/keys", testAPIKey, map[string]any{"name": "reader", "scopes": []string{"profiles:read"}})
	if status != http.StatusCreated {
		t.Fatalf("create key: %d %s", status, body)
	}
	reader := decodeInto[struct {
		Secret string `json:"secret"`
	}](t, body).Secret
	if status, body := c.call("POST", "/v1/grants", reader, map[string]any{"offer": "FREE-UPGRADE", "email": "a@example.com", "channel": "email"}); status != http.StatusForbidden {
		t.Errorf("grant with a read-only key: %d %s", status, body)
	}
}

// 100 simultaneous redemptions of one grant from different channels, with
// and without idempotency keys: exactly one succeeds, a retry of it gets the
// first result, and the offer counts one redemption.
func TestOffersConcurrentRedemptions(t *testing.T) { eachStore(t, testOffersConcurrentRedemptions) }

func testOffersConcurrentRedemptions(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	c.send(webKey, msg("identify", "w1", t0, map[string]any{"userId": "u1", "traits": map[string]any{"email": "a@example.com"}}))
	c.waitProcessed()
	offer := freeUpgrade("FREE-UPGRADE")
	offer["honour"] = map[string]any{"*": map[string]any{"action": "honour"}}
	if status, body := c.call("POST", "/v1/offers", testAPIKey, offer); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	status, body := c.call("POST", "/v1/grants", testAPIKey, map[string]any{"offer": "FREE-UPGRADE", "user_id": "u1", "channel": "email"})
	if status != http.StatusCreated {
		t.Fatalf("grant: %d %s", status, body)
	}
	g := decodeInto[apiGrant](t, body)
	channels := []string{"store", "call_center", "web", "app", "sms"}
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var winnerKey string
	for i := range 100 {
		wg.Go(func() {
			key := fmt.Sprintf("try-%d", i)
			st, b := redeemWithKey(t, c, g.ID, channels[i%len(channels)], key)
			mu.Lock()
			defer mu.Unlock()
			statuses[st]++
			if st == http.StatusOK {
				winnerKey = key
			} else if st != http.StatusConflict {
				t.Errorf("redeem: %d %s", st, b)
			}
		})
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[409] != 99 {
		t.Fatalf("statuses %v; want one 200 and 99 409", statuses)
	}
	// The winner's retry returns its first result.
	if st, b := redeemWithKey(t, c, g.ID, "store", winnerKey); st != http.StatusOK {
		t.Errorf("retry of the winner: %d %s", st, b)
	}
	var o struct {
		Granted, Redeemed int
	}
	c.get("/v1/offers/FREE-UPGRADE", &o)
	if o.Redeemed != 1 || o.Granted != 1 {
		t.Errorf("offer counts %+v", o)
	}
}

func redeemWithKey(t *testing.T, c *profileClient, grant, channel, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/v1/grants/"+grant+"/redeem", strings.NewReader(fmt.Sprintf(`{"channel":%q,"actor":"clerk"}`, channel)))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, []byte(b.String())
}

// TestOffersTwoNodes races redemptions through two nodes on one PostgreSQL
// database: 100 attempts at one grant, half through each node, from
// different channels, make exactly one redemption; 20 grants of an offer
// whose budget allows 5 redemptions, redeemed at once through both nodes,
// make exactly 5.
func TestOffersTwoNodes(t *testing.T) {
	store := postgresStore(t)
	onStore := func(c *Config) { c.Store = store }
	a := startMain(t, onStore)
	b := startMain(t, onStore)
	ca, cb := newProfileClient(t, a), newProfileClient(t, b)
	_, webKey := ca.createSource("website", "web")
	var people []map[string]any
	for i := range 21 {
		people = append(people, msg("identify", fmt.Sprint("w", i), t0, map[string]any{"userId": fmt.Sprint("u", i)}))
	}
	ca.send(webKey, people...)
	ca.waitProcessed()
	cb.waitProcessed()
	one := freeUpgrade("FREE-UPGRADE")
	one["honour"] = map[string]any{"*": map[string]any{"action": "honour"}}
	budget := freeUpgrade("FIVE-ONLY")
	budget["honour"] = one["honour"]
	budget["redeem_budget"] = 5
	for _, o := range []map[string]any{one, budget} {
		if status, body := ca.call("POST", "/v1/offers", testAPIKey, o); status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, body)
		}
	}
	grant := func(c *profileClient, offer, user string) apiGrant {
		status, body := c.call("POST", "/v1/grants", testAPIKey, map[string]any{"offer": offer, "user_id": user, "channel": "email"})
		if status != http.StatusCreated {
			t.Fatalf("grant %s to %s: %d %s", offer, user, status, body)
		}
		return decodeInto[apiGrant](t, body)
	}
	g := grant(cb, "FREE-UPGRADE", "u0")
	var budgeted []apiGrant
	for i := 1; i <= 20; i++ {
		budgeted = append(budgeted, grant([]*profileClient{ca, cb}[i%2], "FIVE-ONLY", fmt.Sprint("u", i)))
	}

	channels := []string{"store", "call_center", "web", "app", "sms"}
	var mu sync.Mutex
	var wg sync.WaitGroup
	statuses := map[int]int{}
	reasons := map[string]int{}
	count := func(st int, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		statuses[st]++
		if st != http.StatusOK {
			var e apiError
			json.Unmarshal(body, &e)
			r, _ := e.Error.Detail["reason"].(string)
			reasons[r]++
		}
	}
	for i := range 100 {
		wg.Go(func() {
			c := []*profileClient{ca, cb}[i%2]
			st, body := redeemWithKey(t, c, g.ID, channels[i%len(channels)], fmt.Sprint("node-race-", i))
			count(st, body)
		})
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[409] != 99 || reasons["already_redeemed"] != 99 {
		t.Errorf("one grant, two nodes: statuses %v reasons %v; want one 200 and 99 already redeemed", statuses, reasons)
	}
	clear(statuses)
	clear(reasons)
	for i, bg := range budgeted {
		wg.Go(func() {
			c := []*profileClient{ca, cb}[i%2]
			st, body := redeemWithKey(t, c, bg.ID, "store", "")
			count(st, body)
		})
	}
	wg.Wait()
	if statuses[200] != 5 || reasons["budget_spent"] != 15 {
		t.Errorf("budget of 5, two nodes: statuses %v reasons %v; want 5 redeemed and 15 over budget", statuses, reasons)
	}
	var o struct{ Granted, Redeemed int }
	cb.get("/v1/offers/FIVE-ONLY", &o)
	if o.Redeemed != 5 || o.Granted != 20 {
		t.Errorf("FIVE-ONLY counts %+v", o)
	}
}

// kith offers grant sends a list through a running server with progress,
// reports refusals by line, and a second run grants nobody twice.
func TestOffersGrantCLI(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	var people []map[string]any
	for i := range 5 {
		people = append(people, msg("identify", fmt.Sprint("w", i), t0, map[string]any{"userId": fmt.Sprint("u", i),
			"traits": map[string]any{"email": fmt.Sprintf("p%d@example.com", i)}}))
	}
	c.send(webKey, people...)
	c.waitProcessed()
	if status, body := c.call("POST", "/v1/offers", testAPIKey, freeUpgrade("FREE-UPGRADE")); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	p0 := c.lookup("email", "p0@example.com").ID
	list := strings.Join([]string{"# autumn list", p0, "email:p1@example.com", "", "user_id:u2", "phone:+1 415 555 0000",
		"nonsense", "email:P3@Example.com", "user_id:u4"}, "\n")
	file := t.TempDir() + "/list.txt"
	if err := os.WriteFile(file, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KITH_API_KEY", testAPIKey)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"offers", "grant", "FREE-UPGRADE", file, "--channel", "email", "--url", m.URL(), "--chunk", "2"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	got := out.String()
	for _, want := range []string{"granted  5\n", "refused  2\n", "line 6: no profile holds phone +14155550000", `line 7: "nonsense" is neither a profile id nor type:value`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(errOut.String(), "grant FREE-UPGRADE: 7 of 7 people (100%)") {
		t.Errorf("no progress to the end on stderr: %q", errOut.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"offers", "grant", "FREE-UPGRADE", file, "--channel", "email", "--url", m.URL(), "--quiet"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "granted  0\nrefused  7\n") {
		t.Errorf("second run:\n%s", out.String())
	}
	var o struct{ Granted int }
	c.get("/v1/offers/FREE-UPGRADE", &o)
	if o.Granted != 5 {
		t.Errorf("granted %d, want 5", o.Granted)
	}
	if err := run(context.Background(), []string{"offers", "grant", "FREE-UPGRADE", file, "--channel", "fax", "--url", m.URL()}, &out, &errOut); err == nil {
		t.Error("a bad channel was accepted")
	}
}
