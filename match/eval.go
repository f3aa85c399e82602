package match

import (
	"cmp"
	"slices"
)

// Clustering groups record ids into clusters: people, predicted or true.
// Ids joined by a pair are in one cluster, and so, transitively, are ids
// joined through others (connected components). An id that is only added
// is a cluster of its own.
type Clustering struct {
	ids    map[string]int
	parent []int
}

// NewClustering returns an empty clustering.
func NewClustering() *Clustering { return &Clustering{ids: make(map[string]int)} }

// Add makes id known, in a cluster of its own unless joined, and returns
// its number.
func (c *Clustering) Add(id string) int {
	if i, ok := c.ids[id]; ok {
		return i
	}
	i := len(c.parent)
	c.ids[id] = i
	c.parent = append(c.parent, i)
	return i
}

// Join puts a and b in one cluster.
func (c *Clustering) Join(a, b string) {
	x, y := c.root(c.Add(a)), c.root(c.Add(b))
	if x != y {
		c.parent[max(x, y)] = min(x, y)
	}
}

// Len returns the number of ids.
func (c *Clustering) Len() int { return len(c.parent) }

func (c *Clustering) root(x int) int {
	for c.parent[x] != x {
		c.parent[x] = c.parent[c.parent[x]]
		x = c.parent[x]
	}
	return x
}

// clusterOf returns the root of id's cluster, or -1 for an unknown id.
func (c *Clustering) clusterOf(id string) int {
	i, ok := c.ids[id]
	if !ok {
		return -1
	}
	return c.root(i)
}

// Scores are how well predicted clusters agree with the true ones.
type Scores struct {
	// Pairwise, after clustering: a predicted pair is any two records in one
	// predicted cluster, a true pair any two of one person.
	Precision, Recall, F1                   float64
	PredictedPairs, TruePairs, CorrectPairs int64
	// B-cubed: precision and recall of each record's cluster, averaged over
	// all records, singletons included.
	BCubedPrecision, BCubedRecall, BCubedF1 float64
	Records                                 int
}

func f1(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 1 // nothing to find, or nothing claimed: nothing wrong
	}
	return float64(a) / float64(b)
}

// Evaluate scores predicted clusters against the truth over the records
// either knows: an id missing from one is a singleton there.
func Evaluate(pred, truth *Clustering) Scores {
	all := make(map[string]struct{}, max(pred.Len(), truth.Len()))
	for id := range pred.ids {
		all[id] = struct{}{}
	}
	for id := range truth.ids {
		all[id] = struct{}{}
	}
	type cell struct{ p, t int }
	// Singletons of either side get a cluster of their own: -1 - n is
	// unique per record.
	n := 0
	cells := make(map[cell]int64)
	psize := make(map[int]int64)
	tsize := make(map[int]int64)
	for id := range all {
		n++
		p, t := pred.clusterOf(id), truth.clusterOf(id)
		if p < 0 {
			p = -n
		}
		if t < 0 {
			t = -n
		}
		cells[cell{p, t}]++
		psize[p]++
		tsize[t]++
	}
	pairs := func(k int64) int64 { return k * (k - 1) / 2 }
	var s Scores
	s.Records = n
	var bp, br float64
	for c, k := range cells {
		s.CorrectPairs += pairs(k)
		bp += float64(k) * float64(k) / float64(psize[c.p])
		br += float64(k) * float64(k) / float64(tsize[c.t])
	}
	for _, k := range psize {
		s.PredictedPairs += pairs(k)
	}
	for _, k := range tsize {
		s.TruePairs += pairs(k)
	}
	s.Precision = ratio(s.CorrectPairs, s.PredictedPairs)
	s.Recall = ratio(s.CorrectPairs, s.TruePairs)
	s.F1 = f1(s.Precision, s.Recall)
	if n > 0 {
		s.BCubedPrecision, s.BCubedRecall = bp/float64(n), br/float64(n)
	}
	s.BCubedF1 = f1(s.BCubedPrecision, s.BCubedRecall)
	return s
}

// IDPair is a pair of records by id, with a match probability when scored.
type IDPair struct {
	Left, Right string
	Probability float64
}

// truePairs returns every pair of ids in one true cluster, as sorted
// numbers of truth.
func truePairs(truth *Clustering) [][2]int {
	members := make(map[int][]int)
	for _, i := range truth.ids {
		r := truth.root(i)
		members[r] = append(members[r], i)
	}
	var out [][2]int
	for _, ms := range members {
		slices.Sort(ms)
		for a := range ms {
			for b := a + 1; b < len(ms); b++ {
				out = append(out, [2]int{ms[a], ms[b]})
			}
		}
	}
	return out
}

// BlockingRecall returns the share of true pairs among the candidate
// pairs, and the counts: how much of the truth blocking lets the matcher
// see at all. A true pair blocking never proposes cannot be found.
func BlockingRecall(candidates []IDPair, truth *Clustering) (recall float64, found, total int64) {
	have := make([]uint64, 0, len(candidates))
	for _, c := range candidates {
		a, oka := truth.ids[c.Left]
		b, okb := truth.ids[c.Right]
		if !oka || !okb {
			continue
		}
		have = append(have, uint64(min(a, b))<<32|uint64(max(a, b)))
	}
	slices.Sort(have)
	for _, p := range truePairs(truth) {
		total++
		if _, ok := slices.BinarySearch(have, uint64(p[0])<<32|uint64(p[1])); ok {
			found++
		}
	}
	return ratio(found, total), found, total
}

// BestF1 returns the best pairwise F1 after clustering over all thresholds
// on the scored pairs, and the threshold that gives it: what a perfectly
// chosen threshold would have scored. Records in neither scored pairs nor
// truth do not change pairwise F1.
func BestF1(scored []IDPair, truth *Clustering) (best, threshold float64) {
	ps := slices.Clone(scored)
	slices.SortFunc(ps, func(x, y IDPair) int { return cmp.Compare(y.Probability, x.Probability) })
	// Predicted clusters grow as the threshold falls; each keeps how many
	// of its records belong to each true cluster, so a merge adds exactly
	// the true pairs it creates.
	num := make(map[string]int)
	var parent []int
	var members []map[int]int64
	var size []int64
	node := func(id string) int {
		if i, ok := num[id]; ok {
			return i
		}
		i := len(parent)
		num[id] = i
		parent = append(parent, i)
		size = append(size, 1)
		m := map[int]int64{}
		if t := truth.clusterOf(id); t >= 0 {
			m[t] = 1
		}
		members = append(members, m)
		return i
	}
	find := func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	totalTrue := int64(len(truePairs(truth)))
	var predicted, correct int64
	for k, p := range ps {
		a, b := find(node(p.Left)), find(node(p.Right))
		if a != b {
			if len(members[a]) < len(members[b]) {
				a, b = b, a
			}
			for t, c := range members[b] {
				correct += c * members[a][t]
				members[a][t] += c
			}
			predicted += size[a] * size[b]
			size[a] += size[b]
			parent[b] = a
			members[b] = nil
		}
		if k+1 < len(ps) && ps[k+1].Probability == p.Probability {
			continue // a threshold takes every pair with the same score
		}
		if f := f1(ratio(correct, predicted), ratio(correct, totalTrue)); f > best {
			best, threshold = f, p.Probability
		}
	}
	return best, threshold
}
