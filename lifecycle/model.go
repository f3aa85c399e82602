package lifecycle

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/clv"
)

// history is a person's purchases as the models see them: purchase days
// (purchases on one UTC day merged), first and last.
type history struct {
	days        int       // distinct purchase days
	first, last time.Time // first and last purchase
	firstDay    int64     // days since the epoch
	lastDay     int64
	repeatSpend float64 // spent on the days after the first
	total       float64
}

func epochDay(t time.Time) int64 { return t.UTC().Unix() / 86400 }

// historyOf summarises purchases (oldest first, as profiles keep them)
// made up to now; later ones are not yet history.
func historyOf(ps []kith.Purchase, now time.Time) history {
	var h history
	prevDay := int64(math.MinInt64)
	for _, p := range ps {
		if p.At.After(now) {
			continue
		}
		d := epochDay(p.At)
		if h.days == 0 {
			h.first, h.firstDay = p.At, d
		}
		if d != prevDay {
			h.days++
			prevDay = d
		}
		if d != h.firstDay {
			h.repeatSpend += p.Amount
		}
		h.total += p.Amount
		h.last, h.lastDay = p.At, d
	}
	return h
}

// customer is h as the models take it, at now: weeks since the first
// purchase day.
func (h history) customer(id string, now time.Time) clv.Customer {
	c := clv.Customer{ID: id}
	if h.days == 0 {
		return c
	}
	c.X = float64(h.days - 1)
	c.T = float64(epochDay(now)-h.firstDay) / 7
	if c.X > 0 {
		c.TX = float64(h.lastDay-h.firstDay) / 7
		c.MX = math.Max(h.repeatSpend/c.X, 0)
	}
	return c
}

// Model is what a fit found: the purchase and spend models and the value
// thresholds of the tiers. The zero Model (no fit yet, or too few buyers)
// scores nothing and the rules fall back on recency.
type Model struct {
	Purchases  *clv.ParetoNBD  `json:"pareto_nbd,omitempty"`
	BGNBD      *clv.BGNBD      `json:"bg_nbd,omitempty"`
	Spend      *clv.GammaGamma `json:"gamma_gamma,omitempty"`
	FittedAt   time.Time       `json:"fitted_at"`
	Took       time.Duration   `json:"took"`
	Customers  int             `json:"customers"` // buyers fitted
	Repeaters  int             `json:"repeaters"`
	Prospects  int             `json:"prospects"`
	HighValue  float64         `json:"high_value"` // lifetime value from which a buyer is high value
	LowValue   float64         `json:"low_value"`  // below which low value
	Skipped    string          `json:"skipped,omitempty"`
	ValueHisto []Bin           `json:"value_histogram,omitempty"`
}

// Bin is one bar of a histogram: how many buyers have a lifetime value
// from Lo up to Hi.
type Bin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count int     `json:"count"`
}

// Assessment is where a person stands now.
type Assessment struct {
	Stage  string `json:"stage"`  // what the rules say now
	Reason string `json:"reason"` // why, in words
	// The scores, absent (nil) without a model or for a prospect.
	PAlive            *float64  `json:"p_alive,omitempty"`
	ExpectedPurchases *float64  `json:"expected_purchases,omitempty"` // in the next HorizonWeeks
	ExpectedSpend     *float64  `json:"expected_spend,omitempty"`     // per purchase
	LifetimeValue     *float64  `json:"lifetime_value,omitempty"`     // over ValueWeeks, discounted
	AtRisk            *float64  `json:"at_risk,omitempty"`
	Tier              string    `json:"tier"`
	Touch             string    `json:"touch"`
	Purchases         int       `json:"purchases"`
	PurchaseDays      int       `json:"purchase_days"`
	Spent             float64   `json:"spent"`
	LastPurchase      time.Time `json:"last_purchase,omitzero"`
}

// assess scores p at now under m and r.
func assess(p *kith.Profile, m *Model, r Rules, now time.Time) Assessment {
	h := historyOf(p.Purchases, now)
	a := Assessment{Purchases: len(p.Purchases), PurchaseDays: h.days, Spent: h.total, LastPurchase: h.last,
		Tier: TierNone}
	score := math.NaN()
	if h.days > 0 && m != nil && m.Purchases != nil {
		c := h.customer(p.ID, now)
		pa := m.Purchases.PAlive(c)
		ey := m.Purchases.ExpectedPurchases(c, r.HorizonWeeks)
		score = clv.AtRisk(m.Purchases, c, r.HorizonWeeks)
		a.PAlive, a.ExpectedPurchases, a.AtRisk = &pa, &ey, &score
		if m.Spend != nil {
			es := m.Spend.ExpectedSpend(c)
			v := value(m, r, c)
			a.ExpectedSpend, a.LifetimeValue = &es, &v
			a.Tier = m.tier(v)
		}
	} else if h.days > 0 {
		a.Tier = r.fixedTier(h)
	}
	a.Stage, a.Reason = r.stage(p.Lifecycle, h, score, now)
	a.Touch = touchFor(a.Tier)
	return a
}

func value(m *Model, r Rules, c clv.Customer) float64 {
	v := clv.Value(m.Purchases, m.Spend, c, clv.Horizon{Weeks: r.ValueWeeks, Discount: r.MonthlyDiscount})
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func (m *Model) tier(v float64) string {
	switch {
	case v >= m.HighValue:
		return TierHigh
	case v < m.LowValue:
		return TierLow
	}
	return TierMedium
}

// fixedTier places a buyer without a model by fixed thresholds on what
// they spent, if set, else medium.
func (r Rules) fixedTier(h history) string {
	switch {
	case r.HighValue > 0 && h.total >= r.HighValue:
		return TierHigh
	case r.LowValue > 0 && h.total < r.LowValue:
		return TierLow
	}
	return TierMedium
}

// fit fits the models to everyone's purchases at now. Too few buyers (or
// repeaters) give a Model with Skipped saying why.
func fit(ctx context.Context, people []kith.Profile, r Rules, now time.Time, progress func(clv.Progress)) (*Model, error) {
	start := time.Now()
	m := &Model{FittedAt: now}
	var cs []clv.Customer
	for i := range people {
		h := historyOf(people[i].Purchases, now)
		if h.days == 0 {
			m.Prospects++
			continue
		}
		c := h.customer(people[i].ID, now)
		if c.X > 0 {
			m.Repeaters++
		}
		cs = append(cs, c)
	}
	m.Customers = len(cs)
	if m.Customers < r.MinCustomers || m.Repeaters < r.MinRepeaters {
		m.Skipped = fmt.Sprintf("%d buyers, %d with a repeat purchase: a fit needs %d and %d", m.Customers, m.Repeaters,
			r.MinCustomers, r.MinRepeaters)
		m.Took = time.Since(start)
		return m, nil
	}
	ms, err := clv.Fit(ctx, cs, clv.Options{Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("fit lifetime-value models to %d buyers: %w", len(cs), err)
	}
	m.Purchases, m.BGNBD, m.Spend = ms.ParetoNBD, ms.BGNBD, ms.GammaGamma
	if m.Spend != nil {
		values := make([]float64, len(cs))
		for i, c := range cs {
			values[i] = value(m, r, c)
		}
		sort.Float64s(values)
		m.HighValue, m.LowValue = r.HighValue, r.LowValue
		if r.HighValue == 0 {
			m.HighValue = quantile(values, 1-r.HighShare)
		}
		if r.LowValue == 0 {
			m.LowValue = quantile(values, r.LowShare)
		}
		m.ValueHisto = histogram(values, 12)
	}
	m.Took = time.Since(start)
	return m, nil
}

// quantile of sorted values, q in [0, 1], by the nearest rank.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// histogram bins sorted values into n bins of equal width up to the 99th
// percentile, the last bin holding everything above.
func histogram(sorted []float64, n int) []Bin {
	if len(sorted) == 0 {
		return nil
	}
	lo, hi := math.Max(sorted[0], 0), quantile(sorted, 0.99)
	if hi <= lo {
		return []Bin{{Lo: lo, Hi: sorted[len(sorted)-1], Count: len(sorted)}}
	}
	w := (hi - lo) / float64(n)
	bins := make([]Bin, n)
	for i := range bins {
		bins[i] = Bin{Lo: lo + float64(i)*w, Hi: lo + float64(i+1)*w}
	}
	bins[n-1].Hi = sorted[len(sorted)-1]
	for _, v := range sorted {
		i := min(max(int((v-lo)/w), 0), n-1)
		bins[i].Count++
	}
	return bins
}
