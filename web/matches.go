package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/match"
	"github.com/kithhq/kith/matching"
	"github.com/kithhq/kith/profile"
)

// The review queue shows this many pending pairs at a time, most probable
// first: each costs two audited profile reads.
const queueLimit = 25

// decidedLimit is how many decided pairs a tab of the review queue lists.
const decidedLimit = 200

// matchTab is a tab of the review queue: the pending pairs, every decided
// one, or one kind of decision.
type matchTab struct {
	Status, Label string
}

var matchTabs = []matchTab{
	{kith.MatchPending, "To review"},
	{"decided", "Decided"},
	{kith.MatchMerged, "Merged"},
	{kith.MatchRejected, "Rejected"},
	{kith.MatchUndone, "Undone"},
	{kith.MatchRefused, "Refused"},
}

// matchEvidence is a pair's evidence as the matcher records it.
type (
	matchEvidence = matching.Evidence
	fieldEvidence = matching.FieldProof
)

// fieldLabels name the matcher's fields as a steward reads them.
var fieldLabels = map[string]string{
	"given_name": "Given name", "surname": "Family name", "street_number": "Street number", "address_1": "Street",
	"address_2": "Address line 2", "suburb": "Town or suburb", "postcode": "Postcode", "state": "State",
	"date_of_birth": "Birth date", "soc_sec_id": "ID number",
}

func fieldLabel(f string) string { return first(fieldLabels[f], f) }

// parseEvidence reads a pair's evidence; values are hidden from a viewer
// without access to personal data.
func parseEvidence(raw json.RawMessage, pii bool) matchEvidence {
	var ev matchEvidence
	_ = json.Unmarshal(raw, &ev)
	if !pii {
		for i := range ev.Fields {
			if ev.Fields[i].Left != "" {
				ev.Fields[i].Left = profile.Hidden
			}
			if ev.Fields[i].Right != "" {
				ev.Fields[i].Right = profile.Hidden
			}
		}
	}
	return ev
}

// pairSide is one profile of a pair, read for the viewer.
type pairSide struct {
	ID      string        // as the pair names it
	View    *profile.View // nil when it is gone
	Missing string        // why it could not be shown
}

// Title names the side's person: their name, or the profile when it has
// none the viewer may see.
func (s pairSide) Title() string {
	if s.View != nil && s.View.Name != "" {
		return s.View.Name
	}
	return "Profile " + s.ID
}

// compareRow is one line of the side-by-side comparison: a field the
// matcher reads, as each profile holds it; Differ when both hold it and
// not alike.
type compareRow struct {
	Label       string
	Left, Right string
	Differ      bool
}

// pairCard is a pending pair as the review queue shows it.
type pairCard struct {
	kith.MatchPair
	Evidence    matchEvidence
	Left, Right pairSide
	Compare     []compareRow
	Same        bool // the two are one profile now
}

// pairCards reads both profiles of each pair with the viewer's actor, so
// the reads are recorded and personal data is hidden from those who may not
// see it.
func (con *Console) pairCards(ctx context.Context, v *viewer, pairs []kith.MatchPair) ([]pairCard, error) {
	cards := make([]pairCard, len(pairs))
	traits := con.c.Matching.Traits()
	for i, p := range pairs {
		c := pairCard{MatchPair: p, Evidence: parseEvidence(p.Evidence, v.Actor.PII)}
		var recs [2]match.Record
		for k, side := range []*pairSide{&c.Left, &c.Right} {
			side.ID = []string{p.Left, p.Right}[k]
			view, err := con.c.Profiles.Get(ctx, side.ID)
			switch {
			case kith.IsCode(err, kith.ENOTFOUND):
				side.Missing = kith.ErrorMessage(err)
				continue
			case err != nil:
				return nil, err
			}
			side.View = view
			recs[k] = matching.Record(view.Profile, traits)
		}
		c.Same = c.Left.View != nil && c.Right.View != nil && c.Left.View.ID == c.Right.View.ID
		for _, f := range match.Fields() {
			l, r := recs[0].Values[f], recs[1].Values[f]
			if l == "" && r == "" {
				continue
			}
			c.Compare = append(c.Compare, compareRow{Label: fieldLabel(f.String()), Left: l, Right: r,
				Differ: l != "" && r != "" && !strings.EqualFold(l, r)})
		}
		cards[i] = c
	}
	return cards, nil
}

// decidedPair is a decided pair as its tab lists it.
type decidedPair struct {
	kith.MatchPair
	Evidence matchEvidence
}

// decision is what a steward just did, shown above the queue.
type decision struct {
	kith.MatchPair
	Mine bool // decided by the viewer
}

func (con *Console) handleMatches(w http.ResponseWriter, r *http.Request, v *viewer) {
	con.matchesPage(w, r, v, http.StatusOK, nil)
}

// matchesPage draws a tab of the review queue; refusal, when set, is a
// decision that was refused (someone decided first).
func (con *Console) matchesPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, refusal error) {
	ctx := r.Context()
	tab := r.URL.Query().Get("status")
	if tab == "" || refusal != nil {
		tab = kith.MatchPending
	}
	if !slices.ContainsFunc(matchTabs, func(t matchTab) bool { return t.Status == tab }) {
		con.fail(w, r, v, kith.Invalid("status", "unknown status %q; use pending, decided, merged, rejected, undone or refused", tab))
		return
	}
	data := map[string]any{"Title": "Review matches", "Tab": tab, "Tabs": matchTabs}
	if refusal != nil {
		data["Refusal"] = kith.ErrorMessage(refusal)
	}
	if id := r.URL.Query().Get("decided"); id != "" && refusal == nil {
		p, err := con.c.Matching.Pair(ctx, id)
		if err != nil && !kith.IsCode(err, kith.ENOTFOUND) {
			con.fail(w, r, v, err)
			return
		}
		if p != nil {
			data["Decided"] = decision{MatchPair: *p, Mine: p.DecidedBy == v.Actor.String()}
		}
	}
	if tab == kith.MatchPending {
		pairs, err := con.c.Matching.Pairs(ctx, kith.MatchPending, queueLimit+1)
		if err != nil {
			con.fail(w, r, v, err)
			return
		}
		if len(pairs) > queueLimit {
			pairs, data["More"] = pairs[:queueLimit], true
		}
		cards, err := con.pairCards(ctx, v, pairs)
		if err != nil {
			con.fail(w, r, v, err)
			return
		}
		data["Cards"], data["Limit"] = cards, queueLimit
		con.render(w, r, status, "matches", v, data)
		return
	}
	want := tab
	if tab == "decided" {
		want = ""
	}
	pairs, err := con.c.Matching.Pairs(ctx, want, decidedLimit)
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	pairs = slices.DeleteFunc(pairs, func(p kith.MatchPair) bool { return p.Status == kith.MatchPending })
	// The latest decisions first: what a steward looks for here.
	slices.SortStableFunc(pairs, func(a, b kith.MatchPair) int { return b.DecidedAt.Compare(a.DecidedAt) })
	rows := make([]decidedPair, len(pairs))
	for i, p := range pairs {
		// No profile is read here: the values are on the customers' pages.
		rows[i] = decidedPair{MatchPair: p, Evidence: parseEvidence(p.Evidence, false)}
	}
	data["Rows"], data["Limit"] = rows, decidedLimit
	con.render(w, r, status, "matches", v, data)
}

// handleMatchDecision accepts or rejects a pending pair once the steward
// has confirmed it: in the browser (kith.js asks, and says yes in the
// form), or on a page of its own when the script did not run.
func (con *Console) handleMatchDecision(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := r.Context()
	id, verb := r.PathValue("id"), r.PathValue("decision")
	if verb != "accept" && verb != "reject" {
		con.fail(w, r, v, kith.Errorf(kith.ENOTFOUND, "a pair is accepted or rejected: POST /matches/{id}/accept or /reject"))
		return
	}
	if r.PostFormValue("confirmed") != "yes" {
		p, err := con.c.Matching.Pair(ctx, id)
		if err != nil {
			con.fail(w, r, v, err)
			return
		}
		if p.Status != kith.MatchPending {
			con.matchesPage(w, r, v, http.StatusConflict, matching.AlreadyDecided(p))
			return
		}
		cards, err := con.pairCards(ctx, v, []kith.MatchPair{*p})
		if err != nil {
			con.fail(w, r, v, err)
			return
		}
		title := "Merge these two profiles?"
		if verb == "reject" {
			title = "Keep these two people apart?"
		}
		con.render(w, r, http.StatusOK, "matches", v, map[string]any{"Title": title, "Confirm": verb, "Card": cards[0]})
		return
	}
	var err error
	if verb == "accept" {
		_, err = con.c.Matching.Accept(ctx, id)
	} else {
		_, err = con.c.Matching.Reject(ctx, id)
	}
	switch kith.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/matches?decided="+url.QueryEscape(id), http.StatusSeeOther)
	case kith.ECONFLICT:
		// Someone decided first: the queue as it is now, saying who.
		con.matchesPage(w, r, v, http.StatusConflict, err)
	default:
		con.fail(w, r, v, err)
	}
}

// matchProbability shows a match probability to a tenth of a percent,
// never rounding up to a certainty.
func matchProbability(p float64) string {
	switch {
	case p >= 0.999:
		return "over 99.9%"
	case p > 0 && p < 0.001:
		return "under 0.1%"
	}
	return strconv.FormatFloat(p*100, 'f', 1, 64) + "%"
}

// bits shows a weight of evidence with its sign: "+6.10", "−6.07".
func bits(w float64) string {
	switch {
	case w > 0:
		return fmt.Sprintf("+%.2f", w)
	case w < 0:
		return fmt.Sprintf("−%.2f", -w)
	}
	return "0.00"
}

// decider names who decided a pair: a console user by name, the matcher
// as itself.
func decider(by string) string {
	if name, ok := strings.CutPrefix(by, string(kith.ActorUser)+":"); ok {
		return name
	}
	return by
}
