package audience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
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
}

func newLive(t *testing.T) *live {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := &live{t: t, db: db, now: time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l.proc = profile.NewProcessor(db, profile.Config{Identity: identity.DefaultConfig(), Purchases: profile.DefaultPurchaseConfig()}, quiet,
		func(b profile.BatchDone) { l.changed = append(l.changed, b.Changed...) })
	cfg := l.proc.Config()
	l.svc = audience.New(db, cfg.Intents.Strengths, nil, db)
	l.svc.SaveTo(db)
	l.svc.SetClock(func() time.Time { return l.now })
	l.eng = audience.NewEngine(l.svc, db, db, &kith.Source{ID: "src_aud", Name: "kith-audiences", Kind: kith.KindServer}, quiet)
	return l
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
		if len(l.changed) == 0 {
			return
		}
		ids := l.changed
		l.changed = nil
		for _, id := range ids {
			if err := l.eng.Evaluate(context.Background(), id); err != nil {
				l.t.Fatal(err)
			}
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
func TestMembershipFollowsTraits(t *testing.T) {
	l := newLive(t)
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
func TestWindowFlipsOnTime(t *testing.T) {
	l := newLive(t)
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
