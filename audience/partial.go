package audience

import (
	"bytes"
	"encoding/json"
	"strconv"
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
	// Maps an expression does not read stay nil: reading a nil map gives
	// what reading an empty one does.
	out := &Person{Tier: "none", Events: p.Events, Purchases: len(p.Purchases),
		DaysSincePurchase: neverBought, FirstSeen: p.CreatedAt, LastSeen: p.UpdatedAt, Now: now, Stage: p.Lifecycle.Current()}
	if n.traitsAll || len(n.traits) > 0 {
		out.Traits = make(map[string]any, len(n.traits))
	}
	decode := func(name string) {
		if t, ok := p.Traits[name]; ok {
			if v, ok := jsonValue(t.Value); ok {
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
	if n.channels {
		out.channels(p)
	}
	out.purchases(p, now)
	return out
}

// jsonValue decodes a trait's JSON value as encoding/json would into an
// any, reading plain strings, numbers and literals itself: most traits are
// those, and the generic decoder is most of the cost of a scan.
func jsonValue(raw json.RawMessage) (any, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	switch c := raw[0]; {
	case c == '"' && len(raw) >= 2 && raw[len(raw)-1] == '"' && plain(raw[1:len(raw)-1]):
		return string(raw[1 : len(raw)-1]), true
	case c == '-' || c >= '0' && c <= '9':
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return f, true
		}
	case string(raw) == "true":
		return true, true
	case string(raw) == "false":
		return false, true
	case string(raw) == "null":
		return nil, true
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// plain reports whether a string's body needs no unescaping and is valid
// UTF-8, so that it stands for itself.
func plain(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}
