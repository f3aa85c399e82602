package offer

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

var (
	codePattern     = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{1,63}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Create adds an offer to the catalog as version 1. Its status defaults to
// active, its withdrawal policy to honour.
func (s *Service) Create(ctx context.Context, o kith.Offer) (*kith.Offer, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	o.Code = strings.ToUpper(strings.TrimSpace(o.Code))
	o.Version, o.CreatedAt, o.CreatedBy, o.Granted, o.Redeemed = 1, now, a.String(), 0, 0
	if o.Status == "" {
		o.Status = kith.OfferActive
	}
	if o.ValidFrom.IsZero() {
		o.ValidFrom = now
	}
	if err := Validate(&o); err != nil {
		return nil, err
	}
	if err := s.store.CreateOffer(ctx, &o); err != nil {
		if kith.IsCode(err, kith.ECONFLICT) {
			return nil, &kith.Error{Code: kith.ECONFLICT, Field: "code", Message: fmt.Sprintf("an offer with code %s exists; edit it instead", o.Code)}
		}
		return nil, err
	}
	if err := s.record(ctx, a, kith.AuditOfferCreate, o.Code, fmt.Sprintf("version 1, %s", o.Status)); err != nil {
		return nil, err
	}
	return &o, nil
}

// Update stores an edit of an offer as its next version. o.Version is the
// version the edit was made on (0: the current one); if someone else has
// made a version since, Update refuses with ECONFLICT. Grants keep the
// version they were made under. Status is changed with SetStatus.
func (s *Service) Update(ctx context.Context, code string, o kith.Offer) (*kith.Offer, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cur, err := s.store.Offer(ctx, strings.ToUpper(code))
	if err != nil {
		return nil, err
	}
	if o.Version != 0 && o.Version != cur.Version {
		return nil, &kith.Error{Code: kith.ECONFLICT, Field: "version", Message: fmt.Sprintf("offer %s is at version %d, not %d; read it again and redo the edit", cur.Code, cur.Version, o.Version)}
	}
	if o.Code != "" && !strings.EqualFold(o.Code, cur.Code) {
		return nil, kith.Invalid("code", "an offer's code cannot change")
	}
	o.Code, o.Version, o.Status = cur.Code, cur.Version+1, cur.Status
	o.CreatedAt, o.CreatedBy = s.now().UTC(), a.String()
	if o.ValidFrom.IsZero() {
		o.ValidFrom = cur.ValidFrom
	}
	if err := Validate(&o); err != nil {
		return nil, err
	}
	if err := s.store.UpdateOffer(ctx, &o); err != nil {
		return nil, err
	}
	s.versions.forget(o.Code)
	if err := s.record(ctx, a, kith.AuditOfferUpdate, o.Code, fmt.Sprintf("version %d", o.Version)); err != nil {
		return nil, err
	}
	return s.store.Offer(ctx, o.Code)
}

// SetStatus activates, pauses or ends an offer. What that does to grants
// already made is the offer's withdrawal policy.
func (s *Service) SetStatus(ctx context.Context, code string, status kith.OfferStatus) (*kith.Offer, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(statuses, status) {
		return nil, kith.Invalid("status", "unknown status %q; use one of draft, active, paused, ended", status)
	}
	o, err := s.store.SetOfferStatus(ctx, strings.ToUpper(code), status)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, a, kith.AuditOfferUpdate, o.Code, "status "+string(status)); err != nil {
		return nil, err
	}
	return o, nil
}

// Offer returns an offer's current version; version > 0 asks for that one.
func (s *Service) Offer(ctx context.Context, code string, version int) (*kith.Offer, error) {
	code = strings.ToUpper(code)
	if version > 0 {
		return s.store.OfferVersion(ctx, code, version)
	}
	return s.store.Offer(ctx, code)
}

// Live reports whether an offer may be granted at now: active and within
// its validity window.
func Live(o *kith.Offer, now time.Time) bool {
	return o.Status == kith.OfferActive && !now.Before(o.ValidFrom) && now.Before(o.ValidUntil)
}

// List returns the offers whose words contain every word of q (code, name,
// description, terms, honour instructions), live ones only unless all is
// set; live first, then by name.
func (s *Service) List(ctx context.Context, q string, all bool) ([]kith.Offer, error) {
	offers, err := s.store.Offers(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	words := strings.Fields(strings.ToLower(q))
	out := offers[:0]
	for _, o := range offers {
		if !all && !Live(&o, now) {
			continue
		}
		text := searchText(&o)
		match := true
		for _, w := range words {
			if !strings.Contains(text, w) {
				match = false
				break
			}
		}
		if match {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		li, lj := Live(&out[i], now), Live(&out[j], now)
		if li != lj {
			return li
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out, nil
}

func searchText(o *kith.Offer) string {
	parts := []string{o.Code, o.Name, o.Description, o.Terms.Summary}
	for _, h := range o.Honour {
		parts = append(parts, h.Alternative, h.Note)
	}
	return strings.ToLower(strings.Join(parts, " "))
}

var statuses = []kith.OfferStatus{kith.OfferDraft, kith.OfferActive, kith.OfferPaused, kith.OfferEnded}

// Validate checks an offer and fills in defaults (withdrawal policy); it
// reports the first problem with the JSON field at fault.
func Validate(o *kith.Offer) error {
	if !codePattern.MatchString(o.Code) {
		return kith.Invalid("code", "a code is 2 to 64 letters, digits, - or _, starting with a letter or digit, e.g. FREE-UPGRADE")
	}
	o.Name = strings.TrimSpace(o.Name)
	if o.Name == "" {
		return kith.Invalid("name", "an offer needs a name that staff and customers recognise")
	}
	if !slices.Contains(statuses, o.Status) {
		return kith.Invalid("status", "unknown status %q; use one of draft, active, paused, ended", o.Status)
	}
	if err := validMoney(&o.Terms.Price, "terms.price"); err != nil {
		return err
	}
	if o.Terms.RegularPrice != nil {
		if err := validMoney(o.Terms.RegularPrice, "terms.regular_price"); err != nil {
			return err
		}
		if o.Terms.RegularPrice.Currency != o.Terms.Price.Currency {
			return kith.Invalid("terms.regular_price.currency", "the regular price must be in the offer price's currency (%s)", o.Terms.Price.Currency)
		}
	}
	if o.ValidUntil.IsZero() {
		return kith.Invalid("valid_until", "an offer needs the end of its validity window")
	}
	if !o.ValidUntil.After(o.ValidFrom) {
		return kith.Invalid("valid_until", "the validity window ends (%s) before it starts (%s)", o.ValidUntil.Format(time.RFC3339), o.ValidFrom.Format(time.RFC3339))
	}
	for field, n := range map[string]int{"grant_days": o.GrantDays, "grant_budget": o.GrantBudget, "redeem_budget": o.RedeemBudget, "per_person": o.PerPerson} {
		if n < 0 {
			return kith.Invalid(field, "must not be negative")
		}
	}
	if err := validConditions(o.Eligibility); err != nil {
		return err
	}
	if len(o.Channels) == 0 {
		return kith.Invalid("channels", "name the channels where the offer may be redeemed")
	}
	seen := map[kith.Kind]bool{}
	for i, ch := range o.Channels {
		if _, err := kith.ParseKind(string(ch)); err != nil {
			return kith.Invalid(fmt.Sprintf("channels[%d]", i), "%s", kith.ErrorMessage(err))
		}
		if seen[ch] {
			return kith.Invalid(fmt.Sprintf("channels[%d]", i), "channel %s is named twice", ch)
		}
		seen[ch] = true
	}
	for ch, h := range o.Honour {
		field := "honour." + string(ch)
		if ch != kith.OtherChannels {
			if _, err := kith.ParseKind(string(ch)); err != nil {
				return kith.Invalid(field, "%s (or * for every channel not named)", kith.ErrorMessage(err))
			}
			if seen[ch] {
				return kith.Invalid(field, "%s redeems the offer; an honour policy is for the channels that do not", ch)
			}
		}
		if err := validHonour(h, field); err != nil {
			return err
		}
	}
	if _, ok := o.Honour[kith.OtherChannels]; !ok {
		var missing []string
		for _, k := range kith.Kinds {
			if _, ok := o.Honour[k]; !ok && !seen[k] {
				missing = append(missing, string(k))
			}
		}
		if len(missing) > 0 {
			return kith.Invalid("honour", "say what every other channel does when a customer brings the offer (honour, fee or alternative); missing: %s, or use * for all of them", strings.Join(missing, ", "))
		}
	}
	switch o.Withdrawal {
	case "":
		o.Withdrawal = kith.WithdrawHonour
	case kith.WithdrawHonour, kith.WithdrawHold:
	default:
		return kith.Invalid("withdrawal", "unknown policy %q; use honour (grants stay redeemable until they expire) or hold", o.Withdrawal)
	}
	return nil
}

func validMoney(m *kith.Money, field string) error {
	if math.IsNaN(m.Amount) || math.IsInf(m.Amount, 0) || m.Amount < 0 {
		return kith.Invalid(field+".amount", "an amount is a number of zero or more")
	}
	if m.Amount > 1e12 {
		return kith.Invalid(field+".amount", "%g is more than any offer's price", m.Amount)
	}
	m.Currency = strings.ToUpper(strings.TrimSpace(m.Currency))
	if !currencyPattern.MatchString(m.Currency) {
		return kith.Invalid(field+".currency", "a currency is a three-letter ISO 4217 code such as USD or EUR")
	}
	return nil
}

func validHonour(h kith.Honour, field string) error {
	switch h.Action {
	case kith.HonourAsGranted:
	case kith.HonourWithFee:
		if h.Fee == nil {
			return kith.Invalid(field+".fee", "a fee policy states the fee")
		}
		if err := validMoney(h.Fee, field+".fee"); err != nil {
			return err
		}
	case kith.HonourAlternative:
		if strings.TrimSpace(h.Alternative) == "" {
			return kith.Invalid(field+".alternative", "an alternative policy states what to offer instead")
		}
	default:
		return kith.Invalid(field+".action", "unknown action %q; use honour, fee or alternative", h.Action)
	}
	return nil
}

// HonourFor returns what a channel does with a grant of o: nil when the
// channel redeems the offer as granted.
func HonourFor(o *kith.Offer, ch kith.Kind) *kith.Honour {
	if slices.Contains(o.Channels, ch) {
		return nil
	}
	if h, ok := o.Honour[ch]; ok {
		return &h
	}
	h := o.Honour[kith.OtherChannels]
	return &h
}
