package profile

import (
	"context"

	"github.com/kithhq/kith"
)

// cache keeps the identity graph and profiles the processor has seen, so
// that resolving an event costs map lookups rather than queries. It is
// valid only while this processor is the single writer of profiles (the
// embedded store): every change goes through cachingTx, and it is dropped
// whenever a transaction fails or a merge is undone.
type cache struct {
	ids      map[kith.Identifier][]string // identifier → profiles holding it; an empty slice means none
	held     map[string][]kith.Identifier // profile → identifiers
	profiles map[string]*kith.Profile     // current profiles only
	max      int
	// filter rules out identifiers nobody holds (nil: none yet); a reset
	// keeps it, since what a failed transaction added only makes it say
	// "maybe" more often.
	filter *heldFilter
}

func newCache(max int) *cache {
	c := &cache{max: max}
	c.reset()
	return c
}

func (c *cache) reset() {
	c.ids = map[kith.Identifier][]string{}
	c.held = map[string][]kith.Identifier{}
	c.profiles = map[string]*kith.Profile{}
}

// trim drops everything when the cache has grown past its bound; called
// between transactions.
func (c *cache) trim() {
	if len(c.profiles) > c.max || len(c.ids) > 4*c.max {
		c.reset()
	}
}

// cachingTx is a kith.ProfileTx that reads through the cache and keeps it
// current with every write.
type cachingTx struct {
	kith.ProfileTx
	c *cache
}

func (t *cachingTx) ProfilesFor(ctx context.Context, ids []kith.Identifier) (map[kith.Identifier][]string, error) {
	out := make(map[kith.Identifier][]string, len(ids))
	var missing []kith.Identifier
	for _, id := range ids {
		ps, ok := t.c.ids[id]
		if !ok {
			if f := t.c.filter; f != nil && f.heldByNobody(id) {
				t.c.ids[id] = []string{}
				continue
			}
			missing = append(missing, id)
			continue
		}
		if len(ps) > 0 {
			out[id] = ps
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	found, err := t.ProfileTx.ProfilesFor(ctx, missing)
	if err != nil {
		return nil, err
	}
	for _, id := range missing {
		ps := found[id]
		t.c.ids[id] = append([]string{}, ps...)
		if len(ps) > 0 {
			out[id] = ps
		}
	}
	return out, nil
}

func (t *cachingTx) Identifiers(ctx context.Context, profileID string) ([]kith.Identifier, error) {
	if ids, ok := t.c.held[profileID]; ok {
		return ids, nil
	}
	ids, err := t.ProfileTx.Identifiers(ctx, profileID)
	if err != nil {
		return nil, err
	}
	t.c.held[profileID] = ids
	return ids, nil
}

func (t *cachingTx) Profile(ctx context.Context, id string) (*kith.Profile, error) {
	if p, ok := t.c.profiles[id]; ok {
		return p, nil
	}
	p, err := t.ProfileTx.Profile(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.MergedInto == "" {
		t.c.profiles[id] = p
	}
	return p, nil
}

func (t *cachingTx) PutProfile(ctx context.Context, p *kith.Profile) error {
	if err := t.ProfileTx.PutProfile(ctx, p); err != nil {
		return err
	}
	if p.MergedInto == "" {
		t.c.profiles[p.ID] = p
	}
	if _, ok := t.c.held[p.ID]; !ok && p.Events == 0 {
		t.c.held[p.ID] = nil // a new profile holds nothing yet
	}
	return nil
}

// created notes a profile created in this transaction whose row is
// written later: it holds nothing yet.
func (t *cachingTx) created(p *kith.Profile) {
	t.c.profiles[p.ID] = p
	if _, ok := t.c.held[p.ID]; !ok {
		t.c.held[p.ID] = nil
	}
}

// preload reads in one call the holders of the identifiers the cache does
// not know yet, and remembers them, those held by nobody included.
func (t *cachingTx) preload(ctx context.Context, ids []kith.Identifier) error {
	var missing []kith.Identifier
	seen := make(map[kith.Identifier]bool, len(ids))
	for _, id := range ids {
		if _, ok := t.c.ids[id]; !ok && !seen[id] {
			seen[id] = true
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		if _, err := t.ProfilesFor(ctx, missing); err != nil {
			return err
		}
	}
	br, ok := t.ProfileTx.(BulkReader)
	if !ok {
		return nil
	}
	// The people the batch names that the cache does not hold: read now,
	// in two statements, rather than one event at a time.
	var profiles, held []string
	wanted := map[string]bool{}
	for _, id := range ids {
		for _, p := range t.c.ids[id] {
			if wanted[p] {
				continue
			}
			wanted[p] = true
			if _, ok := t.c.profiles[p]; !ok {
				profiles = append(profiles, p)
			}
			if _, ok := t.c.held[p]; !ok {
				held = append(held, p)
			}
		}
	}
	if len(profiles) > 0 {
		found, err := br.ProfilesByID(ctx, profiles)
		if err != nil {
			return err
		}
		for id, p := range found {
			if p.MergedInto == "" {
				t.c.profiles[id] = p
			}
		}
	}
	if len(held) > 0 {
		found, err := br.IdentifiersOf(ctx, held)
		if err != nil {
			return err
		}
		for _, p := range held {
			t.c.held[p] = found[p]
		}
	}
	return nil
}

// BulkReader is optional for a store's kith.ProfileTx: the processor's
// cache reads with it, before a batch, the profiles and identifiers of the
// people the batch names that it does not hold yet, so that applying the
// batch reads nothing more (and the store's writes of the batch, which a
// read waits for, run beside it).
type BulkReader interface {
	// ProfilesByID returns the profiles of ids there are, absorbed or not.
	ProfilesByID(ctx context.Context, ids []string) (map[string]*kith.Profile, error)
	// IdentifiersOf returns the identifiers each profile of ids holds, as
	// Identifiers would (none for a profile that holds none).
	IdentifiersOf(ctx context.Context, ids []string) (map[string][]kith.Identifier, error)
}

func (t *cachingTx) AddLink(ctx context.Context, l kith.Link) error {
	if f := t.c.filter; f != nil {
		f.add(l.Identifier) // first: the filter may say "maybe" wrongly, never "nobody"
	}
	if err := t.ProfileTx.AddLink(ctx, l); err != nil {
		return err
	}
	if ps, ok := t.c.ids[l.Identifier]; ok && !contains(ps, l.ProfileID) {
		t.c.ids[l.Identifier] = append(ps, l.ProfileID)
	}
	if ids, ok := t.c.held[l.ProfileID]; ok && !containsID(ids, l.Identifier) {
		t.c.held[l.ProfileID] = append(ids, l.Identifier)
	}
	return nil
}

func (t *cachingTx) Absorb(ctx context.Context, m kith.Merge) error {
	moved, err := t.Identifiers(ctx, m.Absorbed)
	if err != nil {
		return err
	}
	if err := t.ProfileTx.Absorb(ctx, m); err != nil {
		return err
	}
	for _, id := range moved {
		ps, ok := t.c.ids[id]
		if !ok {
			continue
		}
		var out []string
		for _, p := range ps {
			if p == m.Absorbed {
				p = m.Survivor
			}
			if !contains(out, p) {
				out = append(out, p)
			}
		}
		t.c.ids[id] = out
	}
	if ids, ok := t.c.held[m.Survivor]; ok {
		merged := append([]kith.Identifier{}, ids...)
		for _, id := range moved {
			if !containsID(merged, id) {
				merged = append(merged, id)
			}
		}
		t.c.held[m.Survivor] = merged
	}
	delete(t.c.held, m.Absorbed)
	delete(t.c.profiles, m.Absorbed)
	return nil
}

func containsID(ids []kith.Identifier, id kith.Identifier) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
