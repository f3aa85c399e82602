package offer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// Target names a person: by profile id, or by an identifier (e-mail,
// phone, user id, loyalty id…), normalised as identifiers are.
type Target struct {
	Profile    string          `json:"profile,omitempty"`
	Identifier kith.Identifier `json:"identifier"`
}

func (t Target) String() string {
	if t.Profile != "" {
		return t.Profile
	}
	return t.Identifier.String()
}

// GrantRequest asks to promise an offer to a person through a channel.
type GrantRequest struct {
	Offer    string
	Target   Target
	Channel  kith.Kind
	Campaign string
	Message  string // the message that carried the offer, e.g. an e-mail's id
	// ExpiresAt, when set, ends the grant sooner than the offer would.
	ExpiresAt      time.Time
	IdempotencyKey string
}

// View is a grant as a channel sees it: the terms it was made under, its
// state now, and where and how it can be redeemed.
type View struct {
	kith.Grant
	State       string                    `json:"state"`
	Name        string                    `json:"name"`
	Description string                    `json:"description,omitempty"`
	Terms       kith.Terms                `json:"terms"`
	Channels    []kith.Kind               `json:"channels"`
	Honour      map[kith.Kind]kith.Honour `json:"honour"`
	OfferStatus kith.OfferStatus          `json:"offer_status"`
	// Redeemable is whether the grant can be redeemed now on one of its
	// channels: held, and not held back by a paused or ended offer.
	Redeemable bool `json:"redeemable"`
}

func (s *Service) view(ctx context.Context, g *kith.Grant) (*View, error) {
	v, cur, err := s.offersOf(ctx, g)
	if err != nil {
		return nil, err
	}
	return s.viewOf(g, v, cur.Status), nil
}

// offersOf returns the version a grant was made under (its terms and
// rules) and the offer as it is now (its status, counts and budgets).
func (s *Service) offersOf(ctx context.Context, g *kith.Grant) (version, current *kith.Offer, err error) {
	if version, err = s.version(ctx, g.Offer, g.OfferVersion); err != nil {
		return nil, nil, err
	}
	if current, err = s.store.Offer(ctx, g.Offer); err != nil {
		return nil, nil, err
	}
	return version, current, nil
}

func (s *Service) viewOf(g *kith.Grant, v *kith.Offer, status kith.OfferStatus) *View {
	state := g.State(s.now())
	return &View{Grant: *g, State: state, Name: v.Name, Description: v.Description, Terms: v.Terms, Channels: v.Channels,
		Honour: v.Honour, OfferStatus: status,
		Redeemable: state == kith.GrantHeld && !withheld(v, status)}
}

// withheld reports whether the offer's status holds its grants back.
func withheld(v *kith.Offer, status kith.OfferStatus) bool {
	return v.Withdrawal == kith.WithdrawHold && (status == kith.OfferPaused || status == kith.OfferEnded)
}

// person resolves a target to the current profile's id, the ids that are
// one person with it, and its identifiers; with profile set it also reads
// the profile (for eligibility).
func (s *Service) person(ctx context.Context, a kith.Actor, t Target, field string, profile bool) (*person, error) {
	id := strings.TrimSpace(t.Profile)
	if id == "" {
		if t.Identifier.Type == "" || t.Identifier.Value == "" {
			return nil, kith.Invalid(field, "name the person by profile id or by an identifier (type and value)")
		}
		if !a.PII {
			return nil, kith.Errorf(kith.EFORBIDDEN, "finding a person by an identifier needs access to personal data, which the %s role does not have; use the profile id", roleOf(a))
		}
		var err error
		if id, err = s.people.Resolve(ctx, t.Identifier.Type, t.Identifier.Value); err != nil {
			if e := new(kith.Error); errors.As(err, &e) {
				return nil, &kith.Error{Code: e.Code, Field: field + ".identifier", Message: e.Message}
			}
			return nil, err
		}
	}
	var pr person
	var err error
	if profile {
		pr.profile, pr.holders, pr.links, err = s.people.Person(ctx, id)
		if err == nil {
			pr.id = pr.profile.ID
		}
	} else {
		pr.id, pr.holders, pr.links, err = s.people.Members(ctx, id)
	}
	if kith.IsCode(err, kith.ENOTFOUND) {
		return nil, &kith.Error{Code: kith.ENOTFOUND, Field: field, Message: fmt.Sprintf("no profile %s", id)}
	}
	if err != nil {
		return nil, err
	}
	return &pr, nil
}

// person is one person as the ledger needs them.
type person struct {
	id      string        // the current profile
	profile *kith.Profile // read only when eligibility needs it
	holders []string      // every profile id that is this person
	links   []kith.Link
}

func roleOf(a kith.Actor) string {
	if a.Role != "" {
		return string(a.Role)
	}
	return string(a.Kind)
}

// Grant promises an offer to one person through one channel, if the offer
// is live, the person is eligible, and the offer's budget and per-person
// limit allow. A retry with the same IdempotencyKey returns the first grant.
func (s *Service) Grant(ctx context.Context, req GrantRequest) (*View, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := kith.ParseKind(string(req.Channel)); err != nil {
		return nil, kith.Invalid("channel", "the channel that promised the offer: %s", kith.ErrorMessage(err))
	}
	o, err := s.grantable(ctx, req.Offer)
	if err != nil {
		return nil, err
	}
	p, err := s.person(ctx, a, req.Target, "profile", len(o.Eligibility) > 0)
	if err != nil {
		return nil, err
	}
	ng, err := s.newGrant(a, o, p, req)
	if err != nil {
		return nil, err
	}
	stored, errs, err := s.store.AddGrants(ctx, []kith.NewGrant{ng})
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, refusedGrant(o, p.id, errs[0])
	}
	g := stored[0]
	if g.ID == ng.Grant.ID {
		if err := s.record(ctx, a, kith.AuditGrant, p.id, grantDetail(g)); err != nil {
			return nil, err
		}
		s.kick()
	}
	return s.view(ctx, g)
}

func grantDetail(g *kith.Grant) string {
	return fmt.Sprintf("offer %s v%d grant %s via %s", g.Offer, g.OfferVersion, g.ID, g.Channel)
}

// grantable returns the offer if it may be granted now.
func (s *Service) grantable(ctx context.Context, code string) (*kith.Offer, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if code == "" {
		return nil, kith.Invalid("offer", "name the offer by its code")
	}
	o, err := s.store.Offer(ctx, code)
	if kith.IsCode(err, kith.ENOTFOUND) {
		return nil, &kith.Error{Code: kith.ENOTFOUND, Field: "offer", Message: fmt.Sprintf("no offer has code %s", code)}
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case o.Status != kith.OfferActive:
		return nil, &kith.Error{Code: kith.ECONFLICT, Field: "offer", Message: fmt.Sprintf("offer %s is %s; only an active offer is granted", o.Code, o.Status),
			Detail: map[string]any{"reason": "offer_" + string(o.Status)}}
	case now.Before(o.ValidFrom):
		return nil, &kith.Error{Code: kith.ECONFLICT, Field: "offer", Message: fmt.Sprintf("offer %s is valid from %s", o.Code, o.ValidFrom.Format(time.RFC3339)),
			Detail: map[string]any{"reason": "offer_not_started"}}
	case !now.Before(o.ValidUntil):
		return nil, &kith.Error{Code: kith.ECONFLICT, Field: "offer", Message: fmt.Sprintf("offer %s ran until %s", o.Code, o.ValidUntil.Format(time.RFC3339)),
			Detail: map[string]any{"reason": "offer_over"}}
	}
	return o, nil
}

// newGrant checks a person's eligibility and builds the grant to store.
func (s *Service) newGrant(a kith.Actor, o *kith.Offer, p *person, req GrantRequest) (kith.NewGrant, error) {
	if len(o.Eligibility) > 0 {
		if ok, why := Eligible(p.profile, o.Eligibility); !ok {
			return kith.NewGrant{}, &kith.Error{Code: kith.ECONFLICT, Field: "profile", Message: fmt.Sprintf("profile %s is not eligible for %s: %s", p.id, o.Code, why),
				Detail: map[string]any{"reason": "not_eligible", "condition": why}}
		}
	}
	now := s.now().UTC()
	expires := o.ValidUntil
	if o.GrantDays > 0 {
		if e := now.Add(time.Duration(o.GrantDays) * 24 * time.Hour); e.Before(expires) {
			expires = e
		}
	}
	if !req.ExpiresAt.IsZero() {
		if !req.ExpiresAt.After(now) {
			return kith.NewGrant{}, kith.Invalid("expires_at", "a grant must expire after it is made")
		}
		if req.ExpiresAt.After(expires) {
			return kith.NewGrant{}, kith.Invalid("expires_at", "the offer lets a grant last until %s at most", expires.Format(time.RFC3339))
		}
		expires = req.ExpiresAt.UTC()
	}
	g := &kith.Grant{ID: newGrantID(), Code: newCode(), Offer: o.Code, OfferVersion: o.Version, ProfileID: p.id,
		Channel: req.Channel, Campaign: req.Campaign, MessageRef: req.Message, GrantedAt: now, GrantedBy: a.String(),
		ExpiresAt: expires, IdempotencyKey: req.IdempotencyKey}
	g.Address, _ = identity.Pick(p.links)
	e, err := s.event(kith.EventOfferGranted, g, now, map[string]any{"name": o.Name, "channel": string(req.Channel),
		"code": g.Code, "price": o.Terms.Price, "expires_at": expires.Format(time.RFC3339), "campaign": req.Campaign})
	if err != nil {
		return kith.NewGrant{}, err
	}
	return kith.NewGrant{Grant: g, Holders: p.holders, PerPerson: o.PerPerson, Budget: o.GrantBudget, Event: e}, nil
}

func refusedGrant(o *kith.Offer, profile string, err error) error {
	switch {
	case errors.Is(err, kith.ErrGrantBudget):
		return &kith.Error{Code: kith.ECONFLICT, Field: "offer", Message: fmt.Sprintf("offer %s's budget of %d grants is spent", o.Code, o.GrantBudget),
			Detail: map[string]any{"reason": "budget_spent"}}
	case errors.Is(err, kith.ErrPersonLimit):
		return &kith.Error{Code: kith.ECONFLICT, Field: "profile", Message: fmt.Sprintf("profile %s already holds %d grant(s) of %s, as many as one person may", profile, o.PerPerson, o.Code),
			Detail: map[string]any{"reason": "person_limit"}}
	}
	return err
}

// BulkResult says what granting an offer to a list did.
type BulkResult struct {
	Granted  int       `json:"granted"`
	Refused  int       `json:"refused"`
	Refusals []Refusal `json:"refusals,omitempty"` // the first 1,000
}

// Refusal is one person of a list who was not granted the offer, and why.
type Refusal struct {
	Index  int    `json:"index"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// bulkChunk is how many grants one store call takes.
const bulkChunk = 500

// GrantMany grants one offer to every person of a list through one channel,
// in chunks, calling progress (if set) after each. A person who cannot be
// granted it (unknown, ineligible, over the limit) is a refusal; the rest
// go on. A store failure stops it and says how far it got.
func (s *Service) GrantMany(ctx context.Context, req GrantRequest, targets []Target, progress func(done, total int)) (BulkResult, error) {
	var res BulkResult
	a, err := actor(ctx)
	if err != nil {
		return res, err
	}
	if _, err := kith.ParseKind(string(req.Channel)); err != nil {
		return res, kith.Invalid("channel", "the channel that promised the offer: %s", kith.ErrorMessage(err))
	}
	o, err := s.grantable(ctx, req.Offer)
	if err != nil {
		return res, err
	}
	refuse := func(i int, err error) {
		res.Refused++
		if len(res.Refusals) < 1000 {
			res.Refusals = append(res.Refusals, Refusal{Index: i, Target: targets[i].String(), Reason: kith.ErrorMessage(err)})
		}
	}
	for start := 0; start < len(targets); start += bulkChunk {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		end := min(start+bulkChunk, len(targets))
		built := make([]kith.NewGrant, end-start)
		errs := make([]error, end-start)
		// People named by profile id are read together when their
		// documents are not needed; the rest one by one, two at a time.
		var byID []string
		if len(o.Eligibility) == 0 {
			for _, t := range targets[start:end] {
				if t.Profile != "" {
					byID = append(byID, t.Profile)
				}
			}
		}
		members, err := s.people.MembersOf(ctx, byID)
		if err != nil {
			return res, fmt.Errorf("grant %s: %d of %d done: %w", o.Code, res.Granted+res.Refused, len(targets), err)
		}
		var wg sync.WaitGroup
		next := make(chan int)
		for range 2 {
			wg.Go(func() {
				for i := range next {
					r := req
					r.Target, r.IdempotencyKey = targets[i], ""
					var p *person
					var err error
					if m, ok := members[targets[i].Profile]; ok {
						p = &person{id: m.Current, holders: append([]string{m.Current}, m.Absorbed...), links: m.Links}
					} else {
						p, err = s.person(ctx, a, targets[i], "profile", len(o.Eligibility) > 0)
					}
					if err == nil {
						built[i-start], err = s.newGrant(a, o, p, r)
					}
					errs[i-start] = err
				}
			})
		}
		for i := start; i < end; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		var batch []kith.NewGrant
		var index []int
		for i, ng := range built {
			if errs[i] != nil {
				if !isRefusal(errs[i]) {
					return res, fmt.Errorf("grant %s to %s: %w", o.Code, targets[start+i], errs[i])
				}
				refuse(start+i, errs[i])
				continue
			}
			batch = append(batch, ng)
			index = append(index, start+i)
		}
		stored, gerrs, err := s.store.AddGrants(ctx, batch)
		if err != nil {
			return res, fmt.Errorf("grant %s: %d of %d done: %w", o.Code, res.Granted+res.Refused, len(targets), err)
		}
		recs := make([]kith.AuditRecord, 0, len(batch))
		for i, g := range stored {
			if gerrs[i] != nil {
				refuse(index[i], refusedGrant(o, batch[i].Grant.ProfileID, gerrs[i]))
				continue
			}
			res.Granted++
			recs = append(recs, kith.AuditRecord{Actor: a, Action: kith.AuditGrant, Target: g.ProfileID, Detail: grantDetail(g)})
		}
		if s.audit != nil && len(recs) > 0 {
			if err := s.audit.AppendAudit(ctx, recs...); err != nil {
				return res, fmt.Errorf("record grants: %w", err)
			}
		}
		if progress != nil {
			progress(end, len(targets))
		}
	}
	// The relay carries the grants' events in large batches as it goes (on
	// its tick) and the rest now: one kick per chunk would have it append
	// and the processor fold small batches beside the job.
	s.kick()
	return res, nil
}

// isRefusal tells a person-level refusal from a failure of the system.
func isRefusal(err error) bool {
	switch kith.ErrorCode(err) {
	case kith.EINVALID, kith.ENOTFOUND, kith.ECONFLICT, kith.EFORBIDDEN:
		return true
	}
	return false
}

// HonourFor returns what a channel does with the grant: nil when the
// channel is one of the offer's own.
func (v *View) HonourFor(ch kith.Kind) *kith.Honour {
	return HonourFor(&kith.Offer{Channels: v.Channels, Honour: v.Honour}, ch)
}

// RedeemableOn lists the channels that redeem the grant: the offer's own,
// then those whose honour policy honours it, with or without a fee.
func (v *View) RedeemableOn() []kith.Kind {
	out := slices.Clone(v.Channels)
	for _, k := range kith.Kinds {
		if h := v.HonourFor(k); h != nil && h.Action != kith.HonourAlternative {
			out = append(out, k)
		}
	}
	return out
}

// Held returns every grant a person holds or held (the profiles merged into
// them included), newest first. It is a read of the person, recorded.
func (s *Service) Held(ctx context.Context, t Target) (string, []View, error) {
	return s.held(ctx, t, true)
}

// HeldUnrecorded is Held for a caller that records the read of the person
// itself, as one with the rest of what it shows (the console's customer
// page, recorded by profile.Service.Customer).
func (s *Service) HeldUnrecorded(ctx context.Context, t Target) (string, []View, error) {
	return s.held(ctx, t, false)
}

func (s *Service) held(ctx context.Context, t Target, record bool) (string, []View, error) {
	a, err := actor(ctx)
	if err != nil {
		return "", nil, err
	}
	p, err := s.person(ctx, a, t, "profile", false)
	if err != nil {
		return "", nil, err
	}
	gs, err := s.store.Grants(ctx, p.holders)
	if err != nil {
		return "", nil, err
	}
	out := make([]View, 0, len(gs))
	status := map[string]kith.OfferStatus{}
	for i := range gs {
		g := &gs[i]
		v, err := s.version(ctx, g.Offer, g.OfferVersion)
		if err != nil {
			return "", nil, err
		}
		st, ok := status[g.Offer]
		if !ok {
			cur, err := s.store.Offer(ctx, g.Offer)
			if err != nil {
				return "", nil, err
			}
			st, status[g.Offer] = cur.Status, cur.Status
		}
		out = append(out, *s.viewOf(g, v, st))
	}
	if record {
		if err := s.record(ctx, a, kith.AuditProfileRead, p.id, "grants"); err != nil {
			return "", nil, err
		}
	}
	return p.id, out, nil
}
