package match

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// GenerateOptions shape a generated data set. The zero value gives Febrl
// 2's settings: a quarter as many duplicates as originals, at most 5 per
// original (Poisson), at most 2 modifications in a field and 2 in a record.
type GenerateOptions struct {
	Duplicates     int // 0: a quarter of the originals
	MaxPerOriginal int // 0: 5
	MaxPerField    int // 0: 2
	MaxPerRecord   int // 0: 2
}

// Generate returns made-up person records: originals people, each once,
// and duplicates of some of them corrupted the way the Febrl generator
// corrupts them (typos, spaces added and dropped, phonetic respellings,
// other values, missing values, swapped given and family names, birth
// dates with wrong or transposed digits or day and month exchanged).
// Records come shuffled with ids "1", "2", … ; entity[i] is the person
// records[i] stands for, to evaluate against. The same seed gives the same
// records.
//
// Names, streets and places are invented from syllables, with a few common
// and many rare ones as in real populations, so that blocks have realistic
// sizes without any real person's data.
func Generate(seed uint64, originals int, opts GenerateOptions) (records []Record, entity []int) {
	if opts.Duplicates <= 0 {
		opts.Duplicates = originals / 4
	}
	if opts.MaxPerOriginal <= 0 {
		opts.MaxPerOriginal = 5
	}
	if opts.MaxPerField <= 0 {
		opts.MaxPerField = 2
	}
	if opts.MaxPerRecord <= 0 {
		opts.MaxPerRecord = 2
	}
	rng := rand.New(rand.NewPCG(seed, 0x6b697468))
	voc := newVocabulary()
	g := &generator{rng: rng, voc: voc, opts: opts}

	records = make([]Record, 0, originals+opts.Duplicates)
	entity = make([]int, 0, originals+opts.Duplicates)
	for e := range originals {
		records = append(records, g.original())
		entity = append(entity, e)
	}
	// Which originals get duplicates, and how many: a Poisson count cut to
	// 1..MaxPerOriginal, as Febrl does, until the duplicates are made.
	order := rng.Perm(originals)
	left := opts.Duplicates
	for _, e := range order {
		if left == 0 {
			break
		}
		k := 0
		for k < 1 || k > opts.MaxPerOriginal {
			k = poisson(rng, 2)
		}
		k = min(k, left)
		left -= k
		for range k {
			records = append(records, g.duplicate(records[e]))
			entity = append(entity, e)
		}
	}
	perm := rng.Perm(len(records))
	shuffled := make([]Record, len(records))
	ent := make([]int, len(records))
	for i, p := range perm {
		shuffled[i] = records[p]
		shuffled[i].ID = strconv.Itoa(i + 1)
		ent[i] = entity[p]
	}
	return shuffled, ent
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// table is a list of values drawn with Zipf-like weights: rank k has weight
// 1/(k+flat). With flat 10 the commonest of a thousand names is 2% of all,
// as in the Febrl files; a larger flat spreads values more evenly, as
// streets and postcodes are.
type table struct {
	vals []string
	cum  []float64
}

func newTable(vals []string, flat int) table {
	t := table{vals: vals, cum: make([]float64, len(vals))}
	s := 0.0
	for k := range vals {
		s += 1 / float64(k+flat)
		t.cum[k] = s
	}
	for k := range t.cum {
		t.cum[k] /= s
	}
	return t
}

func (t *table) draw(rng *rand.Rand) string {
	k, _ := slices.BinarySearch(t.cum, rng.Float64())
	return t.vals[min(k, len(t.vals)-1)]
}

type place struct{ suburb, postcode, state string }

type vocabulary struct {
	given, surname, street, property table
	places                           []place
	placeCum                         []float64
}

// newVocabulary invents the names and places. Its generator has a fixed
// seed: every data set draws from the same population of names.
func newVocabulary() *vocabulary {
	rng := rand.New(rand.NewPCG(1, 2))
	v := &vocabulary{
		given:    newTable(words(rng, 1200, 2, 3), 10),
		surname:  newTable(words(rng, 6000, 2, 3), 20),
		property: newTable(words(rng, 2500, 2, 3), 100),
	}
	types := []string{"street", "avenue", "place", "crescent", "circuit", "close", "court", "road", "drive", "way"}
	streets := words(rng, 3000, 2, 3)
	for i := range streets {
		streets[i] += " " + types[rng.IntN(len(types))]
	}
	v.street = newTable(streets, 100)
	states := []string{"nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"}
	stateWeight := []float64{32, 26, 20, 10, 7, 2, 2, 1}
	subs := words(rng, 3000, 2, 4)
	seen := map[string]bool{}
	s := 0.0
	for k, sub := range subs {
		if rng.IntN(5) == 0 {
			sub += " " + []string{"north", "east", "west", "heights", "park", "bay", "hill"}[rng.IntN(7)]
		}
		var pc string
		for pc == "" || seen[pc] {
			pc = strconv.Itoa(1000 + rng.IntN(9000))
		}
		seen[pc] = true
		st := pickWeighted(rng, states, stateWeight)
		v.places = append(v.places, place{sub, pc, st})
		s += 1 / float64(k+100)
		v.placeCum = append(v.placeCum, s)
	}
	for k := range v.placeCum {
		v.placeCum[k] /= s
	}
	return v
}

func pickWeighted(rng *rand.Rand, vals []string, w []float64) string {
	t := 0.0
	for _, x := range w {
		t += x
	}
	r := rng.Float64() * t
	for i, x := range w {
		if r < x {
			return vals[i]
		}
		r -= x
	}
	return vals[len(vals)-1]
}

// words invents n distinct words of lo to hi syllables.
func words(rng *rand.Rand, n, lo, hi int) []string {
	onsets := []string{"b", "br", "c", "ch", "d", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "r", "s", "sh", "st", "t", "th", "v", "w", "y", "z", "", "", "cl", "tr"}
	vowels := []string{"a", "e", "i", "o", "u", "a", "e", "i", "o", "ee", "ai", "ou", "y"}
	codas := []string{"", "", "", "n", "r", "l", "s", "t", "m", "ck", "nd", "rt", "ll", "ng"}
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		var b strings.Builder
		for range lo + rng.IntN(hi-lo+1) {
			b.WriteString(onsets[rng.IntN(len(onsets))])
			b.WriteString(vowels[rng.IntN(len(vowels))])
			b.WriteString(codas[rng.IntN(len(codas))])
		}
		w := b.String()
		if len(w) < 3 || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}

type generator struct {
	rng  *rand.Rand
	voc  *vocabulary
	opts GenerateOptions
}

func (g *generator) original() Record {
	rng, v := g.rng, g.voc
	var r Record
	set := func(f Field, s string, missing float64) {
		if rng.Float64() >= missing {
			r.Values[f] = s
		}
	}
	set(GivenName, v.given.draw(rng), 0.02)
	set(Surname, v.surname.draw(rng), 0.01)
	var num int
	switch x := rng.Float64(); { // small numbers are common: 1, 4 and 7 are each 3% in Febrl 2
	case x < 0.4:
		num = 1 + rng.IntN(20)
	case x < 0.8:
		num = 1 + rng.IntN(200)
	default:
		num = 1 + rng.IntN(3000)
	}
	set(StreetNumber, strconv.Itoa(num), 0.04)
	set(Address1, v.street.draw(rng), 0.01)
	set(Address2, v.property.draw(rng), 0.4)
	k, _ := slices.BinarySearch(v.placeCum, rng.Float64())
	p := v.places[min(k, len(v.places)-1)]
	set(Suburb, p.suburb, 0.01)
	r.Values[Postcode] = p.postcode
	set(State, p.state, 0.01)
	y, m, d := civil(rng.IntN(365 * 95))
	set(DateOfBirth, strconv.Itoa((1910+y)*10000+m*100+d), 0.02)
	r.Values[SocSecID] = strconv.Itoa(1_000_000 + rng.IntN(9_000_000))
	return r
}

// civil turns days since 1 January 1910 (as years since 1910) into year,
// month and day, without leap days, which is all a made-up birth date needs.
func civil(day int) (y, m, d int) {
	days := [12]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	y, day = day/365, day%365
	for m = 0; day >= days[m]; m++ {
		day -= days[m]
	}
	return y, m + 1, day + 1
}

// duplicate returns a corrupted copy of r: one to MaxPerRecord
// modifications, at most MaxPerField in any field.
func (g *generator) duplicate(r Record) Record {
	rng := g.rng
	mods := 1 + rng.IntN(g.opts.MaxPerRecord)
	var per [NumFields]int
	for tries := 0; mods > 0 && tries < 50; tries++ {
		f := Field(rng.IntN(int(NumFields)))
		if per[f] >= g.opts.MaxPerField {
			continue
		}
		if r.Values[f] == "" && f != GivenName && f != Surname {
			continue
		}
		per[f]++
		mods--
		g.modify(&r, f)
	}
	return r
}

func (g *generator) modify(r *Record, f Field) {
	rng := g.rng
	s := r.Values[f]
	x := rng.Float64()
	switch {
	case x < 0.08:
		r.Values[f] = "" // missing
		return
	case (f == GivenName || f == Surname) && x < 0.16:
		r.Values[GivenName], r.Values[Surname] = r.Values[Surname], r.Values[GivenName]
		return
	case (f == GivenName || f == Surname) && x < 0.3:
		r.Values[f] = respell(rng, s)
		return
	case (f == GivenName || f == Surname || f == Address2) && x < 0.36:
		t := &g.voc.given
		if f == Surname {
			t = &g.voc.surname
		} else if f == Address2 {
			t = &g.voc.property
		}
		r.Values[f] = t.draw(rng) // another value altogether
		return
	case f == DateOfBirth && x < 0.3 && len(s) == 8:
		r.Values[f] = s[:4] + s[6:8] + s[4:6] // day and month exchanged
		return
	case f == DateOfBirth && x < 0.4 && len(s) == 8:
		y, _ := strconv.Atoi(s[:4])
		r.Values[f] = strconv.Itoa(y+1-2*rng.IntN(2)) + s[4:]
		return
	case (f == Address1 || f == Address2 || f == Suburb) && x < 0.2:
		if i := strings.IndexByte(s, ' '); i > 0 && rng.IntN(2) == 0 {
			r.Values[f] = s[:i] + s[i+1:] // words run together
		} else if len(s) > 2 {
			i := 1 + rng.IntN(len(s)-1)
			r.Values[f] = s[:i] + " " + s[i:] // a word split
		}
		return
	}
	r.Values[f] = typo(rng, s, f)
}

// typo makes one slip of the fingers: a character inserted, deleted,
// replaced or two swapped; digits stay digits in numeric fields.
func typo(rng *rand.Rand, s string, f Field) string {
	if s == "" {
		return s
	}
	letters := "abcdefghijklmnopqrstuvwxyz"
	if f == StreetNumber || f == Postcode || f == DateOfBirth || f == SocSecID {
		letters = "0123456789"
	}
	c := letters[rng.IntN(len(letters))]
	i := rng.IntN(len(s))
	switch rng.IntN(4) {
	case 0:
		return s[:i] + string(c) + s[i:]
	case 1:
		if len(s) > 1 {
			return s[:i] + s[i+1:]
		}
		return s + string(c)
	case 2:
		return s[:i] + string(c) + s[i+1:]
	}
	if len(s) < 2 {
		return s + string(c)
	}
	i = min(i, len(s)-2)
	return s[:i] + string(s[i+1]) + string(s[i]) + s[i+2:]
}

// respell applies one phonetic respelling (ph for f, k for c, a doubled
// letter), or a typo when none fits.
func respell(rng *rand.Rand, s string) string {
	rules := [][2]string{{"ph", "f"}, {"f", "ph"}, {"c", "k"}, {"k", "c"}, {"ck", "k"}, {"ee", "ea"}, {"ea", "ee"},
		{"ie", "y"}, {"y", "ie"}, {"ou", "ow"}, {"s", "z"}, {"z", "s"}, {"th", "t"}, {"ll", "l"}, {"l", "ll"}, {"i", "y"}, {"mc", "mac"}}
	start := rng.IntN(len(rules))
	for k := range rules {
		r := rules[(start+k)%len(rules)]
		if i := strings.Index(s, r[0]); i >= 0 {
			return s[:i] + r[1] + s[i+len(r[0]):]
		}
	}
	return typo(rng, s, GivenName)
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6b697468)) }
