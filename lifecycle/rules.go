package lifecycle

import (
	"fmt"
	"math"
	"time"

	"github.com/kithhq/kith"
)

// Rules decide stages, tiers and touch. The zero value of a field means
// its default; DefaultRules lists them.
type Rules struct {
	// NewDays: a customer whose only purchase day is this recent is new.
	NewDays int `json:"new_days"`
	// LapsedDays: no purchase for this long is lapsed.
	LapsedDays int `json:"lapsed_days"`
	// AtRiskScore: an at-risk score at or above it is at risk (when a
	// model is fitted).
	AtRiskScore float64 `json:"at_risk_score"`
	// AtRiskDays: without a fitted model, no purchase for this long is at
	// risk.
	AtRiskDays int `json:"at_risk_days"`
	// HorizonWeeks is how far ahead the at-risk score and the expected
	// purchases look.
	HorizonWeeks float64 `json:"horizon_weeks"`
	// WonBackDays: a customer who bought again after lapsing stays won
	// back this long, unless at risk again.
	WonBackDays int `json:"won_back_days"`
	// ValueWeeks is the lifetime value's horizon; MonthlyDiscount its
	// discount rate per 30 days.
	ValueWeeks      float64 `json:"value_weeks"`
	MonthlyDiscount float64 `json:"monthly_discount"`
	// HighShare and LowShare split buyers by predicted lifetime value:
	// the top HighShare are high value, the bottom LowShare low, the rest
	// medium. HighValue and LowValue, when set, are fixed thresholds
	// instead (in the purchases' currency).
	HighShare float64 `json:"high_share"`
	LowShare  float64 `json:"low_share"`
	HighValue float64 `json:"high_value"`
	LowValue  float64 `json:"low_value"`
	// MinCustomers is how many buyers, MinRepeaters of them with a repeat
	// purchase, a fit needs; with fewer the rules fall back on recency.
	MinCustomers int `json:"min_customers"`
	MinRepeaters int `json:"min_repeaters"`
}

// DefaultRules: new for 30 days, lapsed after a year without a purchase, at
// risk at a score of 0.8 (less than 0.22 purchases expected in the next 13
// weeks) or, without a model, after 120 days; won back for 90 days; value
// over 52 weeks at 1% a month; the top 20% of buyers high value, the bottom
// 50% low; a fit needs 100 buyers, 20 with a repeat purchase.
func DefaultRules() Rules {
	return Rules{NewDays: 30, LapsedDays: 365, AtRiskScore: 0.8, AtRiskDays: 120, HorizonWeeks: 13, WonBackDays: 90,
		ValueWeeks: 52, MonthlyDiscount: 0.01, HighShare: 0.2, LowShare: 0.5, MinCustomers: 100, MinRepeaters: 20}
}

// withDefaults fills zero fields from DefaultRules.
func (r Rules) withDefaults() Rules {
	d := DefaultRules()
	fill := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	fillF := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&r.NewDays, d.NewDays)
	fill(&r.LapsedDays, d.LapsedDays)
	fill(&r.AtRiskDays, d.AtRiskDays)
	fill(&r.WonBackDays, d.WonBackDays)
	fill(&r.MinCustomers, d.MinCustomers)
	fill(&r.MinRepeaters, d.MinRepeaters)
	fillF(&r.AtRiskScore, d.AtRiskScore)
	fillF(&r.HorizonWeeks, d.HorizonWeeks)
	fillF(&r.ValueWeeks, d.ValueWeeks)
	fillF(&r.MonthlyDiscount, d.MonthlyDiscount)
	fillF(&r.HighShare, d.HighShare)
	fillF(&r.LowShare, d.LowShare)
	return r
}

// Validate says what is wrong with r, field by field.
func (r Rules) Validate() error {
	r = r.withDefaults()
	switch {
	case r.NewDays < 0 || r.LapsedDays < 0 || r.AtRiskDays < 0 || r.WonBackDays < 0:
		return kith.Invalid("lifecycle", "day counts cannot be negative")
	case r.AtRiskDays >= r.LapsedDays:
		return kith.Invalid("lifecycle.at_risk_days", "%d days must be fewer than lapsed_days (%d)", r.AtRiskDays, r.LapsedDays)
	case r.NewDays >= r.LapsedDays:
		return kith.Invalid("lifecycle.new_days", "%d days must be fewer than lapsed_days (%d)", r.NewDays, r.LapsedDays)
	case r.AtRiskScore <= 0 || r.AtRiskScore >= 1:
		return kith.Invalid("lifecycle.at_risk_score", "%g is not between 0 and 1", r.AtRiskScore)
	case r.HighShare <= 0 || r.LowShare <= 0 || r.HighShare+r.LowShare > 1:
		return kith.Invalid("lifecycle.high_share", "high_share %g and low_share %g must be positive and add up to at most 1", r.HighShare, r.LowShare)
	case r.HighValue < 0 || r.LowValue < 0 || r.HighValue > 0 && r.LowValue > r.HighValue:
		return kith.Invalid("lifecycle.low_value", "low_value %g must be between 0 and high_value %g", r.LowValue, r.HighValue)
	case r.HorizonWeeks < 0 || r.ValueWeeks < 0 || r.MonthlyDiscount < 0 || math.IsNaN(r.MonthlyDiscount):
		return kith.Invalid("lifecycle", "horizons and the discount rate cannot be negative")
	}
	return nil
}

// Value tiers and touch models.
const (
	TierNone   = "none" // never bought: no value to predict
	TierHigh   = "high"
	TierMedium = "medium"
	TierLow    = "low"

	TouchHigh    = "high_touch"    // a person calls
	TouchLow     = "low_touch"     // personal but light: a named agent, a handwritten note
	TouchDigital = "digital_touch" // self-service and automated messages
)

// touchFor maps a value tier to its touch model.
func touchFor(tier string) string {
	switch tier {
	case TierHigh:
		return TouchHigh
	case TierMedium:
		return TouchLow
	}
	return TouchDigital
}

// days is the number of whole days from a to b.
func days(a, b time.Time) int { return int(b.Sub(a).Hours() / 24) }

// stage decides a person's stage now from their purchases, their current
// stage and their at-risk score (NaN without a model).
func (r Rules) stage(cur kith.Lifecycle, h history, score float64, now time.Time) (string, string) {
	if h.days == 0 {
		return kith.StageProspect, "no purchase"
	}
	since := days(h.last, now)
	if since >= r.LapsedDays {
		return kith.StageLapsed, fmt.Sprintf("no purchase for %d days", since)
	}
	atRisk, why := false, "last purchase "+plural(since, "day")+" ago"
	if !math.IsNaN(score) {
		atRisk = score >= r.AtRiskScore
		why += fmt.Sprintf(", at-risk score %.2f", score)
	} else {
		atRisk = since >= r.AtRiskDays
	}
	if h.days == 1 && days(h.first, now) <= r.NewDays {
		return kith.StageNew, "first purchase " + plural(days(h.first, now), "day") + " ago"
	}
	// Back after lapsing: a purchase since the stage said lapsed.
	if cur.Stage == kith.StageLapsed && h.last.After(cur.Since) {
		return kith.StageWonBack, "bought again after lapsing"
	}
	if cur.Stage == kith.StageWonBack && !atRisk && days(cur.Since, now) < r.WonBackDays {
		return kith.StageWonBack, "bought again after lapsing"
	}
	if atRisk {
		return kith.StageAtRisk, why
	}
	return kith.StageActive, why
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
