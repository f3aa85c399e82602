package profile

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// Reader is what the profile API reads from a store.
type Reader interface {
	Profile(ctx context.Context, id string) (*kith.Profile, error)
	ProfileIDsFor(ctx context.Context, id kith.Identifier) ([]string, error)
	Links(ctx context.Context, profileID string) ([]kith.Link, error)
	Merges(ctx context.Context, root string) ([]kith.Merge, error)
	Conflicts(ctx context.Context, profileID string) ([]kith.Conflict, error)
	Timeline(ctx context.Context, profileID string, before *kith.TimelineCursor, limit int) ([]kith.TimelineEvent, error)
	SearchProfiles(ctx context.Context, name string, prefixes []kith.Identifier, limit int) ([]string, error)
	// Members returns the current profile id is part of (itself, or the
	// survivor it was merged into) and the ids of the profiles merged into
	// that one, in id order; ENOTFOUND when id is no profile.
	Members(ctx context.Context, id string) (current string, absorbed []string, err error)
	// MembersOf is Members, with the identifiers, of many profiles at once;
	// ids that are no profile are left out of the map.
	MembersOf(ctx context.Context, ids []string) (map[string]kith.Membership, error)
	// StoredProfilesByID returns the profiles with the given ids, their
	// documents undecoded; ids that are no profile are left out.
	StoredProfilesByID(ctx context.Context, ids []string) ([]kith.StoredProfile, error)
}

// Service answers questions about profiles for every channel.
type Service struct {
	r     Reader
	proc  *Processor
	now   func() time.Time
	audit kith.AuditLog // nil: reads are not recorded (tests, tools)
	// afterUndo are told of each merge undone.
	afterUndo []func(context.Context, kith.Merge)
}

// NewService returns a Service reading r; undo and lag go through proc.
func NewService(r Reader, proc *Processor) *Service {
	return &Service{r: r, proc: proc, now: time.Now}
}

// View is a profile as a channel sees it.
type View struct {
	*kith.Profile
	RequestedID string // the id asked for, when it was merged into this one
	Name        string
	Identifiers []kith.Link
	TopIntents  []RankedIntent
}

// current follows a merged profile to its survivor.
func (s *Service) current(ctx context.Context, id string) (*kith.Profile, string, error) {
	p, err := s.r.Profile(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if p.MergedInto == "" {
		return p, "", nil
	}
	sp, err := s.r.Profile(ctx, p.MergedInto)
	if err != nil {
		return nil, "", fmt.Errorf("profile %s merged into %s: %w", id, p.MergedInto, err)
	}
	return sp, id, nil
}

// Get returns a profile; an absorbed id answers its survivor.
func (s *Service) Get(ctx context.Context, id string) (*View, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.view(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.disclose(ctx, a, kith.AuditProfileRead, v.ID, ""); err != nil {
		return nil, err
	}
	return redactView(a, v), nil
}

func (s *Service) view(ctx context.Context, id string) (*View, error) {
	p, requested, err := s.current(ctx, id)
	if err != nil {
		return nil, err
	}
	links, err := s.r.Links(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	cfg := s.proc.Config()
	return &View{Profile: p, RequestedID: requested, Name: DisplayName(p), Identifiers: links,
		TopIntents: cfg.Intents.TopIntents(p, s.now())}, nil
}

// Lookup finds the profile holding an identifier. The value is normalised
// as identifiers are (e-mail case, phone format). When several profiles
// hold it (after a unique conflict) it returns ECONFLICT and their ids.
func (s *Service) Lookup(ctx context.Context, typ, value string) (*View, []string, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := needPII(a, "looking a profile up by an identifier"); err != nil {
		return nil, nil, err
	}
	ids, v, err := s.resolve(ctx, typ, value)
	if err != nil {
		return nil, nil, err
	}
	switch len(ids) {
	case 0:
		return nil, nil, kith.Errorf(kith.ENOTFOUND, "no profile holds %s %s", typ, v)
	case 1:
		view, err := s.view(ctx, ids[0])
		if err != nil {
			return nil, nil, err
		}
		if err := s.disclose(ctx, a, kith.AuditProfileLookup, view.ID, typ+" "+v); err != nil {
			return nil, nil, err
		}
		return view, nil, nil
	}
	return nil, ids, kith.Errorf(kith.ECONFLICT, "%d profiles hold %s %s", len(ids), typ, v)
}

// resolve normalises an identifier and returns the current profiles holding it.
func (s *Service) resolve(ctx context.Context, typ, value string) ([]string, string, error) {
	cfg := s.proc.Config()
	if !cfg.Identity.IsType(typ) {
		return nil, "", kith.Invalid(typ, "unknown identifier type; use one of %s", strings.Join(cfg.Identity.Types(), ", "))
	}
	v, err := cfg.Identity.Normalize(typ, value)
	if err != nil {
		return nil, "", kith.Invalid(typ, "%v", err)
	}
	ids, err := s.r.ProfileIDsFor(ctx, kith.Identifier{Type: typ, Value: v})
	return ids, v, err
}

// Resolve returns the one current profile holding an identifier, normalised
// as identifiers are: ENOTFOUND when none does, ECONFLICT when several do.
// Like Person it is for services acting for a person and records no read.
func (s *Service) Resolve(ctx context.Context, typ, value string) (string, error) {
	ids, v, err := s.resolve(ctx, typ, value)
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", &kith.Error{Code: kith.ENOTFOUND, Field: typ, Message: fmt.Sprintf("no profile holds %s %s", typ, v)}
	case 1:
		return ids[0], nil
	}
	return "", &kith.Error{Code: kith.ECONFLICT, Field: typ, Message: fmt.Sprintf("%d profiles hold %s %s", len(ids), typ, v)}
}

// Person returns the current profile of id (following a merge), the ids of
// every profile that is one person with it now (itself and the profiles
// merged into it, whose grants and consents are the person's), and its
// identifiers. It is for services that act for a person, such as the offer
// ledger, and records no read: what they disclose, they record.
func (s *Service) Person(ctx context.Context, id string) (*kith.Profile, []string, []kith.Link, error) {
	cur, holders, links, err := s.Members(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := s.r.Profile(ctx, cur)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, holders, links, nil
}

// Members is Person without reading the profile's document: the current
// profile's id, the ids that are one person with it (the current first),
// and its identifiers.
func (s *Service) Members(ctx context.Context, id string) (string, []string, []kith.Link, error) {
	cur, absorbed, err := s.r.Members(ctx, id)
	if err != nil {
		return "", nil, nil, err
	}
	links, err := s.r.Links(ctx, cur)
	if err != nil {
		return "", nil, nil, err
	}
	return cur, append([]string{cur}, absorbed...), links, nil
}

// MembersOf is Members of many profiles at once, in a few reads: for each
// id that is a profile, the current profile, the ids merged into it and its
// identifiers. It records no read.
func (s *Service) MembersOf(ctx context.Context, ids []string) (map[string]kith.Membership, error) {
	return s.r.MembersOf(ctx, ids)
}

// ProfilesOf returns many profiles at once, by id, with only the parts of
// their documents f asks for; ids that are no profile are left out. Like
// Person it is for services acting for people and records no read.
func (s *Service) ProfilesOf(ctx context.Context, ids []string, f kith.DocFields) (map[string]*kith.Profile, error) {
	stored, err := s.r.StoredProfilesByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*kith.Profile, len(stored))
	for i := range stored {
		p, err := stored[i].Decode(f)
		if err != nil {
			return nil, err
		}
		out[p.ID] = p
	}
	return out, nil
}

// Page is one page of a timeline.
type Page struct {
	Events     []kith.TimelineEvent
	NextCursor string // empty on the last page
}

// Timeline returns a profile's events across channels, newest first.
func (s *Service) Timeline(ctx context.Context, id, cursor string, limit int) (*Page, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	page, pid, err := s.timeline(ctx, id, cursor, limit)
	if err != nil {
		return nil, err
	}
	if err := s.disclose(ctx, a, kith.AuditProfileRead, pid, "timeline"); err != nil {
		return nil, err
	}
	redactTimeline(a, page.Events)
	return page, nil
}

func (s *Service) timeline(ctx context.Context, id, cursor string, limit int) (*Page, string, error) {
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		return nil, "", kith.Invalid("limit", "at most 500 events a page")
	}
	var before *kith.TimelineCursor
	if cursor != "" {
		// The time may be negative (before 1970): split at the last dash.
		i := strings.LastIndexByte(cursor, '-')
		ok := i > 0
		ts, seq := cursor[:max(i, 0)], cursor[i+1:]
		t, err1 := strconv.ParseInt(ts, 10, 64)
		q, err2 := strconv.ParseInt(seq, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, "", kith.Invalid("cursor", "not a cursor this API gave out")
		}
		before = &kith.TimelineCursor{Time: time.Unix(0, t), Seq: q}
	}
	p, _, err := s.current(ctx, id)
	if err != nil {
		return nil, "", err
	}
	evs, err := s.r.Timeline(ctx, p.ID, before, limit+1)
	if err != nil {
		return nil, "", err
	}
	page := &Page{Events: evs}
	if len(evs) > limit {
		page.Events = evs[:limit]
		last := page.Events[limit-1]
		page.NextCursor = strconv.FormatInt(last.Timestamp.UnixNano(), 10) + "-" + strconv.FormatInt(last.Seq, 10)
	}
	return page, p.ID, nil
}

// Identities is a profile's identity graph.
type Identities struct {
	ProfileID string
	Links     []kith.Link
	Merges    []kith.Merge
	Conflicts []kith.Conflict
}

// Identities returns the identifiers of a profile with the reason for each
// link, the merges that made it, and the conflicts recorded on it.
func (s *Service) Identities(ctx context.Context, id string) (*Identities, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	out, err := s.identities(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.disclose(ctx, a, kith.AuditProfileRead, out.ProfileID, "identities"); err != nil {
		return nil, err
	}
	redactLinks(a, out.Links)
	return out, nil
}

func (s *Service) identities(ctx context.Context, id string) (*Identities, error) {
	p, _, err := s.current(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &Identities{ProfileID: p.ID}
	if out.Links, err = s.r.Links(ctx, p.ID); err != nil {
		return nil, err
	}
	if out.Merges, err = s.r.Merges(ctx, p.ID); err != nil {
		return nil, err
	}
	if out.Conflicts, err = s.r.Conflicts(ctx, p.ID); err != nil {
		return nil, err
	}
	return out, nil
}

// Search finds profiles for an agent by the start of a name, an e-mail
// address or a phone number.
func (s *Service) Search(ctx context.Context, q string, limit int) ([]*View, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := needPII(a, "searching by name, e-mail or phone"); err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	if len([]rune(q)) < 2 {
		return nil, kith.Invalid("q", "type at least 2 characters")
	}
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	var prefixes []kith.Identifier
	lower := strings.ToLower(q)
	if strings.Contains(q, "@") || strings.Contains(lower, ".") {
		prefixes = append(prefixes, kith.Identifier{Type: kith.IDEmail, Value: lower})
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, q)
	if len(digits) >= 3 && len(digits)*2 >= len(strings.ReplaceAll(q, " ", "")) {
		// A number typed with or without its country code.
		prefixes = append(prefixes, kith.Identifier{Type: kith.IDPhone, Value: "+" + digits})
		if cc := s.proc.Config().Identity.CountryCode(); cc != "" && !strings.HasPrefix(q, "+") {
			prefixes = append(prefixes, kith.Identifier{Type: kith.IDPhone, Value: "+" + cc + strings.TrimLeft(digits, "0")})
		}
	}
	name := q
	if len(prefixes) > 0 && !strings.Contains(q, " ") && strings.Contains(q, "@") {
		name = ""
	}
	if len(prefixes) == 0 {
		prefixes = append(prefixes, kith.Identifier{Type: kith.IDEmail, Value: lower})
	}
	ids, err := s.r.SearchProfiles(ctx, name, prefixes, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*View, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		v, err := s.view(ctx, id)
		if err != nil {
			if kith.IsCode(err, kith.ENOTFOUND) {
				continue
			}
			return nil, err
		}
		if !seen[v.ID] {
			seen[v.ID] = true
			out = append(out, v)
		}
	}
	recs := make([]kith.AuditRecord, len(out))
	for i, v := range out {
		recs[i] = kith.AuditRecord{Actor: a, Action: kith.AuditProfileSearch, Target: v.ID, Detail: "query " + q}
	}
	if err := s.record(ctx, recs...); err != nil {
		return nil, err
	}
	return out, nil
}

// UndoMerge reverses a merge (see Processor.UndoMerge).
func (s *Service) UndoMerge(ctx context.Context, mergeID string) (*kith.Merge, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.proc.UndoMerge(ctx, mergeID)
	if err != nil {
		return nil, err
	}
	if err := s.disclose(ctx, a, kith.AuditMergeUndo, m.Survivor, "merge "+m.ID+" split off "+m.Absorbed); err != nil {
		return nil, err
	}
	for _, f := range s.afterUndo {
		f(ctx, *m)
	}
	return m, nil
}

// AfterUndo registers f to be told of every merge undone through the
// Service (the matcher remembers undone merges of its own).
func (s *Service) AfterUndo(f func(context.Context, kith.Merge)) {
	s.afterUndo = append(s.afterUndo, f)
}

// Lag reports how far processing is behind the log.
func (s *Service) Lag(ctx context.Context) (Lag, error) { return s.proc.Lag(ctx) }
