package clv

import (
	"bufio"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchdata returns the directory of the CDNOW files: clv/ under
// $KITH_BENCHDATA, or under shared/benchdata beside the repository. Tests skip without it
// unless KITH_TEST_REQUIRE names benchdata.
func benchdata(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv("KITH_BENCHDATA")
	if root == "" {
		root = filepath.Join("..", "..", "shared", "benchdata")
	}
	dir := filepath.Join(root, "clv")
	if _, err := os.Stat(filepath.Join(dir, "CDNOW_sample.txt")); err != nil {
		if strings.Contains(os.Getenv("KITH_TEST_REQUIRE"), "benchdata") {
			tb.Fatalf("benchdata: %v (KITH_TEST_REQUIRE asks for it)", err)
		}
		tb.Skipf("no CDNOW benchdata in %s: set KITH_BENCHDATA to the benchdata directory (holding clv/CDNOW_sample.txt)", dir)
	}
	return dir
}

var (
	calEnd  = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)
	holdEnd = time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
)

// cdnowTransactions reads CDNOW_sample.txt: master_id sample_id YYYYMMDD
// n_cds dollars, whitespace separated; sample_id is the customer.
func cdnowTransactions(tb testing.TB) []Transaction {
	tb.Helper()
	f, err := os.Open(filepath.Join(benchdata(tb), "CDNOW_sample.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var txs []Transaction
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 5 {
			tb.Fatalf("CDNOW_sample.txt: line %q", sc.Text())
		}
		d, err := time.Parse("20060102", fs[2])
		if err != nil {
			tb.Fatal(err)
		}
		amt, err := strconv.ParseFloat(fs[4], 64)
		if err != nil {
			tb.Fatal(err)
		}
		id, _ := strconv.Atoi(fs[1])
		txs = append(txs, Transaction{Customer: strconv.Itoa(id), Date: d, Amount: amt})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return txs
}

func cdnowCustomers(tb testing.TB) []Customer {
	tb.Helper()
	cs, err := Summarize(cdnowTransactions(tb), Period{End: calEnd, HoldoutEnd: holdEnd})
	if err != nil {
		tb.Fatal(err)
	}
	return cs
}

// readCSV reads a CSV with a header into maps from column name to value.
func readCSV(tb testing.TB, name string) []map[string]string {
	tb.Helper()
	f, err := os.Open(filepath.Join(benchdata(tb), name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := make(map[string]string)
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

func num(tb testing.TB, s string) float64 {
	tb.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
