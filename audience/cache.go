package audience

import (
	"context"
	"slices"
)

// memberCache remembers who is in which audience, for an engine that alone
// writes the memberships (the embedded store): most evaluations change
// nothing, and comparing with what is recorded need not read the store.
// Audiences are numbered to keep each profile's entry small.
type memberCache struct {
	max  int
	num  map[string]uint16 // audience id → number
	ids  []string          // number → audience id
	held map[string][]uint16
}

func newMemberCache(max int) *memberCache {
	return &memberCache{max: max, num: map[string]uint16{}, held: map[string][]uint16{}}
}

func (c *memberCache) number(aud string) uint16 {
	n, ok := c.num[aud]
	if !ok {
		n = uint16(len(c.ids))
		c.num[aud] = n
		c.ids = append(c.ids, aud)
	}
	return n
}

// memberships returns what each profile is in, from the cache, reading
// the profiles it does not hold from the store.
func (c *memberCache) memberships(ctx context.Context, ids []string, read func(context.Context, []string) (map[string][]string, error)) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	var misses []string
	for _, id := range ids {
		h, ok := c.held[id]
		if !ok {
			misses = append(misses, id)
			continue
		}
		for _, n := range h {
			out[id] = append(out[id], c.ids[n])
		}
	}
	if len(misses) == 0 {
		return out, nil
	}
	got, err := read(ctx, misses)
	if err != nil {
		return nil, err
	}
	if len(c.held)+len(misses) > c.max {
		clear(c.held) // start again rather than grow without bound
	}
	for _, id := range misses {
		h := []uint16{}
		for _, a := range got[id] {
			h = append(h, c.number(a))
		}
		slices.Sort(h)
		c.held[id] = h
		out[id] = got[id]
	}
	return out, nil
}

// set records that a profile is (in[aud]) or is not in audiences now.
func (c *memberCache) set(id string, in map[string]bool) {
	h, ok := c.held[id]
	if !ok {
		return
	}
	for aud, member := range in {
		n := c.number(aud)
		i, found := slices.BinarySearch(h, n)
		switch {
		case member && !found:
			h = slices.Insert(h, i, n)
		case !member && found:
			h = slices.Delete(h, i, i+1)
		}
	}
	c.held[id] = h
}

// forget drops what the cache holds of profiles (after a failed write).
func (c *memberCache) forget(ids []string) {
	for _, id := range ids {
		delete(c.held, id)
	}
}

// diff returns what of in differs from what the profiles are in, reading
// the profiles it does not hold from the store.
func (c *memberCache) diff(ctx context.Context, ids []string, in map[string]map[string]bool, read func(context.Context, []string) (map[string][]string, error)) (map[string]map[string]bool, error) {
	var misses []string
	for _, id := range ids {
		if _, ok := c.held[id]; !ok {
			misses = append(misses, id)
		}
	}
	if len(misses) > 0 {
		if _, err := c.memberships(ctx, misses, read); err != nil {
			return nil, err
		}
	}
	diffs := map[string]map[string]bool{}
	for _, id := range ids {
		h := c.held[id]
		for aud, want := range in[id] {
			n, known := c.num[aud]
			_, member := slices.BinarySearch(h, n)
			if want != (known && member) {
				if diffs[id] == nil {
					diffs[id] = map[string]bool{}
				}
				diffs[id][aud] = want
			}
		}
	}
	return diffs, nil
}

// agrees reports whether the cache knows the profile and holds it in
// exactly the audiences of auds whose in is true.
func (c *memberCache) agrees(id string, auds []string, in []bool) bool {
	h, ok := c.held[id]
	if !ok {
		return false
	}
	for k, aud := range auds {
		n, known := c.num[aud]
		_, member := slices.BinarySearch(h, n)
		if in[k] != (known && member) {
			return false
		}
	}
	return true
}
