package audience

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// need is what a set of expressions reads of a person, so that a change
// builds only that: a trait's JSON decoded, a computed trait's value or
// the lifecycle assessment each cost more than evaluating an expression.
type need struct {
	traitsAll, computedAll bool
	traits, computed       []string
	intents, assess        bool
	channels, purchases    bool
	stage                  bool // the recorded stage, at least
}

// needOf gathers what the given reads ask for.
func needOf(reads ...[]string) need {
	var n need
	for _, rs := range reads {
		for _, r := range rs {
			field, key, keyed := strings.Cut(r, ".")
			switch field {
			case "traits":
				if !keyed {
					n.traitsAll = true
				} else {
					n.traits = append(n.traits, key)
				}
			case "computed":
				if !keyed {
					n.computedAll = true
				} else {
					n.computed = append(n.computed, key)
				}
			case "intents":
				n.intents = true
			case "stage", "tier":
				n.assess, n.stage = true, true
			case "channels":
				n.channels = true
			case "purchases", "spent", "days_since_purchase", "last_purchase":
				n.purchases = true
			}
		}
	}
	return n
}

// fields is what of a profile's document the need reads.
// The lifecycle assessment (stage, tier) reads the whole profile.
func (n need) fields() kith.DocFields {
	if n.assess {
		return kith.AllDocFields
	}
	return kith.DocFields{AllTraits: n.traitsAll, Traits: append([]string(nil), n.traits...), ValuesOnly: true, AllComputed: n.computedAll,
		Computed: n.computed, Channels: n.channels, Intents: n.intents, Purchases: n.purchases, Lifecycle: n.stage}
}

// personFor is what expressions that read n see of a profile at now (but
// for identifiers); what they do not read is left empty.
func (s *Service) personFor(p *kith.Profile, now time.Time, n need) *Person {
	out := &Person{Traits: map[string]any{}, Computed: map[string]any{}, Intents: map[string]float64{}, Tier: "none",
		Identifiers: map[string][]string{}, Events: p.Events, Purchases: len(p.Purchases),
		DaysSincePurchase: neverBought, FirstSeen: p.CreatedAt, LastSeen: p.UpdatedAt, Now: now, Stage: p.Lifecycle.Current()}
	decode := func(name string) {
		if t, ok := p.Traits[name]; ok {
			var v any
			if json.Unmarshal(t.Value, &v) == nil {
				out.Traits[name] = v
			}
		}
	}
	if n.traitsAll {
		for name := range p.Traits {
			decode(name)
		}
	} else {
		for _, name := range n.traits {
			decode(name)
		}
	}
	if s.traits != nil {
		if n.computedAll {
			out.Computed = s.traits.Values(p, now)
		} else if len(n.computed) > 0 {
			out.Computed = s.traits.ValuesOf(p, now, n.computed)
		}
	}
	if n.intents && s.intents != nil {
		out.Intents = s.intents(p, now)
	}
	if n.assess && s.assess != nil {
		stage, tier := s.assess(p)
		if stage != "" {
			out.Stage = stage
		}
		if tier != "" {
			out.Tier = tier
		}
	}
	for ch := range p.Channels {
		out.Channels = append(out.Channels, string(ch))
	}
	sort.Strings(out.Channels)
	for _, pu := range p.Purchases {
		out.Spent += pu.Amount
		if pu.At.After(out.LastPurchase) {
			out.LastPurchase = pu.At
		}
	}
	if !out.LastPurchase.IsZero() {
		out.DaysSincePurchase = now.Sub(out.LastPurchase).Hours() / 24
	}
	return out
}
