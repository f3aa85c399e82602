package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserPreferenceCentre follows the link in a message to the
// preference centre, with no login, in headless Chromium: the switches say
// what may be sent, turning one on applies at once (the gate agrees), and
// a changed link is refused with a page that says why.
func TestBrowserPreferenceCentre(t *testing.T) {
	chromium := chromiumPath(t)
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, web := c.createSource("website", "web")
	c.send(web, msg("identify", "pc1", t0, map[string]any{"userId": "pc-ann", "traits": map[string]any{"email": "ann@example.com"}}))
	c.waitProcessed()
	ann := c.lookup("user_id", "pc-ann").ID
	status, b := c.call("POST", "/v1/profiles/"+ann+"/links", testAPIKey, map[string]any{"channel": "email", "address": "ann@example.com"})
	var link struct{ Token string }
	json.Unmarshal(b, &link)
	if status != http.StatusCreated {
		t.Fatalf("issue a link: %d %s", status, b)
	}
	tab := openConsoleTab(t, newBrowser(t, chromium), m.URL())
	page := "/preferences/" + link.Token
	if resp := tab.navigate(page); resp.Status != 200 {
		t.Fatalf("the preference centre answered %d", resp.Status)
	}
	pressed := func(sw string) string {
		t.Helper()
		return evalIn[string](tab, `document.querySelector('[data-switch="`+sw+`"]').getAttribute("aria-pressed")`)
	}
	if got := pressed("marketing/email"); got != "false" {
		t.Errorf("offers by e-mail before any opt-in: pressed=%s", got)
	}
	if got := pressed("alerts/email"); got != "true" {
		t.Errorf("alerts by e-mail: pressed=%s", got)
	}
	resp := tab.follow(chromedp.Click(chromedp.CSS(`[data-switch="marketing/email"]`)))
	if resp.Status != 200 || !strings.Contains(tab.location().RawQuery, "saved=1") {
		t.Errorf("turning offers by e-mail on answered %d at %s", resp.Status, tab.location())
	}
	if got := tab.text(`[role="status"]`); got != "Saved." {
		t.Errorf("the page says %q after a change", got)
	}
	if got := pressed("marketing/email"); got != "true" {
		t.Errorf("offers by e-mail after turning on: pressed=%s", got)
	}
	if d := c.check(map[string]any{"profile": ann, "purpose": "marketing", "channel": "email"}); !d.Allowed {
		t.Errorf("the gate after the preference centre's change: %+v", d)
	}
	tab.checkConsole(nil) // a page of its own, no console assets: nothing failed to load, no script errors

	// One character of the body changed, still base64 (an appended one
	// may not be, by the body's length, and is refused as not a link).
	body, sig, _ := strings.Cut(link.Token, ".")
	changed := []byte(body)
	if changed[10] == 'A' {
		changed[10] = 'B'
	} else {
		changed[10] = 'A'
	}
	if resp := tab.navigate("/preferences/" + string(changed) + "." + sig); resp.Status != 403 {
		t.Errorf("a changed link answered %d", resp.Status)
	}
	if got := tab.text(`[role="alert"]`); !strings.Contains(got, "was changed or is not one Kith made") {
		t.Errorf("a changed link's page says %q", got)
	}
}
