package kith

import (
	"context"
	"time"
)

// AudienceDef is a saved audience: a name and the expression that says who
// is in it (see package audience for the language).
type AudienceDef struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Expression string    `json:"expression"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"`
}

// Audit actions of audiences.
const (
	AuditAudienceCreate = "audience.create" // an audience was saved
	AuditAudienceExport = "audience.export" // an audience's members were exported
)

// Membership transitions, as SetMemberships reports them.
type MembershipChange struct {
	Audience string    `json:"audience"`
	Entered  bool      `json:"entered"` // false: left
	Since    time.Time `json:"since"`   // when the membership that began or ended began
}

// AudienceSize is an audience's size at a moment: one point of its history.
type AudienceSize struct {
	At   time.Time `json:"at"`
	Size int       `json:"size"`
}

// EventAudienceEntered and EventAudienceExited are the track events from
// Kith's audiences source that say a person entered or left an audience.
const (
	EventAudienceEntered = "Audience Entered"
	EventAudienceExited  = "Audience Exited"
)

// AudienceStore keeps saved audiences and who is in them.
type AudienceStore interface {
	// CreateAudience stores a new audience; ECONFLICT when its name is taken.
	CreateAudience(ctx context.Context, a *AudienceDef) error
	// AudienceByID returns one audience; ENOTFOUND when none.
	AudienceByID(ctx context.Context, id string) (*AudienceDef, error)
	// Audiences returns every audience, by name.
	Audiences(ctx context.Context) ([]AudienceDef, error)
	// SetMemberships records, atomically, whether a profile is in each of
	// the given audiences now (in[id]), and returns only what changed:
	// entering where it was not a member, leaving where it was. Two
	// evaluators recording the same change see it reported to one of them.
	SetMemberships(ctx context.Context, profileID string, in map[string]bool, at time.Time) ([]MembershipChange, error)
	// SetMembershipsMany is SetMemberships of many profiles
	// (in[profile][audience]) in one transaction; it returns each
	// profile's changes, absent when none.
	SetMembershipsMany(ctx context.Context, in map[string]map[string]bool, at time.Time) (map[string][]MembershipChange, error)
	// MembershipsOf returns the audiences a profile is in, by id.
	MembershipsOf(ctx context.Context, profileID string) ([]string, error)
	// MembershipsOfMany returns the audiences each profile is in, by id;
	// a profile in none is absent.
	MembershipsOfMany(ctx context.Context, profileIDs []string) (map[string][]string, error)
	// AudienceSize counts an audience's members.
	AudienceSize(ctx context.Context, id string) (int, error)
	// RecordAudienceSizes records the size of each audience (sizes[id]) at
	// a moment. A size already recorded for an audience at that moment is
	// kept: recording again, from this node or another, changes nothing.
	RecordAudienceSizes(ctx context.Context, at time.Time, sizes map[string]int) error
	// AudienceSizes returns an audience's recorded sizes at or after
	// since, oldest first; none for an audience without history.
	AudienceSizes(ctx context.Context, id string, since time.Time) ([]AudienceSize, error)
}
