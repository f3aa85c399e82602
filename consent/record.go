package consent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// UseIdentity normalises addresses as the identity configuration does
// (default: identity.DefaultConfig).
func (s *Service) UseIdentity(c identity.Config) { s.ident = c }

// Bases are the legal bases a decision may rest on.
var Bases = []string{"consent", "contract", "legitimate_interest", "legal_obligation"}

// Vias are how a decision may reach Kith.
var Vias = []string{"api", "console", "call_center", "preference_centre", "event", "import"}

// Change is a decision to record.
type Change struct {
	Who
	Purpose string `json:"purpose"`
	Channel string `json:"channel"`
	Address string `json:"address,omitempty"` // one contact point; empty for the whole channel
	State   string `json:"state"`
	Basis   string `json:"basis,omitempty"`
	// DecidedAt is when the person decided (default now): a decision
	// said on a call an hour ago and entered now is an hour old.
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Via       string    `json:"via,omitempty"` // default api
	Wording   string    `json:"wording,omitempty"`
}

// Record checks and records decisions, all or none, as the actor in ctx.
// It answers at once: the next Check sees them.
func (s *Service) Record(ctx context.Context, changes ...Change) ([]kith.ConsentRecord, error) {
	if len(changes) == 0 {
		return nil, kith.Invalid("consents", "no decision to record")
	}
	if len(changes) > 100 {
		return nil, kith.Invalid("consents", "at most 100 decisions at once")
	}
	a, _ := kith.ActorFrom(ctx)
	now := s.now().UTC()
	recs := make([]kith.ConsentRecord, 0, len(changes))
	for i, c := range changes {
		r, err := s.record(ctx, c, a, now)
		if err != nil {
			if len(changes) > 1 {
				if ke, ok := err.(*kith.Error); ok {
					ke.Field = fmt.Sprintf("consents[%d].%s", i, ke.Field)
				}
			}
			return nil, err
		}
		recs = append(recs, r)
	}
	if err := s.store.AppendConsents(ctx, recs...); err != nil {
		return nil, err
	}
	if s.audit != nil {
		audits := make([]kith.AuditRecord, len(recs))
		for i, r := range recs {
			audits[i] = kith.AuditRecord{Actor: a, Action: AuditConsentRecord, Target: r.ProfileID,
				Detail: fmt.Sprintf("%s by %s%s: %s (via %s)", r.Purpose, r.Channel, at(r.Address), r.State, r.Via)}
		}
		if err := s.audit.AppendAudit(ctx, audits...); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func at(address string) string {
	if address == "" {
		return ""
	}
	return " at " + address
}

func (s *Service) record(ctx context.Context, c Change, a kith.Actor, now time.Time) (kith.ConsentRecord, error) {
	if err := checkPurpose(c.Purpose); err != nil {
		return kith.ConsentRecord{}, err
	}
	if err := checkChannel(c.Channel); err != nil {
		return kith.ConsentRecord{}, err
	}
	if !slices.Contains([]string{kith.ConsentOptedIn, kith.ConsentOptedOut, kith.ConsentUnset}, c.State) {
		return kith.ConsentRecord{}, kith.Invalid("state", "%q is not a state: opted_in, opted_out or unset", c.State)
	}
	if c.Basis != "" && !slices.Contains(Bases, c.Basis) {
		return kith.ConsentRecord{}, kith.Invalid("basis", "%q is not a legal basis: use one of %s", c.Basis, strings.Join(Bases, ", "))
	}
	if c.Via == "" {
		c.Via = "api"
	}
	if !slices.Contains(Vias, c.Via) {
		return kith.ConsentRecord{}, kith.Invalid("via", "%q is not a way a decision arrives: use one of %s", c.Via, strings.Join(Vias, ", "))
	}
	if len(c.Wording) > 2000 || !utf8.ValidString(c.Wording) || strings.ContainsRune(c.Wording, 0) {
		return kith.ConsentRecord{}, kith.Invalid("wording", "the wording agreed to is at most 2,000 characters of text, kept as said")
	}
	if c.DecidedAt.IsZero() {
		c.DecidedAt = now
	}
	if c.DecidedAt.After(now.Add(5 * time.Minute)) {
		return kith.ConsentRecord{}, kith.Invalid("decided_at", "a decision cannot be taken in the future (%s)", c.DecidedAt.Format(time.RFC3339))
	}
	address, err := s.normalise(c.Channel, c.Address)
	if err != nil {
		return kith.ConsentRecord{}, err
	}
	p, _, err := s.person(ctx, c.Who)
	if err != nil {
		return kith.ConsentRecord{}, err
	}
	return kith.ConsentRecord{ID: newID("cns_"), ProfileID: p.ID, Purpose: c.Purpose, Channel: c.Channel, Address: address, State: c.State,
		Basis: c.Basis, DecidedAt: c.DecidedAt.UTC(), RecordedAt: now, Via: c.Via, Actor: a.String(), Wording: c.Wording}, nil
}

// normalise puts an address in the form identifiers take: e-mail
// lower-cased, phone numbers in E.164 (national numbers read in the
// identity configuration's region).
func (s *Service) normalise(channel, address string) (string, error) {
	address = strings.TrimSpace(address)
	if address == "" {
		return "", nil
	}
	if len(address) > 320 {
		return "", kith.Invalid("address", "an address is at most 320 characters")
	}
	typ := map[string]string{kith.ContactEmail: kith.IDEmail, kith.ContactSMS: kith.IDPhone, kith.ContactPhone: kith.IDPhone}[channel]
	if typ == "" {
		return address, nil
	}
	v, err := s.ident.Normalize(typ, address)
	if err != nil {
		return "", kith.Invalid("address", "%v", err)
	}
	return v, nil
}

// person returns the current profile Who names and the ids that are one
// person with it.
func (s *Service) person(ctx context.Context, who Who) (*kith.Profile, []string, error) {
	id, err := s.resolve(ctx, who)
	if err != nil {
		return nil, nil, err
	}
	p, holders, _, err := s.people.Person(ctx, id)
	return p, holders, err
}

// History returns every decision about a person, oldest recorded first.
func (s *Service) History(ctx context.Context, who Who) ([]kith.ConsentRecord, error) {
	_, holders, err := s.person(ctx, who)
	if err != nil {
		return nil, err
	}
	return s.store.Consents(ctx, holders...)
}

// SetContactPoint records a person's contact point and its status.
func (s *Service) SetContactPoint(ctx context.Context, who Who, cp kith.ContactPoint) (*kith.ContactPoint, error) {
	if err := checkChannel(cp.Channel); err != nil {
		return nil, err
	}
	if cp.Status == "" {
		cp.Status = kith.ContactUnverified
	}
	if !slices.Contains([]string{kith.ContactVerified, kith.ContactUnverified, kith.ContactBounced, kith.ContactUnreachable}, cp.Status) {
		return nil, kith.Invalid("status", "%q is not a status: verified, unverified, bounced or unreachable", cp.Status)
	}
	if strings.TrimSpace(cp.Address) == "" {
		return nil, kith.Invalid("address", "a contact point needs an address")
	}
	address, err := s.normalise(cp.Channel, cp.Address)
	if err != nil {
		return nil, err
	}
	if len(cp.Label) > 100 || len(cp.Reason) > 500 {
		return nil, kith.Invalid("label", "a label is at most 100 characters, a reason 500")
	}
	p, _, err := s.person(ctx, who)
	if err != nil {
		return nil, err
	}
	a, _ := kith.ActorFrom(ctx)
	cp.ProfileID, cp.Address, cp.UpdatedAt, cp.UpdatedBy = p.ID, address, s.now().UTC(), a.String()
	if err := s.store.PutContactPoint(ctx, cp); err != nil {
		return nil, err
	}
	if s.audit != nil {
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: AuditContactPoint, Target: p.ID,
			Detail: fmt.Sprintf("%s %s: %s", cp.Channel, cp.Address, cp.Status)}); err != nil {
			return nil, err
		}
	}
	return &cp, nil
}

// ContactPoints returns a person's contact points.
func (s *Service) ContactPoints(ctx context.Context, who Who) ([]kith.ContactPoint, error) {
	_, holders, err := s.person(ctx, who)
	if err != nil {
		return nil, err
	}
	return s.store.ContactPoints(ctx, holders...)
}

// ContactPointHistory returns every contact point a person was ever given
// and every change of its status, oldest first: what explains, with the
// decisions' history, an answer of the gate on a past day.
func (s *Service) ContactPointHistory(ctx context.Context, who Who) ([]kith.ContactPoint, error) {
	_, holders, err := s.person(ctx, who)
	if err != nil {
		return nil, err
	}
	return s.store.ContactPointHistory(ctx, holders...)
}

// Relationships returns the relationships either end of which is the
// person.
func (s *Service) Relationships(ctx context.Context, who Who) ([]kith.Relationship, error) {
	_, holders, err := s.person(ctx, who)
	if err != nil {
		return nil, err
	}
	return s.store.Relationships(ctx, holders...)
}

// Suppress makes an address no longer usable at once: a hard bounce
// (bounced: nothing goes to it) or a STOP reply (unreachable: no
// marketing). The person is the one holding the address as an
// identifier, or the one named. It is what the inbound side of messaging
// calls.
func (s *Service) Suppress(ctx context.Context, who Who, channel, address, kind, reason string) (*kith.ContactPoint, error) {
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	status := map[string]string{"hard_bounce": kith.ContactBounced, "stop": kith.ContactUnreachable}[kind]
	if status == "" {
		return nil, kith.Invalid("kind", "%q is not a suppression: hard_bounce or stop", kind)
	}
	if who.Profile == "" && who.Identifier == nil {
		typ := map[string]string{kith.ContactEmail: kith.IDEmail, kith.ContactSMS: kith.IDPhone, kith.ContactPhone: kith.IDPhone}[channel]
		if typ == "" {
			return nil, kith.Invalid("profile", "name the person whose %s address this is", channel)
		}
		who.Identifier = &kith.Identifier{Type: typ, Value: address}
	}
	if reason == "" {
		reason = map[string]string{"hard_bounce": "hard bounce", "stop": "STOP reply"}[kind]
	}
	return s.SetContactPoint(ctx, who, kith.ContactPoint{Channel: channel, Address: address, Status: status, Reason: reason})
}

// Relate records a relationship between two people.
func (s *Service) Relate(ctx context.Context, r kith.Relationship) (*kith.Relationship, error) {
	if !slices.Contains([]string{kith.RelationParent, kith.RelationGuardian, kith.RelationPartner}, r.Kind) {
		return nil, kith.Invalid("kind", "%q is not a relationship: parent, guardian or partner", r.Kind)
	}
	if r.Recipient && r.Kind == kith.RelationPartner {
		return nil, kith.Invalid("recipient", "only a parent or guardian receives another's messages")
	}
	from, _, _, err := s.people.Person(ctx, r.From)
	if err != nil {
		return nil, fieldOf(err, "from")
	}
	to, _, _, err := s.people.Person(ctx, r.To)
	if err != nil {
		return nil, fieldOf(err, "to")
	}
	if from.ID == to.ID {
		return nil, kith.Invalid("to", "a person is not related to themselves")
	}
	if len(r.Household) > 200 {
		return nil, kith.Invalid("household", "a household's name is at most 200 characters")
	}
	a, _ := kith.ActorFrom(ctx)
	r.From, r.To, r.Since, r.By = from.ID, to.ID, s.now().UTC(), a.String()
	if err := s.store.PutRelationship(ctx, r); err != nil {
		return nil, err
	}
	if s.audit != nil {
		detail := fmt.Sprintf("%s is %s of %s", r.From, r.Kind, r.To)
		if r.Recipient {
			detail += ", receiving their service and alert messages"
		}
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: AuditRelationship, Target: r.To, Detail: detail}); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

func fieldOf(err error, field string) error {
	if ke, ok := err.(*kith.Error); ok && ke.Field == "" {
		c := *ke
		c.Field = field
		return &c
	}
	return err
}
