package match

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.9611},
		{"dwayne", "duane", 0.84},
		{"dixon", "dicksonx", 0.8133},
		{"", "abc", 0},
		{"abc", "abc", 1},
		{"abc", "xyz", 0},
		{"josé", "jose", 0.8833}, // not ASCII: runes, not bytes
	} {
		if got := JaroWinkler(c.a, c.b); math.Abs(got-c.want) > 1e-3 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.4f", c.a, c.b, got, c.want)
		}
		if got, rev := JaroWinkler(c.a, c.b), JaroWinkler(c.b, c.a); got != rev {
			t.Errorf("JaroWinkler not symmetric on %q, %q: %v, %v", c.a, c.b, got, rev)
		}
	}
}

func TestDamerauLevenshtein(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3},
		{"19371203", "19731203", 1}, // transposed digits: one edit
		{"ca", "abc", 3},            // optimal string alignment, not full Damerau
		{"smith", "smyth", 1}, {"smith", "smiths", 1}, {"smith", "mith", 1},
		{"müller", "muller", 1},
	} {
		if got := DamerauLevenshtein(c.a, c.b); got != c.want {
			t.Errorf("DamerauLevenshtein(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	// The fast paths agree with the table on random strings.
	rng := rand.New(rand.NewPCG(1, 1))
	word := func() string {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			b[i] = "abcd"[rng.IntN(4)]
		}
		return string(b)
	}
	for range 20000 {
		a, b := word(), word()
		d := DamerauLevenshtein(a, b)
		if got := withinOneEdit(a, b); got != (d <= 1) {
			t.Fatalf("withinOneEdit(%q, %q) = %v, distance %d", a, b, got, d)
		}
		if got := editDistance(a, b, 2); got != min(d, 3) {
			t.Fatalf("editDistance(%q, %q, 2) = %d, distance %d", a, b, got, d)
		}
	}
}

func TestNYSIIS(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"macintosh", "mcant"}, {"knight", "nagt"}, {"phillips", "falap"},
		{"catherine", "catara"}, {"kathryn", "catryn"}, {"", ""}, {"O'Brien", "obran"},
	} {
		if got := NYSIIS(c.name); got != c.want {
			t.Errorf("NYSIIS(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	for _, pair := range [][2]string{{"catherine", "katherine"}, {"stephen", "stefen"}, {"jon", "john"}} {
		if a, b := NYSIIS(pair[0]), NYSIIS(pair[1]); a != b {
			t.Errorf("NYSIIS(%q) = %q but NYSIIS(%q) = %q; want them alike", pair[0], a, pair[1], b)
		}
	}
}

// levels compares two records field by field in a fresh index.
func levels(a, b Record) Vector {
	ix := NewIndex(nil, 0)
	i, j := ix.Add(a), ix.Add(b)
	var x, y entry
	ix.entryOf(i, &x)
	ix.entryOf(j, &y)
	return compare(&x, &y)
}

func person(vals ...string) Record {
	var r Record
	copy(r.Values[:], vals)
	return r
}

func TestComparisonLevels(t *testing.T) {
	base := person("sarah", "connor", "12", "main street", "", "springfield", "2600", "act", "19650421", "1234567")
	for _, c := range []struct {
		field Field
		value string
		want  string
	}{
		{GivenName, "sarah", "exact"},
		{GivenName, "sarha", "one edit"},
		{GivenName, "", "null"},
		{GivenName, "sara", "one edit"},
		{GivenName, "sarahjane", "jaro-winkler ≥ 0.8"},
		{GivenName, "zarah", "one edit"},
		{GivenName, "xavier", "different"},
		{Surname, "konnor", "one edit"},
		{Surname, "conyers", "jaro-winkler ≥ 0.8"},
		{Address1, "main stret", "one edit"},
		{Address1, "mian streeet", "jaro-winkler ≥ 0.9"},
		{Suburb, "spring field", "one edit"},
		{Postcode, "2601", "one edit"},
		{Postcode, "3000", "different"},
		{State, "vic", "different"},
		{DateOfBirth, "19650421", "exact"},
		{DateOfBirth, "1965-04-21", "exact"},
		{DateOfBirth, "19560421", "one edit (typo or transposed digits)"},
		{DateOfBirth, "19652104", "day and month swapped"},
		{DateOfBirth, "19750412", "two edits"},
		{DateOfBirth, "19640601", "within a year"},
		{DateOfBirth, "19201231", "different"},
		{DateOfBirth, "19650433", "two edits"}, // not a date, still compared as digits
		{SocSecID, "1234576", "one edit"},
		{SocSecID, "1243576", "two edits"},
		{SocSecID, "7654321", "different"},
	} {
		other := base
		other.Values[c.field] = c.value
		v := levels(base, other)
		if got := Label(c.field, v[c.field]); got != c.want {
			t.Errorf("%s %q vs %q: level %q, want %q", c.field, base.Values[c.field], c.value, got, c.want)
		}
	}
}

func TestSwappedNames(t *testing.T) {
	a := person("connor", "sarah")
	b := person("sarah", "connor")
	if v := levels(person("christopher"), person("christofer")); Label(GivenName, v[GivenName]) != "jaro-winkler ≥ 0.92" {
		t.Errorf("christopher vs christofer: level %q, want jaro-winkler ≥ 0.92", Label(GivenName, v[GivenName]))
	}
	v := levels(a, b)
	for _, f := range []Field{GivenName, Surname} {
		if got := Label(f, v[f]); got != "swapped given and family name" {
			t.Errorf("%s: level %q, want swapped", f, got)
		}
	}
	// A typo on top of the swap is still a swap.
	v = levels(person("connor", "sarah"), person("sarha", "conor"))
	if got := Label(GivenName, v[GivenName]); got != "swapped given and family name" {
		t.Errorf("swap with typos: given_name level %q", got)
	}
}

// syntheticPairs returns comparison patterns drawn from a known model:
// share lambda are matches.
func syntheticPairs(rng *rand.Rand, m, u [NumFields][]float64, lambda float64, n int) []pattern {
	draw := func(p []float64) Level {
		x := rng.Float64()
		for l := 1; l < len(p); l++ {
			if x < p[l] {
				return Level(l)
			}
			x -= p[l]
		}
		return Level(len(p) - 1)
	}
	counts := map[Vector]float64{}
	for range n {
		probs := u
		if rng.Float64() < lambda {
			probs = m
		}
		var v Vector
		for f := range NumFields {
			v[f] = draw(probs[f])
		}
		counts[v]++
	}
	var ps []pattern
	for v, c := range counts {
		ps = append(ps, pattern{v: v, rules: 1, n: c})
	}
	return ps
}

// TestEMConverges draws pairs from a known model and checks that EM, with
// U given, finds M and the share of matches again from a poor start.
func TestEMConverges(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var m, u [NumFields][]float64
	for f := range NumFields {
		n := len(ladders[f])
		m[f], u[f] = make([]float64, n), make([]float64, n)
		for l := 1; l < n; l++ {
			m[f][l] = 0.1 / float64(n-2)
			u[f][l] = 0.3 / float64(n-2)
		}
		m[f][Exact] = 0.9
		u[f][n-1] = 0.7
		u[f] = normalizeLevels(u[f], 0)
		m[f] = normalizeLevels(m[f], 0)
	}
	const lambda = 0.2
	ps := syntheticPairs(rng, m, u, lambda, 200_000)
	model := &Model{U: u}
	for f := range NumFields {
		model.M[f] = initialM(Field(f))
	}
	var use [NumFields]bool
	for f := range use {
		use[f] = Field(f) != SocSecID // as if a rule blocked on it
	}
	got, matches, iters := em(ps, use, model)
	if iters >= emMaxIter {
		t.Errorf("EM did not converge in %d iterations", iters)
	}
	if share := matches / 200_000; math.Abs(share-lambda) > 0.01 {
		t.Errorf("share of matches %.4f, want %.2f", share, lambda)
	}
	for f := range NumFields {
		if !use[f] {
			if got[f] != nil {
				t.Errorf("%s: estimated although its rule blocks on it", Field(f))
			}
			continue
		}
		for l := 1; l < len(m[f]); l++ {
			if math.Abs(got[f][l]-m[f][l]) > 0.01 {
				t.Errorf("%s level %d: m %.4f, want %.4f", Field(f), l, got[f][l], m[f][l])
			}
		}
	}
}

// population returns n made-up people with their ids set.
func population(n int) []Record {
	recs, _ := Generate(11, n, GenerateOptions{Duplicates: n / 4})
	return recs
}

// trained returns a matcher whose model was learned on a generated
// population with rec added to it.
func trained(t *testing.T, extra ...Record) *Matcher {
	t.Helper()
	recs := append(population(4000), extra...)
	res, err := Dedupe(context.Background(), recs, Options{Seed: 1, RandomPairs: 200_000})
	if err != nil {
		t.Fatal(err)
	}
	return res.Matcher
}

func find(t *testing.T, mt *Matcher, id string) int {
	t.Helper()
	ix := mt.Index()
	for i := range ix.Len() {
		if ix.ids[i] == id {
			return i
		}
	}
	t.Fatalf("no record %s", id)
	return -1
}

// TestTermFrequency checks that agreeing on a common surname is weaker
// evidence than agreeing on a rare one, and that the difference is the
// term-frequency adjustment.
func TestTermFrequency(t *testing.T) {
	var extra []Record
	for i := range 60 {
		r := person("", "smith")
		r.ID = "smith" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		extra = append(extra, r)
	}
	common1, common2 := person("ann", "smith", "", "", "", "", "", "", "19800101"), person("bea", "smith", "", "", "", "", "", "", "19710202")
	rare1, rare2 := person("ann", "zyzzlewicz", "", "", "", "", "", "", "19800101"), person("bea", "zyzzlewicz", "", "", "", "", "", "", "19710202")
	common1.ID, common2.ID, rare1.ID, rare2.ID = "c1", "c2", "r1", "r2"
	mt := trained(t, append(extra, common1, common2, rare1, rare2)...)
	c := mt.Compare(find(t, mt, "c1"), find(t, mt, "c2")).Fields[Surname]
	r := mt.Compare(find(t, mt, "r1"), find(t, mt, "r2")).Fields[Surname]
	if c.Level != Exact || r.Level != Exact {
		t.Fatalf("levels %v and %v, want exact", c.Label, r.Label)
	}
	if c.Weight >= r.Weight {
		t.Errorf("common surname weighs %.2f, rare %.2f; want the rare one heavier", c.Weight, r.Weight)
	}
	if c.TermFrequency >= 0 || r.TermFrequency <= 0 {
		t.Errorf("adjustments %.2f (common) and %.2f (rare); want negative and positive", c.TermFrequency, r.TermFrequency)
	}
	if w := mt.Model().Weight(Surname, Exact); math.Abs(c.Weight-c.TermFrequency-w) > 1e-9 {
		t.Errorf("weight %.4f minus adjustment %.4f is not the exact level's weight %.4f", c.Weight, c.TermFrequency, w)
	}
}

// TestHousehold: two people at one address with one family name, other
// given names and birth dates, must not be merged, however much the
// address fields say.
func TestHousehold(t *testing.T) {
	mum := person("margaret", "oyelaran", "14", "wattle grove", "sunnybrae", "kingsford", "2032", "nsw", "19580317", "4418203")
	son := person("daniel", "oyelaran", "14", "wattle grove", "sunnybrae", "kingsford", "2032", "nsw", "19910902", "7720561")
	mum.ID, son.ID = "mum", "son"
	mt := trained(t, mum, son)
	ev := mt.Compare(find(t, mt, "mum"), find(t, mt, "son"))
	if ev.Veto != HouseholdVeto {
		t.Errorf("veto %q, want the household veto", ev.Veto)
	}
	res, err := Dedupe(context.Background(), append(population(4000), mum, son), Options{Seed: 1, Model: mt.Model()})
	if err != nil {
		t.Fatal(err)
	}
	ix := res.Matcher.Index()
	for _, p := range res.Pairs {
		if ids := ix.ids[p.Left] + ix.ids[p.Right]; strings.Contains(ids, "mum") && strings.Contains(ids, "son") {
			t.Errorf("household merged with probability %.4f", p.Probability)
		}
	}
	// The same person with one typo at that address is still a match.
	mum2 := mum
	mum2.ID, mum2.Values[GivenName] = "mum2", "margaert"
	mt = trained(t, mum, son, mum2)
	if ev := mt.Compare(find(t, mt, "mum"), find(t, mt, "mum2")); ev.Probability < AutoMergeThreshold || ev.Veto != "" {
		t.Errorf("same person: probability %.4f, veto %q", ev.Probability, ev.Veto)
	}
}

// TestSwappedNamesMatch: given and family name swapped, all else equal,
// is a match, and the evidence says why.
func TestSwappedNamesMatch(t *testing.T) {
	a := person("oyelaran", "margaret", "14", "wattle grove", "", "kingsford", "2032", "nsw", "19580317", "")
	b := person("margaret", "oyelaran", "14", "wattle grove", "", "kingsford", "2032", "nsw", "19580317", "")
	a.ID, b.ID = "a", "b"
	mt := trained(t, a, b)
	ev := mt.Compare(find(t, mt, "a"), find(t, mt, "b"))
	if ev.Probability < AutoMergeThreshold {
		t.Errorf("probability %.4f, want at least %v", ev.Probability, AutoMergeThreshold)
	}
	if ev.Fields[GivenName].Label != "swapped given and family name" || ev.Fields[GivenName].Weight <= 0 {
		t.Errorf("given name evidence %+v, want a positive swapped level", ev.Fields[GivenName])
	}
	sum := ev.Prior
	for _, f := range ev.Fields {
		sum += f.Weight
	}
	if math.Abs(sum-ev.Weight) > 1e-9 || math.Abs(Probability(ev.Weight)-ev.Probability) > 1e-12 {
		t.Errorf("weights %.4f sum to %.4f, probability %.6f", ev.Weight, sum, ev.Probability)
	}
}

// TestLiveScoring adds records one by one and scores a corrupted copy
// before adding it, as the live side will.
func TestLiveScoring(t *testing.T) {
	mt := trained(t)
	ix := NewIndex(nil, 0)
	recs := population(2000)
	for _, r := range recs {
		ix.Add(r)
	}
	live := NewMatcher(mt.Model(), ix)
	q := recs[17]
	q.ID = "new"
	q.Values[Surname] = q.Values[Surname] + "e"
	q.Values[SocSecID] = ""
	got := live.Score(q)
	if len(got) == 0 || ix.Record(got[0].Right).ID != recs[17].ID || got[0].Probability < AutoMergeThreshold {
		t.Fatalf("best candidate %+v, want record %s above the threshold", got, recs[17].ID)
	}
	cands := ix.Candidates(q)
	ix.Add(q)
	if after := ix.Candidates(q); len(after) != len(cands)+1 {
		t.Errorf("%d candidates after adding the record, %d before; want one more (itself)", len(after), len(cands))
	}
	if got := NewMatcher(mt.Model(), ix).Score(q); len(got) != len(cands) {
		t.Errorf("scoring an added record: %d pairs, want %d (not itself)", len(got), len(cands))
	}
}

func TestBlockSizeCap(t *testing.T) {
	ix := NewIndex([]Rule{{"state", []Key{{State, Whole}}}}, 10)
	for range 11 {
		ix.Add(person("", "", "", "", "", "", "", "nsw"))
	}
	ix.Add(person("", "", "", "", "", "", "", "vic"))
	if got := ix.Candidates(person("", "", "", "", "", "", "", "nsw")); len(got) != 0 {
		t.Errorf("a block of 11 over a cap of 10 gave %d candidates", len(got))
	}
	if got := ix.Candidates(person("", "", "", "", "", "", "", "vic")); len(got) != 1 {
		t.Errorf("vic: %d candidates, want 1", len(got))
	}
}

func TestEvaluate(t *testing.T) {
	pred, truth := NewClustering(), NewClustering()
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		pred.Add(id)
		truth.Add(id)
	}
	truth.Join("1", "2")
	truth.Join("2", "3")
	pred.Join("1", "2")
	pred.Join("4", "5")
	s := Evaluate(pred, truth)
	// Predicted pairs 1-2 and 4-5; true pairs 1-2, 1-3, 2-3.
	if s.CorrectPairs != 1 || s.PredictedPairs != 2 || s.TruePairs != 3 {
		t.Errorf("pairs %+v", s)
	}
	if math.Abs(s.F1-2*0.5*(1.0/3)/(0.5+1.0/3)) > 1e-12 {
		t.Errorf("F1 %v", s.F1)
	}
	// B-cubed precision: 1,1 for records 1,2; 1 for 3; 0.5 for 4 and 5.
	if math.Abs(s.BCubedPrecision-4.0/5) > 1e-12 {
		t.Errorf("B-cubed precision %v, want 0.8", s.BCubedPrecision)
	}
	recall, found, total := BlockingRecall([]IDPair{{"1", "2", 0.9}, {"3", "1", 0.2}, {"4", "5", 0.99}}, truth)
	if found != 2 || total != 3 || math.Abs(recall-2.0/3) > 1e-12 {
		t.Errorf("blocking recall %v (%d/%d)", recall, found, total)
	}
	best, at := BestF1([]IDPair{{"1", "2", 0.9}, {"3", "1", 0.2}, {"4", "5", 0.99}, {"2", "3", 0.5}}, truth)
	// At 0.5: clusters {4,5} and {1,2,3}, 3 of 4 predicted pairs right, all
	// 3 true pairs found.
	if math.Abs(best-6.0/7) > 1e-12 || at != 0.5 {
		t.Errorf("best F1 %v at %v, want 6/7 at 0.5", best, at)
	}
}

// TestGenerate checks the generator against Febrl 2's settings.
func TestGenerate(t *testing.T) {
	recs, entity := Generate(5, 4000, GenerateOptions{})
	if len(recs) != 5000 {
		t.Fatalf("%d records, want 5000", len(recs))
	}
	per := map[int]int{}
	for _, e := range entity {
		per[e]++
	}
	for e, n := range per {
		if n > 6 {
			t.Errorf("entity %d has %d records, want at most 1+5", e, n)
		}
	}
	again, _ := Generate(5, 4000, GenerateOptions{})
	for i := range recs {
		if recs[i] != again[i] {
			t.Fatalf("record %d differs between two runs with one seed", i)
		}
	}
}

// TestGeneratedDedupe deduplicates a generated file of 20,000 records,
// checking F1 and blocking recall at a size where every rule is at work.
func TestGeneratedDedupe(t *testing.T) {
	recs, entity := Generate(9, 16_000, GenerateOptions{})
	res, err := Dedupe(context.Background(), recs, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, r, f, blocking := generatedScores(res, entity)
	t.Logf("precision=%.4f recall=%.4f f1=%.4f blocking recall %.4f", p, r, f, blocking)
	if f < 0.99 || blocking < 0.99 {
		t.Errorf("f1 %.4f, blocking recall %.4f; want both at least 0.99", f, blocking)
	}
}
