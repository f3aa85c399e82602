package consent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/kithhq/kith"
)

// Category maps a consent category of Segment's consent object
// (context.consent.categoryPreferences, e.g. "Advertising": false) to the
// purposes and channels it decides.
type Category struct {
	Purposes []string `json:"purposes"`
	Channels []string `json:"channels"` // empty: every channel
}

// DefaultCategories maps the usual names of an advertising or marketing
// category to marketing on every channel; other categories (analytics,
// functional) decide nothing a message needs.
func DefaultCategories() map[string]Category {
	m := Category{Purposes: []string{kith.PurposeMarketing}}
	return map[string]Category{"Advertising": m, "Marketing": m, "advertising": m, "marketing": m}
}

// CheckCategories refuses a mapping that names no purpose or an unknown
// purpose or channel.
func CheckCategories(cats map[string]Category) error {
	for name, c := range cats {
		if len(c.Purposes) == 0 {
			return fmt.Errorf("consent category %q maps to no purpose", name)
		}
		for _, p := range c.Purposes {
			if !slices.Contains(kith.Purposes, p) {
				return fmt.Errorf("consent category %q: %q is not a purpose", name, p)
			}
		}
		for _, ch := range c.Channels {
			if !slices.Contains(kith.ContactChannels, ch) {
				return fmt.Errorf("consent category %q: %q is not a channel", name, ch)
			}
		}
	}
	return nil
}

// EventDecisions returns the decisions an event's consent object carries,
// for the profile it belongs to: one per mapped category, purpose and
// channel, decided at the event's time, with an id derived from the
// event's messageId so that reading the event again records nothing new.
func EventDecisions(e *kith.Event, profileID string, cats map[string]Category, source string) []kith.ConsentRecord {
	var m struct {
		Context struct {
			Consent struct {
				CategoryPreferences map[string]json.RawMessage `json:"categoryPreferences"`
			} `json:"consent"`
		} `json:"context"`
	}
	if json.Unmarshal(e.Payload, &m) != nil || len(m.Context.Consent.CategoryPreferences) == 0 {
		return nil
	}
	names := make([]string, 0, len(m.Context.Consent.CategoryPreferences))
	for n := range m.Context.Consent.CategoryPreferences {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []kith.ConsentRecord
	for _, name := range names {
		c, ok := cats[name]
		if !ok {
			continue
		}
		var given bool
		if json.Unmarshal(m.Context.Consent.CategoryPreferences[name], &given) != nil {
			continue // not a boolean: says nothing
		}
		state := kith.ConsentOptedOut
		if given {
			state = kith.ConsentOptedIn
		}
		channels := c.Channels
		if len(channels) == 0 {
			channels = kith.ContactChannels
		}
		for _, p := range c.Purposes {
			for _, ch := range channels {
				h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", e.MessageID, name, p, ch))
				out = append(out, kith.ConsentRecord{ID: "cns_ev_" + hex.EncodeToString(h[:12]), ProfileID: profileID, Purpose: p,
					Channel: ch, State: state, Basis: "consent", DecidedAt: e.Timestamp.UTC(), RecordedAt: e.ReceivedAt.UTC(),
					Via: "event", Actor: source, Wording: fmt.Sprintf("consent category %q", name)})
			}
		}
	}
	return out
}

// FollowerStore is what the follower needs of the store: the log, and a
// named cursor it moves.
type FollowerStore interface {
	kith.EventReader
	Cursor(ctx context.Context, name string) (int64, error)
	// Process runs fn in a transaction that moves the named cursor.
	Process(ctx context.Context, cursor string, seq int64, fn func(kith.ProfileTx) error) error
}

// FollowerCursor is the follower's cursor in the store.
const FollowerCursor = "consent"

// Follower records the consent events carry, once the profile processor
// has applied them (so that each belongs to a person). It reads the log
// with a cursor of its own; a decision is recorded before the cursor
// moves, and its id is derived from the event, so a crash in between
// records nothing twice.
type Follower struct {
	svc     *Service
	store   FollowerStore
	applied func(ctx context.Context) (int64, error) // the processor's position: every event up to it is applied
	cats    map[string]Category
	sources func(ctx context.Context, id string) string
}

// NewFollower returns a follower recording into svc's store, with svc's
// categories. applied gives the position up to which the profile
// processor has applied the log; source (may be nil) names a source for
// the record's actor.
func NewFollower(svc *Service, store FollowerStore, applied func(ctx context.Context) (int64, error),
	source func(ctx context.Context, id string) string) *Follower {
	return &Follower{svc: svc, store: store, applied: applied, cats: svc.cfg.Categories, sources: source}
}

// Step records the consent of up to limit applied events after the
// cursor, and returns how many events it read.
func (f *Follower) Step(ctx context.Context, limit int) (int, error) {
	cur, err := f.store.Cursor(ctx, FollowerCursor)
	if err != nil {
		return 0, err
	}
	upto, err := f.applied(ctx)
	if err != nil || upto <= cur {
		return 0, err
	}
	evs, err := f.store.ReadEvents(ctx, cur, min(limit, int(upto-cur)))
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	var recs []kith.ConsentRecord
	for i := range evs {
		e := &evs[i]
		if e.Seq > upto {
			evs = evs[:i]
			break
		}
		if !hasConsent(e.Payload) {
			continue
		}
		id, err := f.profileOf(ctx, e)
		if err != nil {
			return 0, err
		}
		if id == "" {
			continue
		}
		src := e.SourceID
		if f.sources != nil {
			src = f.sources(ctx, e.SourceID)
		}
		recs = append(recs, EventDecisions(e, id, f.cats, "source:"+src)...)
	}
	if len(evs) == 0 {
		return 0, nil
	}
	if len(recs) > 0 {
		if err := f.svc.store.AppendConsents(ctx, recs...); err != nil {
			return 0, err
		}
	}
	last := evs[len(evs)-1].Seq
	if err := f.store.Process(ctx, FollowerCursor, last, func(kith.ProfileTx) error { return nil }); err != nil {
		return 0, err
	}
	return len(evs), nil
}

// hasConsent is a cheap look for a consent object before decoding.
func hasConsent(payload []byte) bool {
	return bytes.Contains(payload, []byte(`"categoryPreferences"`))
}

// profileOf is the current profile the event belongs to, by its user id,
// else its anonymous id ("" when neither resolves).
func (f *Follower) profileOf(ctx context.Context, e *kith.Event) (string, error) {
	for _, id := range []kith.Identifier{{Type: kith.IDUserID, Value: e.UserID}, {Type: kith.IDAnonymousID, Value: e.AnonymousID}} {
		if id.Value == "" {
			continue
		}
		p, err := f.svc.people.Resolve(ctx, id.Type, id.Value)
		if err == nil {
			return p, nil
		}
		if !kith.IsCode(err, kith.ENOTFOUND) && !kith.IsCode(err, kith.ECONFLICT) {
			return "", err
		}
	}
	return "", nil
}

// Run follows the log until ctx ends, every period when there is nothing
// new.
func (f *Follower) Run(ctx context.Context, period time.Duration, onErr func(error)) {
	for {
		n, err := f.Step(ctx, 1000)
		if err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}
