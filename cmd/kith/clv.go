package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith/clv"
)

const clvHelp = `Usage:
  kith clv fit --csv FILE [--end YYYY-MM-DD] [--holdout-weeks N]

Fits three customer-lifetime-value models by maximum likelihood to a file of
purchases and prints their parameters and log-likelihoods (LL):
  BG/NBD and Pareto/NBD   how often customers buy, and when they stop
  Gamma-Gamma             how much they spend per purchase

The file is CSV with a header row and one purchase per row:
  customer_id,date,amount
  c-1001,1997-01-01,29.33
  c-1001,1997-01-18,29.73
date is YYYY-MM-DD and amount a non-negative number (a dot for decimals, no
currency sign). Purchases by one customer on one day count as one purchase
with their amounts summed. Times are measured in weeks.

--end is the last day (inclusive) of the calibration period the models are
fitted on; it defaults to the last date in the file. Customers who first buy
after it are left out. With --holdout-weeks N, the N weeks after --end are a
holdout: the command also prints how well the at-risk score (Pareto/NBD
expected purchases over N weeks, lower is more at risk) and, as a baseline,
the number of repeat purchases rank the customers who buy nothing in the
holdout, as the area under the ROC curve (AUC: 0.5 is chance, 1 perfect).
`

func runCLV(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, clvHelp)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return nil
	}
	if args[0] != "fit" {
		fmt.Fprint(stderr, clvHelp)
		return usageError{fmt.Sprintf("unknown clv command %q; use fit", args[0])}
	}
	fs := flag.NewFlagSet("kith clv fit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, clvHelp+"\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("csv", "", "purchases: CSV with header customer_id,date,amount")
	endFlag := fs.String("end", "", "last day of the calibration period, YYYY-MM-DD (default: the last date in the file)")
	holdoutWeeks := fs.Int("holdout-weeks", 0, "weeks after --end to hold out and score the at-risk prediction on")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("clv fit takes no arguments, got %q; see kith clv --help", pos)}
	}
	if *path == "" {
		return usageError{"clv fit needs --csv FILE; see kith clv --help"}
	}
	if *holdoutWeeks < 0 {
		return usageError{"--holdout-weeks must not be negative"}
	}
	var end time.Time
	if *endFlag != "" {
		if end, err = time.Parse(time.DateOnly, *endFlag); err != nil {
			return usageError{fmt.Sprintf("--end %q: want a date as YYYY-MM-DD", *endFlag)}
		}
	} else if *holdoutWeeks > 0 {
		return usageError{"--holdout-weeks needs --end: the holdout is the weeks after it"}
	}

	txs, last, err := readPurchases(*path)
	if err != nil {
		return err
	}
	if end.IsZero() {
		end = last
	}
	period := clv.Period{End: end}
	if *holdoutWeeks > 0 {
		period.HoldoutEnd = end.AddDate(0, 0, 7**holdoutWeeks)
	}
	cs, err := clv.Summarize(txs, period)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	if len(cs) == 0 {
		return fmt.Errorf("%s: no customer bought on or before %s", *path, end.Format(time.DateOnly))
	}
	repeaters := 0
	for _, c := range cs {
		if c.X > 0 {
			repeaters++
		}
	}
	fmt.Fprintf(stdout, "customers: %d (%d with repeat purchases), calibration ends %s\n",
		len(cs), repeaters, end.Format(time.DateOnly))

	ms, err := clv.Fit(ctx, cs, clv.Options{})
	if err != nil {
		return err
	}
	bg, pn, gg := ms.BGNBD, ms.ParetoNBD, ms.GammaGamma
	fmt.Fprintf(stdout, "%-12sr=%f alpha=%f a=%f b=%f LL=%.3f\n", "BG/NBD", bg.R, bg.Alpha, bg.A, bg.B, bg.LL)
	fmt.Fprintf(stdout, "%-12sr=%f alpha=%f s=%f beta=%f LL=%.3f\n", "Pareto/NBD", pn.R, pn.Alpha, pn.S, pn.Beta, pn.LL)
	if gg != nil {
		fmt.Fprintf(stdout, "%-12sp=%f q=%f gamma=%f LL=%.3f\n", "Gamma-Gamma", gg.P, gg.Q, gg.Gamma, gg.LL)
	} else {
		fmt.Fprintf(stdout, "%-12snot fitted: no customer has a repeat purchase with an amount\n", "Gamma-Gamma")
	}

	if *holdoutWeeks == 0 {
		return nil
	}
	weeks := float64(*holdoutWeeks)
	atRisk := make([]bool, len(cs))
	risk := make([]float64, len(cs))
	freq := make([]float64, len(cs))
	n := 0
	for i, c := range cs {
		atRisk[i] = c.XStar == 0
		if atRisk[i] {
			n++
		}
		risk[i] = clv.AtRisk(pn, c, weeks)
		freq[i] = -c.X
	}
	fmt.Fprintf(stdout, "at risk: %d of %d customers bought nothing from %s to %s\n", n, len(cs),
		end.AddDate(0, 0, 1).Format(time.DateOnly), period.HoldoutEnd.Format(time.DateOnly))
	aucRisk, err := clv.AUC(risk, atRisk)
	if err != nil {
		return fmt.Errorf("holdout of %d weeks: %w", *holdoutWeeks, err)
	}
	aucFreq, err := clv.AUC(freq, atRisk)
	if err != nil {
		return fmt.Errorf("holdout of %d weeks: %w", *holdoutWeeks, err)
	}
	fmt.Fprintf(stdout, "%-40s %.4f\n", fmt.Sprintf("AUC at-risk score (Pareto/NBD E[Y(%d)])", *holdoutWeeks), aucRisk)
	fmt.Fprintf(stdout, "%-40s %.4f\n", "AUC frequency baseline (-x)", aucFreq)
	return nil
}

// readPurchases reads a customer_id,date,amount CSV and returns its
// purchases and the last date in it.
func readPurchases(path string) ([]clv.Transaction, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var txs []clv.Transaction
	var last time.Time
	for header := true; ; header = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...))
		}
		if len(rec) != 3 {
			return nil, time.Time{}, bad("%d columns, want 3: customer_id,date,amount", len(rec))
		}
		if header {
			got := strings.ToLower(strings.TrimPrefix(strings.Join(rec, ","), "\ufeff"))
			if strings.ReplaceAll(got, " ", "") != "customer_id,date,amount" {
				return nil, time.Time{}, bad("header is %q, want customer_id,date,amount", strings.Join(rec, ","))
			}
			continue
		}
		id := strings.TrimSpace(rec[0])
		if id == "" {
			return nil, time.Time{}, bad("customer_id is empty")
		}
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(rec[1]))
		if err != nil {
			return nil, time.Time{}, bad("date %q: want YYYY-MM-DD", rec[1])
		}
		amount, err := strconv.ParseFloat(strings.TrimSpace(rec[2]), 64)
		if err != nil || math.IsNaN(amount) || math.IsInf(amount, 0) || amount < 0 {
			return nil, time.Time{}, bad("amount %q: want a non-negative number such as 12.50", rec[2])
		}
		if d.After(last) {
			last = d
		}
		txs = append(txs, clv.Transaction{Customer: id, Date: d, Amount: amount})
	}
	if len(txs) == 0 {
		return nil, time.Time{}, fmt.Errorf("%s: no purchases", path)
	}
	return txs, last, nil
}
