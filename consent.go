package kith

import (
	"context"
	"time"
)

// Purposes a message to a person serves. Consent is given or refused per
// purpose and channel.
const (
	PurposeMarketing = "marketing" // offers, newsletters, campaigns
	PurposeService   = "service"   // about what the person has: orders, bills, appointments
	PurposeAlerts    = "alerts"    // security and fraud alerts, outages
)

// Purposes lists them.
var Purposes = []string{PurposeMarketing, PurposeService, PurposeAlerts}

// Contact channels: how a message reaches a person.
const (
	ContactEmail = "email"
	ContactSMS   = "sms"
	ContactPush  = "push"
	ContactPhone = "phone"
	ContactPost  = "post"
	ContactChat  = "chat"
)

// ContactChannels lists them.
var ContactChannels = []string{ContactEmail, ContactSMS, ContactPush, ContactPhone, ContactPost, ContactChat}

// Consent states.
const (
	ConsentOptedIn  = "opted_in"
	ConsentOptedOut = "opted_out"
	ConsentUnset    = "unset" // a choice withdrawn back to the default
)

// Contact point statuses.
const (
	ContactVerified    = "verified"
	ContactUnverified  = "unverified"
	ContactBounced     = "bounced"     // a hard bounce: no marketing
	ContactUnreachable = "unreachable" // a STOP reply, a dead number: no marketing
)

// ContactPoint is an address a person can be reached at on a channel. It
// is not an identifier: the same number on two people's contact points
// never links them.
type ContactPoint struct {
	ProfileID string    `json:"profile_id"`
	Channel   string    `json:"channel"` // a Contact* channel
	Address   string    `json:"address"` // normalised: e-mail lower-cased, phone E.164
	Status    string    `json:"status"`
	Label     string    `json:"label,omitempty"` // "mobile", "work"
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	Reason    string    `json:"reason,omitempty"` // why the status is what it is ("hard bounce", "STOP reply")
}

// ConsentRecord is one consent decision, kept for ever: a later one
// supersedes it (by DecidedAt, then RecordedAt) but never overwrites it.
type ConsentRecord struct {
	ID        string `json:"id"`
	ProfileID string `json:"profile_id"`
	Purpose   string `json:"purpose"`
	Channel   string `json:"channel"`
	// Address narrows the decision to one contact point; empty for every
	// contact point of the channel.
	Address string `json:"address,omitempty"`
	State   string `json:"state"`
	// Basis is the legal basis: consent, contract, legitimate_interest,
	// legal_obligation.
	Basis string `json:"basis,omitempty"`
	// DecidedAt is when the person decided; conflicts resolve by it.
	DecidedAt  time.Time `json:"decided_at"`
	RecordedAt time.Time `json:"recorded_at"`
	// Via is how the decision reached Kith: api, console, call_center,
	// preference_centre, event, import.
	Via     string `json:"via"`
	Actor   string `json:"actor,omitempty"`   // who recorded it: the customer, an agent, a key
	Wording string `json:"wording,omitempty"` // what the person agreed to
}

// Kinds of relationship between two people.
const (
	RelationParent   = "parent"   // From is To's parent
	RelationGuardian = "guardian" // From is To's legal guardian
	RelationPartner  = "partner"
)

// Relationship ties two profiles of one household. Like a contact point,
// it never links their identities.
type Relationship struct {
	From      string `json:"from"` // profile ids
	To        string `json:"to"`
	Kind      string `json:"kind"`
	Household string `json:"household,omitempty"` // a name both share, e.g. "Ramirez, 12 High St"
	// Recipient makes From the recipient of To's service and alert
	// messages (a guardian's phone for a minor's alerts).
	Recipient bool      `json:"recipient,omitempty"`
	Since     time.Time `json:"since"`
	By        string    `json:"by,omitempty"`
}

// ConsentStore keeps consent decisions, contact points and relationships:
// primary data, like merges and redemptions, that profiles do not derive.
type ConsentStore interface {
	// AppendConsents stores decisions; a record whose ID is held is kept
	// once.
	AppendConsents(ctx context.Context, recs ...ConsentRecord) error
	// Consents returns every decision about the given profiles, oldest
	// recorded first.
	Consents(ctx context.Context, profileIDs ...string) ([]ConsentRecord, error)
	// PutContactPoint stores a contact point, replacing the one of that
	// profile, channel and address, and in the same transaction appends
	// it to the contact point history.
	PutContactPoint(ctx context.Context, cp ContactPoint) error
	// ContactPoints returns the given profiles' contact points, by
	// profile, channel and address.
	ContactPoints(ctx context.Context, profileIDs ...string) ([]ContactPoint, error)
	// ContactPointHistory returns every contact point the given profiles
	// were ever given, as put, kept for ever: oldest UpdatedAt first (the
	// zero time before any other), ties in the order they were put. A
	// contact point's status at a time is the last of its entries updated
	// at or before it.
	ContactPointHistory(ctx context.Context, profileIDs ...string) ([]ContactPoint, error)
	// PutRelationship stores a relationship, replacing the one of the same
	// From, To and Kind.
	PutRelationship(ctx context.Context, r Relationship) error
	// DeleteRelationship removes one; ENOTFOUND when none.
	DeleteRelationship(ctx context.Context, from, to, kind string) error
	// Relationships returns every relationship either end of which is one
	// of the given profiles.
	Relationships(ctx context.Context, profileIDs ...string) ([]Relationship, error)

	// LinkKey returns the key that signs preference links, made once at
	// random and shared by every node.
	LinkKey(ctx context.Context) ([]byte, error)
	// RevokeLinks makes every preference link of a profile issued before
	// a time invalid; a later call with an earlier time changes nothing.
	RevokeLinks(ctx context.Context, profileID string, before time.Time) error
	// LinksRevokedBefore returns the time before which a profile's links
	// are invalid (zero: none revoked).
	LinksRevokedBefore(ctx context.Context, profileID string) (time.Time, error)
}
