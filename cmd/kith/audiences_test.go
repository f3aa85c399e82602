package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An audience expression is type-checked with its line and column, and
// previewed against the profiles as they are now.
func TestAudiencePreview(t *testing.T) { eachStore(t, testAudiencePreview) }

func testAudiencePreview(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	var msgs []map[string]any
	for i := range 12 {
		plan := "mobile"
		if i%4 == 0 {
			plan = "internet"
		}
		msgs = append(msgs, msg("identify", fmt.Sprint("w", i), t0, map[string]any{"userId": fmt.Sprint("u", i),
			"traits": map[string]any{"plan": plan, "first_name": "Pat", "last_name": fmt.Sprint("Lee", i)}}))
	}
	c.send(webKey, msgs...)
	c.waitProcessed()

	status, body := c.call("POST", "/v1/audiences/validate", testAPIKey, map[string]any{"expression": `traits.plan == "internet" and stage > 2`})
	var e struct {
		Error struct {
			Field  string         `json:"field"`
			Detail map[string]any `json:"detail"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	if status != http.StatusBadRequest || e.Error.Field != "expression" || e.Error.Detail["line"] != 1.0 || e.Error.Detail["column"] != 37.0 {
		t.Errorf("an ill-typed expression: %d %s", status, body)
	}
	if status, body := c.call("POST", "/v1/audiences/validate", testAPIKey, map[string]any{"expression": `traits.plan == "internet"`}); status != http.StatusOK {
		t.Errorf("a good expression: %d %s", status, body)
	}
	status, body = c.call("POST", "/v1/audiences/preview", testAPIKey, map[string]any{"expression": `traits.plan == "internet" and stage == "prospect"`, "sample": 2})
	var pv struct {
		Count   int `json:"count"`
		Scanned int `json:"scanned"`
		Sample  []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"sample"`
	}
	json.Unmarshal(body, &pv)
	if status != http.StatusOK || pv.Count != 3 || pv.Scanned != 12 || len(pv.Sample) != 2 || pv.Sample[0].Name == "" {
		t.Errorf("preview: %d %s", status, body)
	}
}

// A saved audience lists who matches it now, page by page, and exports them.
func TestSavedAudience(t *testing.T) { eachStore(t, testSavedAudience) }

func testSavedAudience(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	var msgs []map[string]any
	for i := range 9 {
		msgs = append(msgs, msg("identify", fmt.Sprint("w", i), t0, map[string]any{"userId": fmt.Sprint("u", i),
			"traits": map[string]any{"plan": []string{"internet", "mobile", "tv"}[i%3]}}))
	}
	c.send(webKey, msgs...)
	c.waitProcessed()
	status, body := c.call("POST", "/v1/audiences", testAPIKey, map[string]any{"name": "TV", "expression": `traits.plan == "tv"`})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var a struct{ ID string }
	json.Unmarshal(body, &a)
	if status, body := c.call("POST", "/v1/audiences", testAPIKey, map[string]any{"name": "Broken", "expression": `traits.plan ==`}); status != http.StatusBadRequest {
		t.Errorf("a broken expression: %d %s", status, body)
	}
	var page struct {
		Members []struct{ ID string } `json:"members"`
		Next    string                `json:"next"`
	}
	c.get("/v1/audiences/"+a.ID+"/members?limit=2", &page)
	first := len(page.Members)
	c.get("/v1/audiences/"+a.ID+"/members?limit=2&after="+page.Next, &page)
	if first != 2 || len(page.Members) != 1 {
		t.Errorf("pages of %d and %d members, want 2 and 1", first, len(page.Members))
	}
	status, body = c.call("GET", "/v1/audiences/"+a.ID+"/export?format=csv", testAPIKey, nil)
	if status != http.StatusOK || len(strings.Split(strings.TrimSpace(string(body)), "\n")) != 4 {
		t.Errorf("export: %d %q", status, body)
	}
	var list struct{ Audiences []struct{ Name string } }
	c.get("/v1/audiences", &list)
	if len(list.Audiences) != 1 || list.Audiences[0].Name != "TV" {
		t.Errorf("audiences %+v", list)
	}
}

// Membership is live: a trait change moves a person into and out of a saved
// audience at once, the profile lists it, and each move is one event.
func TestAudienceLive(t *testing.T) { eachStore(t, testAudienceLive) }

func testAudienceLive(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, webKey := c.createSource("website", "web")
	status, body := c.call("POST", "/v1/audiences", testAPIKey, map[string]any{"name": "Open carts", "expression": `traits.cart == "open" and purchases == 0`})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var a struct{ ID string }
	json.Unmarshal(body, &a)
	wait := func(want int) apiProfile {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			c.waitProcessed()
			p := c.lookup("user_id", "cart-1")
			var full struct{ Audiences []string }
			c.get("/v1/profiles/"+p.ID, &full)
			if len(full.Audiences) == want {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("audiences %v, want %d", full.Audiences, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.send(webKey, msg("identify", "w1", t0, map[string]any{"userId": "cart-1", "traits": map[string]any{"cart": "open"}}))
	wait(1)
	var st struct {
		Size int `json:"size"`
	}
	c.get("/v1/audiences/"+a.ID, &st)
	if st.Size != 1 {
		t.Errorf("size %d, want 1", st.Size)
	}
	c.send(webKey, msg("track", "w2", t0.Add(time.Hour), map[string]any{"userId": "cart-1", "event": "Order Completed",
		"properties": map[string]any{"order_id": "o-1", "revenue": 20}}))
	p := wait(0)
	names := map[string]int{}
	for deadline := time.Now().Add(20 * time.Second); ; {
		c.waitProcessed()
		clear(names)
		for _, e := range c.timeline(p.ID, 50) {
			var msg struct{ Event string }
			json.Unmarshal(e.Message, &msg)
			names[msg.Event]++
		}
		if names["Audience Exited"] == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if names["Audience Entered"] != 1 || names["Audience Exited"] != 1 {
		t.Errorf("timeline events %v; want one entry and one exit", names)
	}
}
