package kith

import (
	"context"
	"time"
)

// Erasure states.
const (
	ErasurePending = "pending" // begun, not yet finished: resumed until it is
	ErasureDone    = "done"
)

// Erasure is what is left of a person who asked to be forgotten: that it
// happened, when, at whose request and how much was removed. It holds the
// profile ids the person had (random, meaningless once their rows are
// gone) and nothing else about them.
type Erasure struct {
	ID          string        `json:"id"`
	Profiles    []string      `json:"profiles"` // the person's profile ids: the current one first, then those merged into it
	State       string        `json:"state"`
	Reason      string        `json:"reason,omitempty"` // e.g. a ticket number; never personal data
	By          string        `json:"by"`               // the actor who asked
	RequestedAt time.Time     `json:"requested_at"`
	CompletedAt time.Time     `json:"completed_at,omitzero"`
	Removed     ErasureCounts `json:"removed"`
}

// ErasureCounts says how much of a person an erasure removed.
type ErasureCounts struct {
	Profiles      int `json:"profiles"`
	Identifiers   int `json:"identifiers"`
	Events        int `json:"events"` // rows of the log
	Consents      int `json:"consents"`
	ContactPoints int `json:"contact_points"`
	Relationships int `json:"relationships"`
	Memberships   int `json:"memberships"`
	Matches       int `json:"matches"` // candidate pairs of the probabilistic matcher
	// Grants counts the offers granted to the person: removed when never
	// redeemed, kept without the person when redeemed (the ledger's
	// account of what was given).
	Grants int `json:"grants"`
	// AuditRedacted counts audit records about the person whose detail
	// (an identifier looked up, a search typed) was replaced.
	AuditRedacted int `json:"audit_redacted"`
}

// Add adds o to c.
func (c *ErasureCounts) Add(o ErasureCounts) {
	c.Profiles += o.Profiles
	c.Identifiers += o.Identifiers
	c.Events += o.Events
	c.Consents += o.Consents
	c.ContactPoints += o.ContactPoints
	c.Relationships += o.Relationships
	c.Memberships += o.Memberships
	c.Matches += o.Matches
	c.Grants += o.Grants
	c.AuditRedacted += o.AuditRedacted
}

// ErasedProfiles is what ProfileTx.EraseProfiles removed.
type ErasedProfiles struct {
	Profiles    int
	Identifiers int
	// Seqs are the log positions of the events on the removed timelines:
	// the rows of the log that must go with them.
	Seqs []int64
}

// ErasureStore keeps erasures and removes, from the primary data, what
// is held about a person.
type ErasureStore interface {
	// PutErasure stores an erasure, replacing the one with its ID.
	PutErasure(ctx context.Context, e Erasure) error
	// Erasure returns one; ENOTFOUND if none.
	Erasure(ctx context.Context, id string) (*Erasure, error)
	// Erasures returns those requested at or after since, oldest first,
	// at most limit (0: all).
	Erasures(ctx context.Context, since time.Time, limit int) ([]Erasure, error)
	// ErasePrimary removes every row of the primary data about the
	// profiles, and the log's events at seqs (the newest event of the log
	// may stay as an empty placeholder from ErasedSource: a position is
	// never reused): consent decisions, contact
	// points, relationships (either end), preference-link revocations,
	// audience memberships, match candidates, offer grants (kept without
	// the person once redeemed) and ledger events waiting in the outbox
	// that name them. Running it again removes nothing more.
	ErasePrimary(ctx context.Context, profileIDs []string, seqs []int64) (ErasureCounts, error)
}

// AuditRedactor is an optional interface of an AuditLog: it replaces the
// detail of the records about some targets, the one change an audit log
// allows, so that what an erased person was looked up by is not kept.
type AuditRedactor interface {
	RedactAudit(ctx context.Context, targets []string, detail string) (int, error)
}

// ErasedSource is the source of a placeholder left in the log where an
// erased person's event was the newest: an empty event that keeps its
// position, so that the position is never given to another. Whoever reads
// the log skips it.
const ErasedSource = "erased"

// ErasedProfile stands for an erased person where a record must outlive
// them (a redeemed grant in the offer ledger).
const ErasedProfile = "erased"
