package offer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// RedeemRequest spends a grant, named by its id or by its redemption code.
type RedeemRequest struct {
	GrantID string
	Code    string
	Channel kith.Kind
	// Actor is who redeems it at the channel (the agent, the till); the
	// signed-in user or API key when empty.
	Actor    string
	Location string // e.g. the store
	// IdempotencyKey makes a retry return the first result.
	IdempotencyKey string
	// Profile, when set, is the person the redeemer believes holds the
	// grant (the customer on the agent's screen): a grant that is not
	// theirs now, after a merge was undone, is refused as not found.
	Profile string
}

// Refusal reasons, in an error's Detail["reason"].
const (
	ReasonRedeemed   = "already_redeemed"
	ReasonVoided     = "voided"
	ReasonExpired    = "expired"
	ReasonWithheld   = "offer_withheld"
	ReasonBudget     = "budget_spent"
	ReasonNotAllowed = "channel_not_allowed"
)

// Redeem spends a grant once, on a channel that may redeem it: one of the
// offer's channels, or another whose honour policy honours it (with its fee,
// if any). Everything else is refused with ECONFLICT and the reason in the
// error's detail: already redeemed (when, where, by whom), voided, expired,
// held back by a paused or ended offer, the budget spent, or a channel that
// may not redeem it (with that channel's instruction).
func (s *Service) Redeem(ctx context.Context, req RedeemRequest) (*View, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := kith.ParseKind(string(req.Channel)); err != nil {
		return nil, kith.Invalid("channel", "the channel where the grant is redeemed: %s", kith.ErrorMessage(err))
	}
	g, err := s.findGrant(ctx, req.GrantID, req.Code)
	if err != nil {
		return nil, err
	}
	if req.Profile != "" {
		p, err := s.person(ctx, a, Target{Profile: req.Profile}, "profile", false)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(p.holders, g.ProfileID) {
			return nil, &kith.Error{Code: kith.ENOTFOUND, Field: "grant", Message: fmt.Sprintf("profile %s holds no grant %s", p.id, g.ID)}
		}
	}
	v, cur, err := s.offersOf(ctx, g)
	if err != nil {
		return nil, err
	}
	if g.Redemption != nil && req.IdempotencyKey != "" && g.Redemption.IdempotencyKey == req.IdempotencyKey {
		return s.viewOf(g, v, cur.Status), nil
	}
	now := s.now().UTC()
	if err := s.unredeemable(g, v, cur, now); err != nil {
		return nil, err
	}
	r := kith.Redemption{At: now, Channel: req.Channel, Actor: strings.TrimSpace(req.Actor), Location: strings.TrimSpace(req.Location),
		Honour: "channel", IdempotencyKey: req.IdempotencyKey}
	if r.Actor == "" {
		r.Actor = a.String()
	}
	if h := HonourFor(v, req.Channel); h != nil {
		switch h.Action {
		case kith.HonourAsGranted:
			r.Honour = string(kith.HonourAsGranted)
		case kith.HonourWithFee:
			r.Honour, r.Fee = string(kith.HonourWithFee), h.Fee
		default:
			msg := fmt.Sprintf("%s cannot be redeemed through %s; it is redeemed through %s", v.Name, req.Channel, joinKinds(v.Channels))
			if h.Alternative != "" {
				msg += "; offer instead: " + h.Alternative
			}
			return nil, &kith.Error{Code: kith.ECONFLICT, Field: "channel", Message: msg,
				Detail: map[string]any{"reason": ReasonNotAllowed, "channels": v.Channels, "honour": h}}
		}
	}
	props := map[string]any{"name": v.Name, "channel": string(req.Channel), "actor": r.Actor, "location": r.Location, "honour": r.Honour}
	if r.Fee != nil {
		props["fee"] = r.Fee
	}
	e, err := s.event(kith.EventOfferRedeemed, g, now, props)
	if err != nil {
		return nil, err
	}
	got, err := s.store.Redeem(ctx, g.ID, r, cur.RedeemBudget, e)
	switch {
	case errors.Is(err, kith.ErrGrantSettled):
		// Another channel got there first, or it expired meanwhile.
		if got.Redemption != nil && req.IdempotencyKey != "" && got.Redemption.IdempotencyKey == req.IdempotencyKey {
			return s.viewOf(got, v, cur.Status), nil
		}
		if err := s.unredeemable(got, v, cur, now); err != nil {
			return nil, err
		}
		return nil, err
	case errors.Is(err, kith.ErrRedeemBudget):
		return nil, &kith.Error{Code: kith.ECONFLICT, Field: "grant", Message: fmt.Sprintf("offer %s's budget of %d redemptions is spent", cur.Code, cur.RedeemBudget),
			Detail: map[string]any{"reason": ReasonBudget}}
	case err != nil:
		return nil, err
	}
	if err := s.record(ctx, a, kith.AuditRedeem, got.ProfileID, fmt.Sprintf("%s via %s by %s", grantDetail(got), req.Channel, r.Actor)); err != nil {
		return nil, err
	}
	s.kick()
	return s.viewOf(got, v, cur.Status), nil
}

// unredeemable says why a grant cannot be redeemed at now, or nil.
func (s *Service) unredeemable(g *kith.Grant, v, cur *kith.Offer, now time.Time) error {
	switch g.State(now) {
	case kith.GrantRedeemed:
		r := g.Redemption
		where := string(r.Channel)
		if r.Location != "" {
			where += " (" + r.Location + ")"
		}
		return &kith.Error{Code: kith.ECONFLICT, Field: "grant",
			Message: fmt.Sprintf("%s was already redeemed on %s through %s by %s", v.Name, r.At.Format("2 Jan 2006 15:04 MST"), where, r.Actor),
			Detail:  map[string]any{"reason": ReasonRedeemed, "redemption": r, "grant": g.ID}}
	case kith.GrantVoided:
		return &kith.Error{Code: kith.ECONFLICT, Field: "grant",
			Message: fmt.Sprintf("%s was voided on %s by %s: %s", v.Name, g.Void.At.Format("2 Jan 2006 15:04 MST"), g.Void.Actor, g.Void.Reason),
			Detail:  map[string]any{"reason": ReasonVoided, "void": g.Void, "grant": g.ID}}
	case kith.GrantExpired:
		return &kith.Error{Code: kith.ECONFLICT, Field: "grant",
			Message: fmt.Sprintf("%s expired on %s", v.Name, g.ExpiresAt.Format("2 Jan 2006 15:04 MST")),
			Detail:  map[string]any{"reason": ReasonExpired, "expires_at": g.ExpiresAt, "grant": g.ID}}
	}
	if withheld(v, cur.Status) {
		return &kith.Error{Code: kith.ECONFLICT, Field: "grant",
			Message: fmt.Sprintf("offer %s is %s, and its grants are held back until it is active again", cur.Code, cur.Status),
			Detail:  map[string]any{"reason": ReasonWithheld, "offer_status": cur.Status, "grant": g.ID}}
	}
	return nil
}

func joinKinds(ks []kith.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// findGrant finds a grant by id or by redemption code.
func (s *Service) findGrant(ctx context.Context, id, code string) (*kith.Grant, error) {
	switch {
	case id != "":
		g, err := s.store.GrantByID(ctx, id)
		if kith.IsCode(err, kith.ENOTFOUND) {
			return nil, &kith.Error{Code: kith.ENOTFOUND, Field: "grant", Message: fmt.Sprintf("no grant %s", id)}
		}
		return g, err
	case strings.TrimSpace(code) != "":
		c := NormalizeCode(code)
		g, err := s.store.GrantByCode(ctx, c)
		if kith.IsCode(err, kith.ENOTFOUND) {
			return nil, &kith.Error{Code: kith.ENOTFOUND, Field: "code", Message: fmt.Sprintf("no grant has code %s; check it letter by letter", c)}
		}
		return g, err
	}
	return nil, kith.Invalid("code", "name the grant by its id or its redemption code")
}

// GrantOf returns one grant, by id or code, as a channel sees it. It is a
// read of the person who holds it, recorded.
func (s *Service) GrantOf(ctx context.Context, id, code string) (*View, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	g, err := s.findGrant(ctx, id, code)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, a, kith.AuditProfileRead, g.ProfileID, "grant "+g.ID); err != nil {
		return nil, err
	}
	return s.view(ctx, g)
}

// VoidRequest withdraws a grant before it is redeemed.
type VoidRequest struct {
	GrantID string
	Channel kith.Kind
	Actor   string
	Reason  string
}

// Void withdraws a held grant; it no longer counts against the offer's
// budget or the person's limit. A redeemed or voided grant is refused.
func (s *Service) Void(ctx context.Context, req VoidRequest) (*View, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if req.Channel != "" {
		if _, err := kith.ParseKind(string(req.Channel)); err != nil {
			return nil, kith.Invalid("channel", "%s", kith.ErrorMessage(err))
		}
	}
	if strings.TrimSpace(req.Reason) == "" {
		return nil, kith.Invalid("reason", "say why the grant is voided; the customer's history shows it")
	}
	g, err := s.findGrant(ctx, req.GrantID, "")
	if err != nil {
		return nil, err
	}
	v, cur, err := s.offersOf(ctx, g)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	vd := kith.Void{At: now, Channel: req.Channel, Actor: strings.TrimSpace(req.Actor), Reason: strings.TrimSpace(req.Reason)}
	if vd.Actor == "" {
		vd.Actor = a.String()
	}
	e, err := s.event(kith.EventOfferVoided, g, now, map[string]any{"name": v.Name, "actor": vd.Actor, "reason": vd.Reason})
	if err != nil {
		return nil, err
	}
	got, err := s.store.VoidGrant(ctx, g.ID, vd, e)
	if errors.Is(err, kith.ErrGrantSettled) {
		if err := s.unredeemable(got, v, cur, now); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, a, kith.AuditVoid, got.ProfileID, fmt.Sprintf("%s: %s", grantDetail(got), vd.Reason)); err != nil {
		return nil, err
	}
	s.kick()
	return s.viewOf(got, v, cur.Status), nil
}
