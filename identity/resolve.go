package identity

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/kithhq/kith"
)

// Graph is the part of the identity graph the resolver reads.
type Graph interface {
	ProfilesFor(ctx context.Context, ids []kith.Identifier) (map[kith.Identifier][]string, error)
	Identifiers(ctx context.Context, profileID string) ([]kith.Identifier, error)
	Profile(ctx context.Context, id string) (*kith.Profile, error)
	DoNotLink(ctx context.Context, a, b string) (bool, error)
}

// Plan is what one event does to the identity graph.
type Plan struct {
	// Target is the profile the event belongs to; empty when a new profile
	// must be created for it.
	Target string
	// Absorb lists profiles to merge into Target, in order.
	Absorb []string
	// Reasons says, for each absorbed profile, which identifier linked it.
	Reasons map[string]string
	// Links are the event's identifiers that Target does not hold yet.
	Links []kith.Identifier
	// Conflicts are profiles the event pointed at that the rules kept apart.
	Conflicts []kith.Conflict
	// Warnings are identifiers left unlinked because of a rule.
	Warnings []string
}

// Resolve decides which profile an event with these identifiers (highest
// priority first, as Extract returns them) belongs to, and which profiles it
// joins. It walks the linking identifiers in priority order: the first
// profile compatible with the event becomes the group; each further profile
// joins it unless a rule (unique, max, do-not-link) keeps them apart, in
// which case a conflict is recorded. The oldest profile of the group survives.
func (c Config) Resolve(ctx context.Context, g Graph, ids []kith.Identifier) (*Plan, error) {
	plan := &Plan{Reasons: map[string]string{}}
	var linking []kith.Identifier
	for _, id := range ids {
		if !c.Rule(id.Type).NoLink {
			linking = append(linking, id)
		}
	}
	found := map[kith.Identifier][]string{}
	if len(linking) > 0 {
		var err error
		if found, err = g.ProfilesFor(ctx, linking); err != nil {
			return nil, fmt.Errorf("resolve: %w", err)
		}
	}
	if p := soleHolder(found, linking); p != "" {
		// The common case, an event of a person already known by all its
		// identifiers: nothing to link, merge or refuse.
		held, err := g.Identifiers(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("resolve: identifiers of %s: %w", p, err)
		}
		if holdsAll(held, ids) {
			plan.Target = p
			return plan, nil
		}
	}
	created := map[string]int64{}
	createdSeq := func(id string) (int64, error) {
		if s, ok := created[id]; ok {
			return s, nil
		}
		p, err := g.Profile(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("resolve: load profile %s: %w", id, err)
		}
		created[id] = p.CreatedSeq
		return p.CreatedSeq, nil
	}

	var group []string
	var groupIDs []kith.Identifier
	inGroup := map[string]bool{}
	refused := map[string]bool{}
	kept := map[kith.Identifier]bool{} // identifiers a do-not-link rule keeps where they are
	for _, id := range linking {
		cands := found[id]
		// Oldest first, so a walk over an identifier held by several profiles is deterministic.
		seqs := make(map[string]int64, len(cands))
		for _, p := range cands {
			s, err := createdSeq(p)
			if err != nil {
				return nil, err
			}
			seqs[p] = s
		}
		sort.SliceStable(cands, func(i, j int) bool { return seqs[cands[i]] < seqs[cands[j]] })
		for _, p := range cands {
			if inGroup[p] || refused[p] {
				continue
			}
			pIDs, err := g.Identifiers(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("resolve: identifiers of %s: %w", p, err)
			}
			if len(group) == 0 {
				if why := c.clash(pIDs, ids, false); why != "" {
					refused[p] = true
					plan.Conflicts = append(plan.Conflicts, kith.Conflict{Profiles: []string{p}, Reason: fmt.Sprintf("event's %s but %s", id, why)})
					continue
				}
				group, groupIDs, inGroup[p] = append(group, p), pIDs, true
				continue
			}
			why := c.clash(append(append([]kith.Identifier(nil), groupIDs...), ids...), pIDs, true)
			dnl := false
			if why == "" {
				for _, q := range group {
					var err error
					dnl, err = g.DoNotLink(ctx, q, p)
					if err != nil {
						return nil, fmt.Errorf("resolve: %w", err)
					}
					if dnl {
						why = "a do-not-link rule keeps " + q + " and " + p + " apart (an undone merge)"
						break
					}
				}
			}
			if why != "" && dnl {
				// The rule says this evidence must not link them: the
				// identifier stays with the profile that held it.
				kept[id] = true
			}
			if why != "" {
				refused[p] = true
				plan.Conflicts = append(plan.Conflicts, kith.Conflict{Profiles: append([]string{p}, group...), Reason: fmt.Sprintf("%s links them but %s", id, why)})
				continue
			}
			group, inGroup[p] = append(group, p), true
			groupIDs = append(groupIDs, pIDs...)
			plan.Reasons[p] = id.String()
		}
	}

	// The event's identifiers the group lacks, within the rules.
	held := map[kith.Identifier]bool{}
	count := map[string]int{}
	for _, id := range groupIDs {
		if !held[id] {
			held[id] = true
			count[id.Type]++
		}
	}
	for _, id := range ids {
		if held[id] {
			continue
		}
		if kept[id] {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s not linked: a do-not-link rule keeps it with the profile that holds it", id))
			continue
		}
		r := c.Rule(id.Type)
		if r.Unique && count[id.Type] > 0 {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s not linked: the profile already has a %s", id, id.Type))
			continue
		}
		if r.Max > 0 && count[id.Type] >= r.Max {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s not linked: the profile already holds %d (the most allowed)", id, r.Max))
			continue
		}
		held[id] = true
		count[id.Type]++
		plan.Links = append(plan.Links, id)
	}

	if len(group) == 0 {
		return plan, nil
	}
	// The oldest profile survives; the others are absorbed into it.
	survivor := group[0]
	for _, p := range group[1:] {
		if created[p] < created[survivor] {
			survivor = p
		}
	}
	plan.Target = survivor
	for _, p := range group {
		if p == survivor {
			continue
		}
		plan.Absorb = append(plan.Absorb, p)
		if plan.Reasons[p] == "" {
			// The survivor joined later than p: the same identifier linked both.
			plan.Reasons[p] = plan.Reasons[survivor]
		}
	}
	delete(plan.Reasons, survivor)
	return plan, nil
}

// clash says why identifiers a and b cannot belong to one person, or "" if
// they can: two values of a unique type, or (when checkMax) more values of a
// capped type than the rule allows.
func (c Config) clash(a, b []kith.Identifier, checkMax bool) string {
	values := map[string]map[string]bool{}
	for _, set := range [][]kith.Identifier{a, b} {
		for _, id := range set {
			if values[id.Type] == nil {
				values[id.Type] = map[string]bool{}
			}
			values[id.Type][id.Value] = true
		}
	}
	var why []string
	for typ, vs := range values {
		r := c.Rule(typ)
		switch {
		case r.Unique && len(vs) > 1:
			why = append(why, fmt.Sprintf("they hold different %s values", typ))
		case checkMax && r.Max > 0 && len(vs) > r.Max:
			why = append(why, fmt.Sprintf("together they would hold %d %s values (at most %d)", len(vs), typ, r.Max))
		}
	}
	sort.Strings(why)
	return strings.Join(why, "; ")
}

// soleHolder returns the one profile that holds every linking identifier,
// each of them held by no other profile; "" otherwise.
func soleHolder(found map[kith.Identifier][]string, linking []kith.Identifier) string {
	p := ""
	for _, id := range linking {
		ps := found[id]
		if len(ps) != 1 || p != "" && ps[0] != p {
			return ""
		}
		p = ps[0]
	}
	return p
}

func holdsAll(held, ids []kith.Identifier) bool {
	for _, id := range ids {
		found := false
		for _, h := range held {
			if h == id {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
