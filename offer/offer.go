package offer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// People is what the ledger needs to know of people: *profile.Service.
type People interface {
	// Person returns the current profile of id, the ids of every profile
	// that is one person with it, and its identifiers.
	Person(ctx context.Context, id string) (*kith.Profile, []string, []kith.Link, error)
	// Members is Person without the profile: the current profile's id, the
	// ids that are one person with it, and its identifiers.
	Members(ctx context.Context, id string) (string, []string, []kith.Link, error)
	// MembersOf is Members of many profiles at once; ids that are no
	// profile are left out.
	MembersOf(ctx context.Context, ids []string) (map[string]kith.Membership, error)
	// Resolve returns the one current profile holding an identifier.
	Resolve(ctx context.Context, typ, value string) (string, error)
}

// Service is the offer ledger.
type Service struct {
	store    kith.OfferStore
	people   People
	log      kith.EventLog
	audit    kith.AuditLog
	src      *kith.Source
	logger   *slog.Logger
	now      func() time.Time
	versions versionCache
	wake     chan struct{}
}

// Config is what a Service needs besides its store.
type Config struct {
	People People
	// Log receives the ledger events; Source is Kith's own offers source
	// they are sent as (revoked, so nobody else can send as it).
	Log    kith.EventLog
	Source *kith.Source
	// Audit records every change and every read of a person's grants; nil
	// records nothing (tools and tests).
	Audit  kith.AuditLog
	Logger *slog.Logger
	Now    func() time.Time // for tests; time.Now by default
}

// New returns the offer ledger over store.
func New(store kith.OfferStore, c Config) *Service {
	s := &Service{store: store, people: c.People, log: c.Log, audit: c.Audit, src: c.Source, logger: c.Logger, now: c.Now,
		wake: make(chan struct{}, 1)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.versions.m = map[string]*kith.Offer{}
	return s
}

// Source is Kith's own source the ledger's events are sent as.
func (s *Service) Source() *kith.Source { return s.src }

// actor returns who acts; the command line and tests act as Kith itself.
func actor(ctx context.Context) (kith.Actor, error) {
	if a, ok := kith.ActorFrom(ctx); ok {
		return a, nil
	}
	return kith.Actor{Kind: kith.ActorSystem, PII: true, Via: "cli"}, nil
}

func (s *Service) record(ctx context.Context, a kith.Actor, action, target, detail string) error {
	if s.audit == nil {
		return nil
	}
	if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: action, Target: target, Detail: detail}); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}

// versionCache keeps offer versions, which never change once stored, apart
// from status and counts, which it does not serve.
type versionCache struct {
	mu sync.Mutex
	m  map[string]*kith.Offer
}

func (c *versionCache) forget(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if strings.HasPrefix(k, code+"@") {
			delete(c.m, k)
		}
	}
}

// version returns the terms and rules of one version of an offer.
func (s *Service) version(ctx context.Context, code string, v int) (*kith.Offer, error) {
	key := fmt.Sprintf("%s@%d", code, v)
	s.versions.mu.Lock()
	o, ok := s.versions.m[key]
	s.versions.mu.Unlock()
	if ok {
		return o, nil
	}
	o, err := s.store.OfferVersion(ctx, code, v)
	if err != nil {
		return nil, err
	}
	s.versions.mu.Lock()
	if len(s.versions.m) > 10000 {
		clear(s.versions.m)
	}
	s.versions.m[key] = o
	s.versions.mu.Unlock()
	return o, nil
}

// Redemption codes are 12 characters of Crockford's base32 (no I, L, O or
// U, so nothing is misread at a till), shown in groups of four: 60 random
// bits, not guessable.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func newCode() string {
	b := make([]byte, 12)
	rand.Read(b)
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(codeAlphabet[int(c)%32])
	}
	return sb.String()
}

// NormalizeCode turns a code as typed or scanned into its stored form:
// upper case, separators dropped, the letters that look like digits read
// as those digits, regrouped by four.
func NormalizeCode(s string) string {
	var raw []byte
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == 'O':
			raw = append(raw, '0')
		case r == 'I' || r == 'L':
			raw = append(raw, '1')
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			raw = append(raw, byte(r))
		}
	}
	var sb strings.Builder
	for i, c := range raw {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func newGrantID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "gr_" + hex.EncodeToString(b)
}

// event builds a ledger event for a person: a track event from the offers
// source whose messageId is derived from the grant and what happened, so a
// relay that appends it twice leaves one in the log.
func (s *Service) event(name string, g *kith.Grant, at time.Time, props map[string]any) (kith.Event, error) {
	if s.src == nil {
		return kith.Event{}, fmt.Errorf("the offer ledger has no source for its events")
	}
	id := sha256.Sum256([]byte(name + "\x00" + g.ID))
	e := kith.Event{MessageID: "offer-" + hex.EncodeToString(id[:12]), Type: kith.TypeTrack, SourceID: s.src.ID,
		Channel: s.src.Kind, Timestamp: at, ReceivedAt: at}
	props["grant_id"], props["offer"], props["offer_version"] = g.ID, g.Offer, g.OfferVersion
	msg := map[string]any{"type": "track", "event": name, "messageId": e.MessageID,
		"timestamp": at.Format(time.RFC3339Nano), "properties": props}
	if g.Address.Type == "" {
		return kith.Event{}, kith.Errorf(kith.EINVALID, "profile %s holds no identifier a ledger event can be addressed to", g.ProfileID)
	}
	identity.AddressTo(&e, msg, g.Address)
	var err error
	if e.Payload, err = json.Marshal(msg); err != nil {
		return kith.Event{}, err
	}
	return e, nil
}

// Relay appends queued ledger events to the event log until ctx ends:
// after every change, and every few seconds for what an earlier node or
// run left behind. An event appended twice is kept once by its messageId.
func (s *Service) Relay(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		for {
			n, err := s.RelayOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.logger.Warn("relay offer events", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			// Let a busy ledger queue a few more: one append and one delete
			// for many changes, rather than two commits for each.
			select {
			case <-ctx.Done():
				return
			case <-time.After(relayLinger):
			}
		case <-tick.C:
		}
	}
}

// relayLinger is how long the relay waits after a change for more.
const relayLinger = 50 * time.Millisecond

// RelayOnce appends one batch of queued ledger events and returns how many.
func (s *Service) RelayOnce(ctx context.Context) (int, error) {
	out, err := s.store.OfferOutbox(ctx, 1000)
	if err != nil || len(out) == 0 {
		return 0, err
	}
	evs := make([]kith.Event, len(out))
	ids := make([]int64, len(out))
	for i, o := range out {
		evs[i], ids[i] = o.Event, o.ID
	}
	if _, err := s.log.Append(ctx, evs); err != nil {
		return 0, fmt.Errorf("append %d offer events: %w", len(evs), err)
	}
	if err := s.store.DeleteOfferOutbox(ctx, ids); err != nil {
		return 0, err
	}
	return len(out), nil
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
