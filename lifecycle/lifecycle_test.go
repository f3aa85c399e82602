package lifecycle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/lifecycle"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/sqlite"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

type world struct {
	t      *testing.T
	db     *sqlite.DB
	proc   *profile.Processor
	svc    *lifecycle.Service
	now    time.Time
	n      int
	bought []string
}

func newWorld(t *testing.T, rules lifecycle.Rules) *world {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	src := &kith.Source{ID: "src_lifecycle", Name: "lifecycle", Kind: kith.KindServer}
	w := &world{t: t, db: db, now: t0}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.proc = profile.NewProcessor(db, profile.Config{Identity: identity.DefaultConfig(), LifecycleSource: src.ID}, quiet,
		func(b profile.BatchDone) { w.bought = append(w.bought, b.Purchased...) })
	w.svc, err = lifecycle.New(db, db, lifecycle.Config{Rules: rules, Source: src}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	w.svc.SetClock(func() time.Time { return w.now })
	return w
}

// send appends a message from the shop's source at the world's time and
// processes the log.
func (w *world) send(typ kith.EventType, user string, body map[string]any) {
	w.t.Helper()
	w.n++
	body["type"], body["userId"] = string(typ), user
	payload, _ := json.Marshal(body)
	e := kith.Event{MessageID: fmt.Sprint("m-", w.n), Type: typ, SourceID: "src_shop", Channel: kith.KindWeb,
		UserID: user, Timestamp: w.now, ReceivedAt: w.now, Payload: payload}
	if _, err := w.db.Append(context.Background(), []kith.Event{e}); err != nil {
		w.t.Fatal(err)
	}
	w.process()
}

func (w *world) order(user string, amount float64) {
	w.send(kith.TypeTrack, user, map[string]any{"event": "Order Completed",
		"properties": map[string]any{"order_id": fmt.Sprint("o-", w.n), "revenue": amount}})
}

func (w *world) process() {
	w.t.Helper()
	for range 100 {
		n, err := w.proc.Step(context.Background())
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// check runs what follows an order: the touched people are checked.
func (w *world) check() {
	w.t.Helper()
	ids := w.bought
	w.bought = nil
	if _, err := w.svc.Check(context.Background(), ids); err != nil {
		w.t.Fatal(err)
	}
	w.process()
}

func (w *world) sweep() lifecycle.SweepResult {
	w.t.Helper()
	r, err := w.svc.Sweep(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	w.process()
	return r
}

func (w *world) person(user string) *kith.Profile {
	w.t.Helper()
	ids, err := w.db.ProfileIDsFor(context.Background(), kith.Identifier{Type: kith.IDUserID, Value: user})
	if err != nil || len(ids) != 1 {
		w.t.Fatalf("profile of %s: %v %v", user, ids, err)
	}
	p, err := w.db.Profile(context.Background(), ids[0])
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// stageEvents lists the stage changes on a person's timeline, oldest first.
func (w *world) stageEvents(user string) []string {
	w.t.Helper()
	tl, err := w.db.Timeline(context.Background(), w.person(user).ID, nil, -1)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for i := len(tl) - 1; i >= 0; i-- {
		var m struct {
			Event      string
			Properties struct{ From, To string }
		}
		json.Unmarshal(tl[i].Event.Payload, &m)
		if m.Event == kith.EventStageChanged {
			out = append(out, m.Properties.From+"→"+m.Properties.To)
		}
	}
	return out
}

// A scripted customer walks through every stage in order — prospect, new,
// active, at risk, lapsed, won back — each change recorded once as an event
// on their timeline, however often the sweep runs.
func TestCustomerWalksThroughEveryStage(t *testing.T) {
	w := newWorld(t, lifecycle.Rules{})
	want := []string{}
	step := func(wantStage string) {
		t.Helper()
		w.sweep()
		w.sweep() // a second sweep finds nothing new
		p := w.person("walker")
		if p.Lifecycle.Current() != wantStage {
			t.Fatalf("at %s: stage %q (%+v), want %q", w.now.Format(time.DateOnly), p.Lifecycle.Current(), p.Lifecycle, wantStage)
		}
		if wantStage != kith.StageProspect { // everyone starts as one, without an event
			want = append(want, p.Lifecycle.Previous+"→"+wantStage)
		}
		if got := w.stageEvents("walker"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("at %s: stage events %v, want %v", w.now.Format(time.DateOnly), got, want)
		}
	}
	w.send(kith.TypeIdentify, "walker", map[string]any{"traits": map[string]any{"email": "walker@example.com"}})
	step(kith.StageProspect)

	w.now = w.now.Add(24 * time.Hour)
	w.order("walker", 40)
	w.check() // at once, not at the next sweep
	if p := w.person("walker"); p.Lifecycle.Stage != kith.StageNew {
		t.Fatalf("after the first order: stage %q, want new without waiting for a sweep", p.Lifecycle.Stage)
	}
	step(kith.StageNew)

	w.now = w.now.Add(20 * 24 * time.Hour)
	w.order("walker", 60)
	w.check()
	step(kith.StageActive)

	if a := w.svc.Assess(w.person("walker")); a.Reason != "last purchase 0 days ago" {
		t.Errorf("active customer's reason %q", a.Reason)
	}
	w.now = w.now.Add(130 * 24 * time.Hour) // no model here: 120 days without a purchase
	step(kith.StageAtRisk)
	if a := w.svc.Assess(w.person("walker")); a.Reason != "last purchase 130 days ago" {
		t.Errorf("customer at risk: reason %q", a.Reason)
	}

	w.now = w.now.Add(300 * 24 * time.Hour) // over a year since the last order
	step(kith.StageLapsed)

	w.now = w.now.Add(24 * time.Hour)
	w.order("walker", 25)
	w.check()
	step(kith.StageWonBack)

	a := w.svc.Assess(w.person("walker"))
	if a.Purchases != 3 || a.Spent != 125 || a.Tier != lifecycle.TierMedium || a.Touch != lifecycle.TouchLow || a.LifetimeValue != nil {
		t.Errorf("assessment without a model: %+v", a)
	}
}

// With a fitted model, scores come with every buyer; a frequent recent
// buyer is active and high value, a one-time buyer of long ago at risk;
// tiers split buyers by the configured shares.
func TestFittedModel(t *testing.T) {
	w := newWorld(t, lifecycle.Rules{})
	if m, err := w.svc.Fit(context.Background()); err != nil || m.Skipped == "" || m.Purchases != nil {
		t.Fatalf("fit of an empty store: %+v, %v; want skipped", m, err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := w.now
	// 400 buyers over a year: each with a purchase rate and a lifetime.
	type buyer struct {
		user  string
		times []time.Duration
	}
	var all []buyer
	for i := range 400 {
		b := buyer{user: fmt.Sprint("b", i)}
		rate := 0.05 + rng.ExpFloat64()*0.5 // purchases a week
		first := time.Duration(rng.IntN(8*7*24)) * time.Hour
		end := first + time.Duration(rng.ExpFloat64()*30*7*24)*time.Hour // when they stop buying
		for at := first; at < 52*7*24*time.Hour && (at == first || at < end); at += time.Duration(rng.ExpFloat64()/rate*7*24) * time.Hour {
			b.times = append(b.times, at)
		}
		all = append(all, b)
	}
	var evs []kith.Event
	for _, b := range all {
		for j, d := range b.times {
			w.n++
			ts := start.Add(d)
			payload, _ := json.Marshal(map[string]any{"type": "track", "userId": b.user, "event": "Order Completed",
				"properties": map[string]any{"order_id": fmt.Sprint(b.user, "-", j), "revenue": 20 + rng.Float64()*80}})
			evs = append(evs, kith.Event{MessageID: fmt.Sprint("m-", w.n), Type: kith.TypeTrack, SourceID: "src_shop",
				Channel: kith.KindWeb, UserID: b.user, Timestamp: ts, ReceivedAt: ts, Payload: payload})
		}
	}
	if _, err := w.db.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	w.process()
	w.now = start.Add(52 * 7 * 24 * time.Hour)
	m, err := w.svc.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Skipped != "" || m.Purchases == nil || m.Spend == nil || m.Customers != 400 || m.HighValue <= m.LowValue {
		t.Fatalf("model %+v", m)
	}
	if st := w.svc.Status(); st.Running || st.Error != "" || st.People != 400 {
		t.Errorf("fit status %+v", st)
	}
	tiers := map[string]int{}
	var best, worst *kith.Profile
	for _, b := range all {
		p := w.person(b.user)
		a := w.svc.Assess(p)
		tiers[a.Tier]++
		if a.PAlive == nil || a.LifetimeValue == nil || a.AtRisk == nil || a.ExpectedSpend == nil {
			t.Fatalf("%s: assessment without scores: %+v", b.user, a)
		}
		if len(b.times) >= 10 && b.times[len(b.times)-1] > 50*7*24*time.Hour && (best == nil || len(p.Purchases) > len(best.Purchases)) {
			best = p
		}
		if len(b.times) == 1 && b.times[0] < 8*7*24*time.Hour {
			worst = p
		}
	}
	if tiers[lifecycle.TierHigh] < 70 || tiers[lifecycle.TierHigh] > 90 || tiers[lifecycle.TierLow] < 190 || tiers[lifecycle.TierLow] > 210 {
		t.Errorf("tiers %v: want about 20%% high, 50%% low", tiers)
	}
	if best == nil || worst == nil {
		t.Fatal("the simulated population lacks a frequent recent buyer or an early one-time buyer")
	}
	if a := w.svc.Assess(best); a.Stage != kith.StageActive || a.Tier != lifecycle.TierHigh || a.Touch != lifecycle.TouchHigh {
		t.Errorf("frequent recent buyer: %+v, want active, high value, high touch", a)
	}
	if a := w.svc.Assess(worst); a.Stage != kith.StageAtRisk || *a.AtRisk < 0.8 {
		t.Errorf("one purchase 44+ weeks ago: %+v, want at risk", a)
	}
	r := w.sweep()
	if r.People != 400 || r.Changes != 400-r.Stages[kith.StageProspect] || r.Stages[kith.StageAtRisk] == 0 || r.Stages[kith.StageActive] == 0 {
		t.Errorf("first sweep %+v, want a change for everyone, some active and some at risk", r)
	}
	if r := w.sweep(); r.Changes != 0 {
		t.Errorf("second sweep changed %d stages, want none", r.Changes)
	}
}

func TestRulesValidate(t *testing.T) {
	for _, r := range []lifecycle.Rules{
		{AtRiskDays: 400},
		{NewDays: 500},
		{AtRiskScore: 1.5},
		{HighShare: 0.7, LowShare: 0.5},
		{HighValue: 10, LowValue: 20},
		{NewDays: -1},
	} {
		if err := r.Validate(); !kith.IsCode(err, kith.EINVALID) {
			t.Errorf("Validate(%+v) = %v, want invalid", r, err)
		}
	}
	if err := (lifecycle.Rules{}).Validate(); err != nil {
		t.Errorf("the defaults are invalid: %v", err)
	}
}
