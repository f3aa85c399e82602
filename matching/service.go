package matching

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/match"
)

// Reader is what the matcher reads of profiles.
type Reader interface {
	Profile(ctx context.Context, id string) (*kith.Profile, error)
	ScanProfiles(ctx context.Context, after string, limit int) ([]kith.Profile, error)
	Members(ctx context.Context, id string) (current string, absorbed []string, err error)
	Links(ctx context.Context, profileID string) ([]kith.Link, error)
	Merges(ctx context.Context, root string) ([]kith.Merge, error)
}

// Config tunes the matcher. The zero value is the default.
type Config struct {
	// Traits maps trait names to fields; nil means DefaultTraits.
	Traits map[string]match.Field
	// Auto and Review are the thresholds: at or above Auto two profiles
	// are merged, from Review up they are queued for a steward. Zero means
	// match.AutoMergeThreshold and match.ReviewThreshold.
	Auto, Review float64
	// Model, when set, is used instead of the embedded default.
	Model *match.Model
	// Source is Kith's own source the merge events are sent as.
	Source *kith.Source
}

// Service is the live matcher.
type Service struct {
	store  kith.MatchStore
	people Reader
	log    kith.EventLog
	audit  kith.AuditLog
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex // guards what follows: one Check at a time
	mt      *match.Matcher
	latest  map[string]int // profile id → its newest record in the index
	indexed map[string]match.Record

	described chan []string
	ready     chan struct{}
}

// New returns a matcher; Start builds its index.
func New(store kith.MatchStore, people Reader, log kith.EventLog, audit kith.AuditLog, cfg Config, logger *slog.Logger) (*Service, error) {
	if cfg.Traits == nil {
		cfg.Traits = DefaultTraits()
	}
	if cfg.Auto == 0 {
		cfg.Auto = match.AutoMergeThreshold
	}
	if cfg.Review == 0 {
		cfg.Review = match.ReviewThreshold
	}
	if cfg.Review > cfg.Auto {
		return nil, kith.Invalid("matching.review", "the review threshold (%g) is above the automatic one (%g)", cfg.Review, cfg.Auto)
	}
	if cfg.Model == nil {
		m, err := DefaultModel()
		if err != nil {
			return nil, err
		}
		cfg.Model = m
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{store: store, people: people, log: log, audit: audit, cfg: cfg, logger: logger, now: time.Now,
		latest: map[string]int{}, indexed: map[string]match.Record{},
		mt:        match.NewMatcher(cfg.Model, match.NewIndex(match.DefaultRules(), match.DefaultMaxBlock)),
		described: make(chan []string, 64), ready: make(chan struct{})}, nil
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Traits maps the trait names the matcher reads to its fields.
func (s *Service) Traits() map[string]match.Field { return s.cfg.Traits }

// Source is the source of the matcher's merge events.
func (s *Service) Source() *kith.Source { return s.cfg.Source }

// Start indexes every current profile's record, without scoring them: what
// was there before is matched as it changes, or by a batch run.
func (s *Service) Start(ctx context.Context) error {
	defer close(s.ready)
	n := 0
	for after := ""; ; {
		ps, err := s.people.ScanProfiles(ctx, after, 1000)
		if err != nil {
			return fmt.Errorf("index profiles for matching: %w", err)
		}
		if len(ps) == 0 {
			break
		}
		rs := make([]match.Record, 0, len(ps))
		for i := range ps {
			if r := Record(&ps[i], s.cfg.Traits); matchable(r) {
				rs = append(rs, r)
			}
		}
		s.Load(rs)
		n += len(rs)
		after = ps[len(ps)-1].ID
	}
	s.logger.Info("matching index ready", "records", n)
	return nil
}

// Load puts records in the index as they are, without scoring them: what
// Start does with the store's profiles (and a benchmark with generated ones).
func (s *Service) Load(rs []match.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rs {
		s.add(r)
	}
}

// add puts a record in the index as its profile's newest. s.mu is held.
func (s *Service) add(r match.Record) {
	s.latest[r.ID] = s.mt.Index().Add(r)
	s.indexed[r.ID] = match.Normalize(r)
}

// Forget drops erased profiles from the index: every record of theirs,
// so nothing the matcher reads of them stays in memory.
func (s *Service) Forget(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
		delete(s.latest, id)
		delete(s.indexed, id)
	}
	s.mt.Index().Forget(set)
}

// Described hands the matcher profiles that changed; it never blocks the
// processor: if the matcher is behind, the ids wait in a queue of batches.
func (s *Service) Described(ids []string) {
	if len(ids) == 0 {
		return
	}
	select {
	case s.described <- ids:
	default:
		s.logger.Warn("matching is behind; profiles changed in this batch are matched when they change again", "profiles", len(ids))
	}
}

// Run matches described profiles until ctx ends.
func (s *Service) Run(ctx context.Context) {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ids := <-s.described:
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					continue
				}
				seen[id] = true
				if _, err := s.Check(ctx, id); err != nil && ctx.Err() == nil {
					s.logger.Warn("match profile", "profile", id, "err", err)
				}
			}
		}
	}
}

// Check scores a profile against its candidates and acts on each pair:
// merge, queue for review or nothing. It returns the pairs it proposed or
// merged now.
func (s *Service) Check(ctx context.Context, id string) ([]kith.MatchPair, error) {
	cur, _, err := s.people.Members(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := s.people.Profile(ctx, cur)
	if err != nil {
		return nil, err
	}
	r := Record(p, s.cfg.Traits)
	if !matchable(r) {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.indexed[r.ID]; ok && prev == match.Normalize(r) {
		return nil, nil // nothing the matcher reads has changed
	}
	evs := s.mt.Score(r)
	s.add(r)
	var out []kith.MatchPair
	done := map[string]bool{}
	for _, ev := range evs {
		if ev.Probability < s.cfg.Review {
			break // sorted by weight: the rest score lower
		}
		other := s.mt.Index().Record(ev.Right).ID
		if other == "" || done[other] || s.latest[other] != ev.Right {
			continue // an older record of a profile that changed since
		}
		done[other] = true
		oc, _, err := s.people.Members(ctx, other)
		if err != nil || oc != other || oc == cur {
			continue // gone, or merged into someone (maybe this one)
		}
		pair, act, err := s.propose(ctx, cur, other, ev)
		if err != nil {
			return out, err
		}
		if act {
			out = append(out, *pair)
		}
	}
	return out, nil
}

// Evidence is a pair's evidence as stored (MatchPair.Evidence) and shown:
// the prior and total weight in bits, a veto, and each compared field's
// values, level and weight. Left and Right follow the pair's profiles.
type Evidence struct {
	Prior  float64      `json:"prior"`
	Weight float64      `json:"weight"`
	Veto   string       `json:"veto,omitempty"`
	Fields []FieldProof `json:"fields"`
}

// FieldProof is what one field contributed to a pair's score.
type FieldProof struct {
	Field  string  `json:"field"`
	Level  string  `json:"level"`
	Left   string  `json:"left,omitempty"`
	Right  string  `json:"right,omitempty"`
	Weight float64 `json:"weight"`
}

// PairID names the pair of two profiles, whichever comes first.
func PairID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	h := sha256.Sum256([]byte(a + "\x00" + b))
	return "mp_" + hex.EncodeToString(h[:10])
}

// propose records a scored pair and acts on it; act reports whether the
// pair is new (merged, queued or refused now).
func (s *Service) propose(ctx context.Context, cur, other string, ev match.Evidence) (*kith.MatchPair, bool, error) {
	left, right := cur, other
	leftIsNew := true
	if right < left {
		left, right, leftIsNew = right, left, false
	}
	proof := Evidence{Prior: round(ev.Prior), Weight: round(ev.Weight), Veto: ev.Veto}
	for _, f := range ev.Fields {
		if f.Level == match.Null {
			continue
		}
		fp := FieldProof{Field: f.Field.String(), Level: f.Label, Left: f.Left, Right: f.Right, Weight: round(f.Weight)}
		if !leftIsNew {
			fp.Left, fp.Right = fp.Right, fp.Left
		}
		proof.Fields = append(proof.Fields, fp)
	}
	raw, err := json.Marshal(proof)
	if err != nil {
		return nil, false, err
	}
	now := s.now().UTC()
	pair := &kith.MatchPair{ID: PairID(left, right), Left: left, Right: right, Probability: round(ev.Probability), Evidence: raw,
		Status: kith.MatchPending, CreatedAt: now}
	switch {
	case ev.Veto != "":
		pair.Status, pair.Reason, pair.DecidedAt, pair.DecidedBy = kith.MatchRefused, ev.Veto, now, s.by()
	case ev.Probability >= s.cfg.Auto && namesDisagree(ev):
		pair.Reason = "the names disagree: a steward decides, however alike the rest is (a relative at one address?)"
	case ev.Probability >= s.cfg.Auto && !personal(ev):
		pair.Reason = "only names and places agree, nothing of the person's own (birth date, street address, id number): a steward decides"
	case ev.Probability >= s.cfg.Auto:
		pair.Status, pair.Reason, pair.DecidedAt, pair.DecidedBy = kith.MatchMerged, "automatic: probability at or above the threshold", now, s.by()
		pair.MergeEvent = mergeEventID(pair.ID)
	}
	if pair.Status == kith.MatchMerged {
		// A merge must not join people a steward, or an undo, set apart:
		// those two profiles, or any merged into either.
		apart, err := s.judgedApart(ctx, left, right)
		if err != nil {
			return nil, false, err
		}
		if apart != nil {
			pair.Status, pair.MergeEvent = kith.MatchRefused, ""
			pair.Reason = fmt.Sprintf("%s and %s were set apart (%s, pair %s)", apart.Left, apart.Right, apart.Status, apart.ID)
		}
	}
	stored, created, err := s.store.AddMatchPair(ctx, pair)
	if err != nil {
		return nil, false, err
	}
	if !created {
		// Decided before: remembered. A merge that no longer holds was
		// undone or refused by the merge rules; say which.
		return stored, false, s.reconcile(ctx, stored)
	}
	if stored.Status == kith.MatchMerged {
		if err := s.merge(ctx, stored); err != nil {
			// Not sent: a steward decides instead.
			_, derr := s.store.DecideMatchPair(ctx, stored.ID, kith.MatchMerged, kith.MatchPair{Status: kith.MatchPending,
				Reason: "the merge could not be sent: " + err.Error(), CreatedAt: stored.CreatedAt})
			return nil, false, errors.Join(err, derr)
		}
		// merge may have refused it (no identifiers to carry): read it back.
		if stored, err = s.store.MatchPair(ctx, stored.ID); err != nil {
			return nil, false, err
		}
	}
	return stored, true, nil
}

// namesDisagree reports whether the given or the family names are plainly
// different (not a typo, a variant or a swap): such a pair is never merged
// without a steward, as a relative at one address without a birth date to
// tell them apart would be.
func namesDisagree(ev match.Evidence) bool {
	for _, f := range []match.Field{match.GivenName, match.Surname} {
		if ev.Fields[f].Level == match.Different(f) {
			return true
		}
	}
	return false
}

// personal reports whether something of the person's own agrees: the birth
// date, the street address or the id number. Names and a town are shared by
// too many people to merge on without a steward.
func personal(ev match.Evidence) bool {
	for _, f := range []match.Field{match.DateOfBirth, match.Address1, match.SocSecID} {
		if l := ev.Fields[f].Level; l != match.Null && l != match.Different(f) && ev.Fields[f].Weight > 0 {
			return true
		}
	}
	return false
}

func (s *Service) by() string {
	if s.cfg.Source != nil {
		return s.cfg.Source.Name
	}
	return "kith-match"
}

func round(f float64) float64 { return float64(int64(f*10000+0.5)) / 10000 }

func mergeEventID(pairID string) string { return "match-" + pairID }

// merge appends the event that merges a pair's profiles: it carries an
// identifier of each, so identity resolution merges them under its rules,
// and the evidence. Its messageId is the pair's, so it is appended once.
func (s *Service) merge(ctx context.Context, p *kith.MatchPair) error {
	if s.cfg.Source == nil {
		return fmt.Errorf("the matcher has no source for its merge events")
	}
	ll, err := s.people.Links(ctx, p.Left)
	if err != nil {
		return err
	}
	rl, err := s.people.Links(ctx, p.Right)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	e := kith.Event{MessageID: p.MergeEvent, Type: kith.TypeTrack, SourceID: s.cfg.Source.ID, Channel: s.cfg.Source.Kind,
		Timestamp: now, ReceivedAt: now}
	msg := map[string]any{"type": "track", "event": kith.EventProfilesMatched, "messageId": e.MessageID,
		"timestamp": now.Format(time.RFC3339Nano),
		"properties": map[string]any{"pair": p.ID, "left": p.Left, "right": p.Right, "probability": p.Probability,
			"evidence": p.Evidence, "decided_by": p.DecidedBy}}
	if why := addressBoth(&e, msg, ll, rl); why != "" {
		_, err := s.store.DecideMatchPair(ctx, p.ID, kith.MatchMerged, kith.MatchPair{Status: kith.MatchRefused, Reason: why,
			DecidedAt: now, DecidedBy: p.DecidedBy})
		return err
	}
	if e.Payload, err = json.Marshal(msg); err != nil {
		return err
	}
	_, err = s.log.Append(ctx, []kith.Event{e})
	return err
}

// addressBoth puts an identifier of each side on the event, in different
// places (user id, anonymous id, a context trait per type), or says why it
// cannot: both sides are known only by user ids, which never merge.
func addressBoth(e *kith.Event, msg map[string]any, left, right []kith.Link) string {
	l, ok := identity.Pick(left)
	if !ok {
		return "one profile holds no identifier an event can carry"
	}
	slot := func(id kith.Identifier) string {
		switch id.Type {
		case kith.IDUserID, kith.IDAnonymousID:
			return id.Type
		}
		return "trait:" + id.Type
	}
	var r kith.Identifier
	found := false
	for _, typ := range []string{kith.IDUserID, kith.IDAnonymousID, ""} {
		for _, link := range right {
			id := link.Identifier
			if id.Type == kith.IDDeviceID || typ != "" && id.Type != typ || typ == "" && (id.Type == kith.IDUserID || id.Type == kith.IDAnonymousID) {
				continue
			}
			if slot(id) != slot(l) {
				r, found = id, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		if l.Type == kith.IDUserID {
			return "both profiles are known by different user ids, which never merge"
		}
		return "no identifiers of the two profiles can be carried by one event"
	}
	identity.AddressTo(e, msg, l)
	if r.Type == kith.IDUserID || r.Type == kith.IDAnonymousID {
		identity.AddressTo(e, msg, r)
		return ""
	}
	ctx, _ := msg["context"].(map[string]any)
	if ctx == nil {
		ctx = map[string]any{}
		msg["context"] = ctx
	}
	traits, _ := ctx["traits"].(map[string]any)
	if traits == nil {
		traits = map[string]any{}
		ctx["traits"] = traits
	}
	traits[r.Type] = r.Value
	return ""
}

// reconcile says what became of a merged pair whose profiles are apart
// again: undone by a person, or refused by the merge rules.
func (s *Service) reconcile(ctx context.Context, p *kith.MatchPair) error {
	if p.Status != kith.MatchMerged {
		return nil
	}
	lc, _, err := s.people.Members(ctx, p.Left)
	if err != nil {
		return err
	}
	rc, _, err := s.people.Members(ctx, p.Right)
	if err != nil || lc == rc {
		return err
	}
	ms, err := s.people.Merges(ctx, lc)
	if err != nil {
		return err
	}
	status, reason := kith.MatchRefused, "the merge rules kept them apart (a unique conflict)"
	for _, m := range ms {
		if m.MessageID == p.MergeEvent {
			if m.UndoneAt.IsZero() {
				return nil // merged, and the event not yet processed on this side
			}
			status, reason = kith.MatchUndone, "the merge was undone"
		}
	}
	_, err = s.store.DecideMatchPair(ctx, p.ID, kith.MatchMerged, kith.MatchPair{Status: status, Reason: reason,
		DecidedAt: s.now().UTC(), DecidedBy: p.DecidedBy, MergeEvent: p.MergeEvent})
	if kith.IsCode(err, kith.ECONFLICT) {
		return nil
	}
	return err
}

// Undone is told of a merge undone by a person: if the matcher made it,
// the pair is remembered as undone and never proposed again (that it is
// never proposed again holds anyway: a pair is proposed once).
func (s *Service) Undone(ctx context.Context, m kith.Merge) {
	id, ok := strings.CutPrefix(m.MessageID, "match-")
	if !ok {
		return
	}
	_, err := s.store.DecideMatchPair(ctx, id, kith.MatchMerged, kith.MatchPair{Status: kith.MatchUndone,
		Reason: "the merge was undone", DecidedAt: s.now().UTC(), DecidedBy: "merge " + m.ID, MergeEvent: m.MessageID})
	if err != nil && !kith.IsCode(err, kith.ECONFLICT) && !kith.IsCode(err, kith.ENOTFOUND) {
		s.logger.Warn("remember an undone match", "pair", id, "err", err)
	}
}

// Pairs lists pairs in a status ("" for all), most probable first.
func (s *Service) Pairs(ctx context.Context, status string, limit int) ([]kith.MatchPair, error) {
	return s.store.MatchPairs(ctx, status, limit)
}

// Pair returns one pair.
func (s *Service) Pair(ctx context.Context, id string) (*kith.MatchPair, error) {
	return s.store.MatchPair(ctx, id)
}

// judgedApart returns a pair, rejected or undone, between a profile of a's
// person and one of b's, or nil: merging a and b would join them.
func (s *Service) judgedApart(ctx context.Context, a, b string) (*kith.MatchPair, error) {
	side := func(id string) ([]string, error) {
		cur, absorbed, err := s.people.Members(ctx, id)
		if err != nil {
			return nil, err
		}
		return append([]string{cur}, absorbed...), nil
	}
	as, err := side(a)
	if err != nil {
		return nil, err
	}
	bs, err := side(b)
	if err != nil {
		return nil, err
	}
	for _, x := range as {
		for _, y := range bs {
			p, err := s.store.MatchPair(ctx, PairID(x, y))
			if kith.IsCode(err, kith.ENOTFOUND) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if p.Status == kith.MatchRejected || p.Status == kith.MatchUndone {
				return p, nil
			}
		}
	}
	return nil, nil
}

// Accept merges a pending pair on a steward's word, unless the two are one
// person already (the pair is closed as merged) or merging them would join
// people set apart before (refused, and the pair closed as refused).
func (s *Service) Accept(ctx context.Context, id string) (*kith.MatchPair, error) {
	a, _ := kith.ActorFrom(ctx)
	cur, err := s.store.MatchPair(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur.Status == kith.MatchPending {
		lc, _, err := s.people.Members(ctx, cur.Left)
		if err != nil {
			return nil, err
		}
		rc, _, err := s.people.Members(ctx, cur.Right)
		if err != nil {
			return nil, err
		}
		if lc == rc {
			return s.store.DecideMatchPair(ctx, id, kith.MatchPending, kith.MatchPair{Status: kith.MatchMerged,
				Reason: "already one person when a steward accepted it", DecidedAt: s.now().UTC(), DecidedBy: a.String()})
		}
		apart, err := s.judgedApart(ctx, cur.Left, cur.Right)
		if err != nil {
			return nil, err
		}
		if apart != nil {
			why := fmt.Sprintf("merging them would join %s and %s, which were set apart (%s by %s, pair %s)", apart.Left, apart.Right, apart.Status, apart.DecidedBy, apart.ID)
			if _, err := s.store.DecideMatchPair(ctx, id, kith.MatchPending, kith.MatchPair{Status: kith.MatchRefused, Reason: why,
				DecidedAt: s.now().UTC(), DecidedBy: a.String()}); err != nil && !kith.IsCode(err, kith.ECONFLICT) {
				return nil, err
			}
			return nil, &kith.Error{Code: kith.ECONFLICT, Field: "pair", Message: "pair " + id + " cannot be merged: " + why,
				Detail: map[string]any{"reason": "set_apart", "pair": apart}}
		}
	}
	p, err := s.store.DecideMatchPair(ctx, id, kith.MatchPending, kith.MatchPair{Status: kith.MatchMerged,
		Reason: "accepted by a data steward", DecidedAt: s.now().UTC(), DecidedBy: a.String(), MergeEvent: mergeEventID(id)})
	if err != nil {
		return p, decided(id, p, err)
	}
	if err := s.merge(ctx, p); err != nil {
		return nil, err
	}
	if s.audit != nil {
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditMatchAccept, Target: p.Left,
			Detail: fmt.Sprintf("pair %s: %s and %s, probability %.4f", p.ID, p.Left, p.Right, p.Probability)}); err != nil {
			return nil, err
		}
	}
	return s.store.MatchPair(ctx, id)
}

// Reject records that a pending pair is two people; it is not proposed again.
func (s *Service) Reject(ctx context.Context, id string) (*kith.MatchPair, error) {
	a, _ := kith.ActorFrom(ctx)
	p, err := s.store.DecideMatchPair(ctx, id, kith.MatchPending, kith.MatchPair{Status: kith.MatchRejected,
		Reason: "rejected by a data steward", DecidedAt: s.now().UTC(), DecidedBy: a.String()})
	if err != nil {
		return p, decided(id, p, err)
	}
	if s.audit != nil {
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditMatchReject, Target: p.Left,
			Detail: fmt.Sprintf("pair %s: %s and %s, probability %.4f", p.ID, p.Left, p.Right, p.Probability)}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// decided explains a refused decision: someone decided first.
func decided(id string, p *kith.MatchPair, err error) error {
	if !kith.IsCode(err, kith.ECONFLICT) || p == nil {
		return err
	}
	return AlreadyDecided(p)
}

// AlreadyDecided is the refusal of a decision on a pair that is no longer
// pending: who decided what, when.
func AlreadyDecided(p *kith.MatchPair) error {
	return &kith.Error{Code: kith.ECONFLICT, Field: "pair", Message: fmt.Sprintf("pair %s was already decided: %s by %s on %s",
		p.ID, p.Status, p.DecidedBy, p.DecidedAt.Format("2 Jan 2006 15:04 MST")), Detail: map[string]any{"pair": p}}
}
