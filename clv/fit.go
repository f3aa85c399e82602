package clv

import (
	"context"
	"fmt"
)

// Models holds the three models fitted to one set of customers.
type Models struct {
	// BGNBD and ParetoNBD model how many purchases customers make.
	BGNBD     *BGNBD
	ParetoNBD *ParetoNBD
	// GammaGamma models how much they spend per purchase; nil when no
	// customer has a repeat purchase with a positive amount.
	GammaGamma *GammaGamma
}

// Fit validates cs and fits BG/NBD, Pareto/NBD and, when some customer has
// a repeat purchase with a positive amount, Gamma-Gamma (else GammaGamma is
// nil). It stops early with ctx's error when ctx is done, and reports
// through opts.Progress.
func Fit(ctx context.Context, cs []Customer, opts Options) (*Models, error) {
	if err := validateAll(cs); err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("fit: no customers")
	}
	rows := groupCounts(cs)
	var ms Models
	var err error
	if ms.BGNBD, err = fitBGNBD(ctx, rows, opts); err != nil {
		return nil, err
	}
	if ms.ParetoNBD, err = fitParetoNBD(ctx, rows, opts); err != nil {
		return nil, err
	}
	if spend := groupSpend(cs); len(spend) > 0 {
		if ms.GammaGamma, err = fitGammaGamma(ctx, spend, opts); err != nil {
			return nil, err
		}
	}
	return &ms, nil
}
