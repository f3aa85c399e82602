package match

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchdata returns the directory of the Febrl files: identity/ under
// $KITH_BENCHDATA, or under shared/benchdata beside the repository. Tests
// skip without it unless KITH_TEST_REQUIRE names benchdata.
func benchdata(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv("KITH_BENCHDATA")
	if root == "" {
		root = filepath.Join("..", "..", "shared", "benchdata")
	}
	dir := filepath.Join(root, "identity")
	if _, err := os.Stat(filepath.Join(dir, "febrl1_records.csv")); err != nil {
		if strings.Contains(os.Getenv("KITH_TEST_REQUIRE"), "benchdata") {
			tb.Fatalf("benchdata: %v (KITH_TEST_REQUIRE asks for it)", err)
		}
		tb.Skipf("no Febrl benchdata in %s: set KITH_BENCHDATA to the benchdata directory (holding identity/febrl1_records.csv)", dir)
	}
	return dir
}

// febrl reads one Febrl data set's records, and, for evaluation only, its
// true pairs as a clustering.
func febrl(tb testing.TB, name string) ([]Record, *Clustering) {
	tb.Helper()
	dir := benchdata(tb)
	f, err := os.Open(filepath.Join(dir, name+"_records.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := ReadCSV(f, name+"_records.csv", CSVOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tf, err := os.Open(filepath.Join(dir, name+"_true_pairs.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer tf.Close()
	rows, err := csv.NewReader(tf).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	truth := NewClustering()
	for _, r := range recs {
		truth.Add(r.ID)
	}
	for _, row := range rows[1:] {
		truth.Join(row[0], row[1])
	}
	return recs, truth
}

// predicted returns a batch result's clusters by record id.
func predicted(res *Result) *Clustering {
	c := NewClustering()
	ix := res.Matcher.Index()
	for i := range ix.Len() {
		c.Add(ix.ids[i])
	}
	for _, p := range res.Pairs {
		c.Join(ix.ids[p.Left], ix.ids[p.Right])
	}
	return c
}

func candidates(res *Result) []IDPair {
	ix := res.Matcher.Index()
	out := make([]IDPair, len(res.Candidates))
	for k, p := range res.Candidates {
		out[k] = IDPair{ix.ids[p.Left], ix.ids[p.Right], p.Probability}
	}
	return out
}

func without(recs []Record, f Field) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		r.Values[f] = ""
		out[i] = r
	}
	return out
}

// TestFebrl deduplicates Febrl 1 and 2 at the fixed AutoMergeThreshold
// with all fields, and again without soc_sec_id (the field that alone
// finds 87–90% of the pairs), and checks pairwise F1 after clustering.
func TestFebrl(t *testing.T) {
	for _, c := range []struct {
		name       string
		drop       bool
		minF1      float64
		minPrec    float64
		minBlocked float64
	}{
		{"febrl1", false, 0.99, 0.995, 0.999},
		{"febrl2", false, 0.99, 0.995, 0.995},
		{"febrl1", true, 0.98, 0.99, 0.98},
		{"febrl2", true, 0.98, 0.99, 0.98},
	} {
		label := c.name
		if c.drop {
			label += " without soc_sec_id"
		}
		t.Run(label, func(t *testing.T) {
			recs, truth := febrl(t, c.name)
			if c.drop {
				recs = without(recs, SocSecID)
			}
			res, err := Dedupe(context.Background(), recs, Options{KeepCandidates: true, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			s := Evaluate(predicted(res), truth)
			recall, found, total := BlockingRecall(candidates(res), truth)
			best, at := BestF1(candidates(res), truth)
			t.Logf("%s: precision=%.4f recall=%.4f f1=%.4f bcubed_f1=%.4f (predicted %d, true %d, correct %d); blocking recall %.4f (%d/%d) over %d candidates; best f1 %.4f at %.3g; expected matches %.0f, vetoed %d",
				label, s.Precision, s.Recall, s.F1, s.BCubedF1, s.PredictedPairs, s.TruePairs, s.CorrectPairs,
				recall, found, total, res.Stats.CandidatePairs, best, at, res.Stats.ExpectedMatches, res.Stats.Vetoed)
			if s.F1 < c.minF1 {
				t.Errorf("F1 %.4f, want at least %.3f", s.F1, c.minF1)
			}
			if s.Precision < c.minPrec {
				t.Errorf("precision %.4f, want at least %.3f", s.Precision, c.minPrec)
			}
			if recall < c.minBlocked {
				t.Errorf("blocking recall %.4f, want at least %.3f", recall, c.minBlocked)
			}
		})
	}
}
