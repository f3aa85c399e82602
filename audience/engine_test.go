package audience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
	"github.com/kithhq/kith/computed"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/sqlite"
)

// live is the engine over a real store and processor, driven by hand.
type live struct {
	t       *testing.T
	db      *sqlite.DB
	proc    *profile.Processor
	svc     *audience.Service
	eng     *audience.Engine
	now     time.Time
	n       int
	changed []string
	batches []audience.Batch
	traits  *computed.Service
	// timeChanged, when set, adds up the time the engine takes to take
	// each batch's changes.
	timeChanged *time.Duration
}

func newLive(t *testing.T, cache ...bool) *live {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := &live{t: t, db: db, now: time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	set := computed.NewSet()
	set.SetClock(func() time.Time { return l.now })
	pcfg := profile.Config{Identity: identity.DefaultConfig(), Purchases: profile.DefaultPurchaseConfig(), Computed: set,
		Cache: len(cache) > 0 && cache[0]}
	l.proc = profile.NewProcessor(db, pcfg, quiet,
		func(b profile.BatchDone) {
			l.changed = append(l.changed, b.Changed...)
			if l.eng != nil {
				start := time.Now()
				l.eng.Changed(audience.Batch{Changed: b.Changed, Touched: b.Touched, Profiles: b.Profiles})
				if l.timeChanged != nil {
					*l.timeChanged += time.Since(start)
				}
			}
		})
	cfg := l.proc.Config()
	l.traits = computed.NewService(db, set, l.proc, db, db, quiet)
	l.svc = audience.New(db, cfg.Intents.Strengths, nil, db)
	l.svc.SaveTo(db)
	l.svc.ReadComputed(set)
	l.svc.SetClock(func() time.Time { return l.now })
	l.eng = audience.NewEngine(l.svc, db, db, &kith.Source{ID: "src_aud", Name: "kith-audiences", Kind: kith.KindServer}, quiet)
	if pcfg.Cache {
		l.eng.CacheMemberships(1 << 20)
		db.SyncMembershipsWithLog(true)
	}
	return l
}

// define defines a computed trait and waits for its backfill.
func (l *live) define(d kith.ComputedTraitDef) {
	l.t.Helper()
	if _, err := l.traits.Create(context.Background(), d); err != nil {
		l.t.Fatal(err)
	}
	l.traits.Wait()
	if err := l.eng.Flush(context.Background()); err != nil {
		l.t.Fatal(err)
	}
}

// send appends an event for a user and folds it, then evaluates what changed.
func (l *live) send(typ kith.EventType, user string, body map[string]any) {
	l.t.Helper()
	l.n++
	body["type"], body["userId"] = string(typ), user
	payload, _ := json.Marshal(body)
	e := kith.Event{MessageID: fmt.Sprint("m-", l.n), Type: typ, SourceID: "src_shop", Channel: kith.KindWeb, UserID: user,
		Timestamp: l.now, ReceivedAt: l.now, Payload: payload}
	if _, err := l.db.Append(context.Background(), []kith.Event{e}); err != nil {
		l.t.Fatal(err)
	}
	l.settle()
}

func (l *live) settle() {
	l.t.Helper()
	for range 10 {
		for {
			n, err := l.proc.Step(context.Background())
			if err != nil {
				l.t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		if l.eng.Pending() == 0 {
			return
		}
		if err := l.eng.Flush(context.Background()); err != nil {
			l.t.Fatal(err)
		}
	}
}

// announced counts the audience events in the log for an audience.
func (l *live) announced(audienceID string) (entered, exited int) {
	evs, _ := l.db.ReadEvents(context.Background(), 0, -1)
	for _, e := range evs {
		if e.SourceID != "src_aud" {
			continue
		}
		var m struct {
			Event      string
			Properties struct{ Audience string }
		}
		json.Unmarshal(e.Payload, &m)
		if m.Properties.Audience != audienceID {
			continue
		}
		if m.Event == kith.EventAudienceEntered {
			entered++
		} else {
			exited++
		}
	}
	return entered, exited
}

// moves counts every audience event in the log.
func (l *live) moves() int {
	evs, _ := l.db.ReadEvents(context.Background(), 0, -1)
	n := 0
	for _, e := range evs {
		if e.SourceID == "src_aud" {
			n++
		}
	}
	return n
}

func (l *live) members(id string) int {
	st, err := l.svc.Status(context.Background(), id)
	if err != nil {
		l.t.Fatal(err)
	}
	return st.Size
}

func (l *live) create(name, expr string) string {
	l.t.Helper()
	a, err := l.svc.Create(context.Background(), name, expr)
	if err != nil {
		l.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if p := l.eng.Progress(a.ID); p != nil && p.Done {
			if p.Error != "" {
				l.t.Fatal(p.Error)
			}
			return a.ID
		}
		if time.Now().After(deadline) {
			l.t.Fatal("backfill did not finish")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A trait change moves a profile into and out of an audience at once, and
// each move is one event.
func TestMembershipFollowsTraits(t *testing.T) { bothCaches(t, testMembershipFollowsTraits) }

func testMembershipFollowsTraits(t *testing.T, cache bool) {
	l := newLive(t, cache)
	id := l.create("Cart abandoners", `traits.cart == "open" and purchases == 0`)
	l.send(kith.TypeIdentify, "ann", map[string]any{"traits": map[string]any{"cart": "open"}})
	if n := l.members(id); n != 1 {
		t.Fatalf("%d members after the cart opened, want 1", n)
	}
	l.send(kith.TypeIdentify, "ann", map[string]any{"traits": map[string]any{"cart": "open", "seen": "again"}})
	l.send(kith.TypeTrack, "ann", map[string]any{"event": "Order Completed", "properties": map[string]any{"order_id": "o-1", "revenue": 30}})
	if n := l.members(id); n != 0 {
		t.Fatalf("%d members after the order, want 0", n)
	}
	// Evaluating again changes nothing and announces nothing.
	p, _ := l.svc.MembershipsOf(context.Background(), "nobody")
	if len(p) != 0 {
		t.Errorf("memberships of nobody: %v", p)
	}
	if in, out := l.announced(id); in != 1 || out != 1 {
		t.Errorf("announced %d entries and %d exits, want 1 and 1", in, out)
	}
}

// A window condition flips on time, with no new event.
func TestWindowFlipsOnTime(t *testing.T) { bothCaches(t, testWindowFlipsOnTime) }

func testWindowFlipsOnTime(t *testing.T, cache bool) {
	l := newLive(t, cache)
	id := l.create("Lapsing", `purchases > 0 and days_since_purchase > 30`)
	l.send(kith.TypeTrack, "bob", map[string]any{"event": "Order Completed", "properties": map[string]any{"order_id": "o-1", "revenue": 30}})
	if n := l.members(id); n != 0 {
		t.Fatalf("%d members right after the order", n)
	}
	l.now = l.now.Add(31 * 24 * time.Hour)
	if err := l.eng.SweepNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := l.members(id); n != 1 {
		t.Errorf("%d members 31 days later, want 1", n)
	}
	if in, _ := l.announced(id); in != 1 {
		t.Errorf("announced %d entries, want 1", in)
	}
}

// A new audience is backfilled over the profiles already there.
func TestBackfill(t *testing.T) {
	l := newLive(t)
	for i := range 12 {
		l.send(kith.TypeIdentify, fmt.Sprint("u", i), map[string]any{"traits": map[string]any{"tier": []string{"gold", "silver", "bronze"}[i%3]}})
	}
	id := l.create("Gold", `traits.tier == "gold"`)
	p := l.eng.Progress(id)
	if p.Scanned != 12 || p.Members != 4 || l.members(id) != 4 {
		t.Errorf("backfill %+v, size %d; want 12 scanned, 4 members", p, l.members(id))
	}
	if in, _ := l.announced(id); in != 4 {
		t.Errorf("announced %d entries, want 4", in)
	}
}

// A change re-evaluates only the audiences that read what it touched.
func TestOnlyDependentAudiencesAreEvaluated(t *testing.T) {
	l := newLive(t)
	plan := l.create("Internet", `traits.plan == "internet"`)
	l.create("Many events", `events > 100`)
	l.send(kith.TypeIdentify, "ann", map[string]any{"traits": map[string]any{"plan": "internet"}})
	if n := l.members(plan); n != 1 {
		t.Fatalf("%d members, want 1", n)
	}
	// An event that touches another trait: "events" still changed, so only
	// "Many events" is pending, not "Internet".
	l.n++
	payload, _ := json.Marshal(map[string]any{"type": "identify", "userId": "ann", "traits": map[string]any{"city": "Leeds"}})
	l.db.Append(context.Background(), []kith.Event{{MessageID: fmt.Sprint("m-", l.n), Type: kith.TypeIdentify, SourceID: "src_shop",
		Channel: kith.KindWeb, UserID: "ann", Timestamp: l.now, ReceivedAt: l.now, Payload: payload}})
	l.batches = nil
	for {
		n, err := l.proc.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if n := l.eng.Pending(); n != 1 {
		t.Fatalf("%d evaluations pending, want 1 (Many events)", n)
	}
	// Had "Internet" been evaluated against a person without the plan, she
	// would have left it; she is evaluated against the newest state instead.
	if err := l.eng.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in, out := l.announced(plan); in != 1 || out != 0 {
		t.Errorf("announced %d entries and %d exits of Internet, want 1 and 0", in, out)
	}
}

// Computed traits are read by audiences as computed.NAME: defined and
// backfilled over past events, kept current by new ones, and a windowed
// one expires on time.
func TestAudienceOverComputedTraits(t *testing.T) { bothCaches(t, testAudienceOverComputedTraits) }

func testAudienceOverComputedTraits(t *testing.T, cache bool) {
	l := newLive(t, cache)
	order := func(user string, revenue float64) {
		l.send(kith.TypeTrack, user, map[string]any{"event": "Order Completed", "properties": map[string]any{"order_id": fmt.Sprint("o-", l.n), "revenue": revenue}})
	}
	order("ann", 30)
	order("bob", 500)
	if _, err := l.svc.Create(context.Background(), "Big spenders", `computed.total_spend > 100`); kith.ErrorField(err) != "expression" ||
		!strings.Contains(err.Error(), "line 1, column 1") || !strings.Contains(err.Error(), `"total_spend"`) {
		t.Fatalf("an audience over an undefined computed trait: %v", err)
	}
	l.define(kith.ComputedTraitDef{Name: "total_spend", Function: computed.Sum, Event: "Order Completed", Property: "revenue"})
	l.define(kith.ComputedTraitDef{Name: "orders_30d", Function: computed.Count, Event: "Order Completed", Window: "30d"})
	big := l.create("Big spenders", `computed.total_spend > 100`)
	regular := l.create("Regulars", `computed.orders_30d >= 2`)
	if n := l.members(big); n != 1 {
		t.Errorf("%d big spenders after the backfill, want 1 (bob)", n)
	}
	l.now = l.now.Add(24 * time.Hour)
	order("ann", 80) // 110 in all, 2 orders in 30 days
	if n := l.members(big); n != 2 {
		t.Errorf("%d big spenders after ann's second order, want 2", n)
	}
	if n := l.members(regular); n != 1 {
		t.Errorf("%d regulars after ann's second order, want 1", n)
	}
	// 30 days after her first order, ann has one order in the window:
	// she leaves at the sweep, with no new event.
	l.now = l.now.Add(29*24*time.Hour + time.Hour)
	if err := l.eng.SweepNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := l.members(regular); n != 0 {
		t.Errorf("%d regulars once the first order left the window, want 0", n)
	}
	if in, out := l.announced(regular); in != 1 || out != 1 {
		t.Errorf("announced %d entries and %d exits of Regulars, want 1 and 1", in, out)
	}
}

// Changes to one profile waiting to be evaluated are combined: the newest
// person is built with what every waiting audience reads.
func TestWaitingChangesAreCombined(t *testing.T) { bothCaches(t, testWaitingChangesAreCombined) }

func testWaitingChangesAreCombined(t *testing.T, cache bool) {
	l := newLive(t, cache)
	x := l.create("A", `traits.a == 1`)
	y := l.create("B", `traits.b == 1`)
	l.send(kith.TypeIdentify, "ann", map[string]any{"traits": map[string]any{"a": 1, "b": 1}})
	if l.members(x) != 1 || l.members(y) != 1 {
		t.Fatalf("sizes %d and %d, want 1 and 1", l.members(x), l.members(y))
	}
	step := func(traits map[string]any) {
		l.n++
		payload, _ := json.Marshal(map[string]any{"type": "identify", "userId": "ann", "traits": traits})
		l.db.Append(context.Background(), []kith.Event{{MessageID: fmt.Sprint("m-", l.n), Type: kith.TypeIdentify, SourceID: "src_shop",
			Channel: kith.KindWeb, UserID: "ann", Timestamp: l.now, ReceivedAt: l.now, Payload: payload}})
		for {
			n, err := l.proc.Step(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	step(map[string]any{"a": 1}) // touches A
	step(map[string]any{"b": 1}) // touches B; A still waits
	if n := l.eng.Pending(); n != 2 {
		t.Fatalf("%d evaluations waiting, want 2", n)
	}
	if err := l.eng.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.members(x) != 1 || l.members(y) != 1 {
		t.Errorf("after combined changes: sizes %d and %d, want 1 and 1", l.members(x), l.members(y))
	}
}

// bothCaches runs a test with the processor's and the engine's caches off
// (as on PostgreSQL) and on (as on the embedded store).
func bothCaches(t *testing.T, test func(t *testing.T, cache bool)) {
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) { test(t, cache) })
	}
}
