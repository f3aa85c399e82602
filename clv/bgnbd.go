package clv

import (
	"context"
	"fmt"
	"math"
)

// BGNBD is the beta-geometric/NBD model of Fader, Hardie & Lee (2005),
// "Counting Your Customers the Easy Way". While alive a customer buys at a
// Poisson rate λ ~ Gamma(R, Alpha); after each purchase they drop out with
// probability p ~ Beta(A, B).
type BGNBD struct {
	R, Alpha, A, B float64
	// LL is the log-likelihood at the fit; 0 for hand-set parameters.
	LL float64
}

// FitBGNBD fits the BG/NBD model to cs by maximum likelihood.
func FitBGNBD(ctx context.Context, cs []Customer, opts Options) (*BGNBD, error) {
	if err := validateAll(cs); err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("fit BG/NBD: no customers")
	}
	return fitBGNBD(ctx, groupCounts(cs), opts)
}

func fitBGNBD(ctx context.Context, rows []row, opts Options) (*BGNBD, error) {
	pre := newCountTerms(rows)
	m := &minimizer{ctx: ctx, model: "BG/NBD", opts: opts, f: func(th []float64) float64 {
		return -bgnbdLL(rows, pre, math.Exp(th[0]), math.Exp(th[1]), math.Exp(th[2]), math.Exp(th[3]))
	}}
	th, f, err := m.minimize([]float64{0, 0, 0, 0})
	if err != nil {
		return nil, fmt.Errorf("fit BG/NBD: %w", err)
	}
	return &BGNBD{R: math.Exp(th[0]), Alpha: math.Exp(th[1]), A: math.Exp(th[2]), B: math.Exp(th[3]), LL: -f}, nil
}

// countTerms caches, per distinct x, the parts of a log-likelihood that
// depend on x and the parameters but not on t_x and T.
type countTerms struct {
	xs  []float64 // distinct x values
	idx []int     // row -> index in xs
}

func newCountTerms(rows []row) countTerms {
	at := make(map[float64]int)
	var ct countTerms
	ct.idx = make([]int, len(rows))
	for i, r := range rows {
		j, ok := at[r.x]
		if !ok {
			j = len(ct.xs)
			at[r.x] = j
			ct.xs = append(ct.xs, r.x)
		}
		ct.idx[i] = j
	}
	return ct
}

func bgnbdLL(rows []row, ct countTerms, r, alpha, a, b float64) float64 {
	// Per x: ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x) - ln B(a, b), and
	// for x > 0 ln(a/(b+x-1)).
	lgr, lgab, lgb := lgamma(r), lgamma(a+b), lgamma(b)
	c1 := make([]float64, len(ct.xs))
	c2 := make([]float64, len(ct.xs))
	for j, x := range ct.xs {
		c1[j] = lgamma(r+x) - lgr + r*math.Log(alpha) + lgab + lgamma(b+x) - lgb - lgamma(a+b+x)
		if x > 0 {
			c2[j] = math.Log(a / (b + x - 1))
		}
	}
	return sumRows(len(rows), func(lo, hi int) float64 {
		var ll float64
		for i := lo; i < hi; i++ {
			rw, j := rows[i], ct.idx[i]
			l := -(r + rw.x) * math.Log(alpha+rw.t)
			if rw.x > 0 {
				l = logAddExp(l, c2[j]-(r+rw.x)*math.Log(alpha+rw.tx))
			}
			ll += rw.w * (c1[j] + l)
		}
		return ll
	})
}

// LogLikelihood is the log-likelihood of cs under m.
func (m *BGNBD) LogLikelihood(cs []Customer) (float64, error) {
	if err := validateAll(cs); err != nil {
		return 0, err
	}
	rows := groupCounts(cs)
	return bgnbdLL(rows, newCountTerms(rows), m.R, m.Alpha, m.A, m.B), nil
}

// PAlive is the probability that c is still a customer at the end of
// calibration: 1 / (1 + [x>0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x)). It is 1 for
// every customer without a repeat purchase, since in this model customers
// drop out only right after a purchase.
func (m *BGNBD) PAlive(c Customer) float64 {
	if c.X == 0 {
		return 1
	}
	return 1 / (1 + math.Exp(math.Log(m.A/(m.B+c.X-1))+(m.R+c.X)*math.Log((m.Alpha+c.T)/(m.Alpha+c.TX))))
}

// ExpectedPurchases is the expected number of purchases in the t weeks
// after the calibration end given c's history (FHL 2005, eq. 10):
//
//	(a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x-1; t/(α+T+t))] · PAlive
func (m *BGNBD) ExpectedPurchases(c Customer, t float64) float64 {
	if t <= 0 {
		return 0
	}
	a := nudge(m.A)
	h := hyp2f1(m.R+c.X, m.B+c.X, a+m.B+c.X-1, t/(m.Alpha+c.T+t))
	q := math.Exp((m.R + c.X) * math.Log((m.Alpha+c.T)/(m.Alpha+c.T+t)))
	return (a + m.B + c.X - 1) / (a - 1) * (1 - q*h) * m.PAlive(c)
}

// ProbNoPurchase is the probability that c makes no purchase in the t
// weeks after the calibration end: either they have dropped out, or they
// are alive and their Poisson process stays silent, whose probability under
// the posterior Gamma(r+x, α+T) for λ is ((α+T)/(α+T+t))^(r+x).
func (m *BGNBD) ProbNoPurchase(c Customer, t float64) float64 {
	pa := m.PAlive(c)
	return 1 - pa + pa*math.Exp((m.R+c.X)*math.Log((m.Alpha+c.T)/(m.Alpha+c.T+t)))
}

// ExpectedX is the expected number of purchases in the first t weeks of a
// new customer (FHL 2005, eq. 9):
// (a+b-1)/(a-1) · [1 - (α/(α+t))^r ₂F₁(r, b; a+b-1; t/(α+t))].
func (m *BGNBD) ExpectedX(t float64) float64 {
	if t <= 0 {
		return 0
	}
	a := nudge(m.A)
	h := hyp2f1(m.R, m.B, a+m.B-1, t/(m.Alpha+t))
	return (a + m.B - 1) / (a - 1) * (1 - math.Pow(m.Alpha/(m.Alpha+t), m.R)*h)
}

// ProbX is P(X(t) = x), the probability that a new customer makes x
// purchases in their first t weeks (FHL 2005, eq. 8).
func (m *BGNBD) ProbX(t float64, x int) float64 {
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	xf := float64(x)
	lbeta := func(p, q float64) float64 { return lgamma(p) + lgamma(q) - lgamma(p+q) }
	lp := math.Log(alpha / (alpha + t))
	lq := math.Log(t / (alpha + t))
	first := math.Exp(lbeta(a, b+xf) - lbeta(a, b) + lgamma(r+xf) - lgamma(r) - lgamma(xf+1) + r*lp + xf*lq)
	if x == 0 {
		return first
	}
	// Σ_{j<x} Γ(r+j)/(Γ(r) j!) (t/(α+t))^j, built term by term.
	var sum float64
	term := math.Exp(r * lp)
	for j := 0; j < x; j++ {
		sum += term
		term *= (r + float64(j)) / float64(j+1) * (t / (alpha + t))
	}
	return first + math.Exp(lbeta(a+1, b+xf-1)-lbeta(a, b))*(1-sum)
}

// nudge moves a parameter off 1, where (a-1) cancels in a 0/0.
func nudge(a float64) float64 {
	if math.Abs(a-1) < 1e-8 {
		return 1 + 1e-8
	}
	return a
}
