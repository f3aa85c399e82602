package clv

import (
	"fmt"
	"math"
	"sort"
)

// Purchases is a model of how many purchases customers will make: BG/NBD or
// Pareto/NBD.
type Purchases interface {
	// ExpectedPurchases is the expected number of purchases by c in the t
	// weeks after the calibration end.
	ExpectedPurchases(c Customer, t float64) float64
	// PAlive is the probability that c is still a customer at the end of
	// calibration.
	PAlive(c Customer) float64
}

// Horizon says how far ahead to value customers and how to discount.
type Horizon struct {
	// Weeks is how far ahead to look.
	Weeks float64
	// Step is the length of a discounting period in weeks; 0 means a month
	// of 30 days (30/7 weeks).
	Step float64
	// Discount is the discount rate per Step (0.01 is 1% a period).
	Discount float64
}

// Value is c's predicted lifetime value over h, discounted: with steps
// t_k = k·Step (the last one cut at Weeks),
//
//	Σ_k E[M] · (E[Y(t_k)] - E[Y(t_{k-1})]) / (1 + Discount)^(t_k/Step)
//
// where E[Y(t)] is purchases' conditional expectation and E[M] spend's
// expected amount per purchase for c. Purchases in a period are discounted
// as if made at its end. This is the discounted sum lifetimes computes
// (customer_lifetime_value), with the step and its length made explicit.
// purchases and spend must not be nil.
func Value(purchases Purchases, spend *GammaGamma, c Customer, h Horizon) float64 {
	step := h.Step
	if step <= 0 {
		step = 30.0 / 7
	}
	m := spend.ExpectedSpend(c)
	var v, prev float64
	for t := 0.0; t < h.Weeks; {
		t = math.Min(t+step, h.Weeks)
		y := purchases.ExpectedPurchases(c, t)
		v += m * (y - prev) / math.Pow(1+h.Discount, t/step)
		prev = y
	}
	return v
}

// AtRisk scores how likely c is to make no purchase in the next weeks
// weeks, from 0 (sure to buy) towards 1: exp(-E[Y(weeks)]), with E[Y] the
// model's conditional expected purchases. It ranks customers exactly as
// the negative of the expected purchases does. Measured on CDNOW (see the
// package documentation) this ranks the at-risk better than P(alive), which
// under BG/NBD says every customer without a repeat purchase is surely alive,
// and better than the purchase count alone.
func AtRisk(purchases Purchases, c Customer, weeks float64) float64 {
	return math.Exp(-purchases.ExpectedPurchases(c, weeks))
}

// AUC is the area under the ROC curve of score for telling positive from
// negative cases: the probability that a random positive case scores above
// a random negative one, ties counting one half (the Mann–Whitney U
// statistic divided by the number of pairs).
func AUC(score []float64, positive []bool) (float64, error) {
	if len(score) != len(positive) {
		return 0, fmt.Errorf("auc: %d scores for %d labels", len(score), len(positive))
	}
	idx := make([]int, len(score))
	for i := range idx {
		if math.IsNaN(score[i]) {
			return 0, fmt.Errorf("auc: score %d is NaN", i)
		}
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	var rankSum, npos float64
	for lo := 0; lo < len(idx); {
		hi := lo
		for hi < len(idx) && score[idx[hi]] == score[idx[lo]] {
			hi++
		}
		rank := float64(lo+hi+1) / 2 // mean of the 1-based ranks lo+1..hi
		for _, i := range idx[lo:hi] {
			if positive[i] {
				rankSum += rank
				npos++
			}
		}
		lo = hi
	}
	nneg := float64(len(score)) - npos
	if npos == 0 || nneg == 0 {
		return 0, fmt.Errorf("auc: need positive and negative cases, have %v and %v", npos, nneg)
	}
	return (rankSum - npos*(npos+1)/2) / (npos * nneg), nil
}
