package audience

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
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

// Engine keeps saved audiences' memberships current. A batch of the
// profile processor hands it the profiles it changed and what of each it
// touched; each is evaluated at once against the audiences that read what
// was touched, from the profile as the batch left it. Audiences whose
// truth changes with time alone are evaluated again over everyone on a
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
	// SizeEvery is how often every audience's size is recorded for the
	// chart of sizes over time (default 15 minutes).
	SizeEvery time.Duration

	mu        sync.RWMutex
	auds      map[string]*saved
	ix        *index // of auds
	backfills map[string]*Backfill

	pmu     sync.Mutex
	pending map[string]*work // profile → what to evaluate, coalesced
	wake    chan struct{}
	// While evaluations over everyone run (scans), queued says which
	// profiles had live work queued, for which audiences, at which gen:
	// a scan must not record what it read of them before, over what the
	// live evaluation, from a newer person, decides.
	gen    uint64
	scans  int
	queued map[string]queuedWork

	rmu   sync.Mutex   // one recording at a time, for the cache
	cache *memberCache // nil: read memberships from the store
}

// CacheMemberships keeps who is in which audience in memory, up to max
// profiles: only for a store this engine alone writes (the embedded one).
func (e *Engine) CacheMemberships(max int) {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	e.cache = newMemberCache(max)
}

// saved is a saved audience in force.
type saved struct {
	id, name string
	x        *Expression
}

// work is what is left to evaluate of one profile: the audiences a change
// may have moved it in or out of, with the person as the newest batch left
// it; all (an absorbed profile, or one the batch did not hand over) means
// every audience, reading the profile from the store.
type work struct {
	all    bool
	person *Person
	auds   map[string]bool
}

// queuedWork is when live work was last queued for a profile during a
// scan, and for which audiences (all: every one).
type queuedWork struct {
	gen  uint64
	all  bool
	auds map[string]bool
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
	e := &Engine{svc: svc, defs: svc.defs, reader: reader, log: log, src: src, logger: logger, Sweep: time.Minute, SizeEvery: 15 * time.Minute,
		auds: map[string]*saved{}, backfills: map[string]*Backfill{},
		pending: map[string]*work{}, wake: make(chan struct{}, 1)}
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
		if _, ok := e.auds[d.ID]; ok {
			continue
		}
		x, err := Compile(d.Expression)
		if err != nil {
			e.logger.Warn("an audience's expression no longer compiles", "audience", d.ID, "err", err)
			continue
		}
		e.auds[d.ID] = &saved{id: d.ID, name: d.Name, x: x}
	}
	e.ix = newIndex(e.auds)
	return nil
}

// Load compiles every saved audience (Run does it first).
func (e *Engine) Load(ctx context.Context) error { return e.load(ctx) }

// Batch is what one batch of the profile processor changed
// (profile.BatchDone): the profiles, what of each it touched, and those
// it left current as it left them.
type Batch struct {
	Changed  []string
	Touched  map[string]map[string]bool
	Profiles map[string]*kith.Profile
}

// Changed takes what a batch changed. It runs on the processor's
// goroutine, while the batch's profiles are still as it left them: for
// each profile it picks the audiences that read what was touched and, if
// any, takes what they read of the person; the evaluation and the writes
// happen on the engine's own goroutine (Run) or at Flush. It never blocks
// on the store and never drops a change: changes to one profile waiting
// to be evaluated are combined.
func (e *Engine) Changed(b Batch) {
	if len(b.Changed) == 0 {
		return
	}
	now := e.svc.now()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if len(e.auds) == 0 {
		return
	}
	e.pmu.Lock()
	defer e.pmu.Unlock()
	e.gen++
	queued := false
	for _, id := range b.Changed {
		p, touched := b.Profiles[id], b.Touched[id]
		prev := e.pending[id]
		if p == nil || touched == nil || p.MergedInto != "" || prev != nil && prev.all {
			e.pending[id], queued = &work{all: true}, true
			e.noteQueued(id, nil)
			continue
		}
		hit := map[string]bool{}
		e.ix.hit(touched, hit)
		if prev != nil {
			// Still waiting: evaluated again with this newer person, which
			// must hold what those audiences read too.
			for aid := range prev.auds {
				hit[aid] = true
			}
		}
		if len(hit) == 0 {
			continue
		}
		reads := make([][]string, 0, len(hit))
		for aid := range hit {
			if a := e.auds[aid]; a != nil {
				reads = append(reads, a.x.Reads)
			}
		}
		e.pending[id], queued = &work{person: e.svc.personFor(p, now, needOf(reads...)), auds: hit}, true
		e.noteQueued(id, hit)
	}
	if queued {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// noteQueued remembers, while a scan runs, that live work for the given
// audiences (nil: all) was queued for a profile at the current gen. The
// caller holds pmu.
func (e *Engine) noteQueued(id string, auds map[string]bool) {
	if e.scans == 0 {
		return
	}
	if e.queued == nil {
		e.queued = map[string]queuedWork{}
	}
	q := e.queued[id]
	q.gen = e.gen
	if auds == nil {
		q.all = true
	} else {
		if q.auds == nil {
			q.auds = map[string]bool{}
		}
		for aid := range auds {
			q.auds[aid] = true
		}
	}
	e.queued[id] = q
}

// dropFresher removes from a scan's results (in[profile][audience]) what
// live work queued after the scan began (gen since) will decide from a
// newer person.
func (e *Engine) dropFresher(ids []string, in map[string]map[string]bool, since uint64) {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	for _, id := range ids {
		q, ok := e.queued[id]
		if !ok || q.gen <= since {
			continue
		}
		for aid := range in[id] {
			if q.all || q.auds[aid] {
				delete(in[id], aid)
			}
		}
	}
}

// Pending counts the evaluations waiting: a profile against an audience
// (against every audience for a profile to be read again).
func (e *Engine) Pending() int {
	e.mu.RLock()
	all := len(e.auds)
	e.mu.RUnlock()
	e.pmu.Lock()
	defer e.pmu.Unlock()
	n := 0
	for _, w := range e.pending {
		if w.all {
			n += all
		} else {
			n += len(w.auds)
		}
	}
	return n
}

// Flush evaluates every change handed over so far.
func (e *Engine) Flush(ctx context.Context) error {
	for {
		e.pmu.Lock()
		batch := e.pending
		e.pending = map[string]*work{}
		e.pmu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		in := make(map[string]map[string]bool, len(batch))
		for id, w := range batch {
			if w.all {
				if err := e.Evaluate(ctx, id); err != nil {
					if ctx.Err() != nil {
						return err
					}
					e.logger.Warn("evaluate audiences", "profile", id, "err", err)
				}
				continue
			}
			m, err := e.evaluate(ctx, id, w)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				e.logger.Warn("evaluate audiences", "profile", id, "err", err)
				continue
			}
			in[id] = m
		}
		if err := e.recordMany(ctx, in); err != nil {
			if ctx.Err() != nil {
				return err
			}
			e.logger.Warn("record audience memberships", "profiles", len(in), "err", err)
		}
	}
}

// evaluate says whether a profile is in each audience of its pending work.
func (e *Engine) evaluate(ctx context.Context, id string, w *work) (map[string]bool, error) {
	in := make(map[string]bool, len(w.auds))
	e.mu.RLock()
	needIDs := false
	for aid := range w.auds {
		if a := e.auds[aid]; a != nil && a.x.Reading("identifiers") {
			needIDs = true
		}
	}
	e.mu.RUnlock()
	if needIDs {
		if err := e.svc.identify(ctx, id, w.person); err != nil {
			return nil, err
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for aid := range w.auds {
		a := e.auds[aid]
		if a == nil {
			continue
		}
		ok, _ := a.x.Match(w.person) // a run-time error: not a member
		in[aid] = ok
	}
	return in, nil
}

// Run keeps memberships current until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	if err := e.load(ctx); err != nil && ctx.Err() == nil {
		e.logger.Error("load audiences", "err", err)
	}
	tick := time.NewTicker(e.Sweep)
	defer tick.Stop()
	sizes := time.NewTicker(e.SizeEvery)
	defer sizes.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
			if err := e.Flush(ctx); err != nil && ctx.Err() == nil {
				e.logger.Warn("evaluate audiences", "err", err)
			}
		case <-tick.C:
			if err := e.SweepNow(ctx); err != nil && ctx.Err() == nil {
				e.logger.Warn("sweep time-dependent audiences", "err", err)
			}
		case <-sizes.C:
			if err := e.RecordSizes(ctx); err != nil && ctx.Err() == nil {
				e.logger.Warn("record audience sizes", "err", err)
			}
		}
	}
}

// Evaluate records whether a profile, read from the store, is in each
// audience now. An absorbed profile leaves every audience: its survivor
// is evaluated in its place.
func (e *Engine) Evaluate(ctx context.Context, id string) error {
	p, err := e.reader.Profile(ctx, id)
	if err != nil {
		if kith.IsCode(err, kith.ENOTFOUND) {
			return nil
		}
		return err
	}
	e.mu.RLock()
	in := make(map[string]bool, len(e.auds))
	var person *Person
	if p.MergedInto == "" {
		needIDs := false
		for _, a := range e.auds {
			needIDs = needIDs || a.x.Reading("identifiers")
		}
		person, err = e.svc.person(ctx, p, e.svc.now(), needIDs)
		if err != nil {
			e.mu.RUnlock()
			return err
		}
	}
	for aid, a := range e.auds {
		if person == nil {
			in[aid] = false
			continue
		}
		ok, _ := a.x.Match(person) // a run-time error: not a member
		in[aid] = ok
	}
	e.mu.RUnlock()
	if err := e.record(ctx, p.ID, in); err != nil {
		return err
	}
	if p.MergedInto != "" {
		return e.Evaluate(ctx, p.MergedInto)
	}
	return nil
}

// record stores memberships and announces what changed.
func (e *Engine) record(ctx context.Context, profileID string, in map[string]bool) error {
	return e.recordMany(ctx, map[string]map[string]bool{profileID: in})
}

// recordMany stores many profiles' memberships (in[profile][audience]) and
// announces what changed, with one read, one write and one append per
// 500 profiles.
func (e *Engine) recordMany(ctx context.Context, in map[string]map[string]bool) error {
	return e.recordManySince(ctx, in, nil)
}

// recordManySince is recordMany for a scan that began at gen *since: what
// live work queued since then decides is left to it.
func (e *Engine) recordManySince(ctx context.Context, in map[string]map[string]bool, since *uint64) error {
	ids := make([]string, 0, len(in))
	for id, m := range in {
		if len(m) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for len(ids) > 0 {
		n := min(500, len(ids))
		if err := e.recordChunk(ctx, ids[:n], in, since); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (e *Engine) recordChunk(ctx context.Context, ids []string, in map[string]map[string]bool, since *uint64) error {
	// Write only what differs from what is recorded: most evaluations
	// change nothing. The store's conditional writes still decide who
	// announces a change that two evaluators see.
	e.rmu.Lock()
	defer e.rmu.Unlock()
	if since != nil {
		// Under rmu: live work queued before this is dropped here; live
		// work queued after records after this chunk.
		e.dropFresher(ids, in, *since)
	}
	diffs, err := e.diffs(ctx, ids, in)
	if err != nil {
		return err
	}
	if len(diffs) == 0 {
		return nil
	}
	now := e.svc.now().UTC()
	changes, err := e.defs.SetMembershipsMany(ctx, diffs, now)
	if e.cache != nil {
		if err != nil {
			e.cache.forget(ids)
		} else {
			for id, d := range diffs {
				e.cache.set(id, d)
			}
		}
	}
	if err != nil || len(changes) == 0 {
		return err
	}
	var evs []kith.Event
	for _, id := range ids {
		if len(changes[id]) == 0 {
			continue
		}
		links, err := e.reader.Links(ctx, id)
		if err != nil {
			return err
		}
		addr, ok := identity.Pick(links)
		if !ok {
			continue // nobody to address an event to (an absorbed profile's identifiers moved to its survivor)
		}
		for _, c := range changes[id] {
			ev, err := e.event(id, addr, c, now)
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	if _, err := e.log.Append(ctx, evs); err != nil {
		return fmt.Errorf("announce %d audience changes: %w", len(evs), err)
	}
	return nil
}

// diffs returns what of in differs from the recorded memberships.
func (e *Engine) diffs(ctx context.Context, ids []string, in map[string]map[string]bool) (map[string]map[string]bool, error) {
	if e.cache != nil {
		return e.cache.diff(ctx, ids, in, e.defs.MembershipsOfMany)
	}
	cur, err := e.defs.MembershipsOfMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	diffs := map[string]map[string]bool{}
	for _, id := range ids {
		member := make(map[string]bool, len(cur[id]))
		for _, a := range cur[id] {
			member[a] = true
		}
		for a, ok := range in[id] {
			if ok != member[a] {
				if diffs[id] == nil {
					diffs[id] = map[string]bool{}
				}
				diffs[id][a] = ok
			}
		}
	}
	return diffs, nil
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
	var aname string
	e.mu.RLock()
	if a := e.auds[c.Audience]; a != nil {
		aname = a.name
	}
	e.mu.RUnlock()
	msg := map[string]any{"type": "track", "event": name, "messageId": ev.MessageID, "timestamp": at.Format(time.RFC3339Nano),
		"properties": map[string]any{"audience": c.Audience, "name": aname, "since": c.Since.Format(time.RFC3339Nano)}}
	identity.AddressTo(&ev, msg, addr)
	var err error
	ev.Payload, err = json.Marshal(msg)
	return ev, err
}

// Reevaluate evaluates one audience again over everyone, recording who
// entered and who left.
func (e *Engine) Reevaluate(ctx context.Context, id string) error { return e.backfill(ctx, id, nil) }

// SweepNow evaluates the time-dependent audiences over everyone, all in
// one pass: what time alone changes (no order in 30 days, an intent
// fading, a windowed computed trait) flips on schedule.
func (e *Engine) SweepNow(ctx context.Context) error {
	e.mu.RLock()
	var ids []string
	for id, a := range e.auds {
		if a.x.Timed(e.svc.windowed) {
			ids = append(ids, id)
		}
	}
	e.mu.RUnlock()
	sort.Strings(ids)
	return e.reevaluate(ctx, ids, nil)
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
	e.auds[def.ID], e.backfills[def.ID] = &saved{id: def.ID, name: def.Name, x: x}, b
	e.ix = newIndex(e.auds)
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
	return e.reevaluate(ctx, []string{id}, b)
}

// reevaluate evaluates audiences over every current profile in one pass,
// recording entries and exits 500 profiles at a time; b, when set, follows
// the progress of the first.
func (e *Engine) reevaluate(ctx context.Context, ids []string, b *Backfill) error {
	e.mu.RLock()
	var xs []*Expression
	var live []string
	for _, id := range ids {
		if a := e.auds[id]; a != nil {
			xs, live = append(xs, a.x), append(live, id)
		}
	}
	e.mu.RUnlock()
	if len(xs) == 0 {
		return nil
	}
	e.pmu.Lock()
	e.scans++
	since := e.gen
	e.pmu.Unlock()
	defer func() {
		e.pmu.Lock()
		if e.scans--; e.scans == 0 {
			e.queued = nil
		}
		e.pmu.Unlock()
	}()
	var ferr error
	page := map[string]map[string]bool{}
	err := e.svc.scanMany(ctx, xs, "", false, func(p *kith.Profile, in []bool, _ []error) bool {
		if b != nil {
			e.mu.Lock()
			b.Scanned++
			if in[0] {
				b.Members++
			}
			e.mu.Unlock()
		}
		if e.cache != nil {
			// Most people stay where they were: say so without a write.
			e.rmu.Lock()
			same := e.cache.agrees(p.ID, live, in)
			e.rmu.Unlock()
			if same {
				return true
			}
		}
		m := make(map[string]bool, len(live))
		for k, id := range live {
			m[id] = in[k]
		}
		page[p.ID] = m
		if len(page) == 500 {
			if scanHook != nil {
				scanHook()
			}
			if ferr = e.recordManySince(ctx, page, &since); ferr != nil {
				return false
			}
			clear(page)
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	if err == nil {
		if scanHook != nil {
			scanHook()
		}
		err = e.recordManySince(ctx, page, &since)
	}
	return err
}

// scanHook, set by tests only, runs between a scan's reading of a page of
// people and its recording of them.
var scanHook func()

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

// Forget drops erased profiles: their pending evaluations and their cached
// memberships (the store's rows go with the rest of the person).
func (e *Engine) Forget(ids []string) {
	e.pmu.Lock()
	for _, id := range ids {
		delete(e.pending, id)
	}
	e.pmu.Unlock()
	e.rmu.Lock()
	if e.cache != nil {
		e.cache.forget(ids)
	}
	e.rmu.Unlock()
}
