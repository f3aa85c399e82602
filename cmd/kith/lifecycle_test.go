package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// TestLifecycle: an order makes a prospect new within moments, without
// waiting for a sweep; the profile API shows the stage, the value tier and
// the touch model, and the stage change is an event on the timeline;
// GET /v1/lifecycle shows the fit, POST /v1/lifecycle/fit asks for another
// (admins only).
func TestLifecycle(t *testing.T) { eachStore(t, testLifecycle) }

func testLifecycle(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	now := time.Now().UTC()
	c.send(testWriteKey, msg("identify", "lc-1", now.Add(-time.Hour), map[string]any{"userId": "lc-buyer",
		"traits": map[string]any{"email": "buyer@example.com"}}))
	c.waitProcessed()
	type lifecycleProfile struct {
		ID        string
		Lifecycle *kith.Lifecycle
		Value     struct {
			Stage, Tier, Touch string
			Purchases          int
			Spent              float64
		}
	}
	var p lifecycleProfile
	c.get("/v1/profiles/lookup?user_id=lc-buyer", &p)
	if p.Lifecycle != nil || p.Value.Stage != kith.StageProspect || p.Value.Tier != "none" || p.Value.Touch != "digital_touch" {
		t.Fatalf("before any order: %+v, want a prospect without a recorded stage, no tier, digital touch", p)
	}

	c.send(testWriteKey, msg("track", "lc-2", now, map[string]any{"userId": "lc-buyer", "event": "Order Completed",
		"properties": map[string]any{"order_id": "A-1", "revenue": 129.5, "currency": "USD"}}))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c.waitProcessed()
		c.get("/v1/profiles/lookup?user_id=lc-buyer", &p)
		if p.Lifecycle != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stage recorded 15 s after the first order: %+v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.Lifecycle.Stage != kith.StageNew || p.Lifecycle.Previous != kith.StageProspect || p.Value.Stage != kith.StageNew ||
		p.Value.Purchases != 1 || p.Value.Spent != 129.5 || p.Value.Tier != "medium" {
		t.Errorf("after the first order: %+v (lifecycle %+v)", p, p.Lifecycle)
	}
	var changes []string
	for _, e := range c.timeline(p.ID, 50) {
		if e.Source == m.Lifecycle.Source().ID {
			changes = append(changes, e.MessageID)
		}
	}
	if len(changes) != 1 {
		t.Errorf("stage change events on the timeline: %v, want one", changes)
	}

	var overview struct {
		Rules struct {
			LapsedDays int `json:"lapsed_days"`
		}
		Fit struct {
			Phase string
		}
		History []struct {
			Stages map[string]int
		}
	}
	c.get("/v1/lifecycle", &overview)
	if overview.Rules.LapsedDays != 365 || overview.Fit.Phase == "" {
		t.Errorf("GET /v1/lifecycle: %+v", overview)
	}
	status, body := c.call("POST", "/v1/lifecycle/fit", testAPIKey, nil)
	var accepted struct{ Follow string }
	if status != http.StatusAccepted || json.Unmarshal(body, &accepted) != nil || accepted.Follow != "/v1/lifecycle" {
		t.Errorf("POST /v1/lifecycle/fit: %d %s", status, body)
	}
	if n := auditCount(t, m, kith.AuditFilter{Action: kith.AuditLifecycleFit}); n != 1 {
		t.Errorf("%d lifecycle.fit audit records, want 1", n)
	}
	_, reader := createKey(t, c, "reader", "profiles:read")
	if status, body := c.call("POST", "/v1/lifecycle/fit", reader, nil); status != http.StatusForbidden {
		t.Errorf("POST /v1/lifecycle/fit with a read key: %d %s, want 403", status, body)
	}
	if status, body := c.call("GET", "/v1/lifecycle", reader, nil); status != http.StatusOK {
		t.Errorf("GET /v1/lifecycle with a read key: %d %s", status, body)
	}
}

// kith import runs the same processor as kith serve: it heeds the same
// lifecycle source's stage changes and reads the same purchases, or the two
// would fold one log into different profiles.
func TestImportProcessorMatchesServe(t *testing.T) {
	var cfg Config
	m := startMain(t, func(c *Config) { cfg = *c })
	serveCfg := m.Processor.Config()
	src := m.Lifecycle.Source().ID
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	run, err := startImporter(context.Background(), cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer run.close()
	got := run.proc.Config()
	if got.LifecycleSource != src || serveCfg.LifecycleSource != src {
		t.Errorf("lifecycle source: serve heeds %q, import %q; want %q for both", serveCfg.LifecycleSource, got.LifecycleSource, src)
	}
	if !slices.Equal(got.Purchases.Events, serveCfg.Purchases.Events) || !slices.Equal(got.Purchases.AmountFields, serveCfg.Purchases.AmountFields) {
		t.Errorf("purchases: serve %+v, import %+v", serveCfg.Purchases, got.Purchases)
	}
}

// kith import refuses to process an embedded data directory that a running
// kith serve processes (two processors, each believing itself the store's
// only writer, would corrupt its cache), and goes ahead once it stops.
func TestImportRefusesWhileServing(t *testing.T) {
	var cfg Config
	m := startMain(t, func(c *Config) { cfg = *c })
	_, err := startImporter(context.Background(), cfg, nil, true)
	if err == nil || !strings.Contains(err.Error(), "another Kith process") {
		t.Fatalf("import beside a running server: %v, want a refusal naming the other process", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	run, err := startImporter(context.Background(), cfg, nil, true)
	if err != nil {
		t.Fatalf("import after the server stopped: %v", err)
	}
	run.close()
}
