package match

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// generatedTruth returns the true clustering of generated records by
// position: the records of each entity, and every true pair.
func generatedPairs(entity []int) [][2]int {
	by := make(map[int][]int)
	for i, e := range entity {
		by[e] = append(by[e], i)
	}
	var out [][2]int
	for _, rs := range by {
		for a := range rs {
			for b := a + 1; b < len(rs); b++ {
				out = append(out, [2]int{min(rs[a], rs[b]), max(rs[a], rs[b])})
			}
		}
	}
	return out
}

// generatedScores returns pairwise precision, recall and F1 after
// clustering, and blocking recall: the share of true pairs that some rule
// puts in one compared block.
func generatedScores(res *Result, entity []int) (p, r, f, blocking float64) {
	ix := res.Matcher.Index()
	truth := generatedPairs(entity)
	found := 0
	for _, t := range truth {
		if ix.rulesOf(t[0], t[1]) != 0 {
			found++
		}
	}
	// Pairs in a predicted cluster, and those of one entity.
	type cell struct{ c, e int }
	cells := map[cell]int64{}
	size := map[int]int64{}
	for i, c := range res.Clusters {
		cells[cell{c, entity[i]}]++
		size[c]++
	}
	var correct, predicted int64
	for _, k := range cells {
		correct += k * (k - 1) / 2
	}
	for _, k := range size {
		predicted += k * (k - 1) / 2
	}
	p, r = ratio(correct, predicted), ratio(correct, int64(len(truth)))
	return p, r, f1(p, r), ratio(int64(found), int64(len(truth)))
}

// peakRSS returns the process's peak resident memory in MB, or 0 where
// /proc does not tell.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkDedupe1M deduplicates 1,000,000 generated records (800,000
// people, 200,000 duplicates with Febrl 2's corruption): index, block,
// learn the model, score and cluster. Generating them is not timed.
//
//	go test ./match -run '^$' -bench Dedupe1M -benchtime 1x
func BenchmarkDedupe1M(b *testing.B) {
	benchDedupe(b, 800_000)
}

// BenchmarkDedupe100k is the same at a tenth of the size, for quick
// comparisons.
func BenchmarkDedupe100k(b *testing.B) {
	benchDedupe(b, 80_000)
}

func benchDedupe(b *testing.B, originals int) {
	recs, entity := Generate(1, originals, GenerateOptions{})
	runtime.GC()
	b.ResetTimer()
	var res *Result
	for b.Loop() {
		var err error
		start := time.Now()
		if res, err = Dedupe(context.Background(), recs, Options{Seed: 1}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s")
		b.ReportMetric(float64(len(recs))/time.Since(start).Seconds(), "records/s")
	}
	b.StopTimer()
	p, r, f, blocking := generatedScores(res, entity)
	st := res.Stats
	b.ReportMetric(blocking, "blocking-recall")
	b.ReportMetric(f, "F1")
	b.ReportMetric(p, "precision")
	b.ReportMetric(r, "recall")
	b.ReportMetric(float64(st.CandidatePairs), "candidates")
	b.ReportMetric(peakRSS(), "peak-MB")
	b.Logf("%d records: index %s, block %s, train %s, score+cluster %s; %d candidate pairs, %d blocks skipped (%d pairs), expected matches %.0f (true %d), %d vetoed",
		len(recs), st.Index.Round(time.Millisecond), st.Block.Round(time.Millisecond), st.Train.Round(time.Millisecond), st.Score.Round(time.Millisecond),
		st.CandidatePairs, st.SkippedBlocks, st.SkippedPairs, st.ExpectedMatches, len(generatedPairs(entity)), st.Vetoed)
}

// BenchmarkScoreLive scores one new record against an index of 1,000,000,
// as live matching does when a profile changes: candidates from the
// blocking index, then every candidate compared. It reports the p50 and
// p99 latency over the queries.
func BenchmarkScoreLive(b *testing.B) {
	recs, _ := Generate(2, 800_000, GenerateOptions{})
	ix := NewIndex(nil, 0)
	for _, r := range recs {
		ix.Add(r)
	}
	// A model learned on a sample is as good as any for timing.
	sample, err := Dedupe(context.Background(), recs[:50_000], Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	mt := NewMatcher(sample.Matcher.Model(), ix)
	queries, _ := Generate(3, 1000, GenerateOptions{Duplicates: 1000})
	// Half the queries are new people, half corrupted copies of indexed ones.
	g := &generator{rng: newRand(4), voc: newVocabulary(), opts: GenerateOptions{MaxPerField: 2, MaxPerRecord: 2}}
	for i := 0; i < len(queries); i += 2 {
		queries[i] = g.duplicate(recs[(i*7919)%len(recs)])
		queries[i].ID = "q" + strconv.Itoa(i)
	}
	runtime.GC()
	var lat []time.Duration
	b.ResetTimer()
	k := 0
	for b.Loop() {
		start := time.Now()
		ev := mt.Score(queries[k%len(queries)])
		lat = append(lat, time.Since(start))
		if len(ev) > 1<<20 {
			b.Fatal("impossible")
		}
		k++
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(ix.Len()), "indexed")
}
