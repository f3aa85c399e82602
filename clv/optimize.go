package clv

import (
	"context"
	"math"
	"sort"
)

// Progress reports how a fit is going.
type Progress struct {
	// Model is "BG/NBD", "Pareto/NBD" or "Gamma-Gamma".
	Model string
	// Evaluations counts the log-likelihood evaluations so far.
	Evaluations int
	// LogLikelihood is the best log-likelihood so far.
	LogLikelihood float64
	// Done is set on the last report of a model's fit.
	Done bool
}

// Options control fitting.
type Options struct {
	// Progress, if set, is called from the fitting goroutine every few
	// hundred evaluations and once when each model is done.
	Progress func(Progress)
	// MaxEvaluations caps the log-likelihood evaluations per model; 0 means
	// 20,000.
	MaxEvaluations int
}

// minimizer minimises a negative log-likelihood over log-parameters.
type minimizer struct {
	ctx   context.Context
	model string
	opts  Options
	f     func(theta []float64) float64
	evals int
	best  float64
}

func (m *minimizer) eval(theta []float64) float64 {
	m.evals++
	for _, v := range theta {
		// exp(±30) spans 1e-13..1e13: anything outside is not a sensible fit.
		if !(math.Abs(v) <= 30) {
			return math.Inf(1)
		}
	}
	v := m.f(theta)
	if math.IsNaN(v) || math.IsInf(v, -1) {
		// An infinite likelihood is an overflow, not a better fit.
		v = math.Inf(1)
	}
	if v < m.best {
		m.best = v
	}
	if m.opts.Progress != nil && m.evals%500 == 0 {
		m.opts.Progress(Progress{Model: m.model, Evaluations: m.evals, LogLikelihood: -m.best})
	}
	return v
}

func (m *minimizer) maxEvals() int {
	if m.opts.MaxEvaluations > 0 {
		return m.opts.MaxEvaluations
	}
	return 20000
}

// minimize runs Nelder–Mead from theta0, restarting from the best vertex
// until a restart no longer improves, then polishes with Newton steps on a
// finite-difference Hessian. It returns the minimiser and its value.
func (m *minimizer) minimize(theta0 []float64) ([]float64, float64, error) {
	m.best = math.Inf(1)
	x := append([]float64(nil), theta0...)
	fx := m.eval(x)
	for restart := 0; restart < 20; restart++ {
		nx, nf, err := m.nelderMead(x, 0.5)
		if err != nil {
			return nil, 0, err
		}
		improved := fx - nf
		x, fx = nx, nf
		if restart > 0 && improved < 1e-9 {
			break
		}
		if m.evals >= m.maxEvals() {
			break
		}
	}
	for i := 0; i < 20; i++ {
		if err := m.ctx.Err(); err != nil {
			return nil, 0, err
		}
		nx, nf, ok := m.newton(x, fx)
		if !ok {
			break
		}
		done := fx-nf < 1e-12
		x, fx = nx, nf
		if done {
			break
		}
	}
	if m.opts.Progress != nil {
		m.opts.Progress(Progress{Model: m.model, Evaluations: m.evals, LogLikelihood: -fx, Done: true})
	}
	return x, fx, nil
}

func (m *minimizer) nelderMead(x0 []float64, step float64) ([]float64, float64, error) {
	n := len(x0)
	type vertex struct {
		x []float64
		f float64
	}
	s := make([]vertex, n+1)
	for i := range s {
		x := append([]float64(nil), x0...)
		if i > 0 {
			x[i-1] += step
		}
		s[i] = vertex{x, m.eval(x)}
	}
	point := func(c []float64, t float64, w []float64) []float64 {
		// c + t*(c - w)
		p := make([]float64, n)
		for j := range p {
			p[j] = c[j] + t*(c[j]-w[j])
		}
		return p
	}
	centroid := make([]float64, n)
	for iter := 0; m.evals < m.maxEvals(); iter++ {
		if iter%16 == 0 {
			if err := m.ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		sort.Slice(s, func(i, j int) bool { return s[i].f < s[j].f })
		size := 0.0
		for _, v := range s[1:] {
			for j := range v.x {
				size = math.Max(size, math.Abs(v.x[j]-s[0].x[j]))
			}
		}
		if s[n].f-s[0].f <= 1e-11*(1+math.Abs(s[0].f)) && size < 1e-7 {
			break
		}
		for j := range centroid {
			centroid[j] = 0
			for _, v := range s[:n] {
				centroid[j] += v.x[j] / float64(n)
			}
		}
		worst := s[n]
		xr := point(centroid, 1, worst.x)
		fr := m.eval(xr)
		switch {
		case fr < s[0].f:
			xe := point(centroid, 2, worst.x)
			if fe := m.eval(xe); fe < fr {
				s[n] = vertex{xe, fe}
			} else {
				s[n] = vertex{xr, fr}
			}
		case fr < s[n-1].f:
			s[n] = vertex{xr, fr}
		default:
			t := 0.5
			if fr >= worst.f {
				t = -0.5
			}
			xc := point(centroid, t, worst.x)
			fc := m.eval(xc)
			if fc < math.Min(fr, worst.f) {
				s[n] = vertex{xc, fc}
				continue
			}
			for i := 1; i <= n; i++ {
				for j := range s[i].x {
					s[i].x[j] = s[0].x[j] + 0.5*(s[i].x[j]-s[0].x[j])
				}
				s[i].f = m.eval(s[i].x)
			}
		}
	}
	sort.Slice(s, func(i, j int) bool { return s[i].f < s[j].f })
	return s[0].x, s[0].f, nil
}

// newton takes one damped Newton step from x using central differences. It
// reports false when no step improves on fx.
func (m *minimizer) newton(x []float64, fx float64) ([]float64, float64, bool) {
	n := len(x)
	const h = 1e-3
	at := func(d map[int]float64) float64 {
		p := append([]float64(nil), x...)
		for j, v := range d {
			p[j] += v
		}
		return m.eval(p)
	}
	g := make([]float64, n)
	hess := make([][]float64, n)
	fp := make([]float64, n)
	fm := make([]float64, n)
	for i := range n {
		hess[i] = make([]float64, n)
		fp[i] = at(map[int]float64{i: h})
		fm[i] = at(map[int]float64{i: -h})
		g[i] = (fp[i] - fm[i]) / (2 * h)
		hess[i][i] = (fp[i] - 2*fx + fm[i]) / (h * h)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			v := (at(map[int]float64{i: h, j: h}) - at(map[int]float64{i: h, j: -h}) -
				at(map[int]float64{i: -h, j: h}) + at(map[int]float64{i: -h, j: -h})) / (4 * h * h)
			hess[i][j], hess[j][i] = v, v
		}
	}
	d, ok := solve(hess, g)
	if !ok {
		return nil, 0, false
	}
	for t := 1.0; t > 1e-4; t /= 2 {
		p := make([]float64, n)
		for j := range p {
			p[j] = x[j] - t*d[j]
		}
		if fv := m.eval(p); fv < fx {
			return p, fv, true
		}
	}
	return nil, 0, false
}

// solve solves a*x = b by Gaussian elimination with partial pivoting.
func solve(a [][]float64, b []float64) ([]float64, bool) {
	n := len(b)
	m := make([][]float64, n)
	for i := range m {
		m[i] = append(append([]float64(nil), a[i]...), b[i])
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if m[p][c] == 0 || math.IsNaN(m[p][c]) {
			return nil, false
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := m[r][n]
		for k := r + 1; k < n; k++ {
			s -= m[r][k] * x[k]
		}
		x[r] = s / m[r][r]
	}
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
	}
	return x, true
}
