package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
	"github.com/kithhq/kith/profile"
)

// audienceSample is how many matching people a preview names.
const audienceSample = 10

// audienceName is a name an audience expression can use, as the builder's
// reference explains it: the fields of audience.Person.
type audienceName struct {
	Name, Meaning, Example string
}

// referenceName is a name as the builder's reference shows it: for
// computed.NAME, the first computed traits defined (Defined, and how many
// more there are) and where to see and define them (More).
type referenceName struct {
	audienceName
	Defined     []string
	Undisplayed int
	More        string
}

// computedReference is how many defined computed traits the reference
// names before it says how many more there are.
const computedReference = 12

// referenceNames is audienceNames as the builder shows them: computed.NAME
// with the computed traits defined and a link to their page, when the
// console has them.
func (con *Console) referenceNames() []referenceName {
	names := make([]referenceName, len(audienceNames))
	for i, n := range audienceNames {
		names[i].audienceName = n
		if n.Name != "computed.NAME" || con.c.Computed == nil {
			continue
		}
		names[i].More = "/computed"
		defs := con.c.Computed.Set().Defs()
		for _, d := range defs[:min(len(defs), computedReference)] {
			names[i].Defined = append(names[i].Defined, "computed."+d.Name)
		}
		names[i].Undisplayed = len(defs) - len(names[i].Defined)
	}
	return names
}

// audienceNames follows the doc comments of audience.Person; a test checks
// that every name it gives expressions is here.
var audienceNames = []audienceName{
	{"traits.NAME", "the value of a trait, as it was sent: text, a number, true or false, a list or an object",
		`traits.plan == "internet"`},
	{"computed.NAME", "the value now of a computed trait: a count, sum, average, minimum, maximum, first, last or most frequent value of the person's events, over all time or a window; only traits already defined",
		`computed.orders_90d >= 2`},
	{`intents["topic"]`, "how strongly the person is interested in a topic now; 0 when not at all",
		`intents["car insurance"] > 0.5`},
	{"stage", "the lifecycle stage: prospect, new, active, at_risk, lapsed or won_back", `stage in ["at_risk", "lapsed"]`},
	{"tier", "the value tier: high, medium, low, or none", `tier == "high"`},
	{"channels", "the channels the person was seen on: web, app, email, sms, push, chat, social, call_center, store, pos, beacon or server",
		`"sms" in channels`},
	{"identifiers.TYPE", "the person's values of one identifier type: user_id, anonymous_id, email, phone, device_id, or one of your own", `len(identifiers.phone) > 0`},
	{"events", "how many events are on the person's timeline", `events >= 10`},
	{"purchases", "how many orders they completed", `purchases > 1`},
	{"spent", "the total of their orders", `spent > 500`},
	{"days_since_purchase", "days since their last order; very large for someone who never bought, so “> 30” holds for them too",
		`days_since_purchase > 30`},
	{"last_purchase", "when they last ordered; the zero time when never", `last_purchase > date("2025-01-01")`},
	{"first_seen", "when Kith first heard of the person", `now - first_seen < duration("720h")`},
	{"last_seen", "when Kith last heard of the person", `now - last_seen > duration("2160h")`},
	{"now", "the time the expression is evaluated", ""},
}

// audienceExample is an expression a marketer can start from.
type audienceExample struct {
	Label, Expression string
}

var audienceExamples = []audienceExample{
	{"Internet customers", `traits.plan == "internet"`},
	{"Valuable customers drifting away", `tier == "high" and stage in ["at_risk", "lapsed"]`},
	{"Bought before, but not in 30 days", `purchases > 0 and days_since_purchase > 30`},
	{"Looking at car insurance, reachable by SMS", `intents["car insurance"] > 0.5 and "sms" in channels`},
}

// audienceResult is what the builder shows under the expression: who
// matches it, why it cannot be evaluated, or (neither) a hint.
type audienceResult struct {
	Expression string // as previewed, without the space around it
	Preview    *audience.Preview
	Problem    *expressionProblem
}

// expressionProblem is why an expression was refused, placed in the text
// as the marketer typed it.
type expressionProblem struct {
	Message string // the whole refusal, when it is not about one place
	Line    int    // from 1; 0 when not about one place
	Column  int    // from 1, in characters
	Reason  string
	// The line of the expression, split around the character at Column
	// (a space past its end).
	Before, At, After string
}

// problemIn places the refusal err of expression typed. Compile counts
// lines and columns in the expression without its leading space, the
// textarea with it: the position is moved back to where the marketer sees it.
func problemIn(typed string, err error) *expressionProblem {
	p := &expressionProblem{Message: kith.ErrorMessage(err)}
	d, _ := kith.ErrorDetail(err).(map[string]any)
	line, _ := d["line"].(int)
	col, _ := d["column"].(int)
	reason, _ := d["reason"].(string)
	if line < 1 || col < 1 || reason == "" {
		return p
	}
	lead := typed[:len(typed)-len(strings.TrimLeftFunc(typed, unicode.IsSpace))]
	if line == 1 {
		col += utf8.RuneCountInString(lead[strings.LastIndexByte(lead, '\n')+1:])
	}
	line += strings.Count(lead, "\n")
	p.Line, p.Column, p.Reason = line, col, reason
	lines := strings.Split(typed, "\n")
	if line > len(lines) {
		return p
	}
	text := []rune(lines[line-1])
	i := min(col-1, len(text))
	p.Before, p.At = string(text[:i]), " "
	if i < len(text) {
		p.At, p.After = string(text[i]), string(text[i+1:])
	}
	return p
}

// previewAudience previews the expression as typed, by the viewer in ctx.
// An ill-typed expression is a result, not an error.
func (con *Console) previewAudience(ctx context.Context, typed string) (audienceResult, error) {
	res := audienceResult{Expression: strings.TrimSpace(typed)}
	if res.Expression == "" {
		return res, nil
	}
	pv, err := con.c.Audiences.Preview(ctx, typed, audienceSample, profile.DisplayName)
	switch {
	case err == nil:
		res.Preview = pv
	case kith.IsCode(err, kith.EINVALID):
		res.Problem = problemIn(typed, err)
	default:
		return res, err
	}
	return res, nil
}

// typedExpression is the expression a form posted, with the line breaks a
// textarea has in the page: browsers send them as CRLF.
func typedExpression(r *http.Request) string {
	return strings.ReplaceAll(r.PostFormValue("expression"), "\r\n", "\n")
}

// audienceForm is what the builder's form holds besides the expression:
// the name to save the audience under, and why saving it was refused.
type audienceForm struct {
	Name      string
	NameError string
}

func (con *Console) audienceBuilder(w http.ResponseWriter, r *http.Request, v *viewer, status int, typed string, res audienceResult) {
	con.audienceBuilderWith(w, r, v, status, typed, res, audienceForm{})
}

func (con *Console) audienceBuilderWith(w http.ResponseWriter, r *http.Request, v *viewer, status int, typed string, res audienceResult, f audienceForm) {
	con.render(w, r, status, "audiences", v, map[string]any{"Title": "Build an audience", "View": "builder", "Expression": typed,
		"Result": res, "Names": con.referenceNames(), "Examples": audienceExamples, "Form": f})
}

// handleAudienceBuilder draws the builder, with the expression of an
// example link when there is one (and no preview: that is asked for).
func (con *Console) handleAudienceBuilder(w http.ResponseWriter, r *http.Request, v *viewer) {
	con.audienceBuilder(w, r, v, http.StatusOK, r.URL.Query().Get("expression"), audienceResult{})
}

// handleAudiencePreviewPage is the builder's Preview button when kith.js
// did not run: the page again, with who matches.
func (con *Console) handleAudiencePreviewPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	typed := typedExpression(r)
	res, err := con.previewAudience(r.Context(), typed)
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	status := http.StatusOK
	if res.Problem != nil {
		status = http.StatusBadRequest
	}
	con.audienceBuilder(w, r, v, status, typed, res)
}

// handleAudiencePreview answers kith.js as the marketer types: the part of
// the builder under the expression. An ill-typed expression is answered
// 200 too: the refusal is what the builder shows, not a failed request.
func (con *Console) handleAudiencePreview(w http.ResponseWriter, r *http.Request, v *viewer) {
	res, err := con.previewAudience(r.Context(), typedExpression(r))
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	con.renderFragment(w, r, http.StatusOK, "audiences", "audience-result", res)
}

// handleSaveAudience is the builder's Save button: the audience is saved
// and the list shown, or the builder drawn again with why not — a name
// missing or taken by the field, an ill-typed expression at its line and
// column.
func (con *Console) handleSaveAudience(w http.ResponseWriter, r *http.Request, v *viewer) {
	typed := typedExpression(r)
	name := r.PostFormValue("name")
	def, err := con.c.Audiences.Create(r.Context(), name, typed)
	if err == nil {
		http.Redirect(w, r, "/audiences?saved="+url.QueryEscape(def.ID), http.StatusSeeOther)
		return
	}
	code := kith.ErrorCode(err)
	if code != kith.EINVALID && code != kith.ECONFLICT {
		con.fail(w, r, v, err)
		return
	}
	f := audienceForm{Name: name}
	res := audienceResult{Expression: strings.TrimSpace(typed)}
	if kith.ErrorField(err) == "expression" {
		res.Problem = problemIn(typed, err)
	} else {
		f.NameError = kith.ErrorMessage(err)
	}
	status := http.StatusBadRequest
	if code == kith.ECONFLICT {
		status = http.StatusConflict
	}
	con.audienceBuilderWith(w, r, v, status, typed, res, f)
}

// audienceHistory is how far back the list's charts go.
const audienceHistory = 30 * 24 * time.Hour

// audienceRow is a saved audience as the list shows it.
type audienceRow struct {
	audience.Status
	Chart *sparkline
	Saved bool // just saved: the list was reached by saving it
}

// handleAudiences lists the saved audiences with their size now and a chart
// of their size over the last 30 days. Counts only: no personal data.
func (con *Console) handleAudiences(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := r.Context()
	defs, err := con.c.Audiences.Audiences(ctx)
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	now := time.Now().UTC()
	saved := r.URL.Query().Get("saved")
	rows := make([]audienceRow, 0, len(defs))
	var justSaved *audienceRow
	for _, d := range defs {
		st, err := con.c.Audiences.Status(ctx, d.ID)
		if err != nil {
			con.fail(w, r, v, err)
			return
		}
		sizes, err := con.c.Audiences.History(ctx, d.ID, now.Add(-audienceHistory))
		if err != nil {
			con.fail(w, r, v, err)
			return
		}
		// The size now ends the line, unless it is still being counted.
		if st.Backfill == nil || st.Backfill.Done {
			sizes = append(sizes, kith.AudienceSize{At: now, Size: st.Size})
		}
		rows = append(rows, audienceRow{Status: *st, Chart: newSparkline(d.Name, sizes), Saved: d.ID == saved})
	}
	for i := range rows {
		if rows[i].Saved {
			justSaved = &rows[i]
		}
	}
	con.render(w, r, http.StatusOK, "audiences", v, map[string]any{"Title": "Audiences", "View": "list",
		"Audiences": rows, "Saved": justSaved, "Days": int(audienceHistory / (24 * time.Hour))})
}
