package clv

import "math"

// hyp2f1 is the Gauss hypergeometric function 2F1(a, b; c; z) for real
// z < 1 and c not a non-positive integer. Inside |z| < 0.9 it sums the power
// series; for z < 0 it first applies Pfaff's transformation
// 2F1(a,b;c;z) = (1-z)^-a 2F1(a,c-b;c;z/(z-1)); near z = 1 it uses the
// connection formula in 1-z (Abramowitz & Stegun 15.3.6). Where c-a-b is
// (nearly) an integer the two terms of that formula have cancelling poles:
// there it sums the series up to z = 0.999 (it converges for z < 1, only
// more slowly) and beyond extrapolates the formula from c±δ.
func hyp2f1(a, b, c, z float64) float64 {
	switch {
	case z == 0 || a == 0 || b == 0:
		return 1
	case !(z < 1):
		return math.NaN()
	case z < 0:
		if z >= -0.5 {
			return hypSeries(a, b, c, z)
		}
		return math.Pow(1-z, -a) * hyp2f1(a, c-b, c, z/(z-1))
	case z < 0.9:
		return hypSeries(a, b, c, z)
	}
	d := c - a - b
	if math.Abs(d-math.Round(d)) >= 1e-5 {
		return hypConnect(a, b, c, z)
	}
	if z < 0.999 {
		return hypSeries(a, b, c, z)
	}
	// c-a-b is (nearly) an integer, where the connection formula's two
	// terms have poles that cancel, and z is too near 1 for the series:
	// evaluate at c±δ and c±2δ, away from the poles, and extrapolate to c
	// (Richardson; the error is O(δ⁴)).
	const delta = 1e-4
	f1 := (hypConnect(a, b, c+delta, z) + hypConnect(a, b, c-delta, z)) / 2
	f2 := (hypConnect(a, b, c+2*delta, z) + hypConnect(a, b, c-2*delta, z)) / 2
	return (4*f1 - f2) / 3
}

// hypConnect evaluates 2F1 near z = 1 by the connection formula, for c-a-b
// not an integer.
func hypConnect(a, b, c, z float64) float64 {
	d := c - a - b
	w := 1 - z
	t1 := gammaRatio([]float64{c, d}, []float64{c - a, c - b})
	t2 := gammaRatio([]float64{c, -d}, []float64{a, b})
	var s1, s2 float64
	if t1 != 0 {
		s1 = t1 * hypSeries(a, b, 1-d, w)
	}
	if t2 != 0 {
		s2 = t2 * math.Pow(w, d) * hypSeries(c-a, c-b, d+1, w)
	}
	return s1 + s2
}

// gammaRatio is Γ(num[0])Γ(num[1])… / (Γ(den[0])Γ(den[1])…), computed in
// logs; a pole in the denominator gives 0.
func gammaRatio(num, den []float64) float64 {
	var l float64
	sign := 1
	for _, v := range num {
		lg, s := math.Lgamma(v)
		l += lg
		sign *= s
	}
	for _, v := range den {
		if v <= 0 && v == math.Trunc(v) {
			return 0
		}
		lg, s := math.Lgamma(v)
		l -= lg
		sign *= s
	}
	return float64(sign) * math.Exp(l)
}

// hypSeries sums the power series of 2F1 until the remaining terms, bounded
// by a geometric tail, are below double precision. NaN means it did not
// converge.
func hypSeries(a, b, c, z float64) float64 {
	const maxTerms = 2_000_000
	sum, term := 1.0, 1.0
	az := math.Abs(z)
	ratio := a * b / c * z // term n+1 = term n * ratio
	for n := 0.0; n < maxTerms; n++ {
		term *= ratio
		sum += term
		if term == 0 {
			return sum
		}
		ratio = (a + n + 1) * (b + n + 1) / ((c + n + 1) * (n + 2)) * z
		// Once the ratio of successive terms is below 1 and tending to
		// |z|, the tail is at most term*q/(1-q) with q the larger of both.
		if q := max(math.Abs(ratio), az); q < 1 && math.Abs(term)*q <= 1e-16*(1-q)*math.Abs(sum) {
			return sum
		}
	}
	return math.NaN()
}

// logAddExp is log(exp(a) + exp(b)) without overflow.
func logAddExp(a, b float64) float64 {
	if math.IsInf(a, -1) {
		return b
	}
	if math.IsInf(b, -1) {
		return a
	}
	if a < b {
		a, b = b, a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// logSubExp is log(exp(a) - exp(b)) for a >= b.
func logSubExp(a, b float64) float64 {
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(-math.Exp(b-a))
}

// lgamma is log|Γ(x)|.
func lgamma(x float64) float64 {
	l, _ := math.Lgamma(x)
	return l
}
