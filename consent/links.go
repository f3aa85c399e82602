package consent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// Link is what a preference link says: whose preferences it opens, for
// which channel and address (those of the message it came in; empty for
// all), when it was issued and until when it works.
type Link struct {
	Profile string    `json:"p"`
	Channel string    `json:"c,omitempty"`
	Address string    `json:"a,omitempty"`
	Issued  time.Time `json:"i"`
	Expires time.Time `json:"x"`
}

// DefaultLinkTTL is how long a link works unless asked otherwise: long
// enough for a message read late, short enough that a forwarded one dies.
const DefaultLinkTTL = 60 * 24 * time.Hour

// MaxLinkTTL is the longest a link may work.
const MaxLinkTTL = 400 * 24 * time.Hour

// IssueLink signs a preference link for a person, to put in a message on a
// channel to an address. It needs no login: whoever holds it may see and
// change that person's preferences until it expires or is revoked.
func (s *Service) IssueLink(ctx context.Context, who Who, channel, address string, ttl time.Duration) (string, *Link, error) {
	if ttl == 0 {
		ttl = DefaultLinkTTL
	}
	if ttl < time.Minute || ttl > MaxLinkTTL {
		return "", nil, kith.Invalid("ttl", "a link works from a minute to %d days", int(MaxLinkTTL.Hours()/24))
	}
	if channel != "" {
		if err := checkChannel(channel); err != nil {
			return "", nil, err
		}
	}
	address, err := s.normalise(channel, address)
	if err != nil {
		return "", nil, err
	}
	p, _, err := s.person(ctx, who)
	if err != nil {
		return "", nil, err
	}
	now := s.now().UTC()
	l := &Link{Profile: p.ID, Channel: channel, Address: address, Issued: now, Expires: now.Add(ttl)}
	key, err := s.store.LinkKey(ctx)
	if err != nil {
		return "", nil, err
	}
	body, err := json.Marshal(l)
	if err != nil {
		return "", nil, err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(body) + "." + enc.EncodeToString(sign(key, body)), l, nil
}

func sign(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kith preference link\x00"))
	m.Write(body)
	return m.Sum(nil)
}

// OpenLink checks a link: its signature, its expiry, that it was not
// revoked and that its person exists. A link that fails is EFORBIDDEN with
// the reason.
func (s *Service) OpenLink(ctx context.Context, token string) (*Link, error) {
	refuse := func(why string) (*Link, error) {
		return nil, &kith.Error{Code: kith.EFORBIDDEN, Field: "link", Message: "this preference link " + why}
	}
	body64, sig64, ok := strings.Cut(token, ".")
	enc := base64.RawURLEncoding
	body, err1 := enc.DecodeString(body64)
	sig, err2 := enc.DecodeString(sig64)
	if !ok || err1 != nil || err2 != nil || len(token) > 2048 {
		return refuse("is not one Kith made: ask for a new one")
	}
	key, err := s.store.LinkKey(ctx)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(sig, sign(key, body)) {
		return refuse("was changed or is not one Kith made: ask for a new one")
	}
	var l Link
	if err := json.Unmarshal(body, &l); err != nil {
		return refuse("is not one Kith made: ask for a new one")
	}
	now := s.now()
	if !now.Before(l.Expires) {
		return refuse("expired on " + l.Expires.Format("2 January 2006") + ": the newest message has a new one")
	}
	revoked, err := s.store.LinksRevokedBefore(ctx, l.Profile)
	if err != nil {
		return nil, err
	}
	if l.Issued.Before(revoked) {
		return refuse("was withdrawn: the newest message has a new one")
	}
	if _, _, err := s.person(ctx, Who{Profile: l.Profile}); err != nil {
		if kith.IsCode(err, kith.ENOTFOUND) {
			return refuse("is for someone Kith no longer knows")
		}
		return nil, err
	}
	return &l, nil
}

// RevokeLinks withdraws every preference link issued to a person so far.
func (s *Service) RevokeLinks(ctx context.Context, who Who) error {
	p, holders, err := s.person(ctx, who)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	for _, h := range holders {
		if err := s.store.RevokeLinks(ctx, h, now.Add(time.Nanosecond)); err != nil {
			return err
		}
	}
	if s.audit != nil {
		a, _ := kith.ActorFrom(ctx)
		return s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: AuditConsentRecord, Target: p.ID, Detail: "preference links withdrawn"})
	}
	return nil
}

// Unsubscribe is the one-click unsubscribe of RFC 8058 behind a link: the
// person opts out of marketing on the link's channel (every channel when
// it names none) at its address, at once.
func (s *Service) Unsubscribe(ctx context.Context, token string) ([]kith.ConsentRecord, error) {
	l, err := s.OpenLink(ctx, token)
	if err != nil {
		return nil, err
	}
	channels := kith.ContactChannels
	if l.Channel != "" {
		channels = []string{l.Channel}
	}
	var changes []Change
	for _, ch := range channels {
		addr := ""
		if ch == l.Channel {
			addr = l.Address
		}
		changes = append(changes, Change{Who: Who{Profile: l.Profile}, Purpose: kith.PurposeMarketing, Channel: ch, Address: addr,
			State: kith.ConsentOptedOut, Basis: "consent", Via: "preference_centre", Wording: "one-click unsubscribe"})
	}
	ctx = kith.WithActor(ctx, kith.Actor{Kind: kith.ActorCustomer, ID: l.Profile, Name: l.Profile})
	return s.Record(ctx, changes...)
}

// SetPreference records a person's own decision behind a link: one purpose
// on one channel (at the link's address when it is the link's channel).
func (s *Service) SetPreference(ctx context.Context, token, purpose, channel, state string) ([]kith.ConsentRecord, error) {
	l, err := s.OpenLink(ctx, token)
	if err != nil {
		return nil, err
	}
	addr := ""
	if channel == l.Channel {
		addr = l.Address
	}
	ctx = kith.WithActor(ctx, kith.Actor{Kind: kith.ActorCustomer, ID: l.Profile, Name: l.Profile})
	return s.Record(ctx, Change{Who: Who{Profile: l.Profile}, Purpose: purpose, Channel: channel, Address: addr, State: state,
		Basis: "consent", Via: "preference_centre", Wording: "preference centre"})
}
