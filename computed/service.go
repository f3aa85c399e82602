package computed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kithhq/kith"
)

// Recomputer rebuilds computed traits of profiles from their timelines as
// the profile processor's writer (profile.Processor.Recompute).
type Recomputer interface {
	Recompute(ctx context.Context, ids, names []string) (int, error)
}

// Scanner pages through the current profiles' ids.
type Scanner interface {
	ScanStoredProfiles(ctx context.Context, after string, limit int) ([]kith.StoredProfile, error)
	CountProfiles(ctx context.Context) (int64, error)
}

// Service defines computed traits and backfills them.
type Service struct {
	store  kith.ComputedStore
	set    *Set
	proc   Recomputer
	scan   Scanner
	audit  kith.AuditLog
	logger *slog.Logger
	// Settle is how long a backfill waits after a definition is saved
	// before it starts: the time every node takes to fold the new trait
	// into the events it applies (Reload's period and a batch), so that no
	// event is applied by a node that does not know it yet after the
	// backfill rebuilt that profile. 0 for one node.
	Settle time.Duration
	// Page is how many profiles a backfill rebuilds per transaction.
	Page int

	mu        sync.Mutex
	backfills map[string]*Backfill
	wg        sync.WaitGroup
}

// Backfill is the progress of a new trait's first computation.
type Backfill struct {
	Total   int64     `json:"total"` // profiles when it began
	Done    int64     `json:"done"`  // profiles rebuilt so far
	Over    bool      `json:"over"`
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
}

// NewService returns a Service over the definitions' store and the set the
// processor folds events through.
func NewService(store kith.ComputedStore, set *Set, proc Recomputer, scan Scanner, audit kith.AuditLog, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{store: store, set: set, proc: proc, scan: scan, audit: audit, logger: logger, Page: 500, backfills: map[string]*Backfill{}}
}

// Set is the set the service keeps.
func (s *Service) Set() *Set { return s.set }

// Load puts every saved definition in force; one that no longer parses is
// logged and left out.
func (s *Service) Load(ctx context.Context) error {
	defs, err := s.store.ComputedTraits(ctx)
	if err != nil {
		return fmt.Errorf("load computed traits: %w", err)
	}
	for _, d := range defs {
		if s.set.Has(d.Name) {
			continue
		}
		pd, err := Parse(d)
		if err != nil {
			s.logger.Warn("a computed trait no longer parses", "trait", d.Name, "err", err)
			continue
		}
		s.set.Put(pd)
	}
	return nil
}

// Reload loads definitions saved on other nodes every period until ctx
// ends.
func (s *Service) Reload(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Load(ctx); err != nil && ctx.Err() == nil {
				s.logger.Warn("reload computed traits", "err", err)
			}
		}
	}
}

// Create checks and saves a definition, puts it in force at once and
// backfills it over every profile's past events in the background.
func (s *Service) Create(ctx context.Context, d kith.ComputedTraitDef) (*kith.ComputedTraitDef, error) {
	pd, err := Parse(d)
	if err != nil {
		return nil, err
	}
	a, _ := kith.ActorFrom(ctx)
	b := make([]byte, 10)
	rand.Read(b)
	def := pd.ComputedTraitDef
	def.ID, def.CreatedAt, def.CreatedBy = "ct_"+hex.EncodeToString(b), s.set.Now().UTC(), a.String()
	if err := s.store.CreateComputedTrait(ctx, &def); err != nil {
		if kith.IsCode(err, kith.ECONFLICT) {
			return nil, &kith.Error{Code: kith.ECONFLICT, Field: "name", Message: fmt.Sprintf("a computed trait named %q exists", def.Name)}
		}
		return nil, err
	}
	if s.audit != nil {
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditComputedCreate, Target: def.ID,
			Detail: def.Name + ": " + pd.String()}); err != nil {
			return nil, err
		}
	}
	pd.ComputedTraitDef = def
	s.set.Put(pd)
	bf := &Backfill{Started: def.CreatedAt}
	s.mu.Lock()
	s.backfills[def.Name] = bf
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.backfill(context.WithoutCancel(ctx), def.Name, bf)
		s.mu.Lock()
		defer s.mu.Unlock()
		bf.Over, bf.Ended = true, time.Now().UTC()
		if err != nil {
			bf.Error = err.Error()
			s.logger.Error("backfill computed trait", "trait", def.Name, "err", err)
		}
	}()
	return &def, nil
}

// Wait waits for the backfills running (tests, shutdown).
func (s *Service) Wait() { s.wg.Wait() }

// backfill rebuilds one trait over every current profile, a page per
// transaction, following progress in b.
func (s *Service) backfill(ctx context.Context, name string, b *Backfill) error {
	if s.Settle > 0 {
		time.Sleep(s.Settle)
	}
	if s.scan == nil || s.proc == nil {
		return nil
	}
	total, err := s.scan.CountProfiles(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	b.Total = total
	s.mu.Unlock()
	after := ""
	for {
		ps, err := s.scan.ScanStoredProfiles(ctx, after, s.Page)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return nil
		}
		ids := make([]string, len(ps))
		for i := range ps {
			ids[i] = ps[i].ID
		}
		if _, err := s.proc.Recompute(ctx, ids, []string{name}); err != nil {
			return fmt.Errorf("rebuild %s of profiles after %q: %w", name, after, err)
		}
		after = ids[len(ids)-1]
		s.mu.Lock()
		b.Done += int64(len(ids))
		s.mu.Unlock()
	}
}

// Trait is a definition with, while it is being backfilled or once it was
// on this node, its backfill's progress.
type Trait struct {
	kith.ComputedTraitDef
	Description string    `json:"description"`
	Backfill    *Backfill `json:"backfill,omitempty"`
}

// List returns every trait in force, by name.
func (s *Service) List() []Trait {
	defs := s.set.Defs()
	out := make([]Trait, len(defs))
	for i, d := range defs {
		out[i] = s.trait(d)
	}
	return out
}

// Get returns one trait; ENOTFOUND when none is named so.
func (s *Service) Get(name string) (*Trait, error) {
	d := s.set.Def(name)
	if d == nil {
		return nil, kith.Errorf(kith.ENOTFOUND, "no computed trait named %q", name)
	}
	t := s.trait(d)
	return &t, nil
}

func (s *Service) trait(d *Def) Trait {
	t := Trait{ComputedTraitDef: d.ComputedTraitDef, Description: d.String()}
	s.mu.Lock()
	if b, ok := s.backfills[d.Name]; ok {
		c := *b
		t.Backfill = &c
	}
	s.mu.Unlock()
	return t
}
