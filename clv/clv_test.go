package clv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if !(math.Abs(got-want) <= tol) {
		t.Errorf("%s = %.9g, want %.9g ± %g (off by %.3g)", name, got, want, tol, got-want)
	}
}

func nearRel(t *testing.T, name string, got, want, rel float64) {
	t.Helper()
	near(t, name, got, want, rel*math.Abs(want))
}

func TestSummarizeCDNOW(t *testing.T) {
	cs := cdnowCustomers(t)
	if len(cs) != 2357 {
		t.Fatalf("%d customers, want 2357", len(cs))
	}
	var sx, sxs, zero, days float64
	for _, c := range cs {
		sx += c.X
		sxs += c.XStar
		days += 1 + c.X + c.XStar
		if c.X == 0 {
			zero++
		}
	}
	near(t, "Σx", sx, 2457, 0)
	near(t, "Σx_star", sxs, 1882, 0)
	near(t, "zero-repeaters", zero, 1411, 0)
	near(t, "customer-days", days, 6696, 0)

	byID := make(map[string]Customer)
	for _, c := range cs {
		byID[c.ID] = c
	}
	for _, rec := range readCSV(t, "cdnow_btyd_cbs.csv") {
		c, ok := byID[rec["cust"]]
		if !ok {
			t.Fatalf("customer %s missing", rec["cust"])
		}
		for _, f := range []struct {
			name string
			got  float64
		}{{"x", c.X}, {"t_x", c.TX}, {"T_cal", c.T}, {"x_star", c.XStar}, {"m_x", c.MX}} {
			if want := num(t, rec[f.name]); math.Abs(f.got-want) > 1e-9 {
				t.Errorf("customer %s: %s = %v, want %v", c.ID, f.name, f.got, want)
			}
		}
	}
}

func TestFitCDNOW(t *testing.T) {
	cs := cdnowCustomers(t)
	var reports int
	ms, err := Fit(context.Background(), cs, Options{Progress: func(Progress) { reports++ }})
	if err != nil {
		t.Fatal(err)
	}
	if reports == 0 {
		t.Error("no progress reported")
	}
	bg, pn, gg := ms.BGNBD, ms.ParetoNBD, ms.GammaGamma
	t.Logf("BG/NBD %+v", *bg)
	t.Logf("Pareto/NBD %+v", *pn)
	t.Logf("Gamma-Gamma %+v", *gg)

	near(t, "BG/NBD LL", bg.LL, -9582.429, 1e-3)
	near(t, "Pareto/NBD LL", pn.LL, -9594.976, 1e-3)
	near(t, "Gamma-Gamma LL", gg.LL, -4055.918, 1e-3)

	// BG/NBD. The BTYD walkthrough's b (2.4261667) is 2.6e-4 from the
	// maximum, where the LL is flat to 1e-7; the README's independent MLE
	// (0.2425945, 4.413603, 0.7929208, 2.425903) and CLVTools' r, α, a agree
	// with ours. So: 1e-4 against the independent MLE for every parameter,
	// 1e-4 against the walkthrough for r, α, a and 5e-4 for its b.
	near(t, "BG/NBD r", bg.R, 0.2425945, 1e-4)
	near(t, "BG/NBD alpha", bg.Alpha, 4.413603, 1e-4)
	near(t, "BG/NBD a", bg.A, 0.7929208, 1e-4)
	near(t, "BG/NBD b", bg.B, 2.425903, 1e-4)
	near(t, "BG/NBD r (BTYD)", bg.R, 0.2425982, 1e-4)
	near(t, "BG/NBD alpha (BTYD)", bg.Alpha, 4.4136842, 1e-4)
	near(t, "BG/NBD a (BTYD)", bg.A, 0.7929899, 1e-4)
	near(t, "BG/NBD b (BTYD, flat)", bg.B, 2.4261667, 5e-4)

	// Pareto/NBD. The likelihood is flat: BTYD's est.params have an LL
	// 2e-5 below ours, and α and β differ from ours by 2.5e-3 and 1.2e-2.
	// We check r and s within 1e-3 of BTYD, α and β within 5e-3 and 2e-2 of
	// it, the paper's rounded values (0.553, 10.578, 0.606, 11.669) within
	// 1e-3 (β 1e-2), and that our point is no worse than BTYD's or CLVTools'.
	near(t, "Pareto/NBD r (BTYD)", pn.R, 0.5533971, 1e-3)
	near(t, "Pareto/NBD alpha (BTYD, flat)", pn.Alpha, 10.5801985, 5e-3)
	near(t, "Pareto/NBD s (BTYD)", pn.S, 0.6060625, 1e-2)
	near(t, "Pareto/NBD beta (BTYD, flat)", pn.Beta, 11.6562237, 2e-2)
	near(t, "Pareto/NBD r (paper)", pn.R, 0.553, 1e-3)
	near(t, "Pareto/NBD alpha (paper)", pn.Alpha, 10.578, 1e-3)
	near(t, "Pareto/NBD s (paper)", pn.S, 0.606, 1e-3)
	near(t, "Pareto/NBD beta (paper)", pn.Beta, 11.669, 1e-2)
	for _, other := range []ParetoNBD{
		{R: 0.5533971, Alpha: 10.5801985, S: 0.6060625, Beta: 11.6562237}, // BTYD
		{R: 0.55315, Alpha: 10.57633, S: 0.60625, Beta: 11.67150},         // CLVTools
	} {
		ll, err := other.LogLikelihood(cs)
		if err != nil {
			t.Fatal(err)
		}
		if ll > pn.LL+1e-9 {
			t.Errorf("LL at %+v is %.7f, above our fit's %.7f", other, ll, pn.LL)
		}
	}

	near(t, "Gamma-Gamma p", gg.P, 6.25, 0.01)
	near(t, "Gamma-Gamma q", gg.Q, 3.74, 0.01)
	near(t, "Gamma-Gamma gamma", gg.Gamma, 15.44, 0.01)

	// The README's independent regression values.
	var yb, yp, alive float64
	for _, c := range cs {
		yb += bg.ExpectedPurchases(c, 39)
		yp += pn.ExpectedPurchases(c, 39)
		alive += bg.PAlive(c)
	}
	near(t, "BG/NBD ΣE[Y(39)]", yb, 1653.4, 0.1)
	near(t, "Pareto/NBD ΣE[Y(39)]", yp, 1665.5, 0.1)
	near(t, "BG/NBD ΣP(alive)", alive, 1917.3, 0.1)
	near(t, "Pareto/NBD E[X(52)] (walkthrough)", pn.ExpectedX(52), 1.473434, 1e-5)
}

// Walkthrough parameters, as published.
var (
	bgBTYD    = BGNBD{R: 0.2425982, Alpha: 4.4136842, A: 0.7929899, B: 2.4261667}
	bgPaper   = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	paretoEst = ParetoNBD{R: 0.5533971, Alpha: 10.5801985, S: 0.6060625, Beta: 11.6562237}
)

func TestBGNBDPredictions(t *testing.T) {
	// The walkthrough's values for 1516 and the paradox come from its
	// parameters at full precision; the 7 printed digits move them in the
	// 6th-7th significant digit, hence relative tolerances of 1e-5.
	c1516 := Customer{ID: "1516", X: 26, TX: 30.85714, T: 31}
	nearRel(t, "E[Y(52)] 1516", bgBTYD.ExpectedPurchases(c1516, 52), 25.75659, 1e-5)
	near(t, "P(alive) 1516", bgBTYD.PAlive(c1516), 0.9688523, 1e-6)
	near(t, "E[Y(39)] x=2", bgPaper.ExpectedPurchases(Customer{X: 2, TX: 30.43, T: 38.86}, 39), 1.226, 1e-3)

	for i, x := range []float64{10, 15, 20, 25} {
		want := []float64{0.3474606, 0.04283391, 0.004158973, 0.0003583685}[i]
		nearRel(t, "paradox x="+strconv.Itoa(int(x)), bgBTYD.ExpectedPurchases(Customer{X: x, TX: 20, T: 39}, 52), want, 1e-5)
	}
	// Hardie's spreadsheet evaluates E[X(t)] at its own fitted values, which
	// match the MLE better than the rounded paper values do (at 0.243, 4.414,
	// 0.793, 2.426 the values are 0.15% higher). At t = 78 the spreadsheet is
	// 3.6e-4 below the MLE's value, which Σ x P(X(78)=x) confirms below
	// (lifetimes allows 1.5e-3).
	mle := BGNBD{R: 0.2425945, Alpha: 4.413603, A: 0.7929208, B: 2.425903}
	for i, tt := range []float64{0.1429, 1, 3, 31.8571, 32, 78} {
		want := []float64{0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576}[i]
		tol := 1e-4
		if tt == 78 {
			tol = 5e-4
		}
		near(t, "E[X("+strconv.FormatFloat(tt, 'g', -1, 64)+")]", mle.ExpectedX(tt), want, tol)
	}
	near(t, "E[X(52)] BTYD", bgBTYD.ExpectedX(52), 1.444004, 1e-6)
	var mean float64
	for x := 1; x < 3000; x++ {
		mean += float64(x) * mle.ProbX(78, x)
	}
	nearRel(t, "Σ x P(X(78)=x) vs E[X(78)]", mean, mle.ExpectedX(78), 1e-10)

	nearRel(t, "P(X(2)=10)", bgPaper.ProbX(2, 10), 1.07869e-07, 1e-5)
	near(t, "P(X(39)=0)", bgPaper.ProbX(39, 0), 0.5737864, 1e-7)
	for i, want := range []float64{0.0019995214, 0.0015170236, 0.0011633150, 0.0009003148, 0.0007023638,
		0.0005517902, 0.0004361913, 0.0003467171, 0.0002769613, 0.0002222260} {
		nearRel(t, "P(X(30)="+strconv.Itoa(11+i)+")", bgPaper.ProbX(30, 11+i), want, 1e-6)
	}
	var total float64
	for x := 0; x < 400; x++ {
		total += bgPaper.ProbX(30, x)
	}
	near(t, "Σ P(X(30)=x)", total, 1, 1e-9)
}

func TestParetoNBDPredictions(t *testing.T) {
	// The walkthrough computed these with its own fit, not exactly
	// cdnowSummary$est.params: at est.params E[X(52)] is 1.473113, while at
	// our MLE it is the walkthrough's 1.473434 (checked in TestFitCDNOW).
	// The conditional expectations move with the flat (s, β) in the 4th
	// digit, so they are checked to 1e-4 (1516) and 5e-4 (paradox) relative;
	// P(alive) and E[X(t)] at the manual's parameters are exact.
	c1516 := Customer{ID: "1516", X: 26, TX: 30.85714, T: 31}
	nearRel(t, "E[Y(52)] 1516", paretoEst.ExpectedPurchases(c1516, 52), 25.45647, 1e-4)
	near(t, "P(alive) 1516", paretoEst.PAlive(c1516), 0.997874, 1e-6)
	nearRel(t, "E[X(52)]", paretoEst.ExpectedX(52), 1.473434, 5e-4)
	for i, x := range []float64{10, 15, 20, 25} {
		want := []float64{0.7062289, 0.1442396, 0.02250658, 0.00309267}[i]
		nearRel(t, "paradox x="+strconv.Itoa(int(x)), paretoEst.ExpectedPurchases(Customer{X: x, TX: 20, T: 39}, 52), want, 5e-4)
	}
	manual := ParetoNBD{R: 0.55, Alpha: 10.56, S: 0.61, Beta: 11.64}
	for i, want := range []float64{0.05077821, 0.09916088, 0.14542507, 0.18979930, 0.23247466,
		0.27361274, 0.31335159, 0.35181024, 0.38909211} {
		nearRel(t, "E[X("+strconv.Itoa(i+1)+")]", manual.ExpectedX(float64(i+1)), want, 1e-7)
	}
	// P(alive) is a probability everywhere, including far from the data.
	for _, c := range []Customer{{X: 0, T: 100}, {X: 500, TX: 1, T: 37}, {X: 400, TX: 5, T: 6}, {X: 3, TX: 0.01, T: 300}} {
		if p := paretoEst.PAlive(c); !(p >= 0 && p <= 1) {
			t.Errorf("P(alive) %+v = %v", c, p)
		}
	}
}

// TestLifetimesQuickstart fits the spend model, and BG/NBD, on lifetimes'
// rounded summary file, as its Quickstart does, and checks the expected
// spend and lifetime value of customers 1-10.
func TestLifetimesQuickstart(t *testing.T) {
	var cs []Customer
	for _, rec := range readCSV(t, "cdnow_customers_summary_with_transactions.csv") {
		cs = append(cs, Customer{ID: rec["ID"], X: num(t, rec["x"]), TX: num(t, rec["t_x"]), T: num(t, rec["T"]), MX: num(t, rec["zbar"])})
	}
	ctx := context.Background()
	gg, err := FitGammaGamma(ctx, cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Gamma-Gamma %+v", *gg)
	near(t, "p", gg.P, 6.25, 0.005)
	near(t, "q", gg.Q, 3.74, 0.005)
	near(t, "v", gg.Gamma, 15.45, 0.005)
	// Our optimum and lifetimes' differ in the 4th digit of the parameters;
	// the predictions agree to about 1e-6, so 1e-5 relative (the issue
	// asked for 1e-3).
	spend := []float64{24.658619, 18.911489, 35.170981, 35.170981, 35.170981, 71.462843, 18.911489, 35.170981, 27.282408, 35.170981}
	for i, want := range spend {
		nearRel(t, "E[M] "+cs[i].ID, gg.ExpectedSpend(cs[i]), want, 1e-5)
	}
	var mean float64
	for _, c := range cs {
		mean += gg.ExpectedSpend(c) / float64(len(cs))
	}
	nearRel(t, "mean E[M]", mean, 35.2529588, 1e-3)

	bg, err := FitBGNBD(ctx, cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// lifetimes steps 30 of the data's units (weeks here) 12 times at 1%.
	h := Horizon{Weeks: 360, Step: 30, Discount: 0.01}
	for i, want := range []float64{140.096211, 18.943467, 38.180574, 38.180574, 38.180574, 1003.868107, 28.109683,
		38.180574, 167.418216, 38.180574} {
		nearRel(t, "CLV "+cs[i].ID, Value(bg, gg, cs[i], h), want, 1e-5)
	}
}

// TestAtRiskAUC measures how well scores rank the customers who make no
// purchase in CDNOW's 39 holdout weeks (x_star = 0; 1,673 of 2,357).
// Scores are oriented so that higher means more at risk; the README's
// values are for predicting a purchase with the opposite orientation, which
// gives the same AUC.
func TestAtRiskAUC(t *testing.T) {
	cs := cdnowCustomers(t)
	ms, err := Fit(context.Background(), cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	atRisk := make([]bool, len(cs))
	for i, c := range cs {
		atRisk[i] = c.XStar == 0
	}
	score := func(f func(Customer) float64) float64 {
		t.Helper()
		s := make([]float64, len(cs))
		for i, c := range cs {
			s[i] = f(c)
		}
		auc, err := AUC(s, atRisk)
		if err != nil {
			t.Fatal(err)
		}
		return auc
	}
	bg, pn := ms.BGNBD, ms.ParetoNBD
	rows := []struct {
		name string
		auc  float64
	}{
		{"frequency: -x", score(func(c Customer) float64 { return -c.X })},
		{"BG/NBD 1 - P(alive)", score(func(c Customer) float64 { return 1 - bg.PAlive(c) })},
		{"Pareto/NBD 1 - P(alive)", score(func(c Customer) float64 { return 1 - pn.PAlive(c) })},
		{"BG/NBD P(no purchase in 39)", score(func(c Customer) float64 { return bg.ProbNoPurchase(c, 39) })},
		{"AtRisk(BG/NBD, 39)", score(func(c Customer) float64 { return AtRisk(bg, c, 39) })},
		{"AtRisk(Pareto/NBD, 39)", score(func(c Customer) float64 { return AtRisk(pn, c, 39) })},
		// The lifecycle stages look a quarter ahead: the ranking holds.
		{"AtRisk(Pareto/NBD, 13)", score(func(c Customer) float64 { return AtRisk(pn, c, 13) })},
	}
	var table strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&table, "\n  %-30s %.4f", r.name, r.auc)
	}
	t.Logf("AUC for no purchase in the 39 holdout weeks:%s", table.String())
	freq := rows[0].auc
	near(t, "AUC frequency", freq, 0.758, 1e-3)
	near(t, "AUC BG/NBD P(alive)", rows[1].auc, 0.316, 1e-3)
	near(t, "AUC Pareto/NBD P(alive)", rows[2].auc, 0.726, 1e-3)
	near(t, "AUC BG/NBD E[Y(39)]", rows[4].auc, 0.773, 1e-3)
	for _, r := range rows[4:] {
		if r.auc < 0.77 || r.auc <= freq {
			t.Errorf("%s: AUC %.4f; want >= 0.77 and above the frequency baseline %.4f", r.name, r.auc, freq)
		}
	}
}

func TestAUC(t *testing.T) {
	for _, c := range []struct {
		score []float64
		pos   []bool
		want  float64
	}{
		{[]float64{1, 2, 3, 4}, []bool{false, false, true, true}, 1},
		{[]float64{1, 2, 3, 4}, []bool{true, true, false, false}, 0},
		{[]float64{1, 1, 1, 1}, []bool{true, false, true, false}, 0.5},
		// pairs (pos, neg): (2,1) win, (2,2) tie, (3,1) win, (3,2) win = 3.5/4.
		{[]float64{1, 2, 2, 3}, []bool{false, false, true, true}, 0.875},
	} {
		got, err := AUC(c.score, c.pos)
		if err != nil || got != c.want {
			t.Errorf("AUC(%v, %v) = %v, %v; want %v", c.score, c.pos, got, err, c.want)
		}
	}
	if _, err := AUC([]float64{1, 2}, []bool{true, true}); err == nil {
		t.Error("AUC with no negative case: no error")
	}
}

func TestHyp2f1(t *testing.T) {
	for _, z := range []float64{-3, -0.7, -0.2, 0.1, 0.5, 0.89, 0.91, 0.99, 0.999999} {
		// 2F1(1,1;2;z) = -ln(1-z)/z; c-a-b = 0 takes the series path near 1.
		tol := 1e-12
		if z > 0.999 {
			tol = 1e-10 // extrapolated across the poles of the connection formula
		}
		nearRel(t, "2F1(1,1;2;"+strconv.FormatFloat(z, 'g', -1, 64)+")", hyp2f1(1, 1, 2, z), -math.Log1p(-z)/z, tol)
		nearRel(t, "2F1(1,1.00000001;2;z)", hyp2f1(1, 1.00000001, 2, z), -math.Log1p(-z)/z, 1e-6)
		// 2F1(a,b;b;z) = (1-z)^-a, with non-integer c-a-b: connection formula.
		nearRel(t, "2F1(0.3,1.7;1.7;z)", hyp2f1(0.3, 1.7, 1.7, z), math.Pow(1-z, -0.3), 1e-11)
		// 2F1(1/2,1/2;3/2;z²) = asin(z)/z.
		if z > 0 {
			s := math.Sqrt(z)
			nearRel(t, "2F1(.5,.5;1.5;z)", hyp2f1(0.5, 0.5, 1.5, z), math.Asin(s)/s, 1e-12)
		}
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	good := Customer{ID: "a", X: 2, TX: 3, T: 5, MX: 10}
	for _, c := range []struct {
		name  string
		c     Customer
		field string
	}{
		{"negative x", Customer{ID: "c1", X: -1, T: 5}, "x"},
		{"NaN T", Customer{ID: "c2", X: 0, T: math.NaN()}, "T"},
		{"Inf t_x", Customer{ID: "c3", X: 1, TX: math.Inf(1), T: 5}, "t_x"},
		{"t_x > T", Customer{ID: "c4", X: 1, TX: 6, T: 5}, "t_x"},
		{"x = 0, t_x > 0", Customer{ID: "c5", X: 0, TX: 1, T: 5}, "t_x"},
		{"negative m_x", Customer{ID: "c6", X: 1, TX: 1, T: 5, MX: -3}, "m_x"},
		{"fractional x", Customer{ID: "c7", X: 1.5, TX: 1, T: 5}, "x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs := []Customer{good, c.c}
			for name, fit := range map[string]func() error{
				"Fit":           func() error { _, err := Fit(ctx, cs, Options{}); return err },
				"FitBGNBD":      func() error { _, err := FitBGNBD(ctx, cs, Options{}); return err },
				"FitParetoNBD":  func() error { _, err := FitParetoNBD(ctx, cs, Options{}); return err },
				"FitGammaGamma": func() error { _, err := FitGammaGamma(ctx, cs, Options{}); return err },
			} {
				err := fit()
				var ie *InputError
				if !errors.As(err, &ie) || ie.Customer != strconv.Quote(c.c.ID) || ie.Field != c.field {
					t.Errorf("%s: error %v; want an InputError for customer %q, field %s", name, err, c.c.ID, c.field)
				}
			}
		})
	}
	if _, err := Fit(ctx, nil, Options{}); err == nil {
		t.Error("Fit with no customers: no error")
	}
	_, err := Summarize([]Transaction{{Customer: "z", Date: calEnd, Amount: math.NaN()}}, Period{End: calEnd})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "amount" {
		t.Errorf("Summarize with a NaN amount: %v", err)
	}
}

func TestFitCancel(t *testing.T) {
	cs := cdnowCustomers(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Fit(ctx, cs, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Fit on a cancelled context: %v, want context.Canceled", err)
	}

	// Cancelled part way, from the progress report.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var last Progress
	_, err := Fit(ctx, cs, Options{Progress: func(p Progress) { last = p; cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fit cancelled during BG/NBD: %v, want context.Canceled", err)
	}
	if last.Model != "BG/NBD" || last.Evaluations == 0 || last.LogLikelihood >= 0 {
		t.Errorf("last progress %+v; want one from part way through BG/NBD", last)
	}
}
