package profile

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/kithhq/kith"
)

// RecordTo makes the Service record every read and change of a profile in
// the audit log, with the actor the call's context carries; from then on a
// call without an actor is refused.
func (s *Service) RecordTo(a kith.AuditLog) { s.audit = a }

// actor returns the caller. When reads are recorded, a caller must say who
// it is.
func (s *Service) actor(ctx context.Context) (kith.Actor, error) {
	a, ok := kith.ActorFrom(ctx)
	if ok {
		return a, nil
	}
	if s.audit != nil {
		return kith.Actor{}, kith.Errorf(kith.EUNAUTHORIZED, "profiles are read only by a known user or API key")
	}
	return kith.Actor{Kind: kith.ActorSystem, PII: true}, nil
}

func needPII(a kith.Actor, what string) error {
	if a.PII {
		return nil
	}
	return kith.Errorf(kith.EFORBIDDEN, "%s needs access to personal data, which the %s role does not have; open a profile by its id instead", what, roleOf(a))
}

func roleOf(a kith.Actor) string {
	if a.Role != "" {
		return string(a.Role)
	}
	return string(a.Kind)
}

func (s *Service) record(ctx context.Context, recs ...kith.AuditRecord) error {
	if s.audit == nil || len(recs) == 0 {
		return nil
	}
	// The record is made before the data leaves: if it cannot be kept, the
	// read fails.
	if err := s.audit.AppendAudit(ctx, recs...); err != nil {
		return fmt.Errorf("record %s of %s: %w", recs[0].Action, recs[0].Target, err)
	}
	return nil
}

func (s *Service) disclose(ctx context.Context, a kith.Actor, action, target, detail string) error {
	return s.record(ctx, kith.AuditRecord{Actor: a, Action: action, Target: target, Detail: detail})
}

// Customer is everything an agent's screen shows of one person.
type Customer struct {
	*View
	Identities *Identities
	Timeline   *Page
}

// Customer returns a profile, its identity graph and the first page of its
// timeline, recorded as one read.
func (s *Service) Customer(ctx context.Context, id string, timelineLimit int) (*Customer, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.view(ctx, id)
	if err != nil {
		return nil, err
	}
	ids, err := s.identities(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	page, _, err := s.timeline(ctx, v.ID, "", timelineLimit)
	if err != nil {
		return nil, err
	}
	if err := s.disclose(ctx, a, kith.AuditProfileRead, v.ID, "customer 360"); err != nil {
		return nil, err
	}
	redactLinks(a, ids.Links)
	redactTimeline(a, page.Events)
	return &Customer{View: redactView(a, v), Identities: ids, Timeline: page}, nil
}

// Hidden replaces personal data shown to an actor who may not see it.
const Hidden = "(hidden)"

var hiddenJSON = json.RawMessage(`"` + Hidden + `"`)

// personalTraits are trait names, lower-cased without '_' or '-', that hold
// personal data. Identifier types are personal too.
var personalTraits = map[string]bool{
	"email": true, "phone": true, "mobile": true, "name": true, "firstname": true, "lastname": true,
	"username": true, "address": true, "street": true, "city": true, "postalcode": true, "zip": true,
	"zipcode": true, "birthday": true, "birthdate": true, "dob": true, "ssn": true, "ip": true, "avatar": true,
}

// Personal reports whether a trait holds personal data.
func Personal(trait string) bool {
	k := strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(trait))
	return personalTraits[k] || strings.HasSuffix(k, "id") || strings.Contains(k, "email") || strings.Contains(k, "phone")
}

func redactView(a kith.Actor, v *View) *View {
	if a.PII {
		return v
	}
	p := *v.Profile
	p.Traits = maps.Clone(p.Traits)
	for k, t := range p.Traits {
		if Personal(k) {
			t.Value = hiddenJSON
			p.Traits[k] = t
		}
	}
	p.SearchKeys = nil
	out := *v
	out.Profile = &p
	out.Name = ""
	out.Identifiers = append([]kith.Link(nil), v.Identifiers...)
	redactLinks(a, out.Identifiers)
	return &out
}

func redactLinks(a kith.Actor, links []kith.Link) {
	if a.PII {
		return
	}
	for i := range links {
		links[i].Value = Hidden
	}
}

// redactTimeline keeps what an event was (its type, name, page path and
// category) and hides who sent it and what else it said.
func redactTimeline(a kith.Actor, evs []kith.TimelineEvent) {
	if a.PII {
		return
	}
	for i := range evs {
		e := &evs[i]
		e.UserID, e.AnonymousID = "", ""
		var m struct {
			Type       string `json:"type"`
			Event      string `json:"event,omitempty"`
			Name       string `json:"name,omitempty"`
			Properties struct {
				Path     string `json:"path,omitempty"`
				Category string `json:"category,omitempty"`
			} `json:"properties"`
		}
		_ = json.Unmarshal(e.Payload, &m)
		m.Type = string(e.Type)
		e.Payload, _ = json.Marshal(m)
	}
}
