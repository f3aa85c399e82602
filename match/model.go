package match

import (
	"math"
	"slices"
)

// AutoMergeThreshold is the match probability at or above which a pair is
// the same person without a person looking at it. It was fixed before the
// matcher was measured: a wrong merge mixes two people's data, which is
// worse than a missed one (that still reaches the review queue), so the
// bar asks for 19:1 odds. Fellegi–Sunter scores of real pairs sit close to
// 0 or 1, so a higher bar would buy little precision for the recall it
// costs.
const AutoMergeThreshold = 0.95

// ReviewThreshold is the match probability at or above which a pair below
// AutoMergeThreshold goes to a person for review: from here a match is more
// likely than not.
const ReviewThreshold = 0.5

// Model holds the Fellegi–Sunter parameters: for every field and level, the
// probability of that level among pairs of one person (M) and among pairs of
// different people (U), and the prior probability that two records are one
// person (Lambda). A level's weight is log2(M/U): the bits of evidence it
// adds. Index 0 of M and U, the Null level, is not used.
type Model struct {
	Lambda float64              `json:"lambda"`
	M      [NumFields][]float64 `json:"m"`
	U      [NumFields][]float64 `json:"u"`
}

// Weight returns the weight of level l of field f in bits: log2 of the
// Bayes factor M/U. Null weighs nothing.
func (m *Model) Weight(f Field, l Level) float64 {
	if l == Null || int(l) >= len(m.M[f]) || m.U[f][l] <= 0 || m.M[f][l] <= 0 {
		return 0
	}
	return math.Log2(m.M[f][l] / m.U[f][l])
}

// PriorWeight returns log2 of the prior odds, Lambda/(1-Lambda): where every
// pair starts before its fields are compared.
func (m *Model) PriorWeight() float64 {
	return math.Log2(m.Lambda / (1 - m.Lambda))
}

// Probability turns a match weight (log2 odds) into a match probability.
func Probability(weight float64) float64 {
	return 1 / (1 + math.Exp2(-weight))
}

// FieldEvidence is what one field contributed to a pair's score.
type FieldEvidence struct {
	Field       Field
	Level       Level
	Label       string  // the level's name, e.g. "one edit"
	Left, Right string  // the normalised values compared
	Weight      float64 // bits of evidence, positive for a match; includes TermFrequency
	// TermFrequency is the part of Weight that comes from how common the
	// value is: negative for a common surname, positive for a rare one.
	TermFrequency float64
}

// Evidence is a scored pair of records, with enough to show a person why:
// the prior, each field's level and weight, and any veto. Weight is Prior
// plus the fields' weights; Probability follows from it.
type Evidence struct {
	Left, Right int // positions in the index
	Probability float64
	Weight      float64
	Prior       float64
	Fields      [NumFields]FieldEvidence
	// Veto, when set, says why the pair must not be merged whatever its
	// probability: two people of one household.
	Veto string
}

// HouseholdVeto is the Veto of a pair that shares a family name and an
// address but not a given name, a birth date or a social security number:
// two people living together. Address fields agree together, so their weights count the same
// evidence several times over; this rule stops that from merging a family.
const HouseholdVeto = "household: same family name and address, different given name and birth date"

// veto returns why a pair with comparison v must never merge, or "".
func veto(v *Vector) string {
	sameSurname := v[Surname] >= Exact && v[Surname] <= 5 && v[Surname] != 4
	sameAddress := v[Address1] == Exact || v[Address1] == 2 ||
		v[Postcode] == Exact && v[StreetNumber] == Exact
	otherGiven := v[GivenName] >= 6
	otherBirth := v[DateOfBirth] == Different(DateOfBirth)
	// One social security number is one person, whatever else differs.
	sameID := v[SocSecID] == Exact || v[SocSecID] == 2
	if sameSurname && sameAddress && otherGiven && otherBirth && !sameID {
		return HouseholdVeto
	}
	return ""
}

// Matcher scores pairs of records in an index with a model. Build it once
// per model: it turns the model into weight tables.
type Matcher struct {
	model *Model
	ix    *Index
	prior float64
	w     [NumFields][]float64 // weight per level, 0 for Null
	// logMExact is log2 M of the Exact level, from which a term-frequency
	// adjusted exact weight is log2(M/tf), as in Splink.
	logMExact [NumFields]float64
	// bestInexact is the largest weight of any level but Exact; it bounds a
	// pair's score before the costly comparisons are made.
	bestInexact [NumFields]float64
}

// NewMatcher returns a matcher for the records of ix under model m.
func NewMatcher(m *Model, ix *Index) *Matcher {
	mt := &Matcher{model: m, ix: ix, prior: m.PriorWeight()}
	for f := range NumFields {
		n := len(ladders[f])
		mt.w[f] = make([]float64, n)
		mt.bestInexact[f] = 0 // Null
		for l := 1; l < n; l++ {
			mt.w[f][l] = m.Weight(f, Level(l))
			if l != int(Exact) {
				mt.bestInexact[f] = max(mt.bestInexact[f], mt.w[f][l])
			}
		}
		if len(m.M[f]) > int(Exact) && m.M[f][Exact] > 0 {
			mt.logMExact[f] = math.Log2(m.M[f][Exact])
		}
	}
	return mt
}

// Model returns the matcher's model.
func (mt *Matcher) Model() *Model { return mt.model }

// Index returns the matcher's index.
func (mt *Matcher) Index() *Index { return mt.ix }

// exactWeight returns the weight of an exact agreement on field f between
// a and b, adjusted for the value's term frequency where the field has one.
func (mt *Matcher) exactWeight(f Field, a, b *entry) (w, adj float64) {
	w = mt.w[f][Exact]
	if !termFrequency[f] {
		return w, 0
	}
	prior := mt.model.U[f][Exact]
	tf := max(mt.ix.tf(f, a, prior), mt.ix.tf(f, b, prior))
	if tf <= 0 {
		return w, 0
	}
	adj = mt.logMExact[f] - math.Log2(tf) - w
	return w + adj, adj
}

// costOrder is the order weight compares fields in: cheap, telling ones
// first, so that a pair of strangers is given up before its names and
// addresses are compared letter by letter.
var costOrder = [NumFields]Field{State, Postcode, StreetNumber, SocSecID, DateOfBirth, GivenName, Surname, Suburb, Address1, Address2}

// weight returns the match weight of a and b and fills v, or gives up as
// soon as the weight could no longer reach cut, returning ok false: most
// candidate pairs are plainly different people. Its bound starts from what
// costs nothing to know (which values are missing or equal, with the best
// weight any other level could have) and is made exact field by field.
func (mt *Matcher) weight(a, b *entry, cut float64, v *Vector) (w float64, ok bool) {
	var opt [NumFields]float64
	w = mt.prior
	for f := range NumFields {
		switch {
		case a.vals[f] == "" || b.vals[f] == "":
			v[f] = Null
		case a.same(b, f):
			v[f] = Exact
			opt[f], _ = mt.exactWeight(f, a, b)
		default:
			v[f] = 0xff
			opt[f] = mt.bestInexact[f]
		}
		w += opt[f]
	}
	if w < cut {
		return w, false
	}
	for _, f := range costOrder {
		if v[f] != 0xff {
			continue
		}
		v[f] = compareField(f, a, b)
		w += mt.w[f][v[f]] - opt[f]
		if w < cut {
			return w, false
		}
	}
	return w, true
}

func (mt *Matcher) evidence(i, j int, a, b *entry) Evidence {
	v := compare(a, b)
	ev := Evidence{Left: i, Right: j, Prior: mt.prior, Weight: mt.prior, Veto: veto(&v)}
	for f, l := range v {
		fe := FieldEvidence{Field: Field(f), Level: l, Label: Label(Field(f), l), Left: a.vals[f], Right: b.vals[f]}
		if l == Exact {
			fe.Weight, fe.TermFrequency = mt.exactWeight(Field(f), a, b)
		} else {
			fe.Weight = mt.w[f][l]
		}
		ev.Fields[f] = fe
		ev.Weight += fe.Weight
	}
	ev.Probability = Probability(ev.Weight)
	return ev
}

// Compare scores the records at positions i and j of the index.
func (mt *Matcher) Compare(i, j int) Evidence {
	var a, b entry
	mt.ix.entryOf(i, &a)
	mt.ix.entryOf(j, &b)
	return mt.evidence(i, j, &a, &b)
}

// Score compares r, which need not be in the index, with every candidate
// the index's blocking rules find for it, and returns the scored pairs,
// most probable first. Left is -1 (r itself) and Right the candidate's
// position. This is live matching: a new or changed record is scored as it
// arrives, before or after it is added.
func (mt *Matcher) Score(r Record) []Evidence {
	var a entry
	mt.ix.probe(r, &a)
	cands := mt.ix.Candidates(r)
	out := make([]Evidence, 0, len(cands))
	var b entry
	for _, j := range cands {
		if mt.ix.ids[j] == r.ID && r.ID != "" {
			continue // the record itself, already added
		}
		mt.ix.entryOf(j, &b)
		out = append(out, mt.evidence(-1, j, &a, &b))
	}
	slices.SortFunc(out, func(x, y Evidence) int {
		switch {
		case x.Weight > y.Weight:
			return -1
		case x.Weight < y.Weight:
			return 1
		}
		return x.Right - y.Right
	})
	return out
}

// neutralModel is a model without evidence: every level weighs nothing.
func neutralModel() *Model {
	m := &Model{Lambda: 0.5}
	for f := range NumFields {
		m.M[f] = initialM(f)
		m.U[f] = initialM(f)
	}
	return m
}
