package main

import (
	"context"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/demo"
	"github.com/kithhq/kith/offer"
)

// TestDemo runs `kith serve --demo` on a small history: it must load through
// ingestion without a rejected event, and each named customer must be one
// profile that every identifier of theirs finds, showing their story's topic.
func TestDemo(t *testing.T) { eachStore(t, testDemo) }

func testDemo(t *testing.T) {
	m := startMain(t, func(c *Config) {
		c.Demo = DemoConfig{Enabled: true, People: 150, HeavyEvents: 600}
	})
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := m.status(ctx)
		if st.Demo == nil {
			t.Fatal("no demo progress while the demo runs")
		}
		if st.Demo.Error != "" {
			t.Fatalf("demo failed: %s", st.Demo.Error)
		}
		if st.Demo.Done && st.LagEvents == 0 {
			// The log holds the demo's events and the stage changes of
			// its buyers, recorded by the lifecycle source.
			evs, err := m.DB.ReadEvents(ctx, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			demoEvents, stageChanges := 0, 0
			for _, e := range evs {
				switch e.SourceID {
				case m.Lifecycle.Source().ID:
					stageChanges++
				case m.Offers.Source().ID: // the demo's offer, granted once loaded
				case m.Matching.Source().ID: // merges of people the matcher found alike
				default:
					demoEvents++
				}
			}
			if st.Demo.Sent != st.Demo.Total || st.Demo.Total != demoEvents {
				t.Fatalf("demo sent %d of %d events; the log holds %d of them", st.Demo.Sent, st.Demo.Total, demoEvents)
			}
			if stageChanges == 0 {
				t.Errorf("no stage changes recorded for the demo's buyers")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not loaded and processed after 60s: %+v %+v", st, st.Demo)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Once the history is profiles, the models are fitted again on it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if mo := m.Lifecycle.Model(); mo != nil && mo.Customers > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lifetime-value fit did not see the demo's buyers: %+v, %+v", m.Lifecycle.Model(), m.Lifecycle.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Situation 4: Sofia Ramirez holds the offer e-mailed to her.
	for deadline := time.Now().Add(30 * time.Second); ; {
		actx := kith.WithActor(ctx, kith.Actor{Kind: kith.ActorSystem, Name: "test", PII: true})
		_, held, err := m.Offers.Held(actx, offer.Target{Identifier: kith.Identifier{Type: kith.IDPhone, Value: "+1 925-413-2876"}})
		if err == nil && len(held) == 1 && held[0].Offer == "ROADSIDE-UPGRADE" && held[0].Terms.Price.Amount == 0 && held[0].Redeemable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Sofia Ramirez's offers: %+v, %v", held, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Each of the demo's users signs in with the documented password.
	for _, r := range demoUsers {
		u := newConsoleUser(t, m)
		if status, body := u.signIn(string(r), demoPassword(r)); status != 303 {
			t.Errorf("demo user %s: %d %s", r, status, body)
		}
	}

	actx := kith.WithActor(ctx, kith.Actor{Kind: kith.ActorSystem, Name: "test", PII: true})
	for _, c := range demo.Customers() {
		v, cands, err := m.Profiles.Lookup(actx, kith.IDPhone, c.Phone)
		if err != nil {
			t.Errorf("%s by phone %s: %v (candidates %v)", c.Name, c.Phone, err, cands)
			continue
		}
		ids := [][2]string{{kith.IDEmail, c.Email}, {kith.IDUserID, c.UserID}}
		if c.LoyaltyID != "" {
			ids = append(ids, [2]string{"loyalty_id", c.LoyaltyID})
		}
		for _, id := range ids {
			w, cands, err := m.Profiles.Lookup(actx, id[0], id[1])
			if err != nil || w.ID != v.ID {
				t.Errorf("%s by %s %s: %v %v, want profile %s", c.Name, id[0], id[1], err, cands, v.ID)
			}
		}
		if v.Name != c.Name {
			t.Errorf("profile %s is named %q, want %q", v.ID, v.Name, c.Name)
		}
		if c.Topic != "" && (len(v.TopIntents) == 0 || v.TopIntents[0].Topic != c.Topic) {
			t.Errorf("%s's top intents %+v, want %q first", c.Name, v.TopIntents, c.Topic)
		}
		if c.Situation == "performance" {
			tl, err := m.DB.Timeline(ctx, v.ID, nil, -1)
			if err != nil {
				t.Fatal(err)
			}
			stageChanges := 0
			for _, te := range tl {
				if te.Event.SourceID == m.Lifecycle.Source().ID {
					stageChanges++
				}
			}
			if v.Events-stageChanges != 600 {
				t.Errorf("%s has %d events, %d of them stage changes; want 600 of the demo's", c.Name, v.Events, stageChanges)
			}
		}
	}
	// Situation 3: her timeline crosses every channel the agent needs.
	sofia := demo.Customers()[2]
	v, _, err := m.Profiles.Lookup(actx, kith.IDPhone, sofia.Phone)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []kith.Kind{kith.KindWeb, kith.KindApp, kith.KindEmail, kith.KindCallCenter, kith.KindStore} {
		if v.Channels[k] == nil {
			t.Errorf("%s was never seen on %s: %v", sofia.Name, k, v.Channels)
		}
	}
	if in := v.TopIntents[0]; in.Channel != kith.KindWeb || time.Since(in.Last) > 2*time.Hour {
		t.Errorf("her car-insurance intent came from %s %s ago; want the website within the hour", in.Channel, time.Since(in.Last))
	}

	// A second start finds the same history loaded and sends nothing again.
	events := m.status(ctx).Events
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := startMain(t, func(c *Config) {
		c.DataDir, c.Store = m.Config.DataDir, m.Config.Store
		c.Demo = DemoConfig{Enabled: true, People: 150, HeavyEvents: 600}
	})
	st := m2.status(ctx)
	if st.Demo == nil || !st.Demo.Done || st.Demo.Sent != st.Demo.Total || st.Events != events {
		t.Errorf("after a restart: %+v %+v, want the demo done with the log still at %d events", st, st.Demo, events)
	}
}
