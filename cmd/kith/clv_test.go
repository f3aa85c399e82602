package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cdnowCSV converts the CDNOW sample (whitespace separated: master_id
// sample_id YYYYMMDD n_cds dollars) into the customer_id,date,amount CSV
// that kith clv fit reads.
func cdnowCSV(t *testing.T) string {
	t.Helper()
	root := os.Getenv("KITH_BENCHDATA")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "benchdata")
	}
	dir := filepath.Join(root, "clv")
	in, err := os.Open(filepath.Join(dir, "CDNOW_sample.txt"))
	if err != nil {
		if strings.Contains(os.Getenv("KITH_TEST_REQUIRE"), "benchdata") {
			t.Fatalf("benchdata: %v (KITH_TEST_REQUIRE asks for it)", err)
		}
		t.Skipf("no CDNOW benchdata in %s: set KITH_BENCHDATA to the benchdata directory (holding clv/CDNOW_sample.txt)", dir)
	}
	defer in.Close()
	var out bytes.Buffer
	out.WriteString("customer_id,date,amount\n")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 5 {
			continue
		}
		d := f[2]
		fmt.Fprintf(&out, "%s,%s-%s-%s,%s\n", f[1], d[:4], d[4:6], d[6:], f[4])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cdnow.csv")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLVFitCDNOW(t *testing.T) {
	f := cdnowCSV(t)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"clv", "fit", "--csv", f, "--end", "1997-09-30"}, &out, &errb); err != nil {
		t.Fatalf("clv fit: %v\n%s", err, errb.String())
	}
	for _, want := range []string{
		"customers: 2357 (946 with repeat purchases)",
		"BG/NBD      r=0.24259", "LL=-9582.429",
		"Pareto/NBD  r=0.5532", "LL=-9594.976",
		"Gamma-Gamma p=6.249", "LL=-4055.918",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := run(context.Background(), []string{"clv", "fit", "--csv", f, "--end", "1997-09-30", "--holdout-weeks", "39"}, &out, &errb); err != nil {
		t.Fatalf("clv fit --holdout-weeks: %v", err)
	}
	for _, want := range []string{
		"at risk: 1673 of 2357 customers bought nothing from 1997-10-01 to 1998-06-30",
		"AUC at-risk score (Pareto/NBD E[Y(39)])  0.7787",
		"AUC frequency baseline (-x)              0.7576",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCLVBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "customer_id,date,amount\n"
	for _, c := range []struct {
		name, body, want string
	}{
		{"columns", head + "a,2024-01-01,3\nb,2024-01-02\n", "columns.csv:3: 2 columns, want 3"},
		{"date", head + "a,2024-01-01,3\nb,01/02/2024,4\n", `date.csv:3: date "01/02/2024": want YYYY-MM-DD`},
		{"amount", head + "a,2024-01-01,$3\n", `amount.csv:2: amount "$3"`},
		{"negative", head + "a,2024-01-01,-3\n", `negative.csv:2: amount "-3"`},
		{"nan", head + "a,2024-01-01,NaN\n", `nan.csv:2: amount "NaN"`},
		{"empty id", head + ",2024-01-01,3\n", "empty id.csv:2: customer_id is empty"},
		{"header", "id,when,what\na,2024-01-01,3\n", `header.csv:1: header is "id,when,what"`},
		{"no rows", head, "no purchases"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := write(c.name+".csv", c.body)
			var out, errb bytes.Buffer
			err := run(context.Background(), []string{"clv", "fit", "--csv", f}, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one containing %q", err, c.want)
			}
			if exitCode(err) != 1 {
				t.Errorf("exit code %d for bad data, want 1", exitCode(err))
			}
		})
	}

	good := write("good.csv", head+"a,2024-01-01,3\na,2024-02-01,4\nb,2024-01-05,5\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"clv", "fit"}, "needs --csv"},
		{[]string{"clv", "fit", "--csv", good, "--end", "2024/01/31"}, "--end"},
		{[]string{"clv", "fit", "--csv", good, "--holdout-weeks", "4"}, "--holdout-weeks needs --end"},
		{[]string{"clv", "fit", "--csv", good, "--end", "2024-01-31", "--holdout-weeks", "-1"}, "must not be negative"},
		{[]string{"clv", "fit", "--csv", good, "extra"}, "takes no arguments"},
		{[]string{"clv", "predict"}, `unknown clv command "predict"`},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) || exitCode(err) != 2 {
			t.Errorf("%q: error %v (exit %d); want a usage error containing %q", c.args, err, exitCode(err), c.want)
		}
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"clv", "fit", "--csv", filepath.Join(dir, "missing.csv")}, &out, &errb); err == nil || exitCode(err) != 1 {
		t.Errorf("missing file: %v", err)
	}
}

func TestCLVHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"clv", "--help"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"customer_id,date,amount", "YYYY-MM-DD", "--holdout-weeks"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("clv --help lacks %q", want)
		}
	}
	out.Reset()
	errb.Reset()
	err := run(context.Background(), []string{"clv", "fit", "--help"}, &out, &errb)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errb.String(), "--csv") {
		t.Errorf("clv fit --help: %v, %q", err, errb.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"help"}, &out, &errb); err != nil || !strings.Contains(out.String(), "clv        fit churn") {
		t.Errorf("kith help does not list clv: %v", err)
	}
}

// FuzzCLVReadPurchases feeds the purchases reader arbitrary files: it must
// return purchases or an error, never panic, and never accept a bad amount.
func FuzzCLVReadPurchases(f *testing.F) {
	f.Add("customer_id,date,amount\na,2024-01-01,3\na,2024-01-01,4.5\n")
	f.Add("customer_id,date,amount\n\"a,b\",2024-02-29,0\n")
	f.Add("\ufeffcustomer_id,date,amount\r\nx,2023-12-31,1e3\r\n")
	f.Add("customer_id,date,amount\na,2024-13-01,3\n")
	f.Add("customer_id,date\n")
	f.Add("customer_id,date,amount\na,2024-01-01,\"3\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "in.csv")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		txs, last, err := readPurchases(p)
		if err != nil {
			return
		}
		for _, tx := range txs {
			if !(tx.Amount >= 0) || tx.Customer == "" || tx.Date.After(last) {
				t.Fatalf("accepted %+v (last %v)", tx, last)
			}
		}
	})
}
