// Package erasure forgets a person who asks to be forgotten: their
// profiles, identifiers, events and everything derived from them, in the
// store and in every node's memory, leaving only a record that it happened.
//
// An erasure runs in steps, each idempotent, so one interrupted anywhere is
// finished by running it again (Resume does, for those left pending):
//
//  1. The erasure is recorded as pending, naming the person's profile ids.
//  2. Kith waits until the processor has applied every event accepted
//     before the request, so none of the person's arrives after the rest
//     is gone.
//  3. As the processor's one writer, the identity graph's rows (profiles,
//     identifiers, timelines, merges, conflicts, do-not-link rules) are
//     removed in one transaction, inside which the log's rows of the
//     timelines' events and the primary data (consent, contact points,
//     relationships, memberships, match candidates, grants) are removed
//     first: if that fails, the profiles stay and the erasure can be run
//     again.
//  4. This node's caches forget the profiles; other nodes read the
//     erasure record and forget them within seconds (Run).
//  5. The audit trail's details about the person (an identifier looked
//     up, a search typed) are replaced, and the erasure is recorded done,
//     with counts, and audited.
//
// Events that arrive after the erasure make a new profile: Kith does not
// keep the identifiers it was asked to forget in order to refuse them.
package erasure

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kithhq/kith"
)

// Processor is the profile processor: the one writer of profiles.
type Processor interface {
	// Erase removes profiles as the processor's one writer; then runs in
	// the same transaction, before it commits.
	Erase(ctx context.Context, ids []string, then func(ctx context.Context, erased kith.ErasedProfiles) error) (kith.ErasedProfiles, error)
	// Applied is the position in the log up to which every event is applied.
	Applied(ctx context.Context) (int64, error)
}

// People finds the profiles that are one person.
type People interface {
	// Members returns the current profile of id and those merged into it.
	Members(ctx context.Context, id string) (current string, absorbed []string, err error)
}

// Log is the position of the log's newest event.
type Log interface {
	LastSeq(ctx context.Context) (int64, error)
}

// Forgetter is anything that keeps profiles in memory: the matcher's
// index, the membership cache. Forget drops them.
type Forgetter interface {
	Forget(ids []string)
}

// Config tunes the service. The zero value is the default.
type Config struct {
	// CatchUp bounds the wait for the processor to apply the events
	// accepted before a request (default 30 s).
	CatchUp time.Duration
	// Poll is how often Run looks for erasures made on other nodes and
	// for pending ones to resume (default 2 s).
	Poll time.Duration
}

// Service erases people.
type Service struct {
	store  kith.ErasureStore
	proc   Processor
	people People
	log    Log
	audit  kith.AuditLog
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	mu     sync.Mutex // one erasure at a time on this node
	forget []Forgetter

	seenMu sync.Mutex
	seen   map[string]time.Time // erasures whose profiles this node has forgotten, by request time
	swept  map[string]bool      // erasures this node has swept again for stragglers
	// since is where Resume reads erasures from: the oldest pending one,
	// or 11 minutes before the newest seen (zero: everything, at start).
	since time.Time
}

// New returns an erasure service. audit may be nil in tests.
func New(store kith.ErasureStore, proc Processor, people People, log Log, audit kith.AuditLog, cfg Config, logger *slog.Logger) *Service {
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{store: store, proc: proc, people: people, log: log, audit: audit, cfg: cfg, logger: logger,
		now: time.Now, seen: map[string]time.Time{}, swept: map[string]bool{}}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Forgets adds caches that must forget erased profiles.
func (s *Service) Forgets(fs ...Forgetter) {
	for _, f := range fs {
		if f != nil {
			s.forget = append(s.forget, f)
		}
	}
}

// Redacted is what an audit record's detail becomes once the person it was
// about is erased.
func Redacted(erasureID string) string { return "redacted: person erased (" + erasureID + ")" }

// Erase forgets the person profileID is one of. reason is kept with the
// record (a ticket number, never personal data). It returns the finished
// erasure; ENOTFOUND if no such profile.
func (s *Service) Erase(ctx context.Context, profileID, reason string) (*kith.Erasure, error) {
	if profileID == "" {
		return nil, kith.Invalid("profile", "name the profile to erase")
	}
	if n := utf8.RuneCountInString(reason); n > 500 {
		return nil, kith.Invalid("reason", "a reason is at most 500 characters (%d given)", n)
	}
	cur, absorbed, err := s.people.Members(ctx, profileID)
	if err != nil {
		return nil, err
	}
	a, _ := kith.ActorFrom(ctx)
	e := kith.Erasure{ID: newID(), Profiles: append([]string{cur}, absorbed...), State: kith.ErasurePending,
		Reason: reason, By: a.String(), RequestedAt: s.now().UTC()}
	if err := s.store.PutErasure(ctx, e); err != nil {
		return nil, err
	}
	if err := s.run(ctx, &e); err != nil {
		return nil, fmt.Errorf("erasure %s is recorded and not finished (run it again, or it resumes on its own): %w", e.ID, err)
	}
	return &e, nil
}

// run does the steps of an erasure recorded pending, and records it done.
func (s *Service) run(ctx context.Context, e *kith.Erasure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	var removed kith.ErasureCounts
	erased, err := s.proc.Erase(ctx, e.Profiles, func(ctx context.Context, ep kith.ErasedProfiles) error {
		c, err := s.store.ErasePrimary(ctx, e.Profiles, ep.Seqs)
		removed = c // a transaction run again counts again from nothing
		return err
	})
	if err != nil {
		return err
	}
	removed.Profiles, removed.Identifiers = erased.Profiles, erased.Identifiers
	s.forgetLocal(e)
	if r, ok := s.audit.(kith.AuditRedactor); ok {
		n, err := r.RedactAudit(ctx, e.Profiles, Redacted(e.ID))
		if err != nil {
			return err
		}
		removed.AuditRedacted = n
	}
	e.Removed.Add(removed)
	e.State, e.CompletedAt = kith.ErasureDone, s.now().UTC()
	if err := s.store.PutErasure(ctx, *e); err != nil {
		return err
	}
	if s.audit != nil {
		a, ok := kith.ActorFrom(ctx)
		if !ok {
			a = kith.Actor{Kind: kith.ActorSystem, Via: "erasure"}
		}
		c := e.Removed
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditProfileErase, Target: e.Profiles[0],
			Detail: fmt.Sprintf("erasure %s: %d profiles, %d identifiers, %d events, %d consents, %d contact points, %d grants",
				e.ID, c.Profiles, c.Identifiers, c.Events, c.Consents, c.ContactPoints, c.Grants)}); err != nil {
			return err
		}
	}
	s.logger.Info("person erased", "erasure", e.ID, "profiles", len(e.Profiles), "events", e.Removed.Events)
	return nil
}

// catchUp waits until the processor has applied every event in the log
// now, so none of the person's is applied after they are gone.
func (s *Service) catchUp(ctx context.Context) error {
	head, err := s.log.LastSeq(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.cfg.CatchUp)
	for wait := time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		applied, err := s.proc.Applied(ctx)
		if err != nil {
			return err
		}
		if applied >= head {
			return nil
		}
		if time.Now().After(deadline) {
			return kith.Errorf(kith.EUNAVAILABLE, "the profile processor is %d events behind the log and did not catch up within %s; erase again when it has",
				head-applied, s.cfg.CatchUp)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// forgetLocal makes this node's caches forget an erasure's profiles.
func (s *Service) forgetLocal(e *kith.Erasure) {
	for _, f := range s.forget {
		f.Forget(e.Profiles)
	}
	s.seenMu.Lock()
	s.seen[e.ID] = e.RequestedAt
	s.seenMu.Unlock()
}

// Get returns an erasure by id.
func (s *Service) Get(ctx context.Context, id string) (*kith.Erasure, error) {
	return s.store.Erasure(ctx, id)
}

// List returns the erasures requested since a time, oldest first.
func (s *Service) List(ctx context.Context, since time.Time, limit int) ([]kith.Erasure, error) {
	return s.store.Erasures(ctx, since, limit)
}

// Resume finishes the erasures left pending longer than a minute (their
// node stopped half-way, or their request failed) and makes this node's
// caches forget what other nodes erased. Run calls it; it returns the
// erasures it finished.
func (s *Service) Resume(ctx context.Context) (int, error) {
	s.seenMu.Lock()
	since := s.since
	s.seenMu.Unlock()
	es, err := s.store.Erasures(ctx, since, 0)
	if err != nil {
		return 0, err
	}
	done := 0
	var errs []error
	next := time.Time{}
	for i := range es {
		e := &es[i]
		s.seenMu.Lock()
		_, seen := s.seen[e.ID]
		s.seenMu.Unlock()
		if e.State == kith.ErasurePending {
			if s.now().Sub(e.RequestedAt) <= time.Minute {
				if next.IsZero() {
					next = e.RequestedAt // still running somewhere: look again
				}
				continue
			}
			if err := s.run(ctx, e); err != nil {
				errs = append(errs, fmt.Errorf("resume erasure %s: %w", e.ID, err))
				if next.IsZero() {
					next = e.RequestedAt
				}
				continue
			}
			done++
		} else {
			if !seen {
				s.forgetLocal(e)
			}
			if err := s.sweep(ctx, e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if next.IsZero() && len(es) > 0 {
		next = es[len(es)-1].RequestedAt.Add(-11 * time.Minute) // the sweep's window, and clocks a little apart
	}
	if !next.IsZero() && next.After(s.since) {
		s.since = next
	}
	for id, at := range s.seen {
		if at.Before(s.since) {
			delete(s.seen, id)
			delete(s.swept, id)
		}
	}
	return done, errors.Join(errs...)
}

// sweep removes, once, what work in flight when an erasure ran wrote of
// the person after it (a membership an evaluation begun before recorded, a
// match proposed): from 10 seconds to 10 minutes after it completed.
func (s *Service) sweep(ctx context.Context, e *kith.Erasure) error {
	age := s.now().Sub(e.CompletedAt)
	s.seenMu.Lock()
	done := s.swept[e.ID]
	s.seenMu.Unlock()
	if done || age < 10*time.Second || age > 10*time.Minute {
		return nil
	}
	c, err := s.store.ErasePrimary(ctx, e.Profiles, nil)
	if err != nil {
		return fmt.Errorf("sweep after erasure %s: %w", e.ID, err)
	}
	s.seenMu.Lock()
	s.swept[e.ID] = true
	s.seenMu.Unlock()
	if c != (kith.ErasureCounts{}) {
		s.logger.Warn("erasure: removed what was written of the person while it ran", "erasure", e.ID, "removed", fmt.Sprintf("%+v", c))
	}
	return nil
}

// Run resumes and follows erasures every Config.Poll until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		if n, err := s.Resume(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("erasures", "err", err)
		} else if n > 0 {
			s.logger.Info("erasures resumed", "finished", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "era_" + strings.ToLower(idEncoding.EncodeToString(b))
}
