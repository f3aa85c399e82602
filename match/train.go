package match

import (
	"context"
	"math"
	"math/rand/v2"
)

// pattern is a distinct comparison vector among training pairs, with the
// blocking rules that produced it and how many pairs share both.
type pattern struct {
	v     Vector
	rules uint32 // bit k: rule k puts the pair in one block
	n     float64
}

// packVector turns v and its rule mask into a map key: 4 bits a field.
func packVector(v *Vector, rules uint32) uint64 {
	var k uint64
	for f, l := range v {
		k |= uint64(l) << (4 * f)
	}
	return k | uint64(rules)<<(4*NumFields)
}

func unpackVector(k uint64) (Vector, uint32) {
	var v Vector
	for f := range v {
		v[f] = Level(k >> (4 * f) & 0xf)
	}
	return v, uint32(k >> (4 * NumFields))
}

// levelCounts are how often each level of each field occurs among pairs.
type levelCounts [NumFields][]float64

func newLevelCounts() levelCounts {
	var c levelCounts
	for f := range c {
		c[f] = make([]float64, len(ladders[f]))
	}
	return c
}

func (c *levelCounts) add(o *levelCounts) {
	for f := range c {
		for l := range c[f] {
			c[f][l] += o[f][l]
		}
	}
}

// trainer learns a Model the way Splink does, without labels:
//
//  1. U from random pairs, nearly all of which are different people;
//  2. M by expectation–maximisation, U held fixed, once on the pairs of each
//     blocking rule with the rule's own fields left out, averaged over the
//     rules;
//  3. Lambda from the expected number of matches among all candidate pairs
//     over the number of possible pairs.
//
// Random pairs hold a few true matches, which on a small file inflate U of
// the agreeing levels (one pair in a thousand of febrl1 is a match); so
// steps 2 and 3 are repeated once with U corrected by the matches the first
// round expects among random pairs.
type trainer struct {
	rules      []Rule
	random     levelCounts // level counts over random pairs
	samples    float64     // random pairs
	patterns   []pattern   // candidate pairs, sampled
	candidates float64     // all candidate pairs, sampled or not
	pairs      float64     // all possible pairs
	iterations int         // EM iterations, over every rule and round
}

const (
	mFloor    = 1e-4 // no level is impossible among matches: keeps a single odd field from vetoing a pair
	emMaxIter = 200
	emTol     = 1e-6
)

func (t *trainer) train(ctx context.Context) (*Model, error) {
	model := &Model{}
	uFloor := 0.5 / max(t.samples, 1)
	for f := range NumFields {
		model.U[f] = normalizeLevels(t.random[f], uFloor)
		model.M[f] = initialM(Field(f))
	}
	model.Lambda = 1e-4
	for round := range 2 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t.estimateM(model)
		t.estimateLambda(model)
		if round == 0 {
			// Take the expected matches out of the random pairs' counts.
			for f := range NumFields {
				c := make([]float64, len(ladders[f]))
				nonNull := 0.0
				for l := 1; l < len(c); l++ {
					nonNull += t.random[f][l]
				}
				for l := 1; l < len(c); l++ {
					c[l] = max(t.random[f][l]-model.Lambda*nonNull*model.M[f][l], 0)
				}
				model.U[f] = normalizeLevels(c, uFloor)
			}
		}
	}
	return model, nil
}

// normalizeLevels returns counts as probabilities over the non-null levels,
// none below floor.
func normalizeLevels(counts []float64, floor float64) []float64 {
	p := make([]float64, len(counts))
	sum := 0.0
	for l := 1; l < len(counts); l++ {
		sum += counts[l]
	}
	for l := 1; l < len(counts); l++ {
		if sum > 0 {
			p[l] = counts[l] / sum
		}
		p[l] = max(p[l], floor)
	}
	s := 0.0
	for l := 1; l < len(p); l++ {
		s += p[l]
	}
	for l := 1; l < len(p); l++ {
		p[l] /= s
	}
	return p
}

// initialM is where EM starts: matches mostly agree exactly, rarely differ.
func initialM(f Field) []float64 {
	n := len(ladders[f])
	m := make([]float64, n)
	m[Exact] = 0.85
	m[n-1] = 0.03
	for l := 2; l < n-1; l++ {
		m[l] = 0.12 / float64(n-3)
	}
	if n == 3 { // exact or different
		m[n-1] = 0.15
	}
	return m
}

// estimateM runs one EM session per blocking rule and sets model.M to the
// average of the sessions' estimates, each weighted by the matches it
// found, for the fields it could estimate.
func (t *trainer) estimateM(model *Model) {
	sum := newLevelCounts()
	var weight [NumFields]float64
	for k, rule := range t.rules {
		var use [NumFields]bool
		for f := range use {
			use[f] = true
		}
		for _, f := range rule.Fields() {
			use[f] = false
		}
		var ps []pattern
		for _, p := range t.patterns {
			if p.rules&(1<<k) != 0 {
				ps = append(ps, p)
			}
		}
		m, matches, iters := em(ps, use, model)
		t.iterations += iters
		if matches < 1 {
			continue
		}
		for f := range NumFields {
			if !use[f] || m[f] == nil {
				continue
			}
			for l := range m[f] {
				sum[f][l] += matches * m[f][l]
			}
			weight[f] += matches
		}
	}
	for f := range NumFields {
		if weight[f] == 0 {
			// No rule could tell: without evidence the field weighs nothing.
			model.M[f] = append([]float64(nil), model.U[f]...)
			continue
		}
		for l := range sum[f] {
			sum[f][l] /= weight[f]
		}
		model.M[f] = normalizeLevels(sum[f], mFloor)
	}
}

// em estimates M of the fields in use and the share of matches among the
// patterns, with U held fixed. It returns the estimate, the expected
// number of matches and the iterations it took.
func em(ps []pattern, use [NumFields]bool, model *Model) (levelCounts, float64, int) {
	var total float64
	for _, p := range ps {
		total += p.n
	}
	if total == 0 {
		return levelCounts{}, 0, 0
	}
	m := newLevelCounts()
	for f := range NumFields {
		copy(m[f], model.M[f])
	}
	lambda := 0.1
	var matches float64
	it := 0
	for it < emMaxIter {
		it++
		acc := newLevelCounts()
		matches = 0
		for _, p := range ps {
			pm, pu := lambda, 1-lambda
			for f, l := range p.v {
				if l == Null || !use[f] {
					continue
				}
				pm *= m[f][l]
				pu *= model.U[f][l]
			}
			w := p.n * pm / (pm + pu)
			matches += w
			for f, l := range p.v {
				if l != Null && use[f] {
					acc[f][l] += w
				}
			}
		}
		lambda = matches / total
		change := 0.0
		for f := range NumFields {
			if !use[f] {
				continue
			}
			next := normalizeLevels(acc[f], mFloor)
			for l := range next {
				change = max(change, math.Abs(next[l]-m[f][l]))
			}
			m[f] = next
		}
		if change < emTol || matches == 0 {
			break
		}
	}
	for f := range NumFields {
		if !use[f] {
			m[f] = nil
		}
	}
	return m, matches, it
}

// estimateLambda sets model.Lambda from the matches expected among all
// candidate pairs, found by fitting only the share of matches among the
// sampled candidates with M and U fixed, over every possible pair. Blocking
// finds nearly every match, so this is nearly every match there is.
func (t *trainer) estimateLambda(model *Model) {
	var total float64
	// Bayes factor of each pattern over all fields.
	bf := make([]float64, len(t.patterns))
	for i, p := range t.patterns {
		total += p.n
		r := 1.0
		for f, l := range p.v {
			if l != Null {
				r *= model.M[f][l] / model.U[f][l]
			}
		}
		bf[i] = r
	}
	if total == 0 || t.pairs == 0 {
		return
	}
	lambda := 0.01
	for range 200 {
		odds := lambda / (1 - lambda)
		s := 0.0
		for i, p := range t.patterns {
			s += p.n * odds * bf[i] / (1 + odds*bf[i])
		}
		next := s / total
		if math.Abs(next-lambda) < 1e-12 {
			lambda = next
			break
		}
		lambda = next
	}
	expected := lambda * t.candidates
	model.Lambda = min(max(expected/t.pairs, 1/t.pairs), 0.5)
}

// randomPairs adds to c the comparison of n pairs drawn uniformly from
// those the batch would compare: any two records for dedupe, one of each
// file for link (records before left, and from left on). Each call is its
// own seeded stream, so results do not depend on how calls are spread over
// workers.
func randomPairs(ix *Index, left, n int, seed, stream uint64, c *levelCounts) {
	rng := rand.New(rand.NewPCG(seed, stream))
	N := ix.Len()
	var a, b entry
	for range n {
		var i, j int
		if left > 0 && left < N {
			i, j = rng.IntN(left), left+rng.IntN(N-left)
		} else {
			i = rng.IntN(N)
			if j = rng.IntN(N - 1); j >= i {
				j++
			}
		}
		ix.entryOf(i, &a)
		ix.entryOf(j, &b)
		v := compare(&a, &b)
		for f, l := range v {
			c[f][l]++
		}
	}
}
