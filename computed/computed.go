// Package computed keeps computed traits: declarative aggregates of a
// profile's events — count, sum, average, minimum, maximum, first and last
// value, most frequent value — over all time or a sliding window, folded
// into the profile as each event is applied, combined when profiles merge,
// rebuilt from the timeline when a merge is undone or a trait is defined.
//
// A windowed trait keeps its events in buckets of 1/512 of the window, so
// its state stays small and expires on time: the value at a moment counts
// the buckets that begin inside the window, so events in the oldest 1/512
// of it may already be left out.
package computed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// The functions a computed trait may apply.
const (
	Count        = "count"
	Sum          = "sum"
	Avg          = "avg"
	Min          = "min"
	Max          = "max"
	First        = "first"
	Last         = "last"
	MostFrequent = "most_frequent"
)

// Functions lists them, for help texts.
var Functions = []string{Count, Sum, Avg, Min, Max, First, Last, MostFrequent}

// AnyEvent as a definition's Event aggregates every event.
const AnyEvent = "*"

// Buckets is how many buckets a window is cut into.
const Buckets = 512

// MaxValues bounds the distinct values most_frequent counts per bucket;
// values first seen after that are not counted.
const MaxValues = 100

// Def is a parsed, valid definition.
type Def struct {
	kith.ComputedTraitDef
	window time.Duration // 0: all time
	width  int64         // bucket width in seconds (windowed)
	path   []string
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Parse checks a definition. Errors are EINVALID on the field at fault.
func Parse(d kith.ComputedTraitDef) (*Def, error) {
	d.Name, d.Function, d.Event = strings.TrimSpace(d.Name), strings.TrimSpace(d.Function), strings.TrimSpace(d.Event)
	d.Property, d.Window = strings.TrimSpace(d.Property), strings.TrimSpace(d.Window)
	if !nameRE.MatchString(d.Name) {
		return nil, kith.Invalid("name", "a computed trait's name is 1 to 64 lower-case letters, digits and underscores, starting with a letter (e.g. orders_90d); audiences read it as computed.NAME")
	}
	if !slices.Contains(Functions, d.Function) {
		return nil, kith.Invalid("function", "%q is not a function: use one of %s", d.Function, strings.Join(Functions, ", "))
	}
	if d.Event == "" || len(d.Event) > 200 {
		return nil, kith.Invalid("event", `name the track event to aggregate (e.g. "Order Completed"), or "*" for every event`)
	}
	out := &Def{ComputedTraitDef: d}
	if d.Property == "" {
		if d.Function != Count {
			return nil, kith.Invalid("property", "%s needs the event property it aggregates (e.g. revenue, or product.category)", d.Function)
		}
	} else {
		out.path = strings.Split(d.Property, ".")
		for _, p := range out.path {
			if p == "" || len(p) > 200 {
				return nil, kith.Invalid("property", "%q is not a property path: names separated by dots, e.g. product.category", d.Property)
			}
		}
	}
	if d.Window != "" {
		w, err := ParseWindow(d.Window)
		if err != nil {
			return nil, err
		}
		out.window = w
		out.width = max(1, int64(w/time.Second)/Buckets)
	}
	return out, nil
}

// ParseWindow reads a window: a whole number and a unit, m (minutes), h,
// d or w, from 1m to 3650d.
func ParseWindow(s string) (time.Duration, error) {
	bad := kith.Invalid("window", "%q is not a window: a whole number and a unit, m, h, d or w (e.g. 30m, 12h, 90d, 4w), or nothing for all time", s)
	if len(s) < 2 {
		return 0, bad
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, bad
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, bad
	}
	if n > int(3650*24*time.Hour/unit) {
		return 0, kith.Invalid("window", "%q is longer than ten years: leave the window out for all time", s)
	}
	return time.Duration(n) * unit, nil
}

// Windowed reports whether the trait looks back over a window, so that its
// value changes with time alone.
func (d *Def) Windowed() bool { return d.window > 0 }

// Window is the trait's window (0: all time).
func (d *Def) WindowLength() time.Duration { return d.window }

// numeric reports whether the function needs numbers.
func (d *Def) numeric() bool {
	return d.Function == Sum || d.Function == Avg || d.Function == Min || d.Function == Max
}

// bucket returns the start of the bucket holding time t.
func (d *Def) bucket(t time.Time) int64 {
	if d.window == 0 {
		return 0
	}
	s := t.Unix()
	return s - mod(s, d.width)
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// value reads the definition's property from an event's properties; ok is
// false when the event does not count for it.
func (d *Def) value(props map[string]json.RawMessage) (json.RawMessage, float64, bool) {
	if len(d.path) == 0 {
		return nil, 0, true // count of events
	}
	raw := props[d.path[0]]
	for _, p := range d.path[1:] {
		var obj map[string]json.RawMessage
		if len(raw) == 0 || json.Unmarshal(raw, &obj) != nil {
			return nil, 0, false
		}
		raw = obj[p]
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, 0, false
	}
	if d.numeric() {
		f, ok := number(raw)
		return raw, f, ok
	}
	if d.Function == Count {
		return raw, 0, true
	}
	var c bytes.Buffer
	if json.Compact(&c, raw) != nil {
		return nil, 0, false
	}
	return c.Bytes(), 0, true
}

// number reads a JSON number, or a numeric string as some SDKs send.
func number(raw json.RawMessage) (float64, bool) {
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// observe folds one value seen at (at, seq) into a. now bounds what a
// windowed trait keeps: an event already outside the window is not kept,
// and buckets that left it are dropped.
func (d *Def) observe(a *kith.Aggregate, raw json.RawMessage, f float64, at time.Time, seq int64, now time.Time) {
	if d.window > 0 {
		if at.Before(now.Add(-d.window - time.Duration(d.width)*time.Second)) {
			return
		}
		d.prune(a, now)
	}
	t := d.bucket(at)
	i, found := slices.BinarySearchFunc(a.Parts, t, func(p kith.AggregatePart, t int64) int { return cmp64(p.T, t) })
	if !found {
		a.Parts = slices.Insert(a.Parts, i, kith.AggregatePart{T: t})
	}
	p := &a.Parts[i]
	p.N++
	switch d.Function {
	case Sum, Avg:
		p.Sum += f
	case Min:
		if p.Min == nil || f < *p.Min {
			p.Min = &f
		}
	case Max:
		if p.Max == nil || f > *p.Max {
			p.Max = &f
		}
	case First:
		if o := (kith.Observation{Value: raw, At: at, Seq: seq}); p.First == nil || before(o, *p.First) {
			p.First = &o
		}
	case Last:
		if o := (kith.Observation{Value: raw, At: at, Seq: seq}); p.Last == nil || before(*p.Last, o) {
			p.Last = &o
		}
	case MostFrequent:
		k := string(raw)
		if _, ok := p.Freq[k]; ok || len(p.Freq) < MaxValues {
			if p.Freq == nil {
				p.Freq = map[string]int64{}
			}
			p.Freq[k]++
		}
	}
}

// prune drops the buckets that lie wholly before the window at now.
func (d *Def) prune(a *kith.Aggregate, now time.Time) {
	lo := now.Add(-d.window).Unix() - d.width
	n := 0
	for n < len(a.Parts) && a.Parts[n].T < lo {
		n++
	}
	if n > 0 {
		a.Parts = slices.Delete(a.Parts, 0, n)
	}
}

func before(a, b kith.Observation) bool {
	return a.At.Before(b.At) || a.At.Equal(b.At) && a.Seq < b.Seq
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// merge combines b's parts into a: how the states of two merged profiles
// become one.
func merge(a, b *kith.Aggregate) {
	for _, bp := range b.Parts {
		i, found := slices.BinarySearchFunc(a.Parts, bp.T, func(p kith.AggregatePart, t int64) int { return cmp64(p.T, t) })
		if !found {
			a.Parts = slices.Insert(a.Parts, i, clonePart(bp))
			continue
		}
		p := &a.Parts[i]
		p.N += bp.N
		p.Sum += bp.Sum
		if bp.Min != nil && (p.Min == nil || *bp.Min < *p.Min) {
			v := *bp.Min
			p.Min = &v
		}
		if bp.Max != nil && (p.Max == nil || *bp.Max > *p.Max) {
			v := *bp.Max
			p.Max = &v
		}
		if bp.First != nil && (p.First == nil || before(*bp.First, *p.First)) {
			o := *bp.First
			p.First = &o
		}
		if bp.Last != nil && (p.Last == nil || before(*p.Last, *bp.Last)) {
			o := *bp.Last
			p.Last = &o
		}
		for k, n := range bp.Freq {
			if _, ok := p.Freq[k]; ok || len(p.Freq) < MaxValues {
				if p.Freq == nil {
					p.Freq = map[string]int64{}
				}
				p.Freq[k] += n
			}
		}
	}
}

func clonePart(p kith.AggregatePart) kith.AggregatePart {
	if p.Min != nil {
		v := *p.Min
		p.Min = &v
	}
	if p.Max != nil {
		v := *p.Max
		p.Max = &v
	}
	if p.First != nil {
		o := *p.First
		p.First = &o
	}
	if p.Last != nil {
		o := *p.Last
		p.Last = &o
	}
	if p.Freq != nil {
		f := make(map[string]int64, len(p.Freq))
		for k, n := range p.Freq {
			f[k] = n
		}
		p.Freq = f
	}
	return p
}

// Value is the trait's value at now for a state (nil: no events yet):
// an int for count, a number for sum, avg, min and max (nil for the last
// three without events), and the value as JSON gives it (string, number,
// bool, map, list) for first, last and most_frequent.
func (d *Def) Value(a *kith.Aggregate, now time.Time) any {
	var n int64
	var sum float64
	var lo, hi *float64
	var first, last *kith.Observation
	var freq map[string]int64
	if a != nil {
		cut := int64(math.MinInt64)
		if d.window > 0 {
			cut = now.Add(-d.window).Unix()
		}
		for i := range a.Parts {
			p := &a.Parts[i]
			if d.window > 0 && p.T < cut {
				continue
			}
			n += p.N
			sum += p.Sum
			if p.Min != nil && (lo == nil || *p.Min < *lo) {
				lo = p.Min
			}
			if p.Max != nil && (hi == nil || *p.Max > *hi) {
				hi = p.Max
			}
			if p.First != nil && (first == nil || before(*p.First, *first)) {
				first = p.First
			}
			if p.Last != nil && (last == nil || before(*last, *p.Last)) {
				last = p.Last
			}
			if len(p.Freq) > 0 {
				if freq == nil {
					freq = map[string]int64{}
				}
				for k, c := range p.Freq {
					freq[k] += c
				}
			}
		}
	}
	switch d.Function {
	case Count:
		return int(n)
	case Sum:
		return sum
	case Avg:
		if n == 0 {
			return nil
		}
		return sum / float64(n)
	case Min:
		return deref(lo)
	case Max:
		return deref(hi)
	case First:
		return decoded(first)
	case Last:
		return decoded(last)
	case MostFrequent:
		best, bestN := "", int64(0)
		keys := make([]string, 0, len(freq))
		for k := range freq {
			keys = append(keys, k)
		}
		sort.Strings(keys) // ties: the smallest value in JSON order
		for _, k := range keys {
			if freq[k] > bestN {
				best, bestN = k, freq[k]
			}
		}
		if bestN == 0 {
			return nil
		}
		var v any
		if json.Unmarshal([]byte(best), &v) != nil {
			return nil
		}
		return v
	}
	return nil
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func decoded(o *kith.Observation) any {
	if o == nil {
		return nil
	}
	var v any
	if json.Unmarshal(o.Value, &v) != nil {
		return nil
	}
	return v
}

// String describes the definition for people: "count of Order Completed
// over 90d".
func (d *Def) String() string {
	s := d.Function
	if d.Property != "" {
		s += " of " + d.Property
	}
	ev := fmt.Sprintf("%q events", d.Event)
	if d.Event == AnyEvent {
		ev = "every event"
	}
	s += " in " + ev
	if d.Window != "" {
		s += " over the last " + d.Window
	}
	return s
}
