package clv

import (
	"context"
	"fmt"
	"math"
)

// GammaGamma is the spend model of Fader, Hardie & Lee (2005), "RFM and CLV"
// (see also Fader & Hardie's note "The Gamma-Gamma Model of Monetary
// Value"): amounts of a customer's purchases are Gamma(P, ν) with
// ν ~ Gamma(Q, Gamma) across customers, independent of how often they buy.
type GammaGamma struct {
	P, Q, Gamma float64
	// LL is the log-likelihood at the fit; 0 for hand-set parameters.
	LL float64
}

// FitGammaGamma fits the Gamma-Gamma model by maximum likelihood to the
// customers in cs with a repeat purchase (X > 0) of positive mean amount
// MX; the others carry no information about spend.
func FitGammaGamma(ctx context.Context, cs []Customer, opts Options) (*GammaGamma, error) {
	if err := validateAll(cs); err != nil {
		return nil, err
	}
	rows := groupSpend(cs)
	if len(rows) == 0 {
		return nil, fmt.Errorf("fit Gamma-Gamma: no customer with a repeat purchase")
	}
	return fitGammaGamma(ctx, rows, opts)
}

func fitGammaGamma(ctx context.Context, rows []row, opts Options) (*GammaGamma, error) {
	m := &minimizer{ctx: ctx, model: "Gamma-Gamma", opts: opts, f: func(th []float64) float64 {
		return -gammaGammaLL(rows, math.Exp(th[0]), math.Exp(th[1]), math.Exp(th[2]))
	}}
	th, f, err := m.minimize([]float64{0, 0, 0})
	if err != nil {
		return nil, fmt.Errorf("fit Gamma-Gamma: %w", err)
	}
	return &GammaGamma{P: math.Exp(th[0]), Q: math.Exp(th[1]), Gamma: math.Exp(th[2]), LL: -f}, nil
}

// gammaGammaLL sums, over customers with x repeat purchases of mean m_x,
// the log density of m_x:
//
//	ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln γ + (px-1) ln m_x + px ln x - (px+q) ln(γ + x m_x)
func gammaGammaLL(rows []row, p, q, g float64) float64 {
	lgq, lg := lgamma(q), math.Log(g)
	var ll float64
	lastX, cx := -1.0, 0.0
	for _, rw := range rows {
		px := p * rw.x
		if rw.x != lastX {
			lastX = rw.x
			cx = lgamma(px+q) - lgamma(px) - lgq + q*lg + px*math.Log(rw.x)
		}
		ll += rw.w * (cx + (px-1)*math.Log(rw.mx) - (px+q)*math.Log(g+rw.x*rw.mx))
	}
	return ll
}

// LogLikelihood is the log-likelihood under m of the customers in cs with a
// repeat purchase of positive mean amount.
func (m *GammaGamma) LogLikelihood(cs []Customer) (float64, error) {
	if err := validateAll(cs); err != nil {
		return 0, err
	}
	return gammaGammaLL(groupSpend(cs), m.P, m.Q, m.Gamma), nil
}

// ExpectedSpend is the expected amount of c's future purchases given their
// history: p(γ + x m_x)/(px + q - 1), a weighted mean of the population mean
// pγ/(q-1) and c's own mean m_x. It is +Inf when q <= 1 and x = 0, where the
// population mean does not exist.
func (m *GammaGamma) ExpectedSpend(c Customer) float64 {
	if c.X == 0 || c.MX <= 0 {
		if m.Q <= 1 {
			return math.Inf(1)
		}
		return m.P * m.Gamma / (m.Q - 1)
	}
	return m.P * (m.Gamma + c.X*c.MX) / (m.P*c.X + m.Q - 1)
}
