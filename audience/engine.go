package audience

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// Reader is what the engine reads of one profile.
type Reader interface {
	Profile(ctx context.Context, id string) (*kith.Profile, error)
	Links(ctx context.Context, profileID string) ([]kith.Link, error)
}

// Engine keeps saved audiences' memberships current: a profile a batch
// changed is evaluated against every audience at once, audiences whose
// expressions depend on time are evaluated again over everyone on a
// schedule, and a new audience is backfilled over everyone. Each entry and
// exit is recorded by the store, which reports it to one evaluator, and
// that one appends an Audience Entered or Audience Exited event.
type Engine struct {
	svc    *Service
	defs   kith.AudienceStore
	reader Reader
	log    kith.EventLog
	src    *kith.Source
	logger *slog.Logger
	// Sweep is how often time-dependent audiences are evaluated again over
	// everyone (default a minute).
	Sweep time.Duration

	mu        sync.RWMutex
	compiled  map[string]*Expression
	names     map[string]string
	backfills map[string]*Backfill

	changed chan []string
}

// Backfill is the progress of a new audience's first evaluation.
type Backfill struct {
	Scanned int       `json:"scanned"`
	Members int       `json:"members"`
	Done    bool      `json:"done"`
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started"`
}

// NewEngine returns the engine over a Service that saves audiences.
func NewEngine(svc *Service, reader Reader, log kith.EventLog, src *kith.Source, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.Default()
	}
	e := &Engine{svc: svc, defs: svc.defs, reader: reader, log: log, src: src, logger: logger, Sweep: time.Minute,
		compiled: map[string]*Expression{}, names: map[string]string{}, backfills: map[string]*Backfill{},
		changed: make(chan []string, 256)}
	svc.engine = e
	return e
}

// Source is the source of the engine's events.
func (e *Engine) Source() *kith.Source { return e.src }

// load compiles every saved audience.
func (e *Engine) load(ctx context.Context) error {
	defs, err := e.defs.Audiences(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range defs {
		if _, ok := e.compiled[d.ID]; ok {
			continue
		}
		x, err := Compile(d.Expression)
		if err != nil {
			e.logger.Warn("an audience's expression no longer compiles", "audience", d.ID, "err", err)
			continue
		}
		e.compiled[d.ID], e.names[d.ID] = x, d.Name
	}
	return nil
}

// timeDependent reports whether an expression's truth can change with time
// alone: it reads the clock, an age or a fading intent.
func timeDependent(src string) bool {
	for _, w := range []string{"now", "days_since_purchase", "last_purchase", "last_seen", "first_seen", "intents"} {
		if strings.Contains(src, w) {
			return true
		}
	}
	return false
}

// Changed hands the engine profiles a batch changed; it never blocks the
// processor.
func (e *Engine) Changed(ids []string) {
	if len(ids) == 0 {
		return
	}
	select {
	case e.changed <- ids:
	default:
		e.logger.Warn("audiences are behind; profiles of this batch are evaluated at the next sweep or change", "profiles", len(ids))
	}
}

// Run keeps memberships current until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	if err := e.load(ctx); err != nil && ctx.Err() == nil {
		e.logger.Error("load audiences", "err", err)
	}
	tick := time.NewTicker(e.Sweep)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ids := <-e.changed:
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					continue
				}
				seen[id] = true
				if err := e.Evaluate(ctx, id); err != nil && ctx.Err() == nil {
					e.logger.Warn("evaluate audiences", "profile", id, "err", err)
				}
			}
		case <-tick.C:
			if err := e.SweepNow(ctx); err != nil && ctx.Err() == nil {
				e.logger.Warn("sweep time-dependent audiences", "err", err)
			}
		}
	}
}

// Evaluate records whether a profile is in each audience now. An absorbed
// profile leaves every audience: its survivor is evaluated in its place.
func (e *Engine) Evaluate(ctx context.Context, id string) error {
	p, err := e.reader.Profile(ctx, id)
	if err != nil {
		if kith.IsCode(err, kith.ENOTFOUND) {
			return nil
		}
		return err
	}
	e.mu.RLock()
	in := make(map[string]bool, len(e.compiled))
	var person *Person
	if p.MergedInto == "" {
		needIDs := false
		for _, x := range e.compiled {
			needIDs = needIDs || strings.Contains(x.Source, "identifiers")
		}
		person, err = e.svc.person(ctx, p, e.svc.now(), needIDs)
		if err != nil {
			e.mu.RUnlock()
			return err
		}
	}
	for aid, x := range e.compiled {
		if person == nil {
			in[aid] = false
			continue
		}
		ok, _ := x.Match(person) // a run-time error: not a member
		in[aid] = ok
	}
	e.mu.RUnlock()
	if err := e.record(ctx, p, in); err != nil {
		return err
	}
	if p.MergedInto != "" {
		return e.Evaluate(ctx, p.MergedInto)
	}
	return nil
}

// record stores memberships and announces what changed.
func (e *Engine) record(ctx context.Context, p *kith.Profile, in map[string]bool) error {
	if len(in) == 0 {
		return nil
	}
	// Write only what differs from what is recorded: most evaluations
	// change nothing. The store's conditional writes still decide who
	// announces a change that two evaluators see.
	cur, err := e.defs.MembershipsOf(ctx, p.ID)
	if err != nil {
		return err
	}
	member := make(map[string]bool, len(cur))
	for _, id := range cur {
		member[id] = true
	}
	diff := map[string]bool{}
	for id, ok := range in {
		if ok != member[id] {
			diff[id] = ok
		}
	}
	if len(diff) == 0 {
		return nil
	}
	now := e.svc.now().UTC()
	changes, err := e.defs.SetMemberships(ctx, p.ID, diff, now)
	if err != nil || len(changes) == 0 {
		return err
	}
	links, err := e.reader.Links(ctx, p.ID)
	if err != nil {
		return err
	}
	addr, ok := identity.Pick(links)
	if !ok {
		return nil // nobody to address an event to (an absorbed profile's identifiers moved to its survivor)
	}
	evs := make([]kith.Event, 0, len(changes))
	for _, c := range changes {
		ev, err := e.event(p.ID, addr, c, now)
		if err != nil {
			return err
		}
		evs = append(evs, ev)
	}
	if _, err := e.log.Append(ctx, evs); err != nil {
		return fmt.Errorf("announce audience changes of %s: %w", p.ID, err)
	}
	return nil
}

// event is an Audience Entered or Exited event. Its messageId is derived
// from the membership (audience, profile, since, direction), so each entry
// and each exit is one event.
func (e *Engine) event(profileID string, addr kith.Identifier, c kith.MembershipChange, at time.Time) (kith.Event, error) {
	if e.src == nil {
		return kith.Event{}, fmt.Errorf("the audience engine has no source for its events")
	}
	name, dir := kith.EventAudienceEntered, "enter"
	if !c.Entered {
		name, dir = kith.EventAudienceExited, "exit"
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%s", c.Audience, profileID, c.Since.UnixNano(), dir))
	ev := kith.Event{MessageID: "audience-" + hex.EncodeToString(h[:12]), Type: kith.TypeTrack, SourceID: e.src.ID,
		Channel: e.src.Kind, Timestamp: at, ReceivedAt: at}
	e.mu.RLock()
	aname := e.names[c.Audience]
	e.mu.RUnlock()
	msg := map[string]any{"type": "track", "event": name, "messageId": ev.MessageID, "timestamp": at.Format(time.RFC3339Nano),
		"properties": map[string]any{"audience": c.Audience, "name": aname, "since": c.Since.Format(time.RFC3339Nano)}}
	identity.AddressTo(&ev, msg, addr)
	var err error
	ev.Payload, err = json.Marshal(msg)
	return ev, err
}

// SweepNow evaluates the time-dependent audiences over everyone: what time
// alone changes (no order in 30 days, an intent fading) flips on schedule.
func (e *Engine) SweepNow(ctx context.Context) error {
	e.mu.RLock()
	var ids []string
	for id, x := range e.compiled {
		if timeDependent(x.Source) {
			ids = append(ids, id)
		}
	}
	e.mu.RUnlock()
	for _, id := range ids {
		if err := e.backfill(ctx, id, nil); err != nil {
			return err
		}
	}
	return nil
}

// added compiles a new audience and backfills it over everyone, in the
// background, with progress.
func (e *Engine) added(ctx context.Context, def *kith.AudienceDef) error {
	x, err := Compile(def.Expression)
	if err != nil {
		return err
	}
	b := &Backfill{Started: e.svc.now().UTC()}
	e.mu.Lock()
	e.compiled[def.ID], e.names[def.ID], e.backfills[def.ID] = x, def.Name, b
	e.mu.Unlock()
	go func() {
		err := e.backfill(context.WithoutCancel(ctx), def.ID, b)
		e.mu.Lock()
		defer e.mu.Unlock()
		b.Done = true
		if err != nil {
			b.Error = err.Error()
			e.logger.Error("backfill audience", "audience", def.ID, "err", err)
		}
	}()
	return nil
}

// backfill evaluates one audience over every current profile, recording
// entries and exits; b, when set, follows its progress.
func (e *Engine) backfill(ctx context.Context, id string, b *Backfill) error {
	e.mu.RLock()
	x := e.compiled[id]
	e.mu.RUnlock()
	if x == nil {
		return nil
	}
	var ferr error
	err := e.svc.scan(ctx, x, "", func(p *kith.Profile, in bool, _ error) bool {
		if ferr = e.record(ctx, p, map[string]bool{id: in}); ferr != nil {
			return false
		}
		if b != nil {
			e.mu.Lock()
			b.Scanned++
			if in {
				b.Members++
			}
			e.mu.Unlock()
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	return err
}

// Progress returns a new audience's backfill progress, or nil.
func (e *Engine) Progress(id string) *Backfill {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if b, ok := e.backfills[id]; ok {
		c := *b
		return &c
	}
	return nil
}
