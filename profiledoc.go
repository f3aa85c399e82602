package kith

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// profileDoc is the JSON a store keeps for a profile (AppendProfileDoc).
type profileDoc struct {
	Traits    map[string]Trait      `json:"traits"`
	Channels  map[Kind]*ChannelSeen `json:"channels"`
	Intents   map[string]*Intent    `json:"intents"`
	Events    int                   `json:"events"`
	Names     []string              `json:"names,omitempty"`
	Purchases []Purchase            `json:"purchases,omitempty"`
	Lifecycle *Lifecycle            `json:"lifecycle,omitempty"`
	Computed  map[string]*Aggregate `json:"computed,omitempty"`
	_         struct{}              `json:"-"`
}

// AppendProfileDoc appends a profile's document — its traits, channels,
// intents, event count and search keys, as JSON — to b. Stores keep it as
// one value beside the profile's id and times, and read it back with
// DecodeProfileDoc, so that every store keeps the same document.
//
// It encodes as encoding/json would, by hand: profiles are written once per
// batch that touches them, and the generic encoder (reflection,
// re-validating every raw trait value, formatting times) was the largest
// single cost of processing.
func AppendProfileDoc(b []byte, p *Profile) []byte {
	b = append(b, `{"traits":{`...)
	for i, k := range slices.Sorted(maps.Keys(p.Traits)) {
		t := p.Traits[k]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, `:{"value":`...)
		if len(t.Value) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, t.Value...) // valid JSON: it came from a validated payload
		}
		b = append(b, `,"source":`...)
		b = appendString(b, t.SourceID)
		b = append(b, `,"channel":`...)
		b = appendString(b, string(t.Channel))
		b = append(b, `,"time":`...)
		b = appendTime(b, t.Time)
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, t.Seq, 10)
		b = append(b, '}')
	}
	b = append(b, `},"channels":{`...)
	for i, k := range slices.Sorted(maps.Keys(p.Channels)) {
		c := p.Channels[k]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, string(k))
		b = append(b, `:{"first":`...)
		b = appendTime(b, c.First)
		b = append(b, `,"last":`...)
		b = appendTime(b, c.Last)
		b = append(b, `,"events":`...)
		b = strconv.AppendInt(b, int64(c.Events), 10)
		b = append(b, '}')
	}
	b = append(b, `},"intents":{`...)
	for i, k := range slices.Sorted(maps.Keys(p.Intents)) {
		in := p.Intents[k]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, `:{"score":`...)
		score := in.Score
		if math.IsNaN(score) || math.IsInf(score, 0) {
			score = 0
		}
		b = strconv.AppendFloat(b, score, 'g', -1, 64)
		b = append(b, `,"at":`...)
		b = appendTime(b, in.At)
		b = append(b, `,"channel":`...)
		b = appendString(b, string(in.Channel))
		b = append(b, `,"last":`...)
		b = appendTime(b, in.Last)
		b = append(b, '}')
	}
	b = append(b, `},"events":`...)
	b = strconv.AppendInt(b, int64(p.Events), 10)
	if len(p.SearchKeys) > 0 {
		b = append(b, `,"names":[`...)
		for i, n := range p.SearchKeys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, n)
		}
		b = append(b, ']')
	}
	if len(p.Purchases) > 0 {
		b = append(b, `,"purchases":[`...)
		for i, pu := range p.Purchases {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"at":`...)
			b = appendTime(b, pu.At)
			b = append(b, `,"amount":`...)
			b = appendFloat(b, pu.Amount)
			if pu.Currency != "" {
				b = append(b, `,"currency":`...)
				b = appendString(b, pu.Currency)
			}
			if pu.OrderID != "" {
				b = append(b, `,"order_id":`...)
				b = appendString(b, pu.OrderID)
			}
			b = append(b, `,"source":`...)
			b = appendString(b, pu.SourceID)
			b = append(b, `,"channel":`...)
			b = appendString(b, string(pu.Channel))
			b = append(b, `,"seq":`...)
			b = strconv.AppendInt(b, pu.Seq, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if l := p.Lifecycle; l != (Lifecycle{}) {
		b = append(b, `,"lifecycle":{"stage":`...)
		b = appendString(b, l.Stage)
		b = append(b, `,"since":`...)
		b = appendTime(b, l.Since)
		if l.Previous != "" {
			b = append(b, `,"previous":`...)
			b = appendString(b, l.Previous)
		}
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, l.Seq, 10)
		b = append(b, '}')
	}
	if len(p.Computed) > 0 {
		b = append(b, `,"computed":{`...)
		for i, k := range slices.Sorted(maps.Keys(p.Computed)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = appendAggregate(append(b, ':'), p.Computed[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendAggregate appends a computed trait's state as encoding/json would.
func appendAggregate(b []byte, a *Aggregate) []byte {
	if a == nil {
		return append(b, "null"...)
	}
	if a.Parts == nil {
		return append(b, `{"parts":null}`...)
	}
	b = append(b, `{"parts":[`...)
	for i := range a.Parts {
		pt := &a.Parts[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"t":`...)
		b = strconv.AppendInt(b, pt.T, 10)
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, pt.N, 10)
		if pt.Sum != 0 {
			b = append(b, `,"sum":`...)
			b = appendFloat(b, pt.Sum)
		}
		if pt.Min != nil {
			b = append(b, `,"min":`...)
			b = appendFloat(b, *pt.Min)
		}
		if pt.Max != nil {
			b = append(b, `,"max":`...)
			b = appendFloat(b, *pt.Max)
		}
		if pt.First != nil {
			b = appendObservation(append(b, `,"first":`...), pt.First)
		}
		if pt.Last != nil {
			b = appendObservation(append(b, `,"last":`...), pt.Last)
		}
		if len(pt.Freq) > 0 {
			b = append(b, `,"freq":{`...)
			for j, k := range slices.Sorted(maps.Keys(pt.Freq)) {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, k)
				b = append(b, ':')
				b = strconv.AppendInt(b, pt.Freq[k], 10)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, `]}`...)
}

func appendObservation(b []byte, o *Observation) []byte {
	b = append(b, `{"v":`...)
	if len(o.Value) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, o.Value...) // valid JSON: read from a validated payload
	}
	b = append(b, `,"at":`...)
	b = appendTime(b, o.At)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, o.Seq, 10)
	return append(b, '}')
}

// appendFloat appends f as encoding/json would; NaN and infinities, which
// JSON cannot hold, become 0.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// DecodeProfileDoc reads a document written by AppendProfileDoc into p's
// traits, channels, intents, event count and search keys; absent maps come
// back empty, not nil.
func DecodeProfileDoc(raw []byte, p *Profile) error {
	var d profileDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	p.Traits, p.Channels, p.Intents, p.Events, p.SearchKeys = d.Traits, d.Channels, d.Intents, d.Events, d.Names
	p.Purchases, p.Lifecycle, p.Computed = d.Purchases, Lifecycle{}, d.Computed
	if d.Lifecycle != nil {
		p.Lifecycle = *d.Lifecycle
	}
	if p.Traits == nil {
		p.Traits = map[string]Trait{}
	}
	if p.Channels == nil {
		p.Channels = map[Kind]*ChannelSeen{}
	}
	if p.Intents == nil {
		p.Intents = map[string]*Intent{}
	}
	return nil
}
