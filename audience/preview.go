package audience

import (
	"context"
	"fmt"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/computed"
)

// Store is what previews read: every current profile, page by page, and a
// profile's identifiers.
type Store interface {
	// ScanStoredProfiles returns up to limit current profiles with ids
	// after after, in id order, their documents undecoded.
	ScanStoredProfiles(ctx context.Context, after string, limit int) ([]kith.StoredProfile, error)
	Links(ctx context.Context, profileID string) ([]kith.Link, error)
}

// Service evaluates audience expressions against the store's profiles.
type Service struct {
	store   Store
	defs    kith.AudienceStore // nil: audiences are previewed, not saved
	engine  *Engine            // nil: memberships are not kept
	intents func(*kith.Profile, time.Time) map[string]float64
	traits  *computed.Set                            // nil: no computed traits
	assess  func(*kith.Profile) (stage, tier string) // nil: the recorded stage, no tier
	audit   kith.AuditLog
	now     func() time.Time
}

// New returns a Service. intents gives a profile's intent strengths at a
// time; assess (may be nil) its lifecycle stage and value tier now.
func New(store Store, intents func(*kith.Profile, time.Time) map[string]float64, assess func(*kith.Profile) (string, string), audit kith.AuditLog) *Service {
	return &Service{store: store, intents: intents, assess: assess, audit: audit, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// SaveTo lets the Service save audiences in defs.
func (s *Service) SaveTo(defs kith.AudienceStore) { s.defs = defs }

// ReadComputed lets expressions read the computed traits of set.
func (s *Service) ReadComputed(set *computed.Set) { s.traits = set }

// Validate type-checks an expression, and checks that the computed traits
// it reads are defined.
func (s *Service) Validate(src string) (*Expression, error) {
	if s.traits == nil {
		return Compile(src)
	}
	return CompileWith(src, s.traits.Has)
}

// windowed reports whether a computed trait looks back over a window.
func (s *Service) windowed(name string) bool {
	if s.traits == nil {
		return false
	}
	d := s.traits.Def(name)
	return d == nil || d.Windowed() // an unknown one may be defined later: assume the worst
}

// Member is a sample member of a preview.
type Member struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Preview is who matches an expression now.
type Preview struct {
	Expression string   `json:"expression"`
	Count      int      `json:"count"`
	Scanned    int      `json:"scanned"`
	Sample     []Member `json:"sample"`
	// Errors counts profiles the expression failed on at run time (a trait
	// of an unexpected type); FirstError says why.
	Errors     int     `json:"errors,omitempty"`
	FirstError string  `json:"first_error,omitempty"`
	TookMS     float64 `json:"took_ms"`
}

// Preview compiles an expression and counts the current profiles it
// matches, with up to sample of them (names only for an actor who may see
// personal data). The sample's profiles are recorded as found by a search.
func (s *Service) Preview(ctx context.Context, src string, sample int, name func(*kith.Profile) string) (*Preview, error) {
	x, err := s.Validate(src)
	if err != nil {
		return nil, err
	}
	a, _ := kith.ActorFrom(ctx)
	start := time.Now()
	out := &Preview{Expression: x.Source, Sample: []Member{}}
	err = s.scan(ctx, x, "", a.PII && name != nil, func(p *kith.Profile, in bool, merr error) bool {
		out.Scanned++
		switch {
		case merr != nil:
			out.Errors++
			if out.FirstError == "" {
				out.FirstError = fmt.Sprintf("profile %s: %s", p.ID, firstLine(merr.Error()))
			}
		case in:
			out.Count++
			if len(out.Sample) < sample {
				m := Member{ID: p.ID}
				if a.PII && name != nil {
					m.Name = name(p)
				}
				out.Sample = append(out.Sample, m)
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out.TookMS = float64(time.Since(start).Microseconds()) / 1000
	if err := s.recordFound(ctx, a, out.Sample, "audience preview "+x.Source); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) person(ctx context.Context, p *kith.Profile, now time.Time, withIDs bool) (*Person, error) {
	person := s.personOf(p, now)
	if withIDs {
		if err := s.identify(ctx, p.ID, person); err != nil {
			return nil, err
		}
	}
	return person, nil
}

// personOf is what expressions see of a profile at now, but for its
// identifiers. It reads p and keeps nothing of it: the Person is its own.
func (s *Service) personOf(p *kith.Profile, now time.Time) *Person {
	var stage, tier string
	if s.assess != nil {
		stage, tier = s.assess(p)
	}
	var intents map[string]float64
	if s.intents != nil {
		intents = s.intents(p, now)
	}
	person := PersonOf(p, intents, stage, tier, now)
	if s.traits != nil {
		person.Computed = s.traits.Values(p, now)
	}
	return person
}

// identify adds a profile's identifiers to its person.
func (s *Service) identify(ctx context.Context, profileID string, person *Person) error {
	links, err := s.store.Links(ctx, profileID)
	if err != nil {
		return err
	}
	if person.Identifiers == nil {
		person.Identifiers = map[string][]string{}
	}
	for _, l := range links {
		person.Identifiers[l.Type] = append(person.Identifiers[l.Type], l.Value)
	}
	return nil
}
