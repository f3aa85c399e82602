package computed

import (
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/kithhq/kith"
)

// Set is the computed traits in force. The profile processor folds each
// event through it; definitions may be added while it runs. Its methods
// are safe for concurrent use; the profiles they are given are not shared.
type Set struct {
	mu      sync.RWMutex
	byName  map[string]*Def
	byEvent map[string][]*Def // track event name → definitions ("*" included in every list)
	any     []*Def
	now     func() time.Time
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{byName: map[string]*Def{}, byEvent: map[string][]*Def{}, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Set) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Now is the set's clock.
func (s *Set) Now() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.now()
}

// Put adds a definition, or replaces the one of that name.
func (s *Set) Put(d *Def) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byName[d.Name] = d
	s.index()
}

// Has reports whether a trait of that name is in force.
func (s *Set) Has(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.byName[name]
	return ok
}

func (s *Set) index() {
	s.byEvent, s.any = map[string][]*Def{}, nil
	for _, d := range s.sorted() {
		if d.Event == AnyEvent {
			s.any = append(s.any, d)
		}
	}
	for _, d := range s.sorted() {
		if d.Event != AnyEvent {
			s.byEvent[d.Event] = append(s.byEvent[d.Event], d)
		}
	}
}

func (s *Set) sorted() []*Def {
	out := make([]*Def, 0, len(s.byName))
	for _, d := range s.byName {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Defs returns the definitions in force, by name.
func (s *Set) Defs() []*Def {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sorted()
}

// Def returns one definition, or nil.
func (s *Set) Def(name string) *Def {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byName[name]
}

// Empty reports whether no computed trait is defined: the processor then
// skips the set altogether.
func (s *Set) Empty() bool {
	if s == nil {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byName) == 0
}

// Fold applies one event to p's computed traits and calls touched with the
// name of each one it changed. name is the track event's name ("" for
// other calls, which only "*" traits count).
func (s *Set) Fold(p *kith.Profile, e *kith.Event, name string, touched func(string)) {
	if s == nil {
		return
	}
	s.mu.RLock()
	defs, anyDefs, now := s.byEvent[name], s.any, s.now()
	s.mu.RUnlock()
	if e.Type != kith.TypeTrack {
		defs = nil
	}
	if len(defs) == 0 && len(anyDefs) == 0 {
		return
	}
	var props map[string]json.RawMessage
	decodedProps := false
	for _, list := range [][]*Def{defs, anyDefs} {
		for _, d := range list {
			if len(d.path) > 0 && !decodedProps {
				props, decodedProps = properties(e), true
			}
			if d.fold(p, e, props, now) && touched != nil {
				touched(d.Name)
			}
		}
	}
}

// fold observes an event, whose properties are props, in p's state of
// the trait; it reports whether the event counted.
func (d *Def) fold(p *kith.Profile, e *kith.Event, props map[string]json.RawMessage, now time.Time) bool {
	raw, f, ok := d.value(props)
	if !ok {
		return false
	}
	if p.Computed == nil {
		p.Computed = map[string]*kith.Aggregate{}
	}
	a := p.Computed[d.Name]
	if a == nil {
		a = &kith.Aggregate{}
		p.Computed[d.Name] = a
	}
	d.observe(a, raw, f, e.Timestamp, e.Seq, now)
	return true
}

// properties decodes an event's properties.
func properties(e *kith.Event) map[string]json.RawMessage {
	var m struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(e.Payload, &m) // validated on ingestion; what does not decode is absent
	return m.Properties
}

// Absorb combines absorbed's computed traits into survivor's.
func Absorb(survivor, absorbed *kith.Profile) {
	for name, a := range absorbed.Computed {
		if survivor.Computed == nil {
			survivor.Computed = map[string]*kith.Aggregate{}
		}
		s := survivor.Computed[name]
		if s == nil {
			s = &kith.Aggregate{}
			survivor.Computed[name] = s
		}
		merge(s, a)
	}
}

// Values returns every computed trait's value for p at now, by name.
func (s *Set) Values(p *kith.Profile, now time.Time) map[string]any {
	if s == nil {
		return map[string]any{}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]any, len(s.byName))
	for name, d := range s.byName {
		out[name] = d.Value(p.Computed[name], now)
	}
	return out
}

// Recompute rebuilds the named traits of p from its timeline's events,
// in log order, replacing what it held.
func (s *Set) Recompute(p *kith.Profile, events []kith.Event, names []string) {
	s.mu.RLock()
	now := s.now()
	var defs []*Def
	for _, n := range names {
		if d := s.byName[n]; d != nil {
			defs = append(defs, d)
		}
	}
	s.mu.RUnlock()
	for _, d := range defs {
		delete(p.Computed, d.Name)
	}
	for i := range events {
		e := &events[i]
		var name string
		var props map[string]json.RawMessage
		var m struct {
			Event      string                     `json:"event"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if json.Unmarshal(e.Payload, &m) == nil {
			name, props = m.Event, m.Properties
		}
		for _, d := range defs {
			if d.Event != AnyEvent && (e.Type != kith.TypeTrack || d.Event != name) {
				continue
			}
			d.fold(p, e, props, now)
		}
	}
}

// ValuesOf returns the values at now of the named computed traits that are
// defined, by name.
func (s *Set) ValuesOf(p *kith.Profile, now time.Time, names []string) map[string]any {
	out := make(map[string]any, len(names))
	if s == nil {
		return out
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, name := range names {
		if d := s.byName[name]; d != nil {
			out[name] = d.Value(p.Computed[name], now)
		}
	}
	return out
}
