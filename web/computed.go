package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/computed"
	"github.com/kithhq/kith/profile"
)

// computedFunction is a function a computed trait may apply, as the form
// offers it.
type computedFunction struct {
	Name, Meaning string
}

// computedFunctions follows computed.Functions; a test checks that every
// function is here, in its order.
var computedFunctions = []computedFunction{
	{computed.Count, "how many events"},
	{computed.Sum, "total of a number"},
	{computed.Avg, "average of a number"},
	{computed.Min, "smallest number"},
	{computed.Max, "largest number"},
	{computed.First, "earliest value"},
	{computed.Last, "latest value"},
	{computed.MostFrequent, "most frequent value"},
}

// computedFields are the form's fields, as computed.Parse names them.
var computedFields = []string{"name", "function", "event", "property", "window"}

// computedForm is what the form to define a computed trait holds, and why
// it was refused.
type computedForm struct {
	Name, Function, Event, Property, Window string
	// Field is the field at fault ("" when none is, or Error is about none
	// of them); Error says why.
	Field, Error string
}

// computedListed is a computed trait as the list shows it.
type computedListed struct {
	computed.Trait
	WindowText string // how far back it looks, in words
	Running    bool   // still being computed over everyone's past events
	Progress   string // how far that is, in words
	Failed     string // why the computation stopped
	Defined    bool   // just defined: the list was reached by defining it
}

func listedTrait(t computed.Trait, defined string) computedListed {
	l := computedListed{Trait: t, WindowText: windowText(t.Window), Defined: t.Name == defined}
	if b := t.Backfill; b != nil {
		l.Running = !b.Over
		if b.Total > 0 || b.Over {
			l.Progress = count(int(b.Done)) + " of " + count(int(b.Total)) + " " + pluralWord(int(b.Total), "profile")
		}
		l.Failed = b.Error
	}
	return l
}

// pluralWord is unit for one and units for any other number.
func pluralWord(n int, unit string) string {
	if n == 1 {
		return unit
	}
	return unit + "s"
}

// windowText says a window ("90d") in words: "last 90 days"; all time
// without one.
func windowText(w string) string {
	if w == "" {
		return "all time"
	}
	n, err := strconv.Atoi(w[:len(w)-1])
	unit := map[byte]string{'m': "minute", 'h': "hour", 'd': "day", 'w': "week"}[w[len(w)-1]]
	if err != nil || unit == "" {
		return w
	}
	return "last " + plural(n, unit)
}

// handleComputed lists the computed traits with the form to define one.
func (con *Console) handleComputed(w http.ResponseWriter, r *http.Request, v *viewer) {
	con.computedPage(w, r, v, http.StatusOK, computedForm{Function: computed.Count})
}

func (con *Console) computedPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, f computedForm) {
	defined := r.URL.Query().Get("defined")
	traits := con.c.Computed.List()
	rows := make([]computedListed, len(traits))
	var justDefined *computedListed
	for i, t := range traits {
		rows[i] = listedTrait(t, defined)
		if rows[i].Defined {
			justDefined = &rows[i]
		}
	}
	other := ""
	if f.Error != "" && !slices.Contains(computedFields, f.Field) {
		other = f.Error
	}
	con.render(w, r, status, "computed", v, map[string]any{"Title": "Computed traits", "Traits": rows, "Defined": justDefined,
		"Form": f, "Other": other, "Functions": computedFunctions})
}

// handleDefineComputed is the form's Define button: the trait is defined
// and the list shown, where its computation over everyone's past events
// follows; or the form drawn again, with what was typed, and why not by
// the field at fault (400; 409 for a name taken).
func (con *Console) handleDefineComputed(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := computedForm{Name: r.PostFormValue("name"), Function: r.PostFormValue("function"), Event: r.PostFormValue("event"),
		Property: r.PostFormValue("property"), Window: r.PostFormValue("window")}
	d, err := con.c.Computed.Create(r.Context(), kith.ComputedTraitDef{Name: f.Name, Function: f.Function, Event: f.Event,
		Property: f.Property, Window: f.Window})
	if err == nil {
		http.Redirect(w, r, "/computed?defined="+url.QueryEscape(d.Name), http.StatusSeeOther)
		return
	}
	code := kith.ErrorCode(err)
	if code != kith.EINVALID && code != kith.ECONFLICT {
		con.fail(w, r, v, err)
		return
	}
	f.Field, f.Error = kith.ErrorField(err), kith.ErrorMessage(err)
	status := http.StatusBadRequest
	if code == kith.ECONFLICT {
		status = http.StatusConflict
	}
	con.computedPage(w, r, v, status, f)
}

// computedRow is one computed trait's value on the customer's page.
type computedRow struct {
	Name        string
	Description string // what it is, as computed.Def.String says it
	Value       string // as people read it
	None        bool   // no value yet: no event counted
	Hidden      bool   // personal data the viewer may not see
}

// computedPanel is each computed trait's value now for p, by name; nil
// when the console has no computed traits or none is defined.
//
// Computed values are derived from events: counts, totals and averages are
// not personal data. A value that is an event's own property value may be:
// text, a list or an object (first, last or most frequent of a property),
// or a number taken from a property whose name says it is personal (the
// last customer_id). Those are hidden from a viewer without personal data,
// as the profile service hides personal traits.
func (con *Console) computedPanel(v *viewer, p *kith.Profile) []computedRow {
	if con.c.Computed == nil {
		return nil
	}
	set := con.c.Computed.Set()
	defs := set.Defs()
	if len(defs) == 0 {
		return nil
	}
	values := set.Values(p, set.Now())
	rows := make([]computedRow, len(defs))
	for i, d := range defs {
		val := values[d.Name]
		rows[i] = computedRow{Name: d.Name, Description: d.String()}
		switch {
		case val == nil:
			rows[i].None = true
		case !v.Actor.PII && personalComputed(d, val):
			rows[i].Value, rows[i].Hidden = profile.Hidden, true
		default:
			rows[i].Value = computedValue(val)
		}
	}
	return rows
}

// personalComputed reports whether a computed value may be personal data.
func personalComputed(d *computed.Def, val any) bool {
	switch val.(type) {
	case int, float64, bool:
	default:
		return true
	}
	switch d.Function {
	case computed.Min, computed.Max, computed.First, computed.Last, computed.MostFrequent:
		for _, name := range strings.Split(d.Property, ".") {
			if profile.Personal(name) {
				return true
			}
		}
	}
	return false
}

// computedValue shows a computed value for people: numbers with thousands
// separated and no needless decimals, text as it is, the rest as JSON.
func computedValue(val any) string {
	switch x := val.(type) {
	case int:
		return count(x)
	case float64:
		return figure(x)
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(val)
	if err != nil {
		return fmt.Sprint(val)
	}
	return string(b)
}

// figure shows a number without needless decimals: whole numbers as they
// are, others to two decimals, or to three significant digits below one;
// thousands separated.
func figure(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	prec := 2
	if a := math.Abs(f); a > 0 && a < 1 {
		prec = max(2, 2-int(math.Floor(math.Log10(a))))
	}
	s := strconv.FormatFloat(math.Abs(f), 'f', prec, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	whole, frac, _ := strings.Cut(s, ".")
	out := thousands(whole)
	if frac != "" {
		out += "." + frac
	}
	if f < 0 && s != "0" {
		out = "-" + out
	}
	return out
}
