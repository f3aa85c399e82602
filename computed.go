package kith

import (
	"context"
	"encoding/json"
	"time"
)

// ComputedTraitDef is a computed trait: an aggregate of a profile's events
// kept current as events arrive, such as the orders of the last 90 days,
// the total spent or the category viewed most often (see package computed).
type ComputedTraitDef struct {
	ID string `json:"id"`
	// Name is how audiences and profiles read it: computed.NAME.
	Name string `json:"name"`
	// Function is count, sum, avg, min, max, first, last or most_frequent.
	Function string `json:"function"`
	// Event is the track event it aggregates ("*": every event).
	Event string `json:"event"`
	// Property is the event property it aggregates, dotted for nested
	// objects ("revenue", "product.category"); count may leave it empty.
	Property string `json:"property,omitempty"`
	// Window is how far back it looks ("90d", "12h", "30m"); empty for
	// all time.
	Window    string    `json:"window,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Aggregate is one computed trait's running state for one profile: the
// parts of the aggregate by time bucket (a single part for all time), each
// combinable with the others, so that events may arrive in any order and
// merged profiles combine their states.
type Aggregate struct {
	Parts []AggregatePart `json:"parts"`
}

// AggregatePart aggregates the events of one time bucket (T, Unix
// seconds, its start; 0 for all time).
type AggregatePart struct {
	T     int64            `json:"t"`
	N     int64            `json:"n"`
	Sum   float64          `json:"sum,omitempty"`
	Min   *float64         `json:"min,omitempty"`
	Max   *float64         `json:"max,omitempty"`
	First *Observation     `json:"first,omitempty"`
	Last  *Observation     `json:"last,omitempty"`
	Freq  map[string]int64 `json:"freq,omitempty"` // a value's JSON → how often
}

// Observation is a value seen at an event.
type Observation struct {
	Value json.RawMessage `json:"v"`
	At    time.Time       `json:"at"`
	Seq   int64           `json:"seq"`
}

// Audit action of computed traits.
const AuditComputedCreate = "computed.create" // a computed trait was defined

// ComputedStore keeps computed traits' definitions; their states live in
// the profiles.
type ComputedStore interface {
	// CreateComputedTrait stores a new definition; ECONFLICT when its name
	// is taken.
	CreateComputedTrait(ctx context.Context, d *ComputedTraitDef) error
	// ComputedTraits returns every definition, by name.
	ComputedTraits(ctx context.Context) ([]ComputedTraitDef, error)
}
