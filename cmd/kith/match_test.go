package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// febrlDir returns the Febrl benchdata directory, skipping without it
// unless KITH_TEST_REQUIRE names benchdata.
func febrlDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("KITH_BENCHDATA")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "benchdata")
	}
	dir := filepath.Join(root, "identity")
	if _, err := os.Stat(filepath.Join(dir, "febrl1_records.csv")); err != nil {
		if strings.Contains(os.Getenv("KITH_TEST_REQUIRE"), "benchdata") {
			t.Fatalf("benchdata: %v (KITH_TEST_REQUIRE asks for it)", err)
		}
		t.Skipf("no Febrl benchdata in %s: set KITH_BENCHDATA to the benchdata directory (holding identity/febrl1_records.csv)", dir)
	}
	return dir
}

// evalFigure returns the number after name= in kith match eval's output.
func evalFigure(t *testing.T, out, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?:^|\s)` + name + `=([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s= in %q", name, out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMatchDedupeAndEvalFebrl1(t *testing.T) {
	dir := febrlDir(t)
	tmp := t.TempDir()
	pairs, clusters, cands := filepath.Join(tmp, "pairs.csv"), filepath.Join(tmp, "clusters.csv"), filepath.Join(tmp, "cands.csv")
	var out, errb bytes.Buffer
	err := runMatch(context.Background(), []string{"dedupe", filepath.Join(dir, "febrl1_records.csv"),
		"--out", pairs, "--clusters", clusters, "--candidates", cands}, &out, &errb)
	if err != nil {
		t.Fatalf("dedupe: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "records 1000") {
		t.Errorf("summary %q lacks the record count", errb.String())
	}
	b, err := os.ReadFile(pairs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "id_l,id_r,probability\n") {
		t.Errorf("pairs file starts %q", string(b[:min(len(b), 40)]))
	}
	c, err := os.ReadFile(clusters)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(c), "\n"); got != 1001 {
		t.Errorf("clusters file has %d lines, want a header and 1000 records", got)
	}

	out.Reset()
	err = runMatch(context.Background(), []string{"eval", "--pairs", pairs, "--truth", filepath.Join(dir, "febrl1_true_pairs.csv"),
		"--records", filepath.Join(dir, "febrl1_records.csv"), "--candidates", cands}, &out, &errb)
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	t.Log(out.String())
	if f := evalFigure(t, out.String(), "f1"); f < 0.99 {
		t.Errorf("f1 %.4f, want at least 0.99", f)
	}
	if r := evalFigure(t, out.String(), "blocking_recall"); r < 0.99 {
		t.Errorf("blocking recall %.4f, want at least 0.99", r)
	}
	for _, k := range []string{"precision", "recall", "bcubed_f1", "best_f1"} {
		evalFigure(t, out.String(), k)
	}

	// The truth as each record's person gives the same figures.
	out2 := bytes.Buffer{}
	if err := runMatch(context.Background(), []string{"eval", "--pairs", pairs, "--truth", filepath.Join(dir, "febrl1_truth.csv")}, &out2, &errb); err != nil {
		t.Fatalf("eval with id,entity truth: %v", err)
	}
	if a, b := evalFigure(t, out.String(), "bcubed_f1"), evalFigure(t, out2.String(), "bcubed_f1"); a != b {
		t.Errorf("bcubed_f1 %v from true pairs and records, %v from id,entity", a, b)
	}
}

// TestMatchLinkFebrl1 splits Febrl 1 into the two records of each true
// pair, one file each, and links them back.
func TestMatchLinkFebrl1(t *testing.T) {
	dir := febrlDir(t)
	read := func(name string) [][]string {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	recs, truth := read("febrl1_records.csv"), read("febrl1_true_pairs.csv")
	side := map[string]int{}
	for _, p := range truth[1:] {
		side[p[0]], side[p[1]] = 0, 1
	}
	var files [2]bytes.Buffer
	for i := range files {
		files[i].WriteString(strings.Join(recs[0], ",") + "\n")
	}
	for _, r := range recs[1:] {
		files[side[r[0]]].WriteString(strings.Join(r, ",") + "\n")
	}
	tmp := t.TempDir()
	a, b, pairs := filepath.Join(tmp, "a.csv"), filepath.Join(tmp, "b.csv"), filepath.Join(tmp, "pairs.csv")
	os.WriteFile(a, files[0].Bytes(), 0o600)
	os.WriteFile(b, files[1].Bytes(), 0o600)
	var out, errb bytes.Buffer
	if err := runMatch(context.Background(), []string{"link", a, b, "--out", pairs, "--clusters", filepath.Join(tmp, "c.csv")}, &out, &errb); err != nil {
		t.Fatalf("link: %v\n%s", err, errb.String())
	}
	if err := runMatch(context.Background(), []string{"eval", "--pairs", pairs, "--truth", filepath.Join(dir, "febrl1_true_pairs.csv")}, &out, &errb); err != nil {
		t.Fatalf("eval: %v", err)
	}
	t.Log(out.String())
	if f := evalFigure(t, out.String(), "f1"); f < 0.99 {
		t.Errorf("link f1 %.4f, want at least 0.99", f)
	}
}

func TestMatchHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"dedupe", "--help"}, {"link", "--help"}, {"eval", "--help"}} {
		var out, errb bytes.Buffer
		if err := runMatch(context.Background(), args, &out, &errb); err != nil {
			t.Errorf("%q: %v", args, err)
		}
		if !strings.Contains(out.String()+errb.String(), "Usage") {
			t.Errorf("%q: no usage in %q", args, out.String()+errb.String())
		}
	}
	var out, errb bytes.Buffer
	runMatch(context.Background(), []string{"dedupe", "--help"}, &out, &errb)
	if !strings.Contains(errb.String(), "0.95") {
		t.Errorf("dedupe --help does not give the default threshold:\n%s", errb.String())
	}
}

func TestMatchBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "id,given_name,surname,date_of_birth\n"
	good := write("good.csv", head+"1,ann,lee,19800101\n2,anne,lee,19800101\n")
	for _, c := range []struct {
		name string
		args []string
		want string
		code int
	}{
		{"columns", []string{"dedupe", write("columns.csv", head+"1,ann,lee,19800101\n2,bob,lee\n")}, "columns.csv:3: wrong number of fields", 1},
		{"no id", []string{"dedupe", write("noid.csv", "given_name,surname\nann,lee\n")}, "noid.csv:1: no id column", 1},
		{"empty id", []string{"dedupe", write("emptyid.csv", head+"1,ann,lee,19800101\n,bob,lee,19700101\n")}, "emptyid.csv:3: empty id", 1},
		{"repeated id", []string{"dedupe", write("again.csv", head+"1,ann,lee,19800101\n1,bob,lee,19700101\n")}, `again.csv:3: id "1" again (first on line 2)`, 1},
		{"quote", []string{"dedupe", write("quote.csv", head+"1,\"ann,lee,19800101\n")}, "quote.csv:2:", 1},
		{"no rows", []string{"dedupe", write("empty.csv", head)}, "no records", 1},
		{"mapped column missing", []string{"dedupe", good, "--map", "first=given_name"}, `no column "first"`, 1},
		{"bad field", []string{"dedupe", good, "--map", "x=middle_name"}, `no field "middle_name"`, 2},
		{"two files", []string{"dedupe", good, good}, "needs one file", 2},
		{"one file", []string{"link", good}, "needs two files", 2},
		{"threshold", []string{"dedupe", good, "--threshold", "1.5"}, "--threshold", 2},
		{"eval flags", []string{"eval", "--pairs", good}, "needs --pairs and --truth", 2},
		{"eval pairs header", []string{"eval", "--pairs", good, "--truth", good}, "lacks id_l and id_r", 1},
		{"eval probability", []string{"eval", "--pairs", write("p.csv", "id_l,id_r,probability\n1,2,0.9\n1,3,high\n"), "--truth", good}, `p.csv:3: probability "high"`, 1},
		{"unknown", []string{"cluster"}, `unknown match command "cluster"`, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runMatch(context.Background(), c.args, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v; want one containing %q", err, c.want)
			}
			if got := exitCode(err); got != c.code {
				t.Errorf("exit code %d, want %d", got, c.code)
			}
		})
	}
}

func TestMatchMapAndStdout(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "people.csv")
	body := "id,First,Last,dob,soc_sec_id,notes\n" +
		"a,ann,lee,19800101,1234567,x\n" +
		"b,ann,lee,19800101,1234567,y\n" +
		"c,bob,smith,19700505,7654321,z\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := runMatch(context.Background(), []string{"dedupe", p, "--map", "First=given_name", "--map", "Last=surname",
		"--map", "dob=date_of_birth", "--map", "soc_sec_id="}, &out, &errb)
	if err != nil {
		t.Fatalf("dedupe: %v\n%s", err, errb.String())
	}
	if !strings.HasPrefix(out.String(), "id_l,id_r,probability\n") {
		t.Errorf("stdout %q does not start with the pairs header", out.String())
	}
}
