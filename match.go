package kith

import (
	"context"
	"encoding/json"
	"time"
)

// Match pair statuses: what became of two profiles the probabilistic
// matcher found alike.
const (
	MatchPending  = "pending"  // in the review queue: a data steward decides
	MatchMerged   = "merged"   // merged, automatically or accepted by a steward
	MatchRejected = "rejected" // a steward said they are two people; never proposed again
	MatchUndone   = "undone"   // the merge was undone; never proposed again
	MatchRefused  = "refused"  // the merge rules kept them apart (a unique conflict, a household)
)

// EventProfilesMatched is the track event from Kith's matching source that
// merges two profiles the matcher found to be one person: it carries an
// identifier of each, so identity resolution merges them under its usual
// rules, and the evidence in its properties.
const EventProfilesMatched = "Profiles Matched"

// Audit actions of the review queue.
const (
	AuditMatchAccept = "match.accept" // a steward accepted a proposed match, merging the profiles
	AuditMatchReject = "match.reject" // a steward rejected a proposed match
)

// MatchPair is two profiles the probabilistic matcher scored, with the
// evidence and what became of them. One pair of profiles has one MatchPair,
// whatever happens later: a decision is remembered.
type MatchPair struct {
	ID          string          `json:"id"`
	Left        string          `json:"left"` // profile ids, Left < Right
	Right       string          `json:"right"`
	Probability float64         `json:"probability"`
	Evidence    json.RawMessage `json:"evidence"` // each field's level and weight, as the matcher gave them
	Status      string          `json:"status"`
	Reason      string          `json:"reason,omitempty"` // why it is in its status, in words
	CreatedAt   time.Time       `json:"created_at"`
	DecidedAt   time.Time       `json:"decided_at,omitzero"`
	DecidedBy   string          `json:"decided_by,omitempty"`  // a steward, or "kith-match" for automatic merges
	MergeEvent  string          `json:"merge_event,omitempty"` // the messageId of the event that merged them
}

// MatchStore keeps the pairs the matcher proposed and the decisions on them.
type MatchStore interface {
	// AddMatchPair stores a pair unless one with its ID exists; it returns
	// the stored pair and whether it is new.
	AddMatchPair(ctx context.Context, p *MatchPair) (*MatchPair, bool, error)
	// MatchPair returns one pair; ENOTFOUND when none.
	MatchPair(ctx context.Context, id string) (*MatchPair, error)
	// MatchPairs returns the pairs in a status ("" for all), most probable
	// first, at most limit.
	MatchPairs(ctx context.Context, status string, limit int) ([]MatchPair, error)
	// DecideMatchPair moves a pair from one status to another, recording
	// who, when, why and the merge event; ECONFLICT (with the pair as it is)
	// when it is not in status from, so two stewards cannot both decide.
	DecideMatchPair(ctx context.Context, id, from string, p MatchPair) (*MatchPair, error)
}
