package lifecycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/clv"
	"github.com/kithhq/kith/identity"
)

// Store is what the service reads: the customers — people holding a
// purchase or a stage — page by page, how many people there are, one
// person by id, and the identifiers a person holds (to address a stage
// change to them). Everyone else is a prospect and stays one.
type Store interface {
	ScanCustomers(ctx context.Context, after string, limit int) ([]kith.Profile, error)
	CountProfiles(ctx context.Context) (int64, error)
	Profile(ctx context.Context, id string) (*kith.Profile, error)
	Links(ctx context.Context, profileID string) ([]kith.Link, error)
}

// Config configures the service.
type Config struct {
	Rules Rules
	// Source is the lifecycle source: stage change events are its
	// events, and the profile processor heeds them from it alone.
	Source *kith.Source
	// FitEvery is how often the models are fitted again (default 24 h);
	// SweepEvery how often every person's stage is checked against the
	// clock (default 1 h).
	FitEvery, SweepEvery time.Duration
}

// Service scores people and moves them through the stages.
type Service struct {
	store  Store
	log    kith.EventLog
	cfg    Config
	rules  Rules
	logger *slog.Logger
	now    func() time.Time

	model   atomic.Pointer[Model]
	fitting sync.Mutex // one fit at a time
	status  atomic.Pointer[FitStatus]
	touched chan []string
	refit   chan struct{}
	rest    int // times a page's reading time that a scan rests after it
	audit   kith.AuditLog

	mu      sync.Mutex
	flows   map[string]int // changes found since the last snapshot, "from→to"
	history []Snapshot     // oldest first, at most maxHistory
}

// Snapshot is the people per stage at a sweep, and the changes between
// stages recorded since the sweep before.
type Snapshot struct {
	At     time.Time      `json:"at"`
	Stages map[string]int `json:"stages"`
	Flows  map[string]int `json:"flows"` // "from→to": people
}

// maxHistory bounds the snapshots kept: 90 days of hourly sweeps.
const maxHistory = 24 * 90

// History returns the snapshots of the sweeps this node ran, oldest first.
// They live in memory: a restarted node starts a new history.
func (s *Service) History() []Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Snapshot(nil), s.history...)
}

func (s *Service) countFlow(from, to string) {
	s.mu.Lock()
	if s.flows == nil {
		s.flows = map[string]int{}
	}
	if from == "" {
		from = "none"
	}
	s.flows[from+"→"+to]++
	s.mu.Unlock()
}

func (s *Service) snapshot(at time.Time, stages map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	flows := s.flows
	if flows == nil {
		flows = map[string]int{}
	}
	s.flows = nil
	s.history = append(s.history, Snapshot{At: at, Stages: stages, Flows: flows})
	if len(s.history) > maxHistory {
		s.history = s.history[len(s.history)-maxHistory:]
	}
}

// FitStatus is how the latest fit went, or how the current one goes.
type FitStatus struct {
	Running  bool      `json:"running"`
	Phase    string    `json:"phase"` // "reading profiles", "fitting BG/NBD"…
	People   int       `json:"people"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// New returns a service over store that appends stage changes to log.
func New(store Store, log kith.EventLog, cfg Config, logger *slog.Logger) (*Service, error) {
	if err := cfg.Rules.Validate(); err != nil {
		return nil, err
	}
	if cfg.Source == nil || cfg.Source.ID == "" {
		return nil, errors.New("lifecycle: a source for stage change events is required")
	}
	if cfg.FitEvery <= 0 {
		cfg.FitEvery = 24 * time.Hour
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Hour
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Service{store: store, log: log, cfg: cfg, rules: cfg.Rules.withDefaults(), logger: logger, now: time.Now,
		touched: make(chan []string, 64), refit: make(chan struct{}, 1), rest: 3}
	s.status.Store(&FitStatus{})
	return s, nil
}

// SetClock replaces the service's clock, for tests and replays.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Source returns the source stage changes are recorded as.
func (s *Service) Source() *kith.Source { return s.cfg.Source }

// Rules returns the rules in force, defaults filled in.
func (s *Service) Rules() Rules { return s.rules }

// Model returns the latest fit (nil before the first).
func (s *Service) Model() *Model { return s.model.Load() }

// Status returns how the latest fit went.
func (s *Service) Status() FitStatus { return *s.status.Load() }

// Assess says where p stands now.
func (s *Service) Assess(p *kith.Profile) Assessment {
	return assess(p, s.model.Load(), s.rules, s.now())
}

const page = 250 // profiles per read of a scan: short reads, short bursts beside lookups

// scan calls fn with every customer. It is background work beside
// ingestion and lookups: after each page it rests three times as long as
// the page took, so that it takes at most a quarter of what it could.
func (s *Service) scan(ctx context.Context, fn func(p *kith.Profile) error) error {
	after := ""
	for {
		start := time.Now()
		ps, err := s.store.ScanCustomers(ctx, after, page)
		if err != nil {
			return err
		}
		for i := range ps {
			if err := fn(&ps[i]); err != nil {
				return err
			}
		}
		if len(ps) < page {
			return nil
		}
		after = ps[len(ps)-1].ID
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(s.rest) * time.Since(start)):
		}
	}
}

// Fit reads everyone's purchases and fits the models, reporting progress
// through Status; the new model takes over when it is done. Fits do not
// overlap: a second caller waits for the first.
func (s *Service) Fit(ctx context.Context) (*Model, error) {
	s.fitting.Lock()
	defer s.fitting.Unlock()
	st := &FitStatus{Running: true, Phase: "reading profiles", Started: time.Now()}
	s.status.Store(st)
	setStatus := func(f func(st *FitStatus)) {
		c := *s.status.Load()
		f(&c)
		s.status.Store(&c)
	}
	var people []kith.Profile
	total, err := s.store.CountProfiles(ctx)
	if err != nil {
		return nil, err
	}
	err = s.scan(ctx, func(p *kith.Profile) error {
		// Only what the models read: the purchases.
		people = append(people, kith.Profile{ID: p.ID, Purchases: p.Purchases})
		if len(people)%10000 == 0 {
			setStatus(func(st *FitStatus) { st.People = len(people) })
		}
		return nil
	})
	var m *Model
	if err == nil {
		setStatus(func(st *FitStatus) { st.People, st.Phase = int(total), "fitting" })
		m, err = fit(ctx, people, s.rules, s.now(), func(p clv.Progress) {
			setStatus(func(st *FitStatus) { st.Phase = "fitting " + p.Model })
		})
		if m != nil {
			// Everyone not read bought nothing.
			m.Prospects += max(int(total)-len(people), 0)
		}
	}
	setStatus(func(st *FitStatus) {
		st.Running, st.Finished, st.Phase = false, time.Now(), "done"
		if err != nil {
			st.Error, st.Phase = err.Error(), "failed"
		}
	})
	if err != nil {
		return nil, err
	}
	s.model.Store(m)
	s.logger.Info("lifetime-value models fitted", "people", total, "buyers", m.Customers, "repeaters", m.Repeaters,
		"took", m.Took.Round(time.Millisecond), "skipped", m.Skipped)
	return m, nil
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	People  int            `json:"people"`
	Changes int            `json:"changes"` // stage change events appended (new ones)
	Stages  map[string]int `json:"stages"`  // people per stage, as the rules say now
}

// Sweep checks every person's stage against the clock and records each
// change as an event.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	res := SweepResult{Stages: map[string]int{}}
	var ch changes
	flush := func() error {
		n, err := s.record(ctx, &ch)
		res.Changes += n
		return err
	}
	total, err := s.store.CountProfiles(ctx)
	if err != nil {
		return res, err
	}
	err = s.scan(ctx, func(p *kith.Profile) error {
		res.People++
		a := s.Assess(p)
		res.Stages[a.Stage]++
		if s.change(ctx, &ch, p, a) && len(ch.evs) >= 500 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		// Everyone not read is a prospect, as they were.
		res.Stages[kith.StageProspect] += max(int(total)-res.People, 0)
		res.People = max(int(total), res.People)
		s.snapshot(s.now(), res.Stages)
	}
	return res, err
}

// Check assesses the given people now (their purchases just changed) and
// records their stage changes.
func (s *Service) Check(ctx context.Context, ids []string) (int, error) {
	var ch changes
	for _, id := range ids {
		p, err := s.store.Profile(ctx, id)
		if kith.IsCode(err, kith.ENOTFOUND) {
			continue
		}
		if err != nil {
			return 0, err
		}
		for hops := 0; p.MergedInto != "" && hops < 16; hops++ {
			// Absorbed after its order: the survivor holds the purchases.
			if p, err = s.store.Profile(ctx, p.MergedInto); err != nil {
				return 0, err
			}
		}
		s.change(ctx, &ch, p, s.Assess(p))
	}
	return s.record(ctx, &ch)
}

// changes are stage change events waiting to be appended, with the move
// each records.
type changes struct {
	evs   []kith.Event
	moves [][2]string // from, to
}

// change adds p's move to a.Stage to ch, if it is one; it reports whether
// it added an event.
func (s *Service) change(ctx context.Context, ch *changes, p *kith.Profile, a Assessment) bool {
	from := p.Lifecycle.Current()
	if a.Stage == from {
		return false
	}
	e, err := s.stageEvent(ctx, p, a)
	if err != nil {
		s.logger.Warn("stage change not recorded", "profile", p.ID, "err", err)
		return false
	}
	ch.evs, ch.moves = append(ch.evs, e), append(ch.moves, [2]string{from, a.Stage})
	return true
}

// record appends ch's events, counts the moves the log took as new (not a
// change another finder recorded first), empties ch and returns how many
// events were new.
func (s *Service) record(ctx context.Context, ch *changes) (int, error) {
	if len(ch.evs) == 0 {
		return 0, nil
	}
	r, err := s.log.Append(ctx, ch.evs)
	if err == nil {
		for i, e := range ch.evs {
			if e.Seq != 0 || r.Duplicates == 0 {
				s.countFlow(ch.moves[i][0], ch.moves[i][1])
			}
		}
	}
	ch.evs, ch.moves = ch.evs[:0], ch.moves[:0]
	return r.Appended, err
}

// Touched tells the service that these people's purchases changed; Run
// checks them soon.
func (s *Service) Touched(ids []string) {
	if s == nil || len(ids) == 0 {
		return
	}
	select {
	case s.touched <- ids:
	default: // full: the hourly sweep will find them
	}
}

// RecordTo makes the service record every fit asked for in the audit
// log, with the actor its context carries.
func (s *Service) RecordTo(a kith.AuditLog) { s.audit = a }

// Refit asks Run to fit the models again, then sweep, as soon as it can;
// Status follows the fit. It returns the status at the time of asking. The
// request is recorded (RecordTo) before it is made: a refit nobody can
// account for is not made.
func (s *Service) Refit(ctx context.Context) (FitStatus, error) {
	if s.audit != nil {
		a, ok := kith.ActorFrom(ctx)
		if !ok {
			a = kith.Actor{Kind: kith.ActorSystem, Name: "kith"}
		}
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditLifecycleFit}); err != nil {
			return s.Status(), fmt.Errorf("record %s: %w", kith.AuditLifecycleFit, err)
		}
	}
	select {
	case s.refit <- struct{}{}:
		st := *s.status.Load()
		if !st.Running {
			st = FitStatus{Phase: "queued"}
			s.status.Store(&st)
		}
	default: // one is queued already
	}
	return s.Status(), nil
}

// Run fits at once and then every FitEvery, sweeps after each fit and every
// SweepEvery, and checks touched people as they come, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	fitTick := time.NewTicker(s.cfg.FitEvery)
	defer fitTick.Stop()
	sweepTick := time.NewTicker(s.cfg.SweepEvery)
	defer sweepTick.Stop()
	fitAndSweep := func() {
		if _, err := s.Fit(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("lifetime-value fit failed", "err", err)
		}
		s.sweep(ctx)
	}
	fitAndSweep()
	for {
		select {
		case <-ctx.Done():
			return
		case <-fitTick.C:
			fitAndSweep()
		case <-sweepTick.C:
			if m := s.model.Load(); m == nil || m.Skipped != "" {
				// Too few buyers at the last fit: there may be enough now.
				fitAndSweep()
			} else {
				s.sweep(ctx)
			}
		case <-s.refit:
			fitAndSweep()
		case ids := <-s.touched:
			if _, err := s.Check(ctx, ids); err != nil && ctx.Err() == nil {
				s.logger.Warn("checking stages failed; the next sweep will", "people", len(ids), "err", err)
			}
		}
	}
}

func (s *Service) sweep(ctx context.Context) {
	r, err := s.Sweep(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Error("lifecycle sweep failed", "err", err)
		}
		return
	}
	s.logger.Info("lifecycle sweep", "people", r.People, "changes", r.Changes, "stages", r.Stages)
}

// stageEvent is the event recording p's move to a.Stage. Its messageId is
// derived from the person, the stage left and since when, and the stage
// entered, so that every finder of the same change appends the same event
// and the log keeps it once.
func (s *Service) stageEvent(ctx context.Context, p *kith.Profile, a Assessment) (kith.Event, error) {
	links, err := s.store.Links(ctx, p.ID)
	if err != nil {
		return kith.Event{}, err
	}
	now := s.now().UTC()
	key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%s", p.ID, p.Lifecycle.Current(), p.Lifecycle.Since.UnixNano(), a.Stage))
	e := kith.Event{MessageID: "lifecycle-" + hex.EncodeToString(key[:12]), Type: kith.TypeTrack, SourceID: s.cfg.Source.ID,
		Channel: s.cfg.Source.Kind, Timestamp: now, ReceivedAt: now}
	msg := map[string]any{"type": "track", "event": kith.EventStageChanged, "messageId": e.MessageID,
		"timestamp":  now.Format(time.RFC3339Nano),
		"properties": map[string]any{"from": p.Lifecycle.Current(), "to": a.Stage, "reason": a.Reason}}
	if !identity.Address(&e, msg, links) {
		return kith.Event{}, fmt.Errorf("profile %s holds no identifier to address an event to", p.ID)
	}
	if e.Payload, err = json.Marshal(msg); err != nil {
		return kith.Event{}, err
	}
	return e, nil
}
