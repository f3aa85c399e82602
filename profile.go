package kith

import (
	"context"
	"encoding/json"
	"time"
)

// Identifier types that Kith extracts from every event. Custom types (such
// as loyalty_id or wechat_openid) are named in configuration.
const (
	IDUserID      = "user_id"
	IDAnonymousID = "anonymous_id"
	IDEmail       = "email"
	IDPhone       = "phone"
	IDDeviceID    = "device_id"
)

// Identifier is a typed, normalised key of a person.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func (id Identifier) String() string { return id.Type + ":" + id.Value }

// Profile is one person as Kith knows them: traits with provenance, where
// they have been seen, and what they are trying to do now.
type Profile struct {
	ID         string
	CreatedSeq int64 // the event that created the profile
	CreatedAt  time.Time
	UpdatedAt  time.Time
	MergedInto string // set on a profile absorbed by a merge: the survivor
	Traits     map[string]Trait
	Channels   map[Kind]*ChannelSeen
	Intents    map[string]*Intent
	Events     int      // events on the timeline
	SearchKeys []string // lower-cased names the profile is found by ("ann lee", "lee ann")
	// Purchases are the orders the person completed, oldest first: the
	// transactions the lifetime-value models read.
	Purchases []Purchase
	// Lifecycle is the person's stage, as the last stage change event
	// said (zero before any).
	Lifecycle Lifecycle
	// Computed holds each computed trait's running state, by name (nil
	// when none); package computed gives their values.
	Computed map[string]*Aggregate
}

// Purchase is one completed order.
type Purchase struct {
	At       time.Time `json:"at"`
	Amount   float64   `json:"amount"`
	Currency string    `json:"currency,omitempty"`
	OrderID  string    `json:"order_id,omitempty"` // repeats of one order id count once
	SourceID string    `json:"source"`
	Channel  Kind      `json:"channel"`
	Seq      int64     `json:"seq"`
}

// Lifecycle stages, from first contact to winning a customer back.
const (
	StageProspect = "prospect" // known, never bought
	StageNew      = "new"      // first purchase lately, no repeat yet
	StageActive   = "active"   // buying, and likely to go on
	StageAtRisk   = "at_risk"  // drifting away: act now
	StageLapsed   = "lapsed"   // gone quiet for long
	StageWonBack  = "won_back" // bought again after lapsing
)

// EventStageChanged is the track event that records a move to another
// lifecycle stage, with properties from, to and reason. Profiles heed it
// only from the lifecycle source.
const EventStageChanged = "Lifecycle Stage Changed"

// Current is the stage: a person no stage change has moved is a prospect.
func (l Lifecycle) Current() string {
	if l.Stage == "" {
		return StageProspect
	}
	return l.Stage
}

// Lifecycle is where a person stands, since when, and the stage before.
type Lifecycle struct {
	Stage    string    `json:"stage"`
	Since    time.Time `json:"since"`
	Previous string    `json:"previous,omitempty"`
	Seq      int64     `json:"seq"` // the stage change event's
}

// Trait is one trait's value with where and when it was said. When two
// events disagree, the newer event time wins, not the later arrival.
type Trait struct {
	Value    json.RawMessage `json:"value"`
	SourceID string          `json:"source"`
	Channel  Kind            `json:"channel"`
	Time     time.Time       `json:"time"`
	Seq      int64           `json:"seq"`
}

// ChannelSeen says when a person was first and last seen on a channel.
type ChannelSeen struct {
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Events int       `json:"events"`
}

// Intent is a topic a person is showing interest in. Its strength decays
// exponentially: Score is the strength at time At.
type Intent struct {
	Score   float64   `json:"score"`
	At      time.Time `json:"at"`
	Channel Kind      `json:"channel"` // where the latest signal came from
	Last    time.Time `json:"last"`    // when the latest signal happened
}

// Membership is one profile as a service acting for the person sees it:
// the current profile it is part of (itself, or the survivor it was merged
// into), the profiles merged into that one, and the current one's
// identifiers.
type Membership struct {
	Current  string
	Absorbed []string
	Links    []Link
}

// Link records why an identifier belongs to a profile: the event that said so.
type Link struct {
	Identifier
	ProfileID string
	Seq       int64 // the event that linked it
	MessageID string
	SourceID  string
	At        time.Time // the event's time
}

// Merge records that one event joined two profiles into one.
type Merge struct {
	ID        string
	Survivor  string
	Absorbed  string
	Seq       int64  // the event whose identifiers linked the two
	MessageID string //
	Reason    string // which identifiers linked them
	At        time.Time
	UndoneAt  time.Time
}

// Conflict records an event whose identifiers pointed at profiles that the
// merge rules kept apart.
type Conflict struct {
	Seq       int64
	MessageID string
	Profiles  []string
	Reason    string
	At        time.Time
}

// Timeline entry: an event on a profile's timeline, with warnings raised
// while processing it.
type TimelineEvent struct {
	Event
	ProfileID string
	Warnings  []string
}

// ProfileTx is what the profile processor needs from a store inside one
// transaction. Stores implement it; the rules live in the domain packages.
type ProfileTx interface {
	// ProfilesFor returns the ids of the current (not absorbed) profiles
	// that hold each identifier.
	ProfilesFor(ctx context.Context, ids []Identifier) (map[Identifier][]string, error)
	// Identifiers returns the identifiers a profile holds.
	Identifiers(ctx context.Context, profileID string) ([]Identifier, error)
	// Profile loads a profile, absorbed or not; ENOTFOUND if none.
	Profile(ctx context.Context, id string) (*Profile, error)
	// PutProfile inserts or replaces a profile.
	PutProfile(ctx context.Context, p *Profile) error
	// AddLink attaches an identifier to a profile; linking one already held is a no-op.
	AddLink(ctx context.Context, l Link) error
	// AddTimeline puts an event on a profile's timeline.
	AddTimeline(ctx context.Context, profileID string, e *Event, warnings []string) error
	// Absorb moves every identifier and timeline entry of m.Absorbed to
	// m.Survivor, marks the absorbed profile merged and records m.
	Absorb(ctx context.Context, m Merge) error
	// AddConflict records a conflict; recording the same one twice is a no-op.
	AddConflict(ctx context.Context, c Conflict) error
	// Cursor returns the named processor cursor as this transaction sees it
	// (0 if never moved): read under the transaction's write lock, so a
	// processor can refuse a batch another one already applied.
	Cursor(ctx context.Context, name string) (int64, error)
	// DoNotLink reports whether a rule keeps the two profiles apart: a rule
	// between any profile merged into a (or a) and any merged into b (or b).
	DoNotLink(ctx context.Context, a, b string) (bool, error)

	// For undoing a merge:

	// Merge returns a merge by id; ENOTFOUND if none.
	Merge(ctx context.Context, id string) (*Merge, error)
	// Cluster returns the current profile root and every profile merged into it.
	Cluster(ctx context.Context, root string) ([]*Profile, error)
	// ClusterMerges returns the merges, not undone, whose survivor is in the cluster of root.
	ClusterMerges(ctx context.Context, root string) ([]Merge, error)
	// TimelineEvents returns every event on a profile's timeline, in log order.
	TimelineEvents(ctx context.Context, profileID string) ([]Event, error)
	// DeleteProfiles removes profiles with their identifiers, timeline
	// entries and the merges, not undone, that absorbed them.
	DeleteProfiles(ctx context.Context, ids []string) error
	// AddDoNotLink records that two profiles must not be merged again.
	AddDoNotLink(ctx context.Context, a, b, mergeID string, at time.Time) error
	// MarkMergeUndone records when a merge was undone.
	MarkMergeUndone(ctx context.Context, id string, at time.Time) error

	// For erasing a person:

	// EraseProfiles removes profiles and everything the identity graph
	// holds of them: identifiers, timeline entries, conflicts, every merge
	// and do-not-link rule either side of which is one of them. It returns
	// what it removed, with the log positions of the timelines' events.
	EraseProfiles(ctx context.Context, ids []string) (ErasedProfiles, error)
}

// TimelineCursor is a position in a timeline, which runs newest event time
// first: a page continues with the events before (Time, Seq).
type TimelineCursor struct {
	Time time.Time
	Seq  int64
}
