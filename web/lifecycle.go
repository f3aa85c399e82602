package web

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/lifecycle"
)

// stages are the lifecycle stages in the order a customer meets them.
var stages = []string{kith.StageProspect, kith.StageNew, kith.StageActive, kith.StageAtRisk, kith.StageLapsed, kith.StageWonBack}

var stageNames = map[string]string{
	kith.StageProspect: "Prospect", kith.StageNew: "New", kith.StageActive: "Active",
	kith.StageAtRisk: "At risk", kith.StageLapsed: "Lapsed", kith.StageWonBack: "Won back", "none": "None",
}

func stageName(s string) string {
	if n, ok := stageNames[s]; ok {
		return n
	}
	return s
}

// touches says what each touch model asks of the person at the console.
var touches = map[string]struct{ Name, Advice string }{
	lifecycle.TouchHigh:    {"High touch", "Call them personally; a named person looks after them."},
	lifecycle.TouchLow:     {"Low touch", "Keep it personal but light: a note or a message from a named agent."},
	lifecycle.TouchDigital: {"Digital touch", "Self-service and automated messages; no personal outreach needed."},
}

var tierNames = map[string]string{
	lifecycle.TierHigh: "High value", lifecycle.TierMedium: "Medium value", lifecycle.TierLow: "Low value",
	lifecycle.TierNone: "No value yet",
}

// money shows an amount in the purchases' currency, whatever it is: two
// decimals and thousands separated.
func money(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	sign := ""
	if v < 0 && s != "0.00" {
		sign = "-"
	}
	return sign + thousands(whole) + "." + frac
}

// count shows a whole number with thousands separated.
func count(n int) string {
	if n < 0 {
		return "-" + thousands(strconv.Itoa(-n))
	}
	return thousands(strconv.Itoa(n))
}

func thousands(digits string) string {
	var b strings.Builder
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// shortAmount shows an amount on a chart's axis: 7, 950, 1.2k, 34k, 1.5M.
func shortAmount(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strings.TrimSuffix(strconv.FormatFloat(v/1e6, 'f', 1, 64), ".0") + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case a >= 1e3:
		return strings.TrimSuffix(strconv.FormatFloat(v/1e3, 'f', 1, 64), ".0") + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// probability shows a probability as a percentage a person reads at a
// glance, without claiming certainty the model does not have.
func probability(p float64) string {
	switch {
	case math.IsNaN(p):
		return "–"
	case p > 0 && p < 0.005:
		return "under 1%"
	case p < 1 && p > 0.995:
		return "over 99%"
	}
	return strconv.FormatFloat(p*100, 'f', 0, 64) + "%"
}

// valuePanel is the customer 360's "Value & lifecycle" panel.
type valuePanel struct {
	Stage, StageName, Reason string
	Since                    time.Time // when they entered the stage; zero if not recorded yet
	Previous                 string    // the stage before, by name
	Tier, TierName           string
	Touch, TouchName, Advice string
	// Scored: a fitted model scored the person; else NoScore says why not.
	Scored                             bool
	NoScore                            string
	Value, Expected, PAlive, AtRisk    string
	AtRiskHigh                         bool
	Horizon, ValueHorizon, AtRiskLimit string
	Purchases                          int
	Spent                              string
	LastPurchase                       time.Time
}

// valuePanel assesses p; it reads no store, so the page stays as fast as
// it was.
func (con *Console) valuePanel(p *kith.Profile) *valuePanel {
	life := con.c.Lifecycle
	if life == nil || p == nil {
		return nil
	}
	a := life.Assess(p)
	rules := life.Rules()
	v := &valuePanel{Stage: a.Stage, StageName: stageName(a.Stage), Reason: a.Reason, Tier: a.Tier,
		TierName: tierNames[a.Tier], Touch: a.Touch, TouchName: touches[a.Touch].Name, Advice: touches[a.Touch].Advice,
		Purchases: a.Purchases, Spent: money(a.Spent), LastPurchase: a.LastPurchase,
		Horizon:      strconv.FormatFloat(rules.HorizonWeeks, 'f', -1, 64),
		ValueHorizon: strconv.FormatFloat(rules.ValueWeeks, 'f', -1, 64),
		AtRiskLimit:  strconv.FormatFloat(rules.AtRiskScore, 'f', 2, 64)}
	if v.TierName == "" {
		v.TierName = a.Tier
	}
	switch rec := p.Lifecycle; {
	case rec.Stage == a.Stage:
		v.Since = rec.Since
		if rec.Previous != "" {
			v.Previous = stageName(rec.Previous)
		}
	case rec.Stage == "" && a.Stage == kith.StageProspect:
		v.Since = p.CreatedAt // everyone starts as a prospect
	}
	if a.PAlive != nil && a.ExpectedPurchases != nil && a.AtRisk != nil {
		v.Scored = true
		v.PAlive = probability(*a.PAlive)
		v.Expected = strconv.FormatFloat(*a.ExpectedPurchases, 'f', 1, 64)
		v.AtRisk = strconv.FormatFloat(*a.AtRisk, 'f', 2, 64)
		v.AtRiskHigh = *a.AtRisk >= rules.AtRiskScore
		if a.LifetimeValue != nil {
			v.Value = money(*a.LifetimeValue)
		}
	}
	if !v.Scored {
		switch m := life.Model(); {
		case a.Purchases == 0:
			v.NoScore = "No purchase yet, so there is nothing to predict from."
		case m == nil:
			v.NoScore = "No model is fitted yet, so there are no predictions; the stage follows how recently they bought."
		case m.Purchases == nil:
			v.NoScore = "The models are not fitted (" + m.Skipped + "), so there are no predictions; the stage follows how recently they bought."
		default:
			v.NoScore = "No prediction for this customer yet."
		}
	}
	return v
}

// An SVG chart, laid out here so that the template only draws. The plot
// area is [Left, Left+W] × [Top, Top+H] in a Width × Height view box.
type chart struct {
	Width, Height    int
	Left, Top, W, H  float64
	Bottom, Right    float64 // Top+H and Left+W
	YTicks           []tick
	XTicks           []tick
	Bars             []bar
	Marks            []mark
	XLabel, YLabel   string
	YLabelX, YLabelY float64
}

type tick struct {
	Pos   float64 // y for a y tick, x for an x tick
	Label string
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Label      string  // under the bar
	Count      string  // over the bar, "" for none
	CountY     float64 // baseline of Count
	Title      string  // shown on hover, read by screen readers
}

// mark is a vertical line across the plot with a label: a threshold.
type mark struct {
	X      float64
	Label  string
	Class  string
	Anchor string // text-anchor of the label
	LabelX float64
	LabelY float64
}

func newChart(width, height int, left, top, right, bottom float64) *chart {
	c := &chart{Width: width, Height: height, Left: left, Top: top, W: float64(width) - left - right,
		H: float64(height) - top - bottom}
	c.Bottom, c.Right = c.Top+c.H, c.Left+c.W
	c.YLabelX, c.YLabelY = 14, c.Top+c.H/2
	return c
}

// niceMax rounds n up to a number the y axis can be divided by evenly.
func niceMax(n int) int {
	if n <= 4 {
		return 4
	}
	mag := int(math.Pow(10, math.Floor(math.Log10(float64(n)))))
	for _, f := range []int{1, 2, 4, 5, 8, 10} {
		if f*mag >= n {
			return f * mag
		}
	}
	return 10 * mag
}

// yAxis sets four steps of a count axis up to the nice max of n, and
// returns the scale: y of a count.
func (c *chart) yAxis(n int) func(int) float64 {
	top := niceMax(n)
	y := func(v int) float64 { return c.Bottom - float64(v)/float64(top)*c.H }
	for i := 0; i <= 4; i++ {
		v := top * i / 4
		c.YTicks = append(c.YTicks, tick{y(v), count(v)})
	}
	return y
}

// stageRow is one stage's count in a table.
type stageRow struct {
	Stage, Name string
	Count       int
}

// sweepRow is one sweep in the table behind the chart over time.
type sweepRow struct {
	At     time.Time
	Counts []int // by stages
	Total  int
}

type flowRow struct {
	From, To           string // names
	FromStage, ToStage string
	Count              int
	Pct                int // of the largest flow
}

type binRow struct {
	Lo, Hi, Tier string
	Count        int
}

// recentSweeps is how many sweeps the chart over time and the flows cover.
const recentSweeps = 24

// lifecyclePage gathers what /lifecycle shows.
func (con *Console) lifecyclePage(r *http.Request) map[string]any {
	life := con.c.Lifecycle
	data := map[string]any{"Title": "Lifecycle", "Stages": stages, "Done": r.URL.Query().Get("done")}
	rules := life.Rules()
	data["Rules"] = rules
	st := life.Status()
	data["Fit"] = st
	m := life.Model()
	data["Model"] = m
	hist := life.History()
	data["Sweeps"] = len(hist)
	if len(hist) > 0 {
		last := hist[len(hist)-1]
		data["LastSweep"] = last.At
		rows, total := make([]stageRow, len(stages)), 0
		for i, s := range stages {
			rows[i] = stageRow{s, stageName(s), last.Stages[s]}
			total += last.Stages[s]
		}
		data["Now"], data["People"] = rows, total
		data["NowChart"] = stageChart(rows)
		recent := hist[max(0, len(hist)-recentSweeps):]
		data["Recent"] = len(recent)
		data["Over"], data["OverTable"] = overTimeChart(recent)
		data["Flows"] = flows(recent)
	}
	if m != nil && len(m.ValueHisto) > 0 {
		data["Histo"] = valueChart(m, rules.ValueWeeks)
		rows := make([]binRow, len(m.ValueHisto))
		for i, b := range m.ValueHisto {
			rows[i] = binRow{money(b.Lo), money(b.Hi), binTiers(m, b), b.Count}
		}
		data["Bins"] = rows
		data["High"], data["Low"] = money(m.HighValue), money(m.LowValue)
	}
	return data
}

// stageChart is the bar chart of people per stage now.
func stageChart(rows []stageRow) *chart {
	c := newChart(640, 250, 64, 24, 12, 48)
	c.XLabel, c.YLabel = "Stage", "Customers"
	most := 0
	for _, r := range rows {
		most = max(most, r.Count)
	}
	y := c.yAxis(most)
	slot := c.W / float64(len(rows))
	for i, r := range rows {
		x := c.Left + float64(i)*slot + slot*0.15
		top := y(r.Count)
		c.Bars = append(c.Bars, bar{X: x, Y: top, W: slot * 0.7, H: c.Bottom - top, Class: "s-" + r.Stage,
			Label: r.Name, Count: count(r.Count), CountY: top - 6, Title: r.Name + ": " + count(r.Count)})
	}
	return c
}

// overTimeChart stacks the people per stage at each sweep, oldest left.
func overTimeChart(hist []lifecycle.Snapshot) (*chart, []sweepRow) {
	c := newChart(640, 270, 64, 16, 12, 52)
	c.XLabel, c.YLabel = "Sweep (UTC)", "Customers"
	rows := make([]sweepRow, len(hist))
	most := 0
	for i, h := range hist {
		rows[i] = sweepRow{At: h.At, Counts: make([]int, len(stages))}
		for j, s := range stages {
			rows[i].Counts[j] = h.Stages[s]
			rows[i].Total += h.Stages[s]
		}
		most = max(most, rows[i].Total)
	}
	y := c.yAxis(most)
	slot := c.W / float64(len(rows))
	w := math.Min(slot*0.7, 48)
	layout := "15:04"
	if span := hist[len(hist)-1].At.Sub(hist[0].At); span > 20*time.Hour {
		layout = "2 Jan 15:04"
	} else if span < time.Hour {
		layout = "15:04:05"
	}
	every := max(1, (len(rows)+5)/6) // at most six labels on the time axis
	for i, r := range rows {
		x := c.Left + float64(i)*slot + (slot-w)/2
		at := r.At.UTC().Format(layout)
		below, topmost := 0, -1
		for j, s := range stages {
			n := r.Counts[j]
			if n == 0 {
				continue
			}
			top, base := y(below+n), y(below)
			c.Bars = append(c.Bars, bar{X: x, Y: top, W: w, H: base - top, Class: "s-" + s,
				Title: stageName(s) + " at " + at + ": " + count(n)})
			below += n
			topmost = len(c.Bars) - 1
		}
		if topmost < 0 { // nobody yet: a flat bar, so the sweep still shows its 0
			c.Bars = append(c.Bars, bar{X: x, Y: c.Bottom, W: w, Class: "s-" + kith.StageProspect, Title: "Nobody at " + at})
			topmost = len(c.Bars) - 1
		}
		// The stack's total over it.
		c.Bars[topmost].Count, c.Bars[topmost].CountY = count(r.Total), y(r.Total)-5
		if i%every == 0 {
			c.XTicks = append(c.XTicks, tick{x + w/2, at})
		}
	}
	return c, rows
}

// flows adds up the moves between stages over the sweeps, most first.
func flows(hist []lifecycle.Snapshot) []flowRow {
	sum := map[string]int{}
	for _, h := range hist {
		for k, n := range h.Flows {
			sum[k] += n
		}
	}
	out := make([]flowRow, 0, len(sum))
	most := 0
	for k, n := range sum {
		from, to, _ := strings.Cut(k, "→")
		if from == "none" {
			from = kith.StageProspect
		}
		out = append(out, flowRow{From: stageName(from), To: stageName(to), FromStage: from, ToStage: to, Count: n})
		most = max(most, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].From+out[i].To < out[j].From+out[j].To
	})
	for i := range out {
		out[i].Pct = max(1, out[i].Count*100/max(most, 1))
	}
	return out
}

// binTier is the tier a bar of the histogram is coloured by: that of its
// lower end. tiers says which tiers its buyers are in, for the table.
func binTier(m *lifecycle.Model, b lifecycle.Bin) string {
	switch {
	case b.Lo < m.LowValue:
		return lifecycle.TierLow
	case b.Lo >= m.HighValue:
		return lifecycle.TierHigh
	}
	return lifecycle.TierMedium
}

func binTiers(m *lifecycle.Model, b lifecycle.Bin) string {
	var ts []string
	if b.Lo < m.LowValue {
		ts = append(ts, "low")
	}
	if b.Hi >= m.LowValue && b.Lo < m.HighValue {
		ts = append(ts, "medium")
	}
	if b.Hi >= m.HighValue {
		ts = append(ts, "high")
	}
	return strings.Join(ts, " and ")
}

// valueChart is the histogram of predicted lifetime values, bars coloured
// by tier, with the tier thresholds marked.
func valueChart(m *lifecycle.Model, weeks float64) *chart {
	bins := m.ValueHisto
	c := newChart(640, 290, 64, 48, 12, 52)
	c.XLabel = fmt.Sprintf("Predicted lifetime value over %s weeks", strconv.FormatFloat(weeks, 'f', -1, 64))
	c.YLabel = "Buyers"
	most := 0
	for _, b := range bins {
		most = max(most, b.Count)
	}
	y := c.yAxis(most)
	slot := c.W / float64(len(bins))
	for i, b := range bins {
		x := c.Left + float64(i)*slot
		top := y(b.Count)
		cnt := ""
		if b.Count > 0 {
			cnt = count(b.Count)
		}
		c.Bars = append(c.Bars, bar{X: x + 1, Y: top, W: slot - 2, H: c.Bottom - top, Class: "t-" + binTier(m, b),
			Count: cnt, CountY: top - 5, Title: fmt.Sprintf("%s to %s: %s buyers", money(b.Lo), money(b.Hi), count(b.Count))})
		if i%2 == 0 {
			c.XTicks = append(c.XTicks, tick{x, shortAmount(b.Lo)})
		}
	}
	last := bins[len(bins)-1]
	c.XTicks = append(c.XTicks, tick{c.Right, shortAmount(last.Hi)})
	// A value's x: within its bin, in proportion (the last bin is wider).
	xOf := func(v float64) float64 {
		for i, b := range bins {
			if v < b.Hi || i == len(bins)-1 {
				f := 0.0
				if b.Hi > b.Lo {
					f = math.Min(math.Max((v-b.Lo)/(b.Hi-b.Lo), 0), 1)
				}
				return c.Left + (float64(i)+f)*slot
			}
		}
		return c.Right
	}
	// The labels on two rows above the plot, so they never overlap; the
	// high one turns left at the right edge.
	lo, hi := xOf(m.LowValue), xOf(m.HighValue)
	low := mark{X: lo, Label: "low value below " + money(m.LowValue), Class: "threshold t-low", Anchor: "end",
		LabelX: lo - 4, LabelY: 14}
	high := mark{X: hi, Label: "high value from " + money(m.HighValue), Class: "threshold t-high", Anchor: "start",
		LabelX: hi + 4, LabelY: 30}
	if low.LabelX < c.Left+110 {
		low.Anchor, low.LabelX = "start", lo+4
	}
	if high.LabelX > c.Right-130 {
		high.Anchor, high.LabelX = "end", hi-4
	}
	c.Marks = []mark{low, high}
	return c
}

func (con *Console) handleLifecycle(w http.ResponseWriter, r *http.Request, v *viewer) {
	con.render(w, r, http.StatusOK, "lifecycle", v, con.lifecyclePage(r))
}

func (con *Console) handleRefit(w http.ResponseWriter, r *http.Request, v *viewer) {
	st, err := con.c.Lifecycle.Refit(r.Context())
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	done := "Asked for a new fit; the stages are checked again when it is done."
	if st.Running {
		done = "A fit is running (" + st.Phase + "); another follows it."
	}
	http.Redirect(w, r, "/lifecycle?done="+url.QueryEscape(done), http.StatusSeeOther)
}
