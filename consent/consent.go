// Package consent says, for one message, whether a person may be sent it,
// at which contact point and why: the gate every sender calls before any
// outbound message. It keeps the person's decisions per purpose and
// channel (never overwritten), their contact points with their status,
// and the relationships of a household, and applies the rules for minors.
//
// The rules, in order:
//
//  1. A person is their current profile and every profile merged into it:
//     their decisions, contact points and relationships are theirs.
//  2. A minor (under Config.MinorAge by a birth-date trait, or a minor flag
//     trait) gets no marketing on any channel, whatever their opt-ins. Their
//     service and alert messages go to a guardian's contact point when a
//     relationship names one as recipient.
//  3. For each contact point of the recipient on the channel (or, when none
//     is recorded, the e-mail or phone identifier the profile holds), the
//     latest decision for the purpose and channel wins — one for that
//     address or one for the whole channel, by decision time, then by when
//     it was recorded. Where profiles were merged, the most restrictive of
//     their latest decisions wins.
//  4. Marketing needs an opt-in; service and alerts are sent unless opted
//     out. A bounced address gets nothing; an unreachable one (a STOP
//     reply) no marketing.
//  5. The first contact point allowed is the answer, verified ones first.
package consent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// People resolves a profile or an identifier to a person.
type People interface {
	// Person returns the current profile of id, the ids of every profile
	// that is one person with it (the current first), and its identifiers.
	Person(ctx context.Context, id string) (*kith.Profile, []string, []kith.Link, error)
	// Resolve returns the one current profile holding an identifier.
	Resolve(ctx context.Context, typ, value string) (string, error)
	// MembersOf is Person without the documents, for many at once; ids
	// that are no profile are left out.
	MembersOf(ctx context.Context, ids []string) (map[string]kith.Membership, error)
	// ProfilesOf reads many profiles' documents at once, only the parts
	// asked for.
	ProfilesOf(ctx context.Context, ids []string, f kith.DocFields) (map[string]*kith.Profile, error)
}

// Config configures the rules.
type Config struct {
	// MinorAge is the age under which a person is a minor (default 18).
	MinorAge int `json:"minor_age"`
	// BirthDateTraits are the traits read for a birth date, the first
	// present wins (default birthday, birth_date, birthdate,
	// date_of_birth, dob).
	BirthDateTraits []string `json:"birth_date_traits"`
	// MinorTraits are boolean traits that mark a minor (default minor,
	// is_minor).
	MinorTraits []string `json:"minor_traits"`
	// Categories maps the categories of the consent object events carry
	// to purposes and channels (default DefaultCategories).
	Categories map[string]Category `json:"categories"`
}

// DefaultConfig is 18, with the usual trait names.
func DefaultConfig() Config {
	return Config{MinorAge: 18, BirthDateTraits: []string{"birthday", "birth_date", "birthdate", "date_of_birth", "dob"},
		MinorTraits: []string{"minor", "is_minor"}, Categories: DefaultCategories()}
}

// Service is the gate and the record of decisions.
type Service struct {
	store  kith.ConsentStore
	people People
	audit  kith.AuditLog
	cfg    Config
	logger *slog.Logger
	ident  identity.Config
	now    func() time.Time
}

// New returns the Service.
func New(store kith.ConsentStore, people People, audit kith.AuditLog, cfg Config, logger *slog.Logger) *Service {
	def := DefaultConfig()
	if cfg.MinorAge <= 0 {
		cfg.MinorAge = def.MinorAge
	}
	if cfg.BirthDateTraits == nil {
		cfg.BirthDateTraits = def.BirthDateTraits
	}
	if cfg.MinorTraits == nil {
		cfg.MinorTraits = def.MinorTraits
	}
	if cfg.Categories == nil {
		cfg.Categories = def.Categories
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{store: store, people: people, audit: audit, cfg: cfg, logger: logger, ident: identity.DefaultConfig(), now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Audit actions of consent.
const (
	AuditConsentRecord = "consent.record"       // a decision was recorded
	AuditContactPoint  = "consent.contact"      // a contact point was set
	AuditRelationship  = "consent.relationship" // a relationship was set or removed
)

// Who names a person to check or change: a profile id, or an identifier.
type Who struct {
	Profile    string           `json:"profile,omitempty"`
	Identifier *kith.Identifier `json:"identifier,omitempty"`
}

// resolve returns the profile id Who names.
func (s *Service) resolve(ctx context.Context, w Who) (string, error) {
	switch {
	case w.Profile != "" && w.Identifier != nil:
		return "", kith.Invalid("profile", "name the person by profile or by identifier, not both")
	case w.Profile != "":
		return w.Profile, nil
	case w.Identifier != nil:
		return s.people.Resolve(ctx, w.Identifier.Type, w.Identifier.Value)
	}
	return "", kith.Invalid("profile", `name the person: "profile": "prf_…" or "identifier": {"type": "email", "value": "…"}`)
}

func checkPurpose(p string) error {
	if !slices.Contains(kith.Purposes, p) {
		return kith.Invalid("purpose", "%q is not a purpose: use one of %s", p, strings.Join(kith.Purposes, ", "))
	}
	return nil
}

func checkChannel(c string) error {
	if !slices.Contains(kith.ContactChannels, c) {
		return kith.Invalid("channel", "%q is not a channel: use one of %s", c, strings.Join(kith.ContactChannels, ", "))
	}
	return nil
}

// Decision is the gate's answer for one message.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Profile string `json:"profile"` // the person's current profile
	Purpose string `json:"purpose"`
	Channel string `json:"channel"`
	// ContactPoint is where to send it, when allowed.
	ContactPoint *kith.ContactPoint `json:"contact_point,omitempty"`
	// Recipient is whose contact point it is: the person's, or a
	// guardian's for a minor's service and alert messages.
	Recipient string `json:"recipient,omitempty"`
	// Reason says why, in words; Minor says the minor rule applied;
	// Decisions are the ids of the consent records the answer rests on.
	Reason    string    `json:"reason"`
	Minor     bool      `json:"minor,omitempty"`
	Decisions []string  `json:"decisions,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
	// AsOf is the instant the answer is for: CheckedAt for a check now,
	// the time asked for by CheckAt.
	AsOf time.Time `json:"as_of,omitzero"`
}

// Check answers whether a message of a purpose may go to a person on a
// channel now, at which contact point and why, from the latest state.
func (s *Service) Check(ctx context.Context, who Who, purpose, channel string) (*Decision, error) {
	return s.check(ctx, who, purpose, channel, time.Time{})
}

// CheckAt answers as Check would have at a past instant, to explain an
// answer later: from the decisions recorded at or before at (the latest
// by decision time winning, as in Check), the contact points' statuses as
// they stood at at, and the person's age at at. The person (their merged
// profiles and identifiers), their traits and their relationships are
// taken as they are now. A time in the future is EINVALID on "at".
func (s *Service) CheckAt(ctx context.Context, who Who, purpose, channel string, at time.Time) (*Decision, error) {
	if at.IsZero() {
		return nil, kith.Invalid("at", "give the time to answer for, or check now")
	}
	if now := s.now(); at.After(now) {
		return nil, kith.Invalid("at", "%s is in the future: an answer can be given as of now or a past time (leave at out to check now)",
			at.UTC().Format(time.RFC3339Nano))
	}
	return s.check(ctx, who, purpose, channel, at.UTC())
}

// check is Check now (at zero) or as of a past time.
func (s *Service) check(ctx context.Context, who Who, purpose, channel string, at time.Time) (*Decision, error) {
	if err := checkPurpose(purpose); err != nil {
		return nil, err
	}
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	id, err := s.resolve(ctx, who)
	if err != nil {
		return nil, err
	}
	p, holders, links, err := s.people.Person(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	past := !at.IsZero()
	if !past {
		at = now
	}
	d := &Decision{Profile: p.ID, Purpose: purpose, Channel: channel, Recipient: p.ID, CheckedAt: now, AsOf: at}
	minor, why := s.minor(p, at)
	if minor && purpose == kith.PurposeMarketing {
		d.Minor, d.Reason = true, "no marketing to a minor ("+why+")"
		return d, nil
	}
	recs, err := s.store.Consents(ctx, holders...)
	if err != nil {
		return nil, err
	}
	if past {
		recs = recordedBy(recs, at)
	}
	// Where it goes: the person, or for a minor a guardian named recipient.
	to := recipient{id: p.ID, holders: holders, links: links}
	if minor {
		rels, err := s.store.Relationships(ctx, holders...)
		if err != nil {
			return nil, err
		}
		if g := guardianIn(rels, holders); g != "" {
			gp, gh, gl, err := s.people.Person(ctx, g)
			if err != nil {
				return nil, err
			}
			to = recipient{id: gp.ID, holders: gh, links: gl}
		}
	}
	if past {
		to.cps, err = s.contactPointsAt(ctx, to.holders, at)
	} else {
		to.cps, err = s.store.ContactPoints(ctx, to.holders...)
	}
	if err != nil {
		return nil, err
	}
	decide(d, minor, recs, holders, to)
	return d, nil
}

// recordedBy keeps the decisions Kith had recorded at or before at: one
// decided earlier but entered later was not known then.
func recordedBy(recs []kith.ConsentRecord, at time.Time) []kith.ConsentRecord {
	out := recs[:0:0]
	for _, r := range recs {
		if !r.RecordedAt.After(at) {
			out = append(out, r)
		}
	}
	return out
}

// contactPointsAt returns the profiles' contact points as they stood at
// at, from their history, by profile, channel and address as the store's
// ContactPoints gives them.
func (s *Service) contactPointsAt(ctx context.Context, holders []string, at time.Time) ([]kith.ContactPoint, error) {
	hist, err := s.store.ContactPointHistory(ctx, holders...)
	if err != nil {
		return nil, err
	}
	return asOf(hist, at), nil
}

// asOf folds a contact point history, oldest first, into each contact
// point's last entry updated at or before at.
func asOf(hist []kith.ContactPoint, at time.Time) []kith.ContactPoint {
	type key struct{ profile, channel, address string }
	last := map[key]int{}
	var out []kith.ContactPoint
	for _, cp := range hist {
		if cp.UpdatedAt.After(at) {
			continue
		}
		k := key{cp.ProfileID, cp.Channel, cp.Address}
		if i, ok := last[k]; ok {
			out[i] = cp
			continue
		}
		last[k] = len(out)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ProfileID != b.ProfileID {
			return a.ProfileID < b.ProfileID
		}
		if a.Channel != b.Channel {
			return a.Channel < b.Channel
		}
		return a.Address < b.Address
	})
	return out
}

// recipient is whom a message goes to: their ids, identifiers and contact
// points.
type recipient struct {
	id      string
	holders []string
	links   []kith.Link
	cps     []kith.ContactPoint
}

// decide fills in a decision from the person's decisions (recs, about
// holders) and the recipient's contact points.
func decide(d *Decision, minor bool, recs []kith.ConsentRecord, holders []string, to recipient) {
	d.Minor, d.Recipient = minor, to.id
	purpose, channel := d.Purpose, d.Channel
	cands := candidates(to.cps, to.links, channel)
	if len(cands) == 0 {
		d.Reason = fmt.Sprintf("no %s contact point", channel)
		if to.id != d.Profile {
			d.Reason += " for the guardian " + to.id
		}
		return
	}
	var refusals []string
	for _, cp := range cands {
		state, used := latest(recs, holders, purpose, channel, cp.Address)
		ok, reason := allowed(purpose, channel, state, cp)
		if ok {
			cp := cp
			d.Allowed, d.ContactPoint, d.Decisions = true, &cp, used
			d.Reason = reason
			if to.id != d.Profile {
				d.Reason += "; a minor's " + purpose + " messages go to the guardian " + to.id
			}
			return
		}
		refusals = append(refusals, cp.Address+": "+reason)
		d.Decisions = append(d.Decisions, used...)
	}
	d.Reason = strings.Join(refusals, "; ")
}

// candidates are the contact points of a channel, verified first; the
// profile's e-mail or phone identifier (unverified) when none is recorded.
func candidates(cps []kith.ContactPoint, links []kith.Link, channel string) []kith.ContactPoint {
	var out []kith.ContactPoint
	seen := map[string]bool{}
	for _, cp := range cps {
		if cp.Channel == channel && !seen[cp.Address] {
			seen[cp.Address] = true
			out = append(out, cp)
		}
	}
	if len(out) == 0 {
		typ := map[string]string{kith.ContactEmail: kith.IDEmail, kith.ContactSMS: kith.IDPhone, kith.ContactPhone: kith.IDPhone}[channel]
		for _, l := range links {
			if typ != "" && l.Type == typ && !seen[l.Value] {
				seen[l.Value] = true
				out = append(out, kith.ContactPoint{ProfileID: l.ProfileID, Channel: channel, Address: l.Value, Status: kith.ContactUnverified})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Status == kith.ContactVerified && out[j].Status != kith.ContactVerified
	})
	return out
}

// latest is the state for a purpose, channel and address: each profile's
// latest applicable decision, the most restrictive across profiles; and
// the ids of the records it rests on.
func latest(recs []kith.ConsentRecord, holders []string, purpose, channel, address string) (string, []string) {
	state := ""
	var used []string
	for _, h := range holders {
		var best *kith.ConsentRecord
		for i := range recs {
			r := &recs[i]
			if r.ProfileID != h || r.Purpose != purpose || r.Channel != channel || r.Address != "" && r.Address != address {
				continue
			}
			if best == nil || r.DecidedAt.After(best.DecidedAt) || r.DecidedAt.Equal(best.DecidedAt) && !r.RecordedAt.Before(best.RecordedAt) {
				best = r
			}
		}
		if best == nil || best.State == kith.ConsentUnset {
			continue
		}
		used = append(used, best.ID)
		if state == "" || best.State == kith.ConsentOptedOut {
			state = best.State
		}
	}
	return state, used
}

// allowed applies a state and a contact point's status to a purpose.
func allowed(purpose, channel, state string, cp kith.ContactPoint) (bool, string) {
	switch {
	case cp.Status == kith.ContactBounced:
		return false, "the address bounced" + because(cp)
	case cp.Status == kith.ContactUnreachable && purpose == kith.PurposeMarketing:
		return false, "unreachable for marketing" + because(cp)
	case state == kith.ConsentOptedOut:
		return false, fmt.Sprintf("opted out of %s by %s", purpose, channel)
	case purpose == kith.PurposeMarketing && state != kith.ConsentOptedIn:
		return false, fmt.Sprintf("no opt-in to %s by %s", purpose, channel)
	case state == kith.ConsentOptedIn:
		return true, fmt.Sprintf("opted in to %s by %s", purpose, channel)
	}
	return true, fmt.Sprintf("%s messages are sent unless opted out", purpose)
}

func because(cp kith.ContactPoint) string {
	if cp.Reason == "" {
		return ""
	}
	return " (" + cp.Reason + ")"
}

// minor reports whether a person is a minor at now, and why.
func (s *Service) minor(p *kith.Profile, now time.Time) (bool, string) {
	for _, name := range s.cfg.MinorTraits {
		if t, ok := p.Traits[name]; ok && strings.TrimSpace(string(t.Value)) == "true" {
			return true, "marked " + name
		}
	}
	for _, name := range s.cfg.BirthDateTraits {
		t, ok := p.Traits[name]
		if !ok {
			continue
		}
		born, ok := birthDate(t.Value)
		if !ok {
			continue
		}
		if age := yearsBetween(born, now); age < s.cfg.MinorAge {
			return true, fmt.Sprintf("%d years old by %s", age, name)
		}
		return false, ""
	}
	return false, ""
}

// birthDate reads a date (2010-05-31) or a time (RFC 3339) from a JSON
// string.
func birthDate(raw []byte) (time.Time, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// yearsBetween is a person's age at now.
func yearsBetween(born, now time.Time) int {
	y := now.Year() - born.Year()
	if now.Month() < born.Month() || now.Month() == born.Month() && now.Day() < born.Day() {
		y--
	}
	return y
}

// guardianIn returns the profile named recipient of the person's (holders')
// messages by a guardian or parent relationship ("" when none).
func guardianIn(rels []kith.Relationship, holders []string) string {
	for _, r := range rels {
		if r.Recipient && slices.Contains(holders, r.To) && (r.Kind == kith.RelationGuardian || r.Kind == kith.RelationParent) {
			return r.From
		}
	}
	return ""
}

func newID(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
