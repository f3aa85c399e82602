// Package profile folds events into profiles: it follows the event log with
// a cursor, resolves each event to a person through the identity rules, and
// keeps each profile's traits with provenance, the channels it was seen on,
// its timeline and its decaying intents.
package profile

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// message is the part of a stored Segment message that profiles read.
type message struct {
	Event      string                     `json:"event"`
	Name       string                     `json:"name"`
	PreviousID json.RawMessage            `json:"previousId"`
	Traits     map[string]json.RawMessage `json:"traits"`
	Properties struct {
		Path     string `json:"path"`
		URL      string `json:"url"`
		Category string `json:"category"`
	} `json:"properties"`
	Context struct {
		Traits map[string]json.RawMessage `json:"traits"`
		Device struct {
			ID json.RawMessage `json:"id"`
		} `json:"device"`
		Page struct {
			Path string `json:"path"`
			URL  string `json:"url"`
		} `json:"page"`
	} `json:"context"`
}

// decode reads what profiles need from an event. The payload was validated on
// ingestion; fields of an unexpected kind are ignored rather than fatal.
func decode(e *kith.Event) (*message, []string) {
	var m message
	var warnings []string
	if err := json.Unmarshal(e.Payload, &m); err != nil {
		// A field of an unexpected type: keep what decoded.
		warnings = append(warnings, "part of the message ignored: "+err.Error())
	}
	return &m, warnings
}

func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	return string(raw)
}

// signals returns the identifier-bearing parts of an event.
func signals(e *kith.Event, m *message) identity.Signals {
	s := identity.Signals{
		UserID:        e.UserID,
		AnonymousID:   e.AnonymousID,
		ContextTraits: m.Context.Traits,
		DeviceID:      rawString(m.Context.Device.ID),
	}
	if e.Type == kith.TypeIdentify {
		s.Traits = m.Traits
	}
	return s
}

// newProfile returns an empty profile created by event e.
func newProfile(id string, e *kith.Event) *kith.Profile {
	return &kith.Profile{
		ID: id, CreatedSeq: e.Seq, CreatedAt: e.Timestamp, UpdatedAt: e.Timestamp,
		Traits: map[string]kith.Trait{}, Channels: map[kith.Kind]*kith.ChannelSeen{}, Intents: map[string]*kith.Intent{},
	}
}

// setTrait keeps the value said at the newest event time (ties: the later
// event in the log).
func setTrait(p *kith.Profile, name string, t kith.Trait) {
	old, ok := p.Traits[name]
	if ok && (old.Time.After(t.Time) || old.Time.Equal(t.Time) && old.Seq > t.Seq) {
		return
	}
	p.Traits[name] = t
}

func seeChannel(p *kith.Profile, ch kith.Kind, first, last time.Time, n int) {
	c := p.Channels[ch]
	if c == nil {
		p.Channels[ch] = &kith.ChannelSeen{First: first, Last: last, Events: n}
		return
	}
	if first.Before(c.First) {
		c.First = first
	}
	if last.After(c.Last) {
		c.Last = last
	}
	c.Events += n
}

// IntentRule maps events to a topic: a page whose path starts with
// PathPrefix, an event whose properties.category equals Category, or a
// track call named Event. Weight defaults to 1.
type IntentRule struct {
	Topic      string  `json:"topic"`
	PathPrefix string  `json:"path_prefix,omitempty"`
	Category   string  `json:"category,omitempty"`
	Event      string  `json:"event,omitempty"`
	Weight     float64 `json:"weight,omitempty"`
}

// IntentConfig configures intent inference.
type IntentConfig struct {
	// HalfLife is how long an intent takes to lose half its strength.
	HalfLife time.Duration `json:"-"`
	// CategoryTopics makes every properties.category a topic of its own,
	// besides the rules.
	CategoryTopics bool         `json:"category_topics"`
	Rules          []IntentRule `json:"rules"`
	// Top is how many intents a profile shows.
	Top int `json:"top"`
}

// DefaultIntentConfig: a 3-day half-life, categories as topics, the top 5.
func DefaultIntentConfig() IntentConfig {
	return IntentConfig{HalfLife: 72 * time.Hour, CategoryTopics: true, Top: 5}
}

// topics returns the topics an event signals, with their weights.
func (c *IntentConfig) topics(e *kith.Event, m *message) map[string]float64 {
	path := m.Properties.Path
	if path == "" {
		path = m.Context.Page.Path
	}
	if path == "" {
		u := m.Properties.URL
		if u == "" {
			u = m.Context.Page.URL
		}
		if pu, err := url.Parse(u); err == nil {
			path = pu.Path
		}
	}
	category := strings.TrimSpace(m.Properties.Category)
	var out map[string]float64
	add := func(topic string, w float64) {
		if out == nil {
			out = map[string]float64{}
		}
		if w == 0 {
			w = 1
		}
		if w > out[topic] {
			out[topic] = w
		}
	}
	for _, r := range c.Rules {
		switch {
		case r.PathPrefix != "" && path != "" && strings.HasPrefix(path, r.PathPrefix),
			r.Category != "" && strings.EqualFold(r.Category, category),
			r.Event != "" && e.Type == kith.TypeTrack && strings.EqualFold(r.Event, m.Event):
			add(r.Topic, r.Weight)
		}
	}
	if c.CategoryTopics && category != "" && len(category) <= 100 {
		add(strings.ToLower(category), 1)
	}
	return out
}

// decayed returns an intent's strength at time t.
func (c *IntentConfig) decayed(in *kith.Intent, t time.Time) float64 {
	return in.Score * math.Exp2(-t.Sub(in.At).Hours()/c.HalfLife.Hours())
}

// signal adds weight w observed at time t to an intent. Scores are kept at
// the latest time seen, so signals may arrive in any order.
func (c *IntentConfig) signal(p *kith.Profile, topic string, w float64, t time.Time, ch kith.Kind) {
	in := p.Intents[topic]
	if in == nil {
		p.Intents[topic] = &kith.Intent{Score: w, At: t, Channel: ch, Last: t}
		return
	}
	if t.After(in.At) {
		in.Score = c.decayed(in, t) + w
		in.At = t
	} else {
		in.Score += w * math.Exp2(-in.At.Sub(t).Hours()/c.HalfLife.Hours())
	}
	if !t.Before(in.Last) {
		in.Last, in.Channel = t, ch
	}
}

// RankedIntent is an intent with its strength now.
type RankedIntent struct {
	Topic    string
	Strength float64
	Channel  kith.Kind
	Last     time.Time
}

// Strengths returns the strength at time now of each of a profile's
// intents that has not faded away.
func (c *IntentConfig) Strengths(p *kith.Profile, now time.Time) map[string]float64 {
	out := make(map[string]float64, len(p.Intents))
	for topic, in := range p.Intents {
		if s := c.decayed(in, now); s >= 0.01 && !math.IsInf(s, 0) && !math.IsNaN(s) {
			out[topic] = s
		}
	}
	return out
}

// TopIntents returns a profile's strongest intents at time now.
func (c *IntentConfig) TopIntents(p *kith.Profile, now time.Time) []RankedIntent {
	var out []RankedIntent
	for topic, in := range p.Intents {
		s := c.decayed(in, now)
		if s < 0.01 || math.IsInf(s, 0) || math.IsNaN(s) {
			continue
		}
		out = append(out, RankedIntent{Topic: topic, Strength: s, Channel: in.Channel, Last: in.Last})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Strength != out[j].Strength {
			return out[i].Strength > out[j].Strength
		}
		return out[i].Topic < out[j].Topic
	})
	if len(out) > c.Top && c.Top > 0 {
		out = out[:c.Top]
	}
	return out
}

// fold applies one event to its profile: channel, traits, intents. It
// reports whether the event signalled an intent.
func (c *IntentConfig) fold(p *kith.Profile, e *kith.Event, m *message) (signalled bool) {
	seeChannel(p, e.Channel, e.Timestamp, e.Timestamp, 1)
	p.Events++
	if e.Timestamp.After(p.UpdatedAt) {
		p.UpdatedAt = e.Timestamp
	}
	for _, traits := range []map[string]json.RawMessage{m.Context.Traits, identifyTraits(e, m)} {
		for name, v := range traits {
			if len(name) > 200 {
				continue
			}
			setTrait(p, name, kith.Trait{Value: v, SourceID: e.SourceID, Channel: e.Channel, Time: e.Timestamp, Seq: e.Seq})
		}
	}
	topics := c.topics(e, m)
	for topic, w := range topics {
		c.signal(p, topic, w, e.Timestamp, e.Channel)
	}
	return len(topics) > 0
}

func identifyTraits(e *kith.Event, m *message) map[string]json.RawMessage {
	if e.Type == kith.TypeIdentify {
		return m.Traits
	}
	return nil
}

// absorb folds profile a into survivor s: every trait by event time,
// channels by first and last seen, intents summed at a common time.
func (c *IntentConfig) absorb(s, a *kith.Profile) {
	for name, t := range a.Traits {
		setTrait(s, name, t)
	}
	for ch, seen := range a.Channels {
		seeChannel(s, ch, seen.First, seen.Last, seen.Events)
	}
	for topic, in := range a.Intents {
		c.signal(s, topic, in.Score, in.At, in.Channel)
		if si := s.Intents[topic]; in.Last.After(si.Last) {
			si.Last, si.Channel = in.Last, in.Channel
		}
	}
	s.Events += a.Events
	if a.CreatedAt.Before(s.CreatedAt) {
		s.CreatedAt = a.CreatedAt
	}
	if a.UpdatedAt.After(s.UpdatedAt) {
		s.UpdatedAt = a.UpdatedAt
	}
}

// NameTraits are the traits DisplayName reads.
var NameTraits = []string{"name", "first_name", "last_name", "firstName", "lastName"}

// DisplayName returns a person's name from their traits, for agents.
func DisplayName(p *kith.Profile) string {
	str := func(k string) string {
		// Only strings name people; a number or an object is not a name.
		if t, ok := p.Traits[k]; ok && len(t.Value) > 0 && t.Value[0] == '"' {
			return strings.TrimSpace(rawString(t.Value))
		}
		return ""
	}
	if n := str("name"); n != "" {
		return n
	}
	first, last := str("first_name"), str("last_name")
	if first == "" {
		first = str("firstName")
	}
	if last == "" {
		last = str("lastName")
	}
	return strings.TrimSpace(first + " " + last)
}

// SearchKeys returns the lower-cased name forms a profile is found by:
// "first last" and "last first".
func SearchKeys(p *kith.Profile) []string {
	n := strings.ToLower(DisplayName(p))
	if n == "" {
		return nil
	}
	f := strings.Fields(n)
	keys := []string{strings.Join(f, " ")}
	if len(f) > 1 {
		keys = append(keys, strings.Join(append([]string{f[len(f)-1]}, f[:len(f)-1]...), " "))
	}
	return keys
}
