package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/demo"
	"github.com/kithhq/kith/offer"
	"github.com/kithhq/kith/web"
)

// demoDataDir is where `kith serve --demo` keeps its store unless told
// otherwise, apart from real data.
const demoDataDir = "kith-demo-data"

// demoUsers are the console users the demo creates: one per role, each
// with the password "kith-demo-" + role.
var demoUsers = []kith.Role{kith.RoleAdmin, kith.RoleAgent, kith.RoleMarketer, kith.RoleAnalyst}

func demoPassword(r kith.Role) string { return "kith-demo-" + string(r) }

// demoRun is the demo loader running in the background.
type demoRun struct {
	mu     sync.Mutex
	active bool
	sent   int
	total  int
	done   bool
	err    error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (d *demoRun) progress() *web.Demo {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.active {
		return nil
	}
	p := &web.Demo{Sent: d.sent, Total: d.total, Done: d.done}
	if d.err != nil {
		p.Error = d.err.Error()
	}
	return p
}

func (d *demoRun) stop() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
}

// demoEpoch returns the time the demo's history ends at: now on the first
// start, and the same time, kept in the data directory, on every later one,
// so a restart regenerates the very same messages (same ids, deduplicated)
// instead of a history shifted in time.
func demoEpoch(dir string, now time.Time) (time.Time, error) {
	path := filepath.Join(dir, "demo-epoch")
	if b, err := os.ReadFile(path); err == nil {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
		if err != nil {
			return time.Time{}, fmt.Errorf("demo epoch in %s: %w", path, err)
		}
		return t, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, fmt.Errorf("read demo epoch: %w", err)
	}
	now = now.UTC().Truncate(time.Millisecond)
	if err := os.WriteFile(path, []byte(now.Format(time.RFC3339Nano)+"\n"), 0o640); err != nil {
		return time.Time{}, fmt.Errorf("write demo epoch: %w", err)
	}
	return now, nil
}

// slug turns a demo source's name into a source name Kith accepts.
func slug(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), " ", "-")
}

// startDemo makes the demo's sources and users and loads its history
// through the public ingestion path in the background.
func (m *Main) startDemo(ctx context.Context) error {
	keys := map[string]string{}
	for _, s := range demo.Sources() {
		wk := "demo-write-key-" + slug(s.Name)
		if _, err := m.Access.EnsureSource(ctx, slug(s.Name), string(s.Kind), wk); err != nil {
			return fmt.Errorf("demo source %s: %w", s.Name, err)
		}
		keys[s.Name] = wk
	}
	for _, r := range demoUsers {
		if r == kith.RoleAdmin && m.Config.BootstrapAdminPassword != "" {
			continue // the bootstrap admin already exists
		}
		if _, _, err := m.Users.Ensure(ctx, string(r), string(r), demoPassword(r)); err != nil {
			return fmt.Errorf("demo user %s: %w", r, err)
		}
	}
	now, err := demoEpoch(m.Config.DataDir, time.Now())
	if err != nil {
		return err
	}
	ds := demo.New(demo.Config{People: m.Config.Demo.People, HeavyEvents: m.Config.Demo.HeavyEvents, Seed: 1, Now: now})
	total := ds.Events()
	m.printDemoBanner(total)

	d := &m.demo
	d.mu.Lock()
	d.active, d.total = true, total
	d.mu.Unlock()
	// Already loaded by an earlier start: the same history (same epoch, so
	// the same message ids) is all in the log.
	if have, err := m.DB.CountEvents(ctx); err == nil && have >= int64(total) {
		d.mu.Lock()
		d.sent, d.done = total, true
		d.mu.Unlock()
		m.Logger.Info("demo history already loaded", "events", have)
		return nil
	}
	lctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		start := time.Now()
		bar := newProgressBar(m.Progress, "demo", "events", total)
		err := ds.Load(lctx, m.URL(), keys, nil, func(sent, total int) {
			d.mu.Lock()
			d.sent = sent
			d.mu.Unlock()
			bar.set(sent)
		})
		bar.finish()
		d.mu.Lock()
		d.done, d.err = err == nil, err
		d.mu.Unlock()
		switch {
		case err == nil:
			m.Logger.Info("demo history loaded", "events", total, "took", time.Since(start).Round(time.Millisecond),
				"note", "profiles are ready when processing catches up; the console shows its progress")
			// The models were fitted at start, before the history: fit
			// them again once it is all profiles.
			for lctx.Err() == nil {
				if lag, err := m.Processor.Lag(lctx); err == nil && lag.Events == 0 {
					actx := kith.WithActor(lctx, kith.Actor{Kind: kith.ActorSystem, Name: "demo", PII: true})
					m.Lifecycle.Refit(actx)
					if err := m.demoOffer(actx, now); err != nil {
						m.Logger.Warn("demo offer", "err", err)
					}
					break
				}
				select {
				case <-lctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		case lctx.Err() != nil:
			m.Logger.Info("demo loading stopped", "sent", d.sent, "of", total)
		default:
			m.Logger.Error("demo loading failed", "err", err)
		}
	}()
	return nil
}

// demoOffer puts situation 4 in the demo: the club e-mailed Sofia Ramirez
// a free roadside upgrade, redeemable online and in the app; when she calls,
// the agent sees it, at 0 instead of 130, with what the call center may do.
func (m *Main) demoOffer(ctx context.Context, now time.Time) error {
	o := kith.Offer{Code: "ROADSIDE-UPGRADE", Name: "Free roadside upgrade",
		Description: "Premium roadside assistance for a year at no cost, for members who renew their car insurance online",
		Terms: kith.Terms{Price: kith.Money{Amount: 0, Currency: "USD"}, RegularPrice: &kith.Money{Amount: 130, Currency: "USD"},
			Summary: "Premium roadside assistance for 12 months: 0 USD instead of 130"},
		ValidFrom: now.Add(-30 * 24 * time.Hour), ValidUntil: now.Add(60 * 24 * time.Hour), GrantDays: 45, PerPerson: 1,
		Channels: []kith.Kind{kith.KindWeb, kith.KindApp},
		Honour: map[kith.Kind]kith.Honour{
			kith.KindCallCenter: {Action: kith.HonourAsGranted, Note: "Honour it: the member was promised it by e-mail"},
			kith.KindStore:      {Action: kith.HonourWithFee, Fee: &kith.Money{Amount: 10, Currency: "USD"}, Note: "In-store setup fee"},
			kith.OtherChannels:  {Action: kith.HonourAlternative, Alternative: "Send the member to the website or the app to claim it"}}}
	if _, err := m.Offers.Create(ctx, o); err != nil && !kith.IsCode(err, kith.ECONFLICT) {
		return err
	}
	_, err := m.Offers.Grant(ctx, offer.GrantRequest{Offer: o.Code, Target: offer.Target{Identifier: kith.Identifier{Type: kith.IDEmail, Value: "sofia.ramirez@example.com"}},
		Channel: kith.KindEmail, Campaign: "car-insurance-renewal", Message: "renewal-mail-3", IdempotencyKey: "demo/roadside-sofia"})
	return err
}

func (m *Main) printDemoBanner(total int) {
	w := m.Out
	if w == nil {
		return
	}
	admin := "admin / " + demoPassword(kith.RoleAdmin)
	if m.Config.BootstrapAdminPassword != "" {
		admin = "admin / (your KITH_BOOTSTRAP_ADMIN_PASSWORD)"
	}
	fmt.Fprintf(w, "\nKith demo: loading %d events of a members' club across web, app, e-mail, SMS, call center and stores.\n\n", total)
	fmt.Fprintf(w, "  Console   %s/\n", m.URL())
	fmt.Fprintf(w, "  Sign in   %s   (also agent, marketer, analyst: password kith-demo-<role>)\n\n", admin)
	fmt.Fprintf(w, "  Look up the named customers by phone or e-mail:\n")
	for _, c := range demo.Customers() {
		fmt.Fprintf(w, "    %-15s %-14s %-28s %s\n", c.Name, c.Phone, c.Email, c.Situation)
	}
	fmt.Fprintln(w)
}

// progressBar draws loading progress on a terminal, or writes a line every
// tenth of the way when the output is not one.
type progressBar struct {
	w        io.Writer
	what     string // "demo", "grant"
	unit     string // "events", "people"
	total    int
	terminal bool
	last     time.Time
	lastTen  int
}

func newProgressBar(w io.Writer, what, unit string, total int) *progressBar {
	b := &progressBar{w: w, what: what, unit: unit, total: total}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.terminal = true
		}
	}
	return b
}

func (b *progressBar) set(n int) {
	if b.w == nil || b.total == 0 {
		return
	}
	pct := n * 100 / b.total
	if !b.terminal {
		if pct/10 > b.lastTen {
			b.lastTen = pct / 10
			fmt.Fprintf(b.w, "%s: %d of %d %s (%d%%)\n", b.what, n, b.total, b.unit, pct)
		}
		return
	}
	if time.Since(b.last) < 100*time.Millisecond && n < b.total {
		return
	}
	b.last = time.Now()
	const width = 40
	fill := width * n / b.total
	fmt.Fprintf(b.w, "\r%s [%s%s] %3d%%  %d/%d %s", b.what, strings.Repeat("█", fill), strings.Repeat("·", width-fill), pct, n, b.total, b.unit)
}

func (b *progressBar) finish() {
	if b.w != nil && b.terminal {
		fmt.Fprintln(b.w)
	}
}
