package consent

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
)

// MaxList is the most profiles CheckList answers for at once.
const MaxList = 100_000

// CheckList is Check for one message to a list of profiles: the same
// rules, with a few reads for the whole list rather than a few per person.
// Decisions come back in the order of ids; an id that is no profile gets
// a refusal saying so.
func (s *Service) CheckList(ctx context.Context, ids []string, purpose, channel string) ([]Decision, error) {
	if err := checkPurpose(purpose); err != nil {
		return nil, err
	}
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	if len(ids) == 0 || len(ids) > MaxList {
		return nil, kith.Invalid("profiles", "give 1 to %d profile ids", MaxList)
	}
	// The list is cut in one part per core, each read and decided on its
	// own: a person's profiles and guardian are found from their own id.
	// The parts are ranges of ids, so that a store reading a part by a
	// pass over a table reads only its own stretch of it.
	now := s.now().UTC()
	parts := min(runtime.GOMAXPROCS(0), max(1, len(ids)/1000))
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ids[a], ids[b]) })
	sorted := make([]string, len(ids))
	for k, i := range order {
		sorted[k] = ids[i]
	}
	out := make([]Decision, len(ids))
	errs := make([]error, parts)
	per := (len(ids) + parts - 1) / parts
	var wg sync.WaitGroup
	for k := range parts {
		lo, hi := k*per, min(len(ids), (k+1)*per)
		wg.Go(func() {
			ds, err := s.checkList(ctx, sorted[lo:hi], purpose, channel, now)
			for j, d := range ds {
				out[order[lo+j]] = d
			}
			errs[k] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// checkList decides for a part of the list.
func (s *Service) checkList(ctx context.Context, ids []string, purpose, channel string, now time.Time) ([]Decision, error) {
	members, err := s.people.MembersOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	// Everyone's profiles as they are now: the current one and those merged
	// into it.
	var currents, holders []string
	seen := map[string]bool{}
	for _, m := range members {
		if !seen[m.Current] {
			seen[m.Current] = true
			currents = append(currents, m.Current)
			holders = append(holders, m.Current)
			holders = append(holders, m.Absorbed...)
		}
	}
	people, err := s.people.ProfilesOf(ctx, currents, kith.DocFields{Traits: append(append([]string(nil), s.cfg.BirthDateTraits...), s.cfg.MinorTraits...), ValuesOnly: true})
	if err != nil {
		return nil, err
	}
	minors := map[string]string{} // current → why
	var minorHolders []string
	for id, p := range people {
		if ok, why := s.minor(p, now); ok {
			minors[id] = why
		}
	}
	for _, m := range members {
		if _, ok := minors[m.Current]; ok {
			minorHolders = append(minorHolders, m.Current)
			minorHolders = append(minorHolders, m.Absorbed...)
		}
	}
	recs, err := s.store.Consents(ctx, holders...)
	if err != nil {
		return nil, err
	}
	byHolder := map[string][]kith.ConsentRecord{}
	for _, r := range recs {
		byHolder[r.ProfileID] = append(byHolder[r.ProfileID], r)
	}
	cps, err := s.store.ContactPoints(ctx, holders...)
	if err != nil {
		return nil, err
	}
	cpsOf := map[string][]kith.ContactPoint{}
	for _, cp := range cps {
		cpsOf[cp.ProfileID] = append(cpsOf[cp.ProfileID], cp)
	}
	// Minors' guardians, read the same way.
	guardians := map[string]recipient{}
	if len(minorHolders) > 0 && purpose != kith.PurposeMarketing {
		rels, err := s.store.Relationships(ctx, minorHolders...)
		if err != nil {
			return nil, err
		}
		gOf := map[string]string{}
		var gids []string
		for _, m := range members {
			if _, ok := minors[m.Current]; ok {
				if g := guardianIn(rels, append([]string{m.Current}, m.Absorbed...)); g != "" {
					gOf[m.Current] = g
					gids = append(gids, g)
				}
			}
		}
		if len(gids) > 0 {
			gm, err := s.people.MembersOf(ctx, gids)
			if err != nil {
				return nil, err
			}
			var gh []string
			for _, m := range gm {
				gh = append(gh, m.Current)
				gh = append(gh, m.Absorbed...)
			}
			gcps, err := s.store.ContactPoints(ctx, gh...)
			if err != nil {
				return nil, err
			}
			gcpsOf := map[string][]kith.ContactPoint{}
			for _, cp := range gcps {
				gcpsOf[cp.ProfileID] = append(gcpsOf[cp.ProfileID], cp)
			}
			for cur, g := range gOf {
				m, ok := gm[g]
				if !ok {
					continue
				}
				to := recipient{id: m.Current, holders: append([]string{m.Current}, m.Absorbed...), links: m.Links}
				for _, h := range to.holders {
					to.cps = append(to.cps, gcpsOf[h]...)
				}
				guardians[cur] = to
			}
		}
	}
	out := make([]Decision, len(ids))
	for i, id := range ids {
		d := Decision{Profile: id, Purpose: purpose, Channel: channel, CheckedAt: now}
		m, ok := members[id]
		if !ok {
			d.Reason = fmt.Sprintf("no profile %s", id)
			out[i] = d
			continue
		}
		d.Profile, d.Recipient = m.Current, m.Current
		if why, minor := minors[m.Current]; minor && purpose == kith.PurposeMarketing {
			d.Minor, d.Reason = true, "no marketing to a minor ("+why+")"
			out[i] = d
			continue
		}
		hs := append([]string{m.Current}, m.Absorbed...)
		var rs []kith.ConsentRecord
		to := recipient{id: m.Current, holders: hs, links: m.Links}
		for _, h := range hs {
			rs = append(rs, byHolder[h]...)
			to.cps = append(to.cps, cpsOf[h]...)
		}
		_, minor := minors[m.Current]
		if g, ok := guardians[m.Current]; ok {
			to = g
		}
		decide(&d, minor, rs, hs, to)
		out[i] = d
	}
	return out, nil
}
