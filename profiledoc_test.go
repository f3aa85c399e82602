package kith_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
)

// profileDoc is the document's shape, as encoding/json reads and writes it.
type profileDoc struct {
	Traits    map[string]kith.Trait           `json:"traits"`
	Channels  map[kith.Kind]*kith.ChannelSeen `json:"channels"`
	Intents   map[string]*kith.Intent         `json:"intents"`
	Events    int                             `json:"events"`
	Names     []string                        `json:"names,omitempty"`
	Purchases []kith.Purchase                 `json:"purchases,omitempty"`
	Lifecycle *kith.Lifecycle                 `json:"lifecycle,omitempty"`
	Computed  map[string]*kith.Aggregate      `json:"computed,omitempty"`
	_         struct{}                        `json:"-"`
}

// validUTF8 is s as a JSON encoder writes it: each byte that is not part
// of valid UTF-8 becomes U+FFFD (converting to runes does the same).
func validUTF8(s string) string { return string([]rune(s)) }

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// finite is the score AppendProfileDoc writes: JSON has no NaN or infinity.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// wantDoc is the document that decoding p's encoding must give. Keys that
// become equal once made valid UTF-8 collide; the last in key order wins,
// as it does in the decoder.
func wantDoc(p *kith.Profile) profileDoc {
	d := profileDoc{
		Traits:   map[string]kith.Trait{},
		Channels: map[kith.Kind]*kith.ChannelSeen{},
		Intents:  map[string]*kith.Intent{},
		Events:   p.Events,
	}
	for _, k := range sortedKeys(p.Traits) {
		t := p.Traits[k]
		v := json.RawMessage(bytes.Trim(t.Value, " \t\r\n"))
		if len(t.Value) == 0 {
			v = json.RawMessage("null")
		}
		d.Traits[validUTF8(k)] = kith.Trait{Value: v, SourceID: validUTF8(t.SourceID),
			Channel: kith.Kind(validUTF8(string(t.Channel))), Time: t.Time, Seq: t.Seq}
	}
	for _, k := range sortedKeys(p.Channels) {
		c := *p.Channels[k]
		d.Channels[kith.Kind(validUTF8(string(k)))] = &c
	}
	for _, k := range sortedKeys(p.Intents) {
		in := *p.Intents[k]
		in.Score = finite(in.Score)
		in.Channel = kith.Kind(validUTF8(string(in.Channel)))
		d.Intents[validUTF8(k)] = &in
	}
	for _, n := range p.SearchKeys {
		d.Names = append(d.Names, validUTF8(n))
	}
	for _, pu := range p.Purchases {
		pu.Amount = finite(pu.Amount)
		pu.Currency, pu.OrderID, pu.SourceID = validUTF8(pu.Currency), validUTF8(pu.OrderID), validUTF8(pu.SourceID)
		pu.Channel = kith.Kind(validUTF8(string(pu.Channel)))
		d.Purchases = append(d.Purchases, pu)
	}
	if p.Lifecycle != (kith.Lifecycle{}) {
		l := p.Lifecycle
		l.Stage, l.Previous = validUTF8(l.Stage), validUTF8(l.Previous)
		d.Lifecycle = &l
	}
	if len(p.Computed) > 0 {
		d.Computed = p.Computed
	}
	return d
}

// stdJSON encodes p's document with encoding/json. Where the generic
// encoder cannot (a non-finite score, an empty raw value) or writes null
// for an absent map, it is given what AppendProfileDoc writes instead.
func stdJSON(t *testing.T, p *kith.Profile) []byte {
	t.Helper()
	d := profileDoc{
		Traits:   map[string]kith.Trait{},
		Channels: map[kith.Kind]*kith.ChannelSeen{},
		Intents:  map[string]*kith.Intent{},
		Events:   p.Events,
		Names:    p.SearchKeys,
	}
	for k, tr := range p.Traits {
		if len(tr.Value) == 0 {
			tr.Value = nil
		}
		d.Traits[k] = tr
	}
	for k, c := range p.Channels {
		d.Channels[k] = c
	}
	for k, in := range p.Intents {
		c := *in
		c.Score = finite(c.Score)
		d.Intents[k] = &c
	}
	for _, pu := range p.Purchases {
		pu.Amount = finite(pu.Amount)
		d.Purchases = append(d.Purchases, pu)
	}
	if p.Lifecycle != (kith.Lifecycle{}) {
		l := p.Lifecycle
		d.Lifecycle = &l
	}
	if len(p.Computed) > 0 {
		d.Computed = p.Computed
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return b
}

// decodeAny decodes JSON into maps, slices and scalars, numbers as float64
// where they fit one (so 1e-06 and 0.000001 are equal) and as their text
// where they do not.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	var norm func(v any) any
	norm = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				v[k] = norm(x)
			}
		case []any:
			for i, x := range v {
				v[i] = norm(x)
			}
		case json.Number:
			if f, err := strconv.ParseFloat(string(v), 64); err == nil {
				return f
			}
			return string(v)
		}
		return v
	}
	return norm(v)
}

// abbrev quotes a document for a failure message, cutting long ones.
func abbrev(b []byte) string {
	const max = 2000
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "…"
	}
	return strconv.Quote(string(b))
}

// checkDoc checks AppendProfileDoc on p against its decoding and encoding/json.
func checkDoc(t *testing.T, p *kith.Profile) {
	t.Helper()
	prefix := []byte("kept")
	b := kith.AppendProfileDoc(append([]byte(nil), prefix...), p)
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("AppendProfileDoc overwrote what it appended to: %q", b)
	}
	b = b[len(prefix):]
	if !json.Valid(b) {
		t.Fatalf("AppendProfileDoc wrote invalid JSON: %s", abbrev(b))
	}
	// Raw values are copied as they are; everything AppendProfileDoc encodes
	// itself must come out as valid UTF-8.
	rawValid := true
	for _, tr := range p.Traits {
		rawValid = rawValid && utf8.Valid(tr.Value)
	}
	if rawValid && !utf8.Valid(b) {
		t.Errorf("AppendProfileDoc wrote invalid UTF-8: %s", abbrev(b))
	}
	var got profileDoc
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("decode %s: %v", abbrev(b), err)
	}
	if diff := cmp.Diff(wantDoc(p), got, cmpopts.IgnoreUnexported(profileDoc{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("decoded document (-want +got):\n%s\nencoded: %s", diff, abbrev(b))
	}
	checkFields(t, b)
	std := stdJSON(t, p)
	// DeepEqual first: cmp's time grows exponentially with the nesting of
	// slices, so it only explains a difference.
	if want, got := decodeAny(t, std), decodeAny(t, b); !reflect.DeepEqual(want, got) {
		diff := cmp.Diff(want, got)
		t.Errorf("AppendProfileDoc and encoding/json disagree (-encoding/json +AppendProfileDoc):\n%s\nAppendProfileDoc:     %s\nencoding/json: %s",
			diff, abbrev(b), abbrev(std))
	}
}

var docT0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func trait(v string) kith.Trait {
	return kith.Trait{Value: json.RawMessage(v), SourceID: "src_1", Channel: kith.KindWeb, Time: docT0, Seq: 1}
}

func TestAppendDoc(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	odd := time.FixedZone("", -(9*3600 + 30*60))
	tests := []struct {
		name string
		p    *kith.Profile
	}{
		{"empty", &kith.Profile{}},
		{"empty maps", &kith.Profile{Traits: map[string]kith.Trait{}, Channels: map[kith.Kind]*kith.ChannelSeen{},
			Intents: map[string]*kith.Intent{}, SearchKeys: []string{}}},
		{"typical", &kith.Profile{
			Traits: map[string]kith.Trait{
				"name":  trait(`"Ann Lee"`),
				"email": trait(`"ann@example.com"`),
				"age":   trait(`42`),
			},
			Channels: map[kith.Kind]*kith.ChannelSeen{
				kith.KindWeb: {First: docT0, Last: docT0.Add(time.Hour), Events: 12},
				kith.KindApp: {First: docT0, Last: docT0, Events: 1},
			},
			Intents:    map[string]*kith.Intent{"running shoes": {Score: 2.5, At: docT0, Channel: kith.KindWeb, Last: docT0}},
			Events:     13,
			SearchKeys: []string{"ann lee", "lee ann"},
		}},
		{"raw values", &kith.Profile{Traits: map[string]kith.Trait{
			"object":     trait(`{"street": "1 Main St", "geo": {"lat": 51.5, "lng": -0.12}, "tags": ["a", null, true], "e": {}}`),
			"array":      trait(`[1, "two", [3, [4]], {"five": 5}]`),
			"numbers":    trait(`[0, -0, 1.50E+3, 1e-7, 12345678901234567890, 1e400, -1e-400]`),
			"literals":   trait(`[true, false, null]`),
			"null":       trait(`null`),
			"empty":      trait(``),
			"nil":        {Value: nil, SourceID: "src_1", Channel: kith.KindWeb, Time: docT0, Seq: 2},
			"spaced":     trait(" \t\r\n {\"a\" :\n 1 } \n"),
			"escapes":    trait(`"quote\" back\\ slash\/ \b\f\n\r\t \u0000 \u001f \u00e9 \ud83d\ude00 \u2028"`),
			"html":       trait(`"<script>&amp;</script>"`),
			"raw utf8":   trait(`"Zoë ✓ 日本 😀"`),
			"bad utf8":   trait("\"a\xffb\xc3\""),
			"dup keys":   trait(`{"a": 1, "a": 2}`),
			"deep":       trait(strings.Repeat("[", 12) + `{"x":[[[[null]]]]}` + strings.Repeat("]", 12)),
			"long":       trait(`"` + strings.Repeat("x", 10000) + `"`),
			"big number": trait(`123456789012345678901234567890.123456789e-5`),
		}}},
		{"strings", &kith.Profile{
			Traits: map[string]kith.Trait{
				"a \"quoted\" \\ name":                        trait(`1`),
				"controls \x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f": trait(`2`),
				"unicode é ✓ 日本 😀 \u2028\u2029 \ufeff":        trait(`3`),
				"html <>&": trait(`4`),
				"":         trait(`5`),
				"source and channel": {Value: json.RawMessage(`6`), SourceID: "src \"x\" \\ \x00 ✓ \u2028",
					Channel: kith.Kind("chan\t\"nel\"\\ 日本"), Time: docT0, Seq: 6},
			},
			Channels: map[kith.Kind]*kith.ChannelSeen{
				"odd \"kind\" \\ \x01 ü": {First: docT0, Last: docT0, Events: 1},
				"":                       {First: docT0, Last: docT0, Events: 2},
			},
			Intents: map[string]*kith.Intent{
				"topic \"q\" \\ \n 😀": {Score: 1, At: docT0, Channel: "ch \"x\"\x1f", Last: docT0},
			},
			SearchKeys: []string{"zoë \"z\" o'brien \\ \t", "<b>&</b> \u2028"},
		}},
		{"invalid utf-8", &kith.Profile{
			Traits: map[string]kith.Trait{
				"bad \xff name":          {Value: json.RawMessage(`1`), SourceID: "src \xc3\x28", Channel: kith.Kind("\xe2\x82"), Time: docT0, Seq: 1},
				"surrogate \xed\xa0\x80": trait(`2`),
				"overlong \xc0\xaf":      trait(`3`),
				"truncated \xf0\x9f\x98": trait(`4`),
				"\x80":                   trait(`5`),
			},
			Channels:   map[kith.Kind]*kith.ChannelSeen{"\xfe\xff": {First: docT0, Last: docT0, Events: 1}},
			Intents:    map[string]*kith.Intent{"t\xf5pic": {Score: 1, At: docT0, Channel: "c\xffh", Last: docT0}},
			SearchKeys: []string{"ann \xff lee", "\xc3"},
		}},
		{"colliding invalid utf-8", &kith.Profile{Traits: map[string]kith.Trait{
			"\xfe": trait(`"first"`),
			"\xff": trait(`"second"`),
		}}},
		{"scores", &kith.Profile{Intents: map[string]*kith.Intent{
			"zero":     {Score: 0},
			"negzero":  {Score: math.Copysign(0, -1)},
			"tenth":    {Score: 0.1},
			"sum":      {Score: 0.1 + 0.2},
			"third":    {Score: 1.0 / 3},
			"small":    {Score: 1e-7},
			"micro":    {Score: 0.000001},
			"big":      {Score: 1e21},
			"below21":  {Score: 999999999999999900000},
			"tiny":     {Score: 5e-324},
			"max":      {Score: math.MaxFloat64},
			"negative": {Score: -2.5e-10},
			"integer":  {Score: 123456789},
			"nan":      {Score: math.NaN()},
			"inf":      {Score: math.Inf(1)},
			"-inf":     {Score: math.Inf(-1)},
		}}},
		{"times", &kith.Profile{
			Traits: map[string]kith.Trait{
				"zero":  {Value: json.RawMessage(`1`)},
				"cet":   {Value: json.RawMessage(`2`), Time: docT0.In(cet)},
				"odd":   {Value: json.RawMessage(`3`), Time: docT0.In(odd)},
				"nanos": {Value: json.RawMessage(`4`), Time: time.Unix(0, 1)},
				"first": {Value: json.RawMessage(`5`), Time: time.Unix(0, math.MinInt64)},
				"last":  {Value: json.RawMessage(`6`), Time: time.Unix(0, math.MaxInt64)},
				"local": {Value: json.RawMessage(`7`), Time: time.Unix(1e9, 5).Local()},
				"now":   {Value: json.RawMessage(`8`), Time: time.Now()}, // with a monotonic reading
			},
			Channels: map[kith.Kind]*kith.ChannelSeen{kith.KindWeb: {First: time.Time{}, Last: docT0.In(cet), Events: 1}},
			Intents:  map[string]*kith.Intent{"t": {Score: 1, At: time.Time{}, Last: docT0.In(odd)}},
		}},
		{"counts", &kith.Profile{
			Traits:   map[string]kith.Trait{"seq": {Value: json.RawMessage(`1`), Seq: math.MaxInt64}, "neg": {Value: json.RawMessage(`2`), Seq: math.MinInt64}},
			Channels: map[kith.Kind]*kith.ChannelSeen{kith.KindWeb: {Events: math.MaxInt32}, kith.KindApp: {Events: -1}},
			Events:   math.MaxInt,
		}},
		{"purchases and stage", &kith.Profile{
			Purchases: []kith.Purchase{
				{At: docT0, Amount: 42.5, Currency: "EUR", OrderID: "o-1", SourceID: "src_shop", Channel: kith.KindWeb, Seq: 7},
				{At: docT0.In(cet), Amount: 0, SourceID: "src_store", Channel: kith.KindStore, Seq: 9},
				{At: time.Time{}, Amount: -3.25e-7, Currency: "\"x\"\xff", OrderID: "\u2028", Seq: math.MaxInt64},
				{Amount: 1e21}, {Amount: math.NaN()}, {Amount: math.Inf(-1)}, {Amount: 123456789.125},
			},
			Lifecycle: kith.Lifecycle{Stage: kith.StageWonBack, Since: docT0.In(odd), Previous: kith.StageLapsed, Seq: 12},
		}},
		{"computed traits", &kith.Profile{Computed: map[string]*kith.Aggregate{
			"orders_90d": {Parts: []kith.AggregatePart{{T: 1700000000, N: 2, Sum: 84.5}, {T: 1700086400, N: 1, Sum: 10}}},
			"favorite":   {Parts: []kith.AggregatePart{{N: 3, Freq: map[string]int64{`"shoes"`: 2, `"hats"`: 1}}}},
			"first_store": {Parts: []kith.AggregatePart{{N: 1, First: &kith.Observation{Value: json.RawMessage(`"Leeds"`), At: docT0, Seq: 4},
				Min: ptr(1.5), Max: ptr(-2.0)}}},
		}}},
		{"computed edge cases", &kith.Profile{Computed: map[string]*kith.Aggregate{
			"no parts": {},
			"empty":    {Parts: []kith.AggregatePart{}},
			"odd \"name\" ✓": {Parts: []kith.AggregatePart{{T: -86400, N: math.MaxInt64, Sum: -1.5e-7, Max: ptr(1e21),
				Last: &kith.Observation{Value: json.RawMessage(`{"a":["Zoë ✓",null,true]}`), At: docT0.In(cet), Seq: math.MaxInt64},
				Freq: map[string]int64{`"x \" y"`: 1, `{"k":1}`: 2, `"\u2028"`: 3}}}},
			"zero min": {Parts: []kith.AggregatePart{{N: 1, Min: ptr(0.0), First: &kith.Observation{Value: json.RawMessage(`0`)}}}},
		}}},
		{"stage only", &kith.Profile{Lifecycle: kith.Lifecycle{Stage: kith.StageProspect}}},
		{"one search key", &kith.Profile{SearchKeys: []string{"cher"}}},
		{"many search keys", &kith.Profile{SearchKeys: []string{"a", "b", "c"}}},
		{"empty search key", &kith.Profile{SearchKeys: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, tr := range tt.p.Traits {
				// AppendProfileDoc copies raw values: they come from validated payloads.
				if len(tr.Value) > 0 && !json.Valid(tr.Value) {
					t.Fatalf("test case: trait %q has invalid JSON %q", k, tr.Value)
				}
			}
			checkDoc(t, tt.p)
		})
	}
}

// Profiles are written back on every batch: AppendProfileDoc must not depend on
// map order, or equal profiles would be rewritten with different bytes.
func TestAppendDocDeterministic(t *testing.T) {
	p := &kith.Profile{Traits: map[string]kith.Trait{}, Channels: map[kith.Kind]*kith.ChannelSeen{}, Intents: map[string]*kith.Intent{}}
	for i := range 50 {
		k := strconv.Itoa(i)
		p.Traits[k] = trait(k)
		p.Channels[kith.Kind(k)] = &kith.ChannelSeen{First: docT0, Last: docT0, Events: i}
		p.Intents[k] = &kith.Intent{Score: float64(i), At: docT0, Last: docT0}
	}
	first := kith.AppendProfileDoc(nil, p)
	for range 20 {
		if b := kith.AppendProfileDoc(nil, p); !bytes.Equal(b, first) {
			t.Fatalf("AppendProfileDoc gave two encodings of one profile:\n%s\n%s", first, b)
		}
	}
}

// FuzzAppendDoc feeds arbitrary names, values and strings to the
// hand-written encoder: whatever a payload carries, the document is valid
// JSON that decodes to the profile and means what encoding/json would write.
func FuzzAppendDoc(f *testing.F) {
	f.Add("name", []byte(`"Ann Lee"`), "web", "running shoes", "ann lee", "src_1", 0.5, int64(1772366400123456789), int16(0))
	f.Add("a\"b\\c\x00\x1f\x7f", []byte(`{"x": [1, 2, {"y": null}], "z": "\u00e9"}`), "call\ncenter", "\xff\xfe",
		"zoë \u2028 \u2029 <>&", "src\t", math.NaN(), int64(-1), int16(60))
	f.Add("\xed\xa0\x80", []byte("not json \xff"), "\xc3", "topic", "", "", math.Inf(1), int64(math.MaxInt64), int16(-90))
	f.Add("", []byte(" 1e400 "), "", "", "\xff", "\xfe", math.Copysign(0, -1), int64(math.MinInt64), int16(1439))
	f.Add("x", []byte("\"a\xffb\""), "x", "x", "x", "x", 5e-324, int64(0), int16(-1439))
	f.Add("k", []byte(``), "k", "k", "k\x00", "😀", 1e21, int64(1e18), int16(32767))
	f.Fuzz(func(t *testing.T, name string, value []byte, channel, topic, key, source string,
		score float64, nanos int64, offsetMinutes int16) {
		v := json.RawMessage(value)
		if !json.Valid(value) {
			// Anything else becomes a string trait, as the payload would carry it.
			v, _ = json.Marshal(string(value))
		}
		tm := time.Unix(0, nanos).In(time.FixedZone(source, int(offsetMinutes)%(24*60)*60))
		named, _ := json.Marshal(key)
		p := &kith.Profile{
			CreatedSeq: nanos,
			Traits: map[string]kith.Trait{
				name: {Value: v, SourceID: source, Channel: kith.Kind(channel), Time: tm, Seq: nanos},
				key:  {Value: named, SourceID: topic, Channel: kith.Kind(source), Time: tm.UTC(), Seq: -nanos},
			},
			Channels: map[kith.Kind]*kith.ChannelSeen{
				kith.Kind(channel): {First: tm, Last: tm.Add(time.Second), Events: int(offsetMinutes)},
				kith.Kind(key):     {First: tm.UTC(), Last: tm, Events: 1},
			},
			Intents: map[string]*kith.Intent{
				topic: {Score: score, At: tm, Channel: kith.Kind(channel), Last: tm},
				name:  {Score: -score, At: tm.UTC(), Channel: kith.Kind(topic), Last: tm},
			},
			Events:     int(nanos),
			SearchKeys: []string{key, name, string(value)},
			Purchases: []kith.Purchase{{At: tm, Amount: score, Currency: topic, OrderID: name, SourceID: source,
				Channel: kith.Kind(channel), Seq: nanos}},
			Lifecycle: kith.Lifecycle{Stage: key, Since: tm, Previous: name, Seq: -nanos},
		}
		checkDoc(t, p)
	})
}

func ptr[T any](v T) *T { return &v }

// checkFields checks DecodeProfileDocFields on a document against
// DecodeProfileDoc: everything asked for, the same; the rest, empty; and
// every cut short of the document refused, never a panic.
func checkFields(t *testing.T, doc []byte) {
	t.Helper()
	var full kith.Profile
	if err := kith.DecodeProfileDoc(doc, &full); err != nil {
		t.Fatal(err)
	}
	full.SearchKeys = nil
	var all kith.Profile
	if err := kith.DecodeProfileDocFields(doc, &all, kith.AllDocFields); err != nil {
		t.Fatalf("DecodeProfileDocFields(all): %v", err)
	}
	if diff := cmp.Diff(&full, &all, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("every field (-DecodeProfileDoc +DecodeProfileDocFields):\n%s", diff)
	}
	// One trait and one computed trait, by name: only those.
	var name, comp string
	for k := range full.Traits {
		name = k
		break
	}
	for k := range full.Computed {
		comp = k
		break
	}
	var some kith.Profile
	if err := kith.DecodeProfileDocFields(doc, &some, kith.DocFields{Traits: []string{name}, Computed: []string{comp}, Lifecycle: true}); err != nil {
		t.Fatalf("DecodeProfileDocFields(some): %v", err)
	}
	want := kith.Profile{Traits: map[string]kith.Trait{}, Events: full.Events, Lifecycle: full.Lifecycle}
	if tr, ok := full.Traits[name]; ok {
		want.Traits[name] = tr
	}
	if a, ok := full.Computed[comp]; ok {
		want.Computed = map[string]*kith.Aggregate{comp: a}
	}
	if diff := cmp.Diff(&want, &some, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("trait %q and computed %q (-want +got):\n%s", name, comp, diff)
	}
	var values kith.Profile
	if err := kith.DecodeProfileDocFields(doc, &values, kith.DocFields{AllTraits: true, ValuesOnly: true}); err != nil {
		t.Fatalf("DecodeProfileDocFields(values only): %v", err)
	}
	for k, tr := range full.Traits {
		if got := values.Traits[k]; !bytes.Equal(got.Value, tr.Value) || got.SourceID != "" || !got.Time.IsZero() {
			t.Errorf("trait %q, values only: %+v; want the value %s alone", k, got, tr.Value)
		}
	}
	if len(values.Traits) != len(full.Traits) {
		t.Errorf("values only: %d traits, want %d", len(values.Traits), len(full.Traits))
	}
	for i := 0; i < len(doc)-1; i += max(1, len(doc)/50) {
		var cut kith.Profile
		if err := kith.DecodeProfileDocFields(doc[:i], &cut, kith.AllDocFields); err == nil {
			t.Errorf("a document cut at %d of %d bytes decoded", i, len(doc))
		}
	}
}
