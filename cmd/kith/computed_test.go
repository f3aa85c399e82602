package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

type apiComputed struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Backfill    *struct {
		Total int  `json:"total"`
		Done  int  `json:"done"`
		Over  bool `json:"over"`
	} `json:"backfill"`
}

// A computed trait defined over the API is backfilled over past events with
// progress, shown on the profile, kept current by new events and read by
// audiences; a bad definition is refused with its field and nothing is
// saved.
func TestComputedTraits(t *testing.T) { eachStore(t, testComputedTraits) }

func testComputedTraits(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, shopKey := c.createSource("shop", "web")
	order := func(id, user string, at time.Time, revenue float64) map[string]any {
		return msg("track", id, at, map[string]any{"userId": user, "event": "Order Completed",
			"properties": map[string]any{"order_id": id, "revenue": revenue, "category": "shoes"}})
	}
	c.send(shopKey, order("o1", "ct-ann", t0, 40), order("o2", "ct-ann", t0.Add(time.Hour), 25), order("o3", "ct-bob", t0, 10))
	c.waitProcessed()

	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "Total Spend", "function": "sum", "event": "Order Completed", "property": "revenue"}, "name"},
		{map[string]any{"name": "total_spend", "function": "median", "event": "Order Completed", "property": "revenue"}, "function"},
		{map[string]any{"name": "total_spend", "function": "sum", "event": "Order Completed"}, "property"},
		{map[string]any{"name": "total_spend", "function": "sum", "event": "Order Completed", "property": "revenue", "window": "90 days"}, "window"},
	} {
		status, body := c.call("POST", "/v1/computed-traits", testAPIKey, bad.body)
		var e struct {
			Error struct{ Field, Message string }
		}
		json.Unmarshal(body, &e)
		if status != http.StatusBadRequest || e.Error.Field != bad.field || e.Error.Message == "" {
			t.Errorf("POST %v: %d %s; want 400 on %s", bad.body, status, body, bad.field)
		}
	}
	var list struct {
		ComputedTraits []apiComputed `json:"computed_traits"`
	}
	c.get("/v1/computed-traits", &list)
	if len(list.ComputedTraits) != 0 {
		t.Fatalf("refused definitions were saved: %+v", list)
	}

	status, body := c.call("POST", "/v1/computed-traits", testAPIKey, map[string]any{"name": "total_spend", "function": "sum",
		"event": "Order Completed", "property": "revenue"})
	if status != http.StatusAccepted {
		t.Fatalf("define total_spend: %d %s", status, body)
	}
	if status, body := c.call("POST", "/v1/computed-traits", testAPIKey, map[string]any{"name": "total_spend", "function": "count",
		"event": "x"}); status != http.StatusConflict {
		t.Errorf("a second total_spend: %d %s", status, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ct apiComputed
		c.get("/v1/computed-traits/total_spend", &ct)
		if ct.Backfill != nil && ct.Backfill.Over {
			if ct.Backfill.Done != 2 || ct.Backfill.Total != 2 {
				t.Errorf("backfill %+v, want 2 of 2 profiles", *ct.Backfill)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backfill not over: %+v", ct)
		}
		time.Sleep(50 * time.Millisecond)
	}
	spend := func(user string) any {
		t.Helper()
		p := c.lookup("user_id", user)
		var full struct{ Computed map[string]any }
		c.get("/v1/profiles/"+p.ID, &full)
		return full.Computed["total_spend"]
	}
	if got := spend("ct-ann"); got != 65.0 {
		t.Errorf("ann's total_spend after the backfill = %v, want 65", got)
	}

	status, body = c.call("POST", "/v1/audiences", testAPIKey, map[string]any{"name": "Spent 100", "expression": `computed.total_spend >= 100`})
	if status != http.StatusCreated {
		t.Fatalf("create audience: %d %s", status, body)
	}
	var a struct{ ID string }
	json.Unmarshal(body, &a)
	c.send(shopKey, order("o4", "ct-ann", t0.Add(2*time.Hour), 35))
	for deadline := time.Now().Add(20 * time.Second); ; {
		c.waitProcessed()
		p := c.lookup("user_id", "ct-ann")
		var full struct {
			Audiences []string
			Computed  map[string]any
		}
		c.get("/v1/profiles/"+p.ID, &full)
		if fmt.Sprint(full.Audiences) == fmt.Sprint([]string{a.ID}) && full.Computed["total_spend"] == 100.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a live order: audiences %v, computed %v; want %s and 100", full.Audiences, full.Computed, a.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := spend("ct-bob"); got != 10.0 {
		t.Errorf("bob's total_spend = %v, want 10", got)
	}
}
