package clv

import (
	"context"
	"fmt"
	"math"
)

// ParetoNBD is the Pareto/NBD model of Schmittlein, Morrison & Colombo
// (1987) in the notation of Fader & Hardie: while alive a customer buys at a
// Poisson rate λ ~ Gamma(R, Alpha) and drops out at an exponential rate
// μ ~ Gamma(S, Beta), at any time.
type ParetoNBD struct {
	R, Alpha, S, Beta float64
	// LL is the log-likelihood at the fit; 0 for hand-set parameters.
	LL float64
}

// FitParetoNBD fits the Pareto/NBD model to cs by maximum likelihood.
func FitParetoNBD(ctx context.Context, cs []Customer, opts Options) (*ParetoNBD, error) {
	if err := validateAll(cs); err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("fit Pareto/NBD: no customers")
	}
	return fitParetoNBD(ctx, groupCounts(cs), opts)
}

func fitParetoNBD(ctx context.Context, rows []row, opts Options) (*ParetoNBD, error) {
	pre := newCountTerms(rows)
	m := &minimizer{ctx: ctx, model: "Pareto/NBD", opts: opts, f: func(th []float64) float64 {
		return -paretoLL(rows, pre, math.Exp(th[0]), math.Exp(th[1]), math.Exp(th[2]), math.Exp(th[3]))
	}}
	th, f, err := m.minimize([]float64{0, 0, 0, 0})
	if err != nil {
		return nil, fmt.Errorf("fit Pareto/NBD: %w", err)
	}
	return &ParetoNBD{R: math.Exp(th[0]), Alpha: math.Exp(th[1]), S: math.Exp(th[2]), Beta: math.Exp(th[3]), LL: -f}, nil
}

// logA0 is ln A₀ of Fader & Hardie's note "A Note on Deriving the
// Pareto/NBD Model and Related Expressions" (2005): with α >= β
//
//	A₀ = ₂F₁(r+s+x, s+1; r+s+x+1; (α-β)/(α+t_x)) / (α+t_x)^(r+s+x)
//	   - ₂F₁(r+s+x, s+1; r+s+x+1; (α-β)/(α+T))   / (α+T)^(r+s+x)
//
// and with β > α the same with (r+x, β) in place of (s+1, α). Both
// branches keep the argument of ₂F₁ in [0, 1). It is -Inf when t_x = T.
func logA0(r, alpha, s, beta, x, tx, t float64) float64 {
	a1 := r + s + x
	b1, big := s+1, alpha
	if beta > alpha {
		b1, big = r+x, beta
	}
	d := math.Abs(alpha - beta)
	l1 := math.Log(hyp2f1(a1, b1, a1+1, d/(big+tx))) - a1*math.Log(big+tx)
	l2 := math.Log(hyp2f1(a1, b1, a1+1, d/(big+t))) - a1*math.Log(big+t)
	if math.IsNaN(l1) || math.IsInf(l1, 0) || math.IsNaN(l2) {
		return math.NaN() // 2F1 overflowed or did not converge
	}
	if l2 >= l1 {
		return math.Inf(-1)
	}
	return logSubExp(l1, l2)
}

func paretoLL(rows []row, ct countTerms, r, alpha, s, beta float64) float64 {
	lgr := lgamma(r)
	c := make([]float64, len(ct.xs))
	for j, x := range ct.xs {
		c[j] = lgamma(r+x) - lgr + r*math.Log(alpha) + s*math.Log(beta)
	}
	return sumRows(len(rows), func(lo, hi int) float64 {
		var ll float64
		for i := lo; i < hi; i++ {
			rw := rows[i]
			l := -(r+rw.x)*math.Log(alpha+rw.t) - s*math.Log(beta+rw.t)
			if rw.tx < rw.t {
				l = logAddExp(l, math.Log(s/(r+s+rw.x))+logA0(r, alpha, s, beta, rw.x, rw.tx, rw.t))
			}
			ll += rw.w * (c[ct.idx[i]] + l)
		}
		return ll
	})
}

// LogLikelihood is the log-likelihood of cs under m.
func (m *ParetoNBD) LogLikelihood(cs []Customer) (float64, error) {
	if err := validateAll(cs); err != nil {
		return 0, err
	}
	rows := groupCounts(cs)
	return paretoLL(rows, newCountTerms(rows), m.R, m.Alpha, m.S, m.Beta), nil
}

// PAlive is the probability that c is still a customer at the end of
// calibration: 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A₀).
func (m *ParetoNBD) PAlive(c Customer) float64 {
	if c.TX >= c.T {
		return 1
	}
	l := math.Log(m.S/(m.R+m.S+c.X)) + (m.R+c.X)*math.Log(m.Alpha+c.T) + m.S*math.Log(m.Beta+c.T) +
		logA0(m.R, m.Alpha, m.S, m.Beta, c.X, c.TX, c.T)
	return 1 / (1 + math.Exp(l))
}

// ExpectedPurchases is the expected number of purchases in the t weeks
// after the calibration end given c's history:
//
//	(r+x)(β+T) / ((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)] · PAlive
//
// (with the limit (r+x)(β+T)/(α+T) · ln((β+T+t)/(β+T)) at s = 1).
func (m *ParetoNBD) ExpectedPurchases(c Customer, t float64) float64 {
	if t <= 0 {
		return 0
	}
	k := (m.R + c.X) * (m.Beta + c.T) / (m.Alpha + c.T)
	return k * lifetimeFactor(m.S, m.Beta+c.T, t) * m.PAlive(c)
}

// lifetimeFactor is [1 - (b/(b+t))^(s-1)]/(s-1), or ln((b+t)/b) at s = 1.
func lifetimeFactor(s, b, t float64) float64 {
	l := math.Log((b + t) / b)
	if math.Abs(s-1) < 1e-9 {
		return l
	}
	return -math.Expm1(-(s-1)*l) / (s - 1)
}

// ExpectedX is the expected number of purchases in the first t weeks of a
// new customer: rβ/(α(s-1)) · [1 - (β/(β+t))^(s-1)].
func (m *ParetoNBD) ExpectedX(t float64) float64 {
	if t <= 0 {
		return 0
	}
	return m.R * m.Beta / m.Alpha * lifetimeFactor(m.S, m.Beta, t)
}
