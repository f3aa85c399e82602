package profile

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// foldEvent returns an event of the given type, channel, position, time and
// JSON payload, as the log would hand it to the processor.
func foldEvent(typ kith.EventType, ch kith.Kind, seq int64, ts time.Time, payload string) kith.Event {
	return kith.Event{
		Seq: seq, MessageID: fmt.Sprintf("m%d", seq), Type: typ, SourceID: "src-" + string(ch), Channel: ch,
		AnonymousID: "anon", Timestamp: ts, ReceivedAt: ts.Add(time.Second), Payload: []byte(payload),
	}
}

func trait(value string, ch kith.Kind, ts time.Time, seq int64) kith.Trait {
	return kith.Trait{Value: json.RawMessage(value), SourceID: "src-" + string(ch), Channel: ch, Time: ts, Seq: seq}
}

func TestSetTraitNewestEventTimeWins(t *testing.T) {
	tests := []struct {
		name string
		a, b kith.Trait
		want kith.Trait
	}{
		{
			name: "newer event time wins over later seq",
			a:    trait(`"old"`, kith.KindWeb, t0, 9),
			b:    trait(`"new"`, kith.KindApp, t0.Add(time.Minute), 2),
			want: trait(`"new"`, kith.KindApp, t0.Add(time.Minute), 2),
		},
		{
			name: "newer event time wins by a nanosecond",
			a:    trait(`"old"`, kith.KindWeb, t0, 5),
			b:    trait(`"new"`, kith.KindWeb, t0.Add(time.Nanosecond), 4),
			want: trait(`"new"`, kith.KindWeb, t0.Add(time.Nanosecond), 4),
		},
		{
			name: "same event time: the later event in the log wins",
			a:    trait(`"first"`, kith.KindWeb, t0, 3),
			b:    trait(`"second"`, kith.KindCallCenter, t0, 4),
			want: trait(`"second"`, kith.KindCallCenter, t0, 4),
		},
		{
			name: "same instant in another location is a tie",
			a:    trait(`"first"`, kith.KindWeb, t0.In(time.FixedZone("CET", 3600)), 7),
			b:    trait(`"second"`, kith.KindWeb, t0, 6),
			want: trait(`"first"`, kith.KindWeb, t0, 7),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range [][]kith.Trait{{tt.a, tt.b}, {tt.b, tt.a}} {
				p := newProfile("prf_x", &kith.Event{Timestamp: t0})
				for _, tr := range order {
					setTrait(p, "plan", tr)
				}
				if diff := cmp.Diff(tt.want, p.Traits["plan"]); diff != "" {
					t.Errorf("after setting %s then %s (-want +got):\n%s", order[0].Value, order[1].Value, diff)
				}
			}
		})
	}
}

func TestSeeChannel(t *testing.T) {
	p := newProfile("prf_x", &kith.Event{Timestamp: t0})
	seeChannel(p, kith.KindWeb, t0.Add(2*time.Hour), t0.Add(2*time.Hour), 1)
	seeChannel(p, kith.KindWeb, t0, t0, 1)                                   // earlier: moves first only
	seeChannel(p, kith.KindWeb, t0.Add(5*time.Hour), t0.Add(5*time.Hour), 1) // later: moves last only
	seeChannel(p, kith.KindWeb, t0.Add(time.Hour), t0.Add(3*time.Hour), 4)   // inside: counts only
	seeChannel(p, kith.KindApp, t0.Add(time.Hour), t0.Add(time.Hour), 1)
	want := map[kith.Kind]*kith.ChannelSeen{
		kith.KindWeb: {First: t0, Last: t0.Add(5 * time.Hour), Events: 7},
		kith.KindApp: {First: t0.Add(time.Hour), Last: t0.Add(time.Hour), Events: 1},
	}
	if diff := cmp.Diff(want, p.Channels); diff != "" {
		t.Errorf("channels (-want +got):\n%s", diff)
	}
}

func TestIntentDecay(t *testing.T) {
	c := IntentConfig{HalfLife: 72 * time.Hour}
	p := newProfile("prf_x", &kith.Event{Timestamp: t0})
	c.signal(p, "car insurance", 2, t0, kith.KindWeb)
	in := p.Intents["car insurance"]
	for _, tt := range []struct {
		at   time.Time
		want float64
	}{
		{t0, 2},
		{t0.Add(72 * time.Hour), 1},
		{t0.Add(144 * time.Hour), 0.5},
		{t0.Add(36 * time.Hour), 2 / math.Sqrt2},
	} {
		if got := c.decayed(in, tt.at); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("strength at %s = %v, want %v", tt.at, got, tt.want)
		}
	}
	// A second signal one half-life later adds to what is left of the first.
	c.signal(p, "car insurance", 1, t0.Add(72*time.Hour), kith.KindApp)
	if got, want := c.decayed(in, t0.Add(72*time.Hour)), 2.0; math.Abs(got-want) > 1e-12 {
		t.Errorf("strength after a second signal = %v, want %v", got, want)
	}
	if in.Channel != kith.KindApp || !in.Last.Equal(t0.Add(72*time.Hour)) {
		t.Errorf("latest signal = %s at %s, want app at %s", in.Channel, in.Last, t0.Add(72*time.Hour))
	}
}

func TestIntentSignalsCommute(t *testing.T) {
	c := IntentConfig{HalfLife: 72 * time.Hour}
	type sig struct {
		w  float64
		at time.Time
		ch kith.Kind
	}
	r := rand.New(rand.NewPCG(1, 2))
	sigs := make([]sig, 40)
	for i := range sigs {
		ch := kith.Kinds[r.IntN(len(kith.Kinds))]
		sigs[i] = sig{w: 0.5 + r.Float64()*3, at: t0.Add(time.Duration(r.Int64N(int64(20 * 24 * time.Hour)))), ch: ch}
	}
	var latest sig
	for _, s := range sigs {
		if s.at.After(latest.at) {
			latest = s
		}
	}
	now := latest.at.Add(48 * time.Hour)
	var want float64 // the sum of every signal decayed to now
	for _, s := range sigs {
		want += s.w * math.Exp2(-now.Sub(s.at).Hours()/72)
	}
	apply := func(order []sig) *kith.Intent {
		p := newProfile("prf_x", &kith.Event{Timestamp: t0})
		for _, s := range order {
			c.signal(p, "mortgage", s.w, s.at, s.ch)
		}
		return p.Intents["mortgage"]
	}
	for i := range 20 {
		order := append([]sig(nil), sigs...)
		switch i {
		case 0: // log order
		case 1: // reversed
			for l, r := 0, len(order)-1; l < r; l, r = l+1, r-1 {
				order[l], order[r] = order[r], order[l]
			}
		default:
			r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		in := apply(order)
		if got := c.decayed(in, now); math.Abs(got-want) > 1e-9*want {
			t.Errorf("order %d: strength = %.15g, want %.15g", i, got, want)
		}
		if !in.At.Equal(latest.at) || !in.Last.Equal(latest.at) || in.Channel != latest.ch {
			t.Errorf("order %d: at %s, last %s on %s; want the latest signal, %s on %s", i, in.At, in.Last, in.Channel, latest.at, latest.ch)
		}
	}
}

// absorbEvents are events of one person on several channels, out of time
// order, with traits said twice and intents signalled more than once.
func absorbEvents() []kith.Event {
	return []kith.Event{
		foldEvent(kith.TypeIdentify, kith.KindWeb, 1, t0.Add(5*time.Hour), `{"traits":{"name":"Ann","plan":"gold"}}`),
		foldEvent(kith.TypePage, kith.KindWeb, 2, t0.Add(time.Hour), `{"properties":{"path":"/insurance/car"},"context":{"traits":{"plan":"silver"}}}`),
		foldEvent(kith.TypeTrack, kith.KindApp, 3, t0.Add(3*time.Hour), `{"event":"Quote Requested","properties":{"category":"Mortgage"}}`),
		foldEvent(kith.TypeIdentify, kith.KindCallCenter, 4, t0.Add(2*time.Hour), `{"traits":{"name":"Ann Lee","tier":1}}`),
		foldEvent(kith.TypePage, kith.KindWeb, 5, t0.Add(6*time.Hour), `{"properties":{"path":"/insurance/car/compare"}}`),
		foldEvent(kith.TypeTrack, kith.KindApp, 6, t0.Add(4*time.Hour), `{"event":"Viewed","properties":{"category":"mortgage"},"context":{"traits":{"tier":2}}}`),
		foldEvent(kith.TypeIdentify, kith.KindWeb, 7, t0.Add(5*time.Hour), `{"traits":{"plan":"platinum"}}`),
		foldEvent(kith.TypeTrack, kith.KindCallCenter, 8, t0.Add(30*time.Hour), `{"event":"Quote Requested"}`),
	}
}

func testIntentConfig() IntentConfig {
	return IntentConfig{
		HalfLife:       72 * time.Hour,
		CategoryTopics: true,
		Rules: []IntentRule{
			{Topic: "car insurance", PathPrefix: "/insurance/car"},
			{Topic: "quote", Event: "quote requested", Weight: 2},
		},
		Top: 5,
	}
}

// foldAll folds events, in the order given, into a new profile.
func foldAll(c *IntentConfig, id string, evs []kith.Event) *kith.Profile {
	p := newProfile(id, &evs[0])
	for i := range evs {
		m, _ := decode(&evs[i])
		c.fold(p, &evs[i], m)
	}
	return p
}

// foldedState is what folding decides, compared across orders of folding.
type foldedState struct {
	Traits   map[string]kith.Trait
	Channels map[kith.Kind]*kith.ChannelSeen
	Intents  map[string]*kith.Intent
	Events   int
}

func stateOf(p *kith.Profile) foldedState {
	return foldedState{Traits: p.Traits, Channels: p.Channels, Intents: p.Intents, Events: p.Events}
}

var approx = cmpopts.EquateApprox(1e-12, 1e-12)

func TestFoldIsOrderIndependent(t *testing.T) {
	c := testIntentConfig()
	evs := absorbEvents()
	want := stateOf(foldAll(&c, "prf_a", evs))
	reversed := make([]kith.Event, len(evs))
	for i := range evs {
		reversed[len(evs)-1-i] = evs[i]
	}
	got := stateOf(foldAll(&c, "prf_b", reversed))
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("folding in reverse order differs (-log order +reversed):\n%s", diff)
	}
	// Spot checks of what the rules say.
	p := foldAll(&c, "prf_c", evs)
	for name, want := range map[string]string{"name": `"Ann"`, "plan": `"platinum"`, "tier": `2`} {
		if got := string(p.Traits[name].Value); got != want {
			t.Errorf("trait %s = %s, want %s", name, got, want)
		}
	}
	if got, want := p.Traits["plan"].Seq, int64(7); got != want {
		t.Errorf("trait plan from event %d, want %d (same time as event 1, later in the log)", got, want)
	}
}

func TestAbsorbEqualsFoldingAllEvents(t *testing.T) {
	c := testIntentConfig()
	evs := absorbEvents()
	want := stateOf(foldAll(&c, "prf_all", evs))
	splits := []struct {
		name string
		a, b []int // indexes into evs
	}{
		{"interleaved", []int{0, 2, 4, 6}, []int{1, 3, 5, 7}},
		{"halves", []int{0, 1, 2, 3}, []int{4, 5, 6, 7}},
		{"one event", []int{0, 1, 2, 3, 4, 5, 6}, []int{7}},
		{"shared topics only on one side", []int{1, 4}, []int{0, 2, 3, 5, 6, 7}},
	}
	pick := func(idx []int) []kith.Event {
		var out []kith.Event
		for _, i := range idx {
			out = append(out, evs[i])
		}
		return out
	}
	for _, sp := range splits {
		t.Run(sp.name, func(t *testing.T) {
			for _, dir := range []string{"a absorbs b", "b absorbs a"} {
				s, a := foldAll(&c, "prf_a", pick(sp.a)), foldAll(&c, "prf_b", pick(sp.b))
				if dir == "b absorbs a" {
					s, a = a, s
				}
				c.absorb(s, a)
				if diff := cmp.Diff(want, stateOf(s), approx); diff != "" {
					t.Errorf("%s: differs from folding every event into one profile (-one +absorbed):\n%s", dir, diff)
				}
				if !s.UpdatedAt.Equal(t0.Add(30 * time.Hour)) {
					t.Errorf("%s: updated at %s, want the newest event's time %s", dir, s.UpdatedAt, t0.Add(30*time.Hour))
				}
			}
		})
	}
}

func TestTopIntents(t *testing.T) {
	now := t0.Add(10 * 24 * time.Hour)
	c := IntentConfig{HalfLife: 24 * time.Hour, Top: 3}
	p := newProfile("prf_x", &kith.Event{Timestamp: t0})
	p.Intents = map[string]*kith.Intent{
		"weak":      {Score: 1, At: now.Add(-48 * time.Hour), Channel: kith.KindWeb, Last: now.Add(-48 * time.Hour)}, // 0.25
		"strong":    {Score: 4, At: now, Channel: kith.KindApp, Last: now},                                           // 4
		"decayed":   {Score: 8, At: now.Add(-24 * time.Hour), Channel: kith.KindWeb, Last: now.Add(-24 * time.Hour)}, // 4: tie with strong, "decayed" sorts first
		"middle":    {Score: 1, At: now, Channel: kith.KindSMS, Last: now},                                           // 1
		"forgotten": {Score: 5, At: now.Add(-10 * 24 * time.Hour), Channel: kith.KindWeb, Last: now},                 // 5/1024 < 0.01
	}
	want := []RankedIntent{
		{Topic: "decayed", Strength: 4, Channel: kith.KindWeb, Last: now.Add(-24 * time.Hour)},
		{Topic: "strong", Strength: 4, Channel: kith.KindApp, Last: now},
		{Topic: "middle", Strength: 1, Channel: kith.KindSMS, Last: now},
	}
	if diff := cmp.Diff(want, c.TopIntents(p, now), approx); diff != "" {
		t.Errorf("TopIntents with Top 3 (-want +got):\n%s", diff)
	}
	c.Top = 0 // every intent that is not negligible
	want = append(want, RankedIntent{Topic: "weak", Strength: 0.25, Channel: kith.KindWeb, Last: now.Add(-48 * time.Hour)})
	if diff := cmp.Diff(want, c.TopIntents(p, now), approx); diff != "" {
		t.Errorf("TopIntents with no limit (-want +got):\n%s", diff)
	}
	c.Top = 10
	if diff := cmp.Diff(want, c.TopIntents(p, now), approx); diff != "" {
		t.Errorf("TopIntents with Top above the count (-want +got):\n%s", diff)
	}
	if got := c.TopIntents(newProfile("prf_y", &kith.Event{Timestamp: t0}), now); len(got) != 0 {
		t.Errorf("TopIntents of a profile without intents = %v, want none", got)
	}
}

func TestTopics(t *testing.T) {
	rules := []IntentRule{
		{Topic: "car insurance", PathPrefix: "/insurance/car"},
		{Topic: "car insurance", Category: "Car Insurance", Weight: 2},
		{Topic: "mortgage", Category: "home loans"},
		{Topic: "quote", Event: "Quote Requested", Weight: 3},
		{Topic: "quote", Event: "Get Quote", Weight: 0.5},
	}
	tests := []struct {
		name       string
		typ        kith.EventType
		payload    string
		categories bool
		want       map[string]float64
	}{
		{"properties.path prefix", kith.TypePage, `{"properties":{"path":"/insurance/car/quote"}}`, false,
			map[string]float64{"car insurance": 1}},
		{"context.page.path", kith.TypeTrack, `{"event":"Clicked","context":{"page":{"path":"/insurance/car"}}}`, false,
			map[string]float64{"car insurance": 1}},
		{"path of properties.url", kith.TypePage, `{"properties":{"url":"https://example.com/insurance/car?x=1"}}`, false,
			map[string]float64{"car insurance": 1}},
		{"path of context.page.url", kith.TypeTrack, `{"event":"Clicked","context":{"page":{"url":"https://example.com/insurance/cars"}}}`, false,
			map[string]float64{"car insurance": 1}},
		{"properties.path before context.page.path", kith.TypePage, `{"properties":{"path":"/home"},"context":{"page":{"path":"/insurance/car"}}}`, false,
			nil},
		{"a path is not a prefix of a shorter one", kith.TypePage, `{"properties":{"path":"/insurance"}}`, false, nil},
		{"path prefix is case-sensitive", kith.TypePage, `{"properties":{"path":"/Insurance/Car"}}`, false, nil},
		{"category rule ignores case and space", kith.TypeTrack, `{"event":"Viewed","properties":{"category":"  car INSURANCE "}}`, false,
			map[string]float64{"car insurance": 2}},
		{"category rule on a page", kith.TypePage, `{"properties":{"category":"Home Loans"}}`, false,
			map[string]float64{"mortgage": 1}},
		{"strongest rule of a topic wins", kith.TypePage, `{"properties":{"path":"/insurance/car","category":"car insurance"}}`, false,
			map[string]float64{"car insurance": 2}},
		{"category topics on", kith.TypeTrack, `{"event":"Viewed","properties":{"category":"Pet Food"}}`, true,
			map[string]float64{"pet food": 1}},
		{"category topics off", kith.TypeTrack, `{"event":"Viewed","properties":{"category":"Pet Food"}}`, false, nil},
		{"category topic besides the rule", kith.TypeTrack, `{"event":"Viewed","properties":{"category":"Home Loans"}}`, true,
			map[string]float64{"mortgage": 1, "home loans": 1}},
		{"overlong category is no topic", kith.TypeTrack, fmt.Sprintf(`{"event":"Viewed","properties":{"category":%q}}`, strings.Repeat("a", 101)), true, nil},
		{"event rule on a track, any case", kith.TypeTrack, `{"event":"quote requested"}`, false,
			map[string]float64{"quote": 3}},
		{"event rule weight below one", kith.TypeTrack, `{"event":"Get Quote"}`, false,
			map[string]float64{"quote": 0.5}},
		{"event rule not on a page", kith.TypePage, `{"event":"Quote Requested","name":"Quote Requested"}`, false, nil},
		{"event rule not on an identify", kith.TypeIdentify, `{"event":"Quote Requested"}`, false, nil},
		{"nothing to go on", kith.TypeTrack, `{"event":"Viewed"}`, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := IntentConfig{HalfLife: time.Hour, CategoryTopics: tt.categories, Rules: rules}
			e := foldEvent(tt.typ, kith.KindWeb, 1, t0, tt.payload)
			m, warnings := decode(&e)
			if len(warnings) > 0 {
				t.Fatalf("decode(%s): %v", tt.payload, warnings)
			}
			if diff := cmp.Diff(tt.want, c.topics(&e, m), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("topics of %s %s (-want +got):\n%s", tt.typ, tt.payload, diff)
			}
		})
	}
}

func TestDisplayNameAndSearchKeys(t *testing.T) {
	tests := []struct {
		name   string
		traits map[string]string // trait name → JSON value
		want   string
		keys   []string
	}{
		{"name", map[string]string{"name": `"Ann Lee"`, "first_name": `"Bob"`}, "Ann Lee", []string{"ann lee", "lee ann"}},
		{"name trimmed", map[string]string{"name": `"  Ann   Lee "`}, "Ann   Lee", []string{"ann lee", "lee ann"}},
		{"first and last", map[string]string{"first_name": `"Ann"`, "last_name": `"Lee"`}, "Ann Lee", []string{"ann lee", "lee ann"}},
		{"camelCase", map[string]string{"firstName": `"Ann"`, "lastName": `"Lee"`}, "Ann Lee", []string{"ann lee", "lee ann"}},
		{"mixed spellings", map[string]string{"first_name": `"Ann"`, "lastName": `"Lee"`}, "Ann Lee", []string{"ann lee", "lee ann"}},
		{"snake_case before camelCase", map[string]string{"first_name": `"Ann"`, "firstName": `"Anna"`, "last_name": `"Lee"`, "lastName": `"Li"`}, "Ann Lee", []string{"ann lee", "lee ann"}},
		{"empty name falls back", map[string]string{"name": `""`, "first_name": `"Ann"`, "last_name": `"Lee"`}, "Ann Lee", []string{"ann lee", "lee ann"}},
		{"null name falls back", map[string]string{"name": `null`, "firstName": `"Ann"`}, "Ann", []string{"ann"}},
		{"first name only", map[string]string{"first_name": `"Ann"`}, "Ann", []string{"ann"}},
		{"last name only", map[string]string{"last_name": `"Lee"`}, "Lee", []string{"lee"}},
		{"three words", map[string]string{"name": `"Mary Ann Lee"`}, "Mary Ann Lee", []string{"mary ann lee", "lee mary ann"}},
		{"lower-cased keys", map[string]string{"name": `"ÉMILE Zola"`}, "ÉMILE Zola", []string{"émile zola", "zola émile"}},
		{"no name", map[string]string{"email": `"ann@example.com"`}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProfile("prf_x", &kith.Event{Timestamp: t0})
			for k, v := range tt.traits {
				p.Traits[k] = trait(v, kith.KindWeb, t0, 1)
			}
			if got := DisplayName(p); got != tt.want {
				t.Errorf("DisplayName = %q, want %q", got, tt.want)
			}
			if diff := cmp.Diff(tt.keys, SearchKeys(p)); diff != "" {
				t.Errorf("SearchKeys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFoldDecodesOddFieldsWithoutFailing(t *testing.T) {
	c := testIntentConfig()
	// traits of the wrong kind: the rest of the message still counts.
	e := foldEvent(kith.TypePage, kith.KindWeb, 1, t0, `{"traits":"not an object","properties":{"path":"/insurance/car"}}`)
	m, warnings := decode(&e)
	if len(warnings) == 0 {
		t.Errorf("decode of a message with traits of the wrong kind gave no warning")
	}
	p := newProfile("prf_x", &e)
	c.fold(p, &e, m)
	if p.Events != 1 || p.Channels[kith.KindWeb] == nil {
		t.Errorf("after folding: events %d, channels %v; want the event counted on web", p.Events, p.Channels)
	}
	if p.Intents["car insurance"] == nil {
		t.Errorf("intents %v, want car insurance from the path", p.Intents)
	}
}
