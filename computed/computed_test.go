package computed

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustParse(t *testing.T, d kith.ComputedTraitDef) *Def {
	t.Helper()
	pd, err := Parse(d)
	if err != nil {
		t.Fatalf("Parse(%+v): %v", d, err)
	}
	return pd
}

func TestParseRefusesBadDefinitions(t *testing.T) {
	ok := kith.ComputedTraitDef{Name: "orders_90d", Function: Count, Event: "Order Completed", Window: "90d"}
	tests := []struct {
		name  string
		edit  func(*kith.ComputedTraitDef)
		field string
	}{
		{"no name", func(d *kith.ComputedTraitDef) { d.Name = "" }, "name"},
		{"upper-case name", func(d *kith.ComputedTraitDef) { d.Name = "Orders" }, "name"},
		{"name with a dot", func(d *kith.ComputedTraitDef) { d.Name = "a.b" }, "name"},
		{"unknown function", func(d *kith.ComputedTraitDef) { d.Function = "median" }, "function"},
		{"no event", func(d *kith.ComputedTraitDef) { d.Event = " " }, "event"},
		{"sum without property", func(d *kith.ComputedTraitDef) { d.Function = Sum }, "property"},
		{"empty path part", func(d *kith.ComputedTraitDef) { d.Property = "product..sku" }, "property"},
		{"window without unit", func(d *kith.ComputedTraitDef) { d.Window = "90" }, "window"},
		{"window of seconds", func(d *kith.ComputedTraitDef) { d.Window = "30s" }, "window"},
		{"negative window", func(d *kith.ComputedTraitDef) { d.Window = "-1d" }, "window"},
		{"fractional window", func(d *kith.ComputedTraitDef) { d.Window = "1.5d" }, "window"},
		{"window over ten years", func(d *kith.ComputedTraitDef) { d.Window = "3651d" }, "window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ok
			tt.edit(&d)
			_, err := Parse(d)
			var ke *kith.Error
			if !errors.As(err, &ke) || ke.Code != kith.EINVALID || ke.Field != tt.field || ke.Message == "" {
				t.Fatalf("Parse = %v; want EINVALID on %s", err, tt.field)
			}
		})
	}
	if _, err := Parse(ok); err != nil {
		t.Fatalf("a good definition: %v", err)
	}
	if w, err := ParseWindow("4w"); err != nil || w != 28*24*time.Hour {
		t.Errorf("ParseWindow(4w) = %v, %v", w, err)
	}
}

// track is a track event with properties, at t0 plus d.
func track(seq int64, name string, d time.Duration, props string) kith.Event {
	return kith.Event{Seq: seq, Type: kith.TypeTrack, Timestamp: t0.Add(d),
		Payload: json.RawMessage(fmt.Sprintf(`{"type":"track","event":%q,"properties":%s}`, name, props))}
}

func fold(s *Set, p *kith.Profile, evs ...kith.Event) {
	for i := range evs {
		var m struct {
			Event string `json:"event"`
		}
		_ = json.Unmarshal(evs[i].Payload, &m)
		s.Fold(p, &evs[i], m.Event, nil)
	}
}

func TestFunctions(t *testing.T) {
	evs := []kith.Event{
		track(1, "Order Completed", 0, `{"revenue": 40, "category": "shoes", "store": {"city": "Leeds"}}`),
		track(2, "Order Completed", time.Hour, `{"revenue": "12.5", "category": "hats", "store": {"city": "York"}}`),
		track(3, "Order Completed", 2*time.Hour, `{"revenue": 7.5, "category": "shoes"}`),
		track(4, "Order Completed", 3*time.Hour, `{"revenue": "lots", "category": null}`), // no number, no value
		track(5, "Product Viewed", 4*time.Hour, `{"revenue": 1000, "category": "coats"}`), // another event
		{Seq: 6, Type: kith.TypePage, Timestamp: t0.Add(5 * time.Hour), Payload: json.RawMessage(`{"type":"page","properties":{"path":"/"}}`)},
	}
	tests := []struct {
		def  kith.ComputedTraitDef
		want any
	}{
		{kith.ComputedTraitDef{Function: Count, Event: "Order Completed"}, 4},
		{kith.ComputedTraitDef{Function: Count, Event: "Order Completed", Property: "category"}, 3},
		{kith.ComputedTraitDef{Function: Count, Event: AnyEvent}, 6},
		{kith.ComputedTraitDef{Function: Sum, Event: "Order Completed", Property: "revenue"}, 60.0},
		{kith.ComputedTraitDef{Function: Avg, Event: "Order Completed", Property: "revenue"}, 20.0},
		{kith.ComputedTraitDef{Function: Min, Event: "Order Completed", Property: "revenue"}, 7.5},
		{kith.ComputedTraitDef{Function: Max, Event: AnyEvent, Property: "revenue"}, 1000.0},
		{kith.ComputedTraitDef{Function: First, Event: "Order Completed", Property: "store.city"}, "Leeds"},
		{kith.ComputedTraitDef{Function: Last, Event: "Order Completed", Property: "store.city"}, "York"},
		{kith.ComputedTraitDef{Function: Last, Event: "Order Completed", Property: "store"}, map[string]any{"city": "York"}},
		{kith.ComputedTraitDef{Function: MostFrequent, Event: "Order Completed", Property: "category"}, "shoes"},
		{kith.ComputedTraitDef{Function: MostFrequent, Event: "Refund", Property: "category"}, nil},
		{kith.ComputedTraitDef{Function: Avg, Event: "Refund", Property: "amount"}, nil},
		{kith.ComputedTraitDef{Function: Count, Event: "Refund"}, 0},
	}
	for _, tt := range tests {
		tt.def.Name = "t"
		d := mustParse(t, tt.def)
		t.Run(d.String(), func(t *testing.T) {
			s := NewSet()
			s.SetClock(func() time.Time { return t0.Add(24 * time.Hour) })
			s.Put(d)
			p := &kith.Profile{}
			// In any order, the same value: events arrive out of order.
			shuffled := append([]kith.Event(nil), evs...)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for _, order := range [][]kith.Event{evs, shuffled} {
				p.Computed = nil
				fold(s, p, order...)
				if got := s.Values(p, t0.Add(24*time.Hour))["t"]; !cmp.Equal(got, tt.want) {
					t.Errorf("value = %#v, want %#v", got, tt.want)
				}
			}
			// Rebuilding from the timeline gives the same.
			q := &kith.Profile{}
			s.Recompute(q, evs, []string{"t"})
			if got := s.Values(q, t0.Add(24*time.Hour))["t"]; !cmp.Equal(got, tt.want) {
				t.Errorf("recomputed value = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestWindowExpiresOnTime(t *testing.T) {
	d := mustParse(t, kith.ComputedTraitDef{Name: "orders_7d", Function: Count, Event: "Order Completed", Window: "7d"})
	s := NewSet()
	now := t0
	s.SetClock(func() time.Time { return now })
	s.Put(d)
	p := &kith.Profile{}
	fold(s, p, track(1, "Order Completed", 0, `{}`), track(2, "Order Completed", 3*24*time.Hour, `{}`))
	width := 7 * 24 * time.Hour / Buckets
	for _, c := range []struct {
		at   time.Duration
		want int
	}{
		{3 * 24 * time.Hour, 2},
		{7*24*time.Hour - width, 2}, // the first order is still in the window
		{7*24*time.Hour + width, 1}, // and has left it, with no new event
		{10*24*time.Hour - width, 1},
		{10*24*time.Hour + width, 0},
	} {
		if got := s.Values(p, t0.Add(c.at))["orders_7d"]; got != c.want {
			t.Errorf("at t0+%v: %v, want %d", c.at, got, c.want)
		}
	}
	// New events prune the buckets that left the window: the state stays small.
	now = t0.Add(30 * 24 * time.Hour)
	fold(s, p, track(3, "Order Completed", 30*24*time.Hour, `{}`))
	if n := len(p.Computed["orders_7d"].Parts); n != 1 {
		t.Errorf("%d parts after the old ones left the window, want 1", n)
	}
	// An event already outside the window is not kept.
	fold(s, p, track(4, "Order Completed", 0, `{}`))
	if got := s.Values(p, now)["orders_7d"]; got != 1 {
		t.Errorf("an event older than the window counted: %v", got)
	}
}

func TestAbsorbCombinesStates(t *testing.T) {
	s := NewSet()
	s.SetClock(func() time.Time { return t0.Add(time.Hour * 48) })
	for _, d := range []kith.ComputedTraitDef{
		{Name: "spend", Function: Sum, Event: "Order Completed", Property: "revenue"},
		{Name: "spend_30d", Function: Sum, Event: "Order Completed", Property: "revenue", Window: "30d"},
		{Name: "first_city", Function: First, Event: "Order Completed", Property: "city"},
		{Name: "top_city", Function: MostFrequent, Event: "Order Completed", Property: "city"},
		{Name: "cheapest", Function: Min, Event: "Order Completed", Property: "revenue"},
	} {
		s.Put(mustParse(t, d))
	}
	evs := []kith.Event{
		track(1, "Order Completed", 0, `{"revenue": 10, "city": "York"}`),
		track(2, "Order Completed", time.Hour, `{"revenue": 5, "city": "Leeds"}`),
		track(3, "Order Completed", 2*time.Hour, `{"revenue": 20, "city": "Leeds"}`),
		track(4, "Order Completed", 3*time.Hour, `{"revenue": 1, "city": "York"}`),
		track(5, "Order Completed", 4*time.Hour, `{"revenue": 2, "city": "York"}`),
	}
	whole, a, b := &kith.Profile{}, &kith.Profile{}, &kith.Profile{}
	fold(s, whole, evs...)
	fold(s, a, evs[1], evs[3])
	fold(s, b, evs[0], evs[2], evs[4])
	Absorb(a, b)
	now := t0.Add(48 * time.Hour)
	if got, want := s.Values(a, now), s.Values(whole, now); !cmp.Equal(got, want) {
		t.Errorf("merged %v, want %v", got, want)
	}
	// The absorbed profile's state is not shared with the survivor's.
	fold(s, a, track(6, "Order Completed", 5*time.Hour, `{"revenue": 100, "city": "Hull"}`))
	if got := s.Values(b, now)["spend"]; got != 32.0 {
		t.Errorf("absorbed profile changed with the survivor: %v", got)
	}
}

func TestMostFrequentBoundsItsValues(t *testing.T) {
	d := mustParse(t, kith.ComputedTraitDef{Name: "cat", Function: MostFrequent, Event: "Viewed", Property: "c"})
	s := NewSet()
	s.Put(d)
	p := &kith.Profile{}
	for i := range MaxValues + 50 {
		fold(s, p, track(int64(i), "Viewed", time.Duration(i), fmt.Sprintf(`{"c": "v%03d"}`, i)))
	}
	fold(s, p, track(1000, "Viewed", time.Hour, `{"c": "v120"}`)) // beyond the bound: not counted
	fold(s, p, track(1001, "Viewed", time.Hour, `{"c": "v050"}`))
	if n := len(p.Computed["cat"].Parts[0].Freq); n != MaxValues {
		t.Errorf("%d values counted, want at most %d", n, MaxValues)
	}
	if got := s.Values(p, t0)["cat"]; got != "v050" {
		t.Errorf("most frequent = %v, want v050", got)
	}
}
