package match

import (
	"cmp"
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a batch run. The zero value is the default.
type Options struct {
	// Threshold is the match probability at or above which a pair is
	// reported and joins a cluster; 0 means AutoMergeThreshold.
	Threshold float64
	// Rules are the blocking rules; nil means DefaultRules.
	Rules []Rule
	// MaxBlock is the largest block compared; 0 means DefaultMaxBlock.
	MaxBlock int
	// Workers is how many goroutines compare; 0 means GOMAXPROCS.
	Workers int
	// Seed makes the random pairs and the training sample repeatable.
	Seed uint64
	// RandomPairs is how many random pairs estimate U; 0 means 1,000,000
	// (as Splink's default).
	RandomPairs int
	// TrainingPairs is how many candidate pairs, at most, EM learns M from;
	// 0 means 1,000,000.
	TrainingPairs int
	// KeepCandidates keeps every candidate pair with its probability in
	// Result.Candidates, to measure blocking recall or pick a threshold.
	KeepCandidates bool
	// Model, when set, is used as it is instead of being learned.
	Model *Model
}

// Pair is a scored pair of records, by their positions in the index;
// Left < Right.
type Pair struct {
	Left, Right int
	Probability float64
}

// Stats describe a batch run.
type Stats struct {
	Records                    int
	CandidatePairs             int     // pairs compared, each once however many rules found it
	SkippedBlocks              int     // blocks larger than MaxBlock, not compared
	SkippedPairs               int64   // pairs in those blocks
	ExpectedMatches            float64 // Lambda times the number of possible pairs
	EMIterations               int
	Vetoed                     int // pairs above the threshold that a veto kept apart
	Index, Block, Train, Score time.Duration
}

// Result is what a batch run found.
type Result struct {
	// Matcher holds the model and the index of all records (for Link, the
	// left file's records first, then the right's).
	Matcher *Matcher
	// Pairs are the pairs at or above the threshold and not vetoed,
	// ordered by Left then Right.
	Pairs []Pair
	// Candidates are all compared pairs with Options.KeepCandidates.
	Candidates []Pair
	// Clusters gives each record's cluster: the smallest position of the
	// records it is joined to through Pairs (connected components).
	Clusters []int
	Stats    Stats
}

// Dedupe finds the records that are one person within one file.
func Dedupe(ctx context.Context, records []Record, opts Options) (*Result, error) {
	return run(ctx, records, nil, opts)
}

// Link finds the records of left and right that are one person; pairs within
// one file are not compared. In the result, positions below len(left) are
// left's records, and Right of every pair is len(left) plus a position in
// right.
func Link(ctx context.Context, left, right []Record, opts Options) (*Result, error) {
	if len(left) == 0 || len(right) == 0 {
		return nil, errors.New("link needs records on both sides")
	}
	return run(ctx, left, right, opts)
}

func run(ctx context.Context, left, right []Record, opts Options) (*Result, error) {
	if opts.Threshold == 0 {
		opts.Threshold = AutoMergeThreshold
	}
	if opts.Threshold < 0 || opts.Threshold > 1 {
		return nil, errors.New("threshold must be a probability between 0 and 1")
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.RandomPairs <= 0 {
		opts.RandomPairs = 1_000_000
	}
	if opts.TrainingPairs <= 0 {
		opts.TrainingPairs = 1_000_000
	}
	if len(opts.Rules) > 24 {
		return nil, errors.New("at most 24 blocking rules")
	}
	var st Stats
	start := time.Now()
	ix := NewIndex(opts.Rules, opts.MaxBlock)
	n := len(left) + len(right)
	ix.rows = slices.Grow(ix.rows, n)
	ix.ids = slices.Grow(ix.ids, n)
	ix.keys = slices.Grow(ix.keys, n*len(ix.rules))
	ix.next = slices.Grow(ix.next, n*len(ix.rules))
	ix.heads = make(map[uint64]uint64, n*len(ix.rules)*2/3) // most keys are one record's
	for _, r := range left {
		ix.Add(r)
	}
	boundary := 0 // link: pairs have one record below it and one from it on
	if right != nil {
		boundary = len(left)
		for _, r := range right {
			ix.Add(r)
		}
	}
	st.Records = n
	if n < 2 {
		m := opts.Model
		if m == nil {
			m = neutralModel()
		}
		return &Result{Matcher: NewMatcher(m, ix), Clusters: identity(n), Stats: st}, nil
	}
	for _, h := range ix.heads {
		if s := int64(h >> 32); s > int64(ix.maxBlock) {
			st.SkippedBlocks++
			st.SkippedPairs += s * (s - 1) / 2
		}
	}
	st.Index = time.Since(start)

	start = time.Now()
	pairs, err := candidatePairs(ctx, ix, boundary, opts.Workers)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		st.CandidatePairs += len(p)
	}
	st.Block = time.Since(start)

	start = time.Now()
	model := opts.Model
	possible := float64(n) * float64(n-1) / 2
	if boundary > 0 {
		possible = float64(boundary) * float64(n-boundary)
	}
	if model == nil {
		t := &trainer{rules: ix.rules, candidates: float64(st.CandidatePairs), pairs: possible}
		if err := t.sample(ctx, ix, boundary, pairs, opts); err != nil {
			return nil, err
		}
		if model, err = t.train(ctx); err != nil {
			return nil, err
		}
		st.EMIterations = t.iterations
	}
	st.ExpectedMatches = model.Lambda * possible
	st.Train = time.Since(start)

	start = time.Now()
	mt := NewMatcher(model, ix)
	res := &Result{Matcher: mt, Stats: st}
	if err := score(ctx, mt, pairs, opts, res); err != nil {
		return nil, err
	}
	res.Clusters = clusters(n, res.Pairs)
	res.Stats.Score = time.Since(start)
	return res, nil
}

func identity(n int) []int {
	c := make([]int, n)
	for i := range c {
		c[i] = i
	}
	return c
}

// chunked runs fn over [0, n) in chunks of size, on workers goroutines
// that take the next chunk as they finish one, so that uneven blocks do not
// leave a worker idle. It stops at the first error or when ctx is done.
func chunked(ctx context.Context, n, size, workers int, fn func(w, lo, hi int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(size))) - size
				if lo >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				if err := fn(w, lo, min(lo+size, n)); err != nil {
					errs[w] = err
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// candidatePairs returns, per worker, every pair of records that share a
// blocking key, once each, as j<<32|i with j < i (for link, j in the left
// file and i in the right).
func candidatePairs(ctx context.Context, ix *Index, boundary, workers int) ([][]uint64, error) {
	n := ix.Len()
	R := len(ix.rules)
	out := make([][]uint64, workers)
	marks := make([][]int32, workers)
	err := chunked(ctx, n-boundary, 2048, workers, func(w, lo, hi int) error {
		if marks[w] == nil {
			marks[w] = make([]int32, n)
		}
		mark := marks[w]
		ps := out[w]
		for i := boundary + lo; i < boundary+hi; i++ {
			stamp := int32(i + 1)
			limit := i // dedupe: earlier records only
			if boundary > 0 {
				limit = boundary
			}
			for k := range R {
				key := ix.keys[i*R+k]
				if key == 0 {
					continue
				}
				ix.walk(key, func(j int) {
					if j < limit && mark[j] != stamp {
						mark[j] = stamp
						ps = append(ps, uint64(j)<<32|uint64(i))
					}
				})
			}
		}
		out[w] = ps
		return nil
	})
	return out, err
}

// rulesOf returns the mask of the rules that put records i and j in one
// (compared) block.
func (ix *Index) rulesOf(i, j int) uint32 {
	R := len(ix.rules)
	var mask uint32
	for k := range R {
		key := ix.keys[i*R+k]
		if key != 0 && key == ix.keys[j*R+k] && ix.blockSize(key) <= ix.maxBlock {
			mask |= 1 << k
		}
	}
	return mask
}

// sample draws what the trainer learns from: the level counts of random
// pairs, and the comparison patterns of at most opts.TrainingPairs
// candidate pairs chosen by a seeded hash of the pair.
func (t *trainer) sample(ctx context.Context, ix *Index, boundary int, pairs [][]uint64, opts Options) error {
	const streams = 16
	per := (opts.RandomPairs + streams - 1) / streams
	t.samples = float64(per * streams)
	counts := make([]levelCounts, streams)
	err := chunked(ctx, streams, 1, opts.Workers, func(_, s, _ int) error {
		counts[s] = newLevelCounts()
		randomPairs(ix, boundary, per, opts.Seed, uint64(s), &counts[s])
		return nil
	})
	if err != nil {
		return err
	}
	t.random = newLevelCounts()
	for s := range counts {
		t.random.add(&counts[s])
	}

	rate := min(1, float64(opts.TrainingPairs)/t.candidates)
	cut := uint64(math.MaxUint64)
	if rate < 1 {
		cut = uint64(rate * (1 << 63) * 2)
	}
	found := make([]map[uint64]float64, len(pairs))
	err = chunked(ctx, len(pairs), 1, opts.Workers, func(_, w, _ int) error {
		m := make(map[uint64]float64)
		var a, b entry
		for _, p := range pairs[w] {
			if mix64(p^opts.Seed) > cut {
				continue
			}
			j, i := int(p>>32), int(uint32(p))
			ix.entryOf(i, &a)
			ix.entryOf(j, &b)
			v := compare(&a, &b)
			m[packVector(&v, ix.rulesOf(i, j))]++
		}
		found[w] = m
		return nil
	})
	if err != nil {
		return err
	}
	all := make(map[uint64]float64)
	for _, m := range found {
		for k, c := range m {
			all[k] += c
		}
	}
	keys := make([]uint64, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a fixed order makes EM's sums, and so the model, repeatable
	for _, k := range keys {
		v, rules := unpackVector(k)
		t.patterns = append(t.patterns, pattern{v: v, rules: rules, n: all[k] / rate})
	}
	return nil
}

// mix64 is SplitMix64's finaliser: a cheap, well-spread hash of a pair.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// score compares every candidate pair and keeps those at or above the
// threshold that no veto stops.
func score(ctx context.Context, mt *Matcher, pairs [][]uint64, opts Options, res *Result) error {
	cut := math.Log2(opts.Threshold / (1 - opts.Threshold))
	if opts.Threshold >= 1 {
		cut = math.Inf(1)
	}
	floor := cut
	if opts.KeepCandidates {
		floor = math.Inf(-1)
	}
	type found struct {
		pairs, cands []Pair
		vetoed       int
	}
	outs := make([]found, len(pairs))
	err := chunked(ctx, len(pairs), 1, opts.Workers, func(_, w, _ int) error {
		var a, b entry
		last := -1
		o := &outs[w]
		for _, p := range pairs[w] {
			j, i := int(p>>32), int(uint32(p))
			if i != last {
				mt.ix.entryOf(i, &a)
				last = i
			}
			mt.ix.entryOf(j, &b)
			var v Vector
			wt, full := mt.weight(&a, &b, floor, &v)
			if !full {
				continue
			}
			pr := Probability(wt)
			if opts.KeepCandidates {
				o.cands = append(o.cands, Pair{j, i, pr})
			}
			if wt >= cut {
				if veto(&v) != "" {
					o.vetoed++
					continue
				}
				o.pairs = append(o.pairs, Pair{j, i, pr})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range outs {
		res.Pairs = append(res.Pairs, o.pairs...)
		res.Candidates = append(res.Candidates, o.cands...)
		res.Stats.Vetoed += o.vetoed
	}
	byPos := func(x, y Pair) int {
		return cmp.Or(cmp.Compare(x.Left, y.Left), cmp.Compare(x.Right, y.Right))
	}
	slices.SortFunc(res.Pairs, byPos)
	slices.SortFunc(res.Candidates, byPos)
	return nil
}

// clusters returns the connected components of n records joined by pairs,
// each named by its smallest member.
func clusters(n int, pairs []Pair) []int {
	parent := identity(n)
	find := func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, p := range pairs {
		a, b := find(p.Left), find(p.Right)
		if a != b {
			parent[max(a, b)] = min(a, b)
		}
	}
	for i := range parent {
		parent[i] = find(i)
	}
	return parent
}
