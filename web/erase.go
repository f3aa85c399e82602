package web

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/profile"
)

// eraseInput is what the form to erase a person holds, and why it was
// refused.
type eraseInput struct {
	Reason, Confirm string
	Field, Error    string
	// Pending is the id of an erasure the refused request recorded and
	// did not finish: it finishes on its own, or when erased again.
	Pending string
}

// erasePanel is the customer 360's "Erase this person" section, shown
// only to a viewer with PermErase.
type erasePanel struct {
	ProfileID string
	CSRF      string
	eraseInput
	// Other is a refusal about no field of the form.
	Other string
}

// erasePanel returns the section for the person with profile id; nil when
// the console has no erasure service or the viewer may not erase. in is a
// refused form to draw again.
func (con *Console) erasePanel(v *viewer, id string, in *eraseInput) *erasePanel {
	if con.c.Erasure == nil || !v.Can(string(access.PermErase)) {
		return nil
	}
	p := &erasePanel{ProfileID: id, CSRF: v.Session.CSRF}
	if in != nil {
		p.eraseInput = *in
		if p.Field != "reason" && p.Field != "confirm" {
			p.Other = p.Error
		}
	}
	return p
}

// handleErase is the form at the foot of the customer's page: the person
// is erased once the profile id is typed as it is shown, a check made here
// so that it holds without the script. Erased, the answer is the erasure's
// page (303); a wrong confirmation or a refused reason draws the customer's
// page again with the error by its field (400), nothing erased; a refusal
// of the service (the processor behind, 503) draws it with its message.
func (con *Console) handleErase(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	in := eraseInput{Reason: strings.TrimSpace(r.PostFormValue("reason")), Confirm: strings.TrimSpace(r.PostFormValue("confirm"))}
	if in.Confirm != id {
		in.Field = "confirm"
		if in.Confirm == "" {
			in.Error = "type the profile id " + id + " to confirm; nothing was erased"
		} else {
			in.Error = "that is not this person's profile id; type " + id + " to confirm. Nothing was erased"
		}
		con.profilePage(w, r, v, http.StatusBadRequest, id, nil, nil, &in)
		return
	}
	if in.Reason != "" {
		p, _, links, err := con.c.Profiles.Person(r.Context(), id)
		if err != nil {
			con.fail(w, r, v, err)
			return
		}
		if what := personalIn(in.Reason, p, links); what != "" {
			in.Field = "reason"
			in.Error = "the reason stays after the person is gone, so it may not hold their personal data, and it holds their " + what + ". Nothing was erased"
			con.profilePage(w, r, v, http.StatusBadRequest, id, nil, nil, &in)
			return
		}
	}
	start := time.Now()
	e, err := con.c.Erasure.Erase(r.Context(), id, in.Reason)
	switch code := kith.ErrorCode(err); code {
	case "":
		http.Redirect(w, r, "/erasures/"+url.PathEscape(e.ID), http.StatusSeeOther)
	case kith.ENOTFOUND, kith.EINTERNAL, kith.EUNAUTHORIZED, kith.EFORBIDDEN:
		con.fail(w, r, v, err)
	default:
		in.Field, in.Error = kith.ErrorField(err), kith.ErrorMessage(err)
		in.Pending = con.pendingErasure(r.Context(), id, start)
		con.profilePage(w, r, v, cmp.Or(statusOf[code], http.StatusInternalServerError), id, nil, nil, &in)
	}
}

// personalIn returns what of the person's a reason holds, such as "email"
// when it holds their e-mail address: an identifier or a personal trait
// (profile.Personal), compared without case, spaces, dashes, dots or
// brackets so that a phone number typed as it is said is caught. Values
// shorter than four characters are left out: they name nobody.
func personalIn(reason string, p *kith.Profile, links []kith.Link) string {
	fold := strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "\t", "")
	norm := func(s string) string { return fold.Replace(strings.ToLower(s)) }
	text := norm(reason)
	holds := func(v string) bool { v = norm(v); return len(v) >= 4 && strings.Contains(text, v) }
	for _, l := range links {
		if holds(l.Value) {
			return strings.ReplaceAll(l.Type, "_", " ")
		}
	}
	names := make([]string, 0, len(p.Traits))
	for k := range p.Traits {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		var v string
		if profile.Personal(k) && json.Unmarshal(p.Traits[k].Value, &v) == nil && holds(v) {
			return strings.ReplaceAll(k, "_", " ")
		}
	}
	return ""
}

// pendingErasure returns the id of an erasure of profile id requested
// since start and not finished, if there is one.
func (con *Console) pendingErasure(ctx context.Context, id string, start time.Time) string {
	es, err := con.c.Erasure.List(ctx, start.Add(-time.Second), 100)
	if err != nil {
		con.log.Error("look for the erasure a failed request recorded", "profile", id, "err", err)
		return ""
	}
	for _, e := range slices.Backward(es) {
		if e.State == kith.ErasurePending && slices.Contains(e.Profiles, id) {
			return e.ID
		}
	}
	return ""
}

// erasedCount is one line of what an erasure removed.
type erasedCount struct {
	Name, What string
	N          int
}

func erasedCounts(c kith.ErasureCounts) []erasedCount {
	return []erasedCount{
		{"profiles", "Profiles", c.Profiles},
		{"identifiers", "Identifiers", c.Identifiers},
		{"events", "Events", c.Events},
		{"consents", "Consent decisions", c.Consents},
		{"contact_points", "Contact points", c.ContactPoints},
		{"relationships", "Relationships", c.Relationships},
		{"memberships", "Audience memberships", c.Memberships},
		{"matches", "Match candidates", c.Matches},
		{"grants", "Offers granted (those redeemed stay in the ledger without the person)", c.Grants},
		{"audit_redacted", "Audit records with their details redacted", c.AuditRedacted},
	}
}

// handleErasure shows an erasure: that the person was erased, when, by
// whom, why, and how much went. It holds no personal data.
func (con *Console) handleErasure(w http.ResponseWriter, r *http.Request, v *viewer) {
	e, err := con.c.Erasure.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	con.render(w, r, http.StatusOK, "erased", v, map[string]any{"Title": "Erased " + e.ID, "E": e,
		"Done": e.State == kith.ErasureDone, "Counts": erasedCounts(e.Removed)})
}
