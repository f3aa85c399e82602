package web

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/consent"
	"github.com/kithhq/kith/profile"
)

// The console's names of the consent purposes, channels, states and
// contact point statuses.
var (
	purposeNames = map[string]string{kith.PurposeMarketing: "Marketing", kith.PurposeService: "Service", kith.PurposeAlerts: "Alerts"}
	contactNames = map[string]string{kith.ContactEmail: "E-mail", kith.ContactSMS: "SMS", kith.ContactPush: "Push",
		kith.ContactPhone: "Phone", kith.ContactPost: "Post", kith.ContactChat: "Chat"}
	stateNames = map[string]string{kith.ConsentOptedIn: "Opted in", kith.ConsentOptedOut: "Opted out",
		kith.ConsentUnset: "Unset (back to the default)"}
	contactStatuses = []string{kith.ContactVerified, kith.ContactUnverified, kith.ContactBounced, kith.ContactUnreachable}
)

func nameIn(names map[string]string) func(string) string {
	return func(s string) string {
		if n, ok := names[s]; ok {
			return n
		}
		return s
	}
}

// viaAgent is how a decision taken from the customer's page reaches Kith:
// the agent enters what the person says on the call.
const viaAgent = "call_center"

// consentInput is what the form to record a decision holds, and why it
// was refused.
type consentInput struct {
	Purpose, Channel, Address, State, Wording string
	Field, Error                              string
}

// consentFields are the fields of that form, as consent.Service names them.
var consentFields = []string{"purpose", "channel", "address", "state", "wording"}

// contactInput is what the form to set a contact point holds, and why it
// was refused.
type contactInput struct {
	Channel, Address, Status, Label, Reason string
	Field, Error                            string
}

var contactFields = []string{"channel", "address", "status", "label"}

// preferencesInput is a form of the Preferences panel that was refused, to
// draw again with what was typed.
type preferencesInput struct {
	Consent *consentInput
	Contact *contactInput
}

// contactRow is one of the person's contact points.
type contactRow struct {
	kith.ContactPoint
	// Implied is an e-mail or phone identifier, used as unverified while
	// no contact point of its channel is recorded.
	Implied bool
	Hidden  bool // the address is personal data the viewer may not see
}

// gridCell is what the gate answers now for a purpose on a channel.
type gridCell struct {
	Purpose, Channel string
	Allowed          bool
	Minor            bool
	Reason           string
	Address          string // where it would go, when allowed
	Guardian         *person
}

// person names a profile: its id, and its name for a viewer who may see it.
type person struct {
	ID, Name string
}

// gridRow is the gate's answers for one purpose, channel by channel.
type gridRow struct {
	Purpose string
	Cells   []gridCell
}

// historyRow is one decision, as the history shows it.
type historyRow struct {
	kith.ConsentRecord
	Hidden bool // address and wording are hidden from the viewer
}

// preferencesPanel is the customer 360's Preferences panel: contact
// points, what the gate answers now, the decisions, and the forms to
// change them.
type preferencesPanel struct {
	ProfileID string
	CSRF      string
	CanChange bool
	PII       bool
	Contacts  []contactRow
	Channels  []string
	Grid      []gridRow
	// Minor says the minor rule applies, and MinorWhy why ("15 years old
	// by birthday", for a viewer who may see it); Guardian is who receives
	// their service and alert messages.
	Minor     bool
	MinorWhy  string
	Guardian  *person
	History   []historyRow
	Addresses []string // known addresses, offered while typing one
	Notice    string   // what a change just did
	Failed    bool     // the panel could not be read
	Consent   consentInput
	Contact   contactInput
	// ConsentOther and ContactOther are a refusal about no field of the
	// form.
	ConsentOther, ContactOther string
	Purposes, States, Statuses []string
}

// preferencesPanel reads the consent state of the person with profile
// id; nil when the console has no consent service. links are the
// person's identifiers; in, a refused form to draw again.
func (con *Console) preferencesPanel(ctx context.Context, r *http.Request, v *viewer, id string, in *preferencesInput) *preferencesPanel {
	if con.c.Consent == nil {
		return nil
	}
	p := &preferencesPanel{ProfileID: id, CSRF: v.Session.CSRF, CanChange: v.Can(string(access.PermConsentChange)), PII: v.Actor.PII,
		Channels: kith.ContactChannels, Purposes: kith.Purposes, Statuses: contactStatuses,
		States:  []string{kith.ConsentOptedIn, kith.ConsentOptedOut, kith.ConsentUnset},
		Consent: consentInput{Purpose: kith.PurposeMarketing, Channel: kith.ContactEmail, State: kith.ConsentOptedOut},
		Contact: contactInput{Channel: kith.ContactSMS, Status: kith.ContactVerified}}
	if in != nil && in.Consent != nil {
		p.Consent = *in.Consent
		if !slices.Contains(consentFields, p.Consent.Field) {
			p.ConsentOther = p.Consent.Error
		}
	}
	if in != nil && in.Contact != nil {
		p.Contact = *in.Contact
		if !slices.Contains(contactFields, p.Contact.Field) {
			p.ContactOther = p.Contact.Error
		}
	}
	if err := con.readPreferences(ctx, p, r.URL.Query()); err != nil {
		// The rest of the customer's page is still worth showing.
		con.log.Error("read the consent of a profile", "profile", id, "err", err)
		return &preferencesPanel{ProfileID: id, Failed: true}
	}
	return p
}

func (con *Console) readPreferences(ctx context.Context, p *preferencesPanel, q url.Values) error {
	svc, who := con.c.Consent, consent.Who{Profile: p.ProfileID}
	_, _, links, err := con.c.Profiles.Person(ctx, p.ProfileID)
	if err != nil {
		return err
	}
	cps, err := svc.ContactPoints(ctx, who)
	if err != nil {
		return err
	}
	// What a viewer without personal data may not read: every address the
	// person and whoever receives their messages may be reached at.
	secrets := addressesOf(cps, links)

	for _, cp := range cps {
		p.Contacts = append(p.Contacts, contactRow{ContactPoint: cp})
	}
	for _, l := range links {
		// As the gate does: an e-mail or phone identifier stands for a
		// contact point while none of its channel is recorded.
		for _, ch := range impliedChannels[l.Type] {
			if !slices.ContainsFunc(cps, func(cp kith.ContactPoint) bool { return cp.Channel == ch }) {
				p.Contacts = append(p.Contacts, contactRow{ContactPoint: kith.ContactPoint{ProfileID: l.ProfileID, Channel: ch,
					Address: l.Value, Status: kith.ContactUnverified}, Implied: true})
			}
		}
	}
	slices.SortStableFunc(p.Contacts, func(a, b contactRow) int {
		return cmp.Compare(slices.Index(kith.ContactChannels, a.Channel), slices.Index(kith.ContactChannels, b.Channel))
	})

	recipients := map[string]*person{}
	for _, purpose := range kith.Purposes {
		row := gridRow{Purpose: purpose}
		for _, ch := range kith.ContactChannels {
			d, err := svc.Check(ctx, who, purpose, ch)
			if err != nil {
				return err
			}
			cell := gridCell{Purpose: purpose, Channel: ch, Allowed: d.Allowed, Minor: d.Minor, Reason: d.Reason}
			if d.Recipient != "" && d.Recipient != d.Profile {
				// The cell names the guardian on a line of its own.
				cell.Reason, _, _ = strings.Cut(cell.Reason, "; a minor's ")
				cell.Reason = strings.TrimSuffix(cell.Reason, " for the guardian "+d.Recipient)
			}
			if d.ContactPoint != nil {
				cell.Address = d.ContactPoint.Address
			}
			if d.Recipient != "" && d.Recipient != d.Profile {
				g, ok := recipients[d.Recipient]
				if !ok {
					gp, _, glinks, err := con.c.Profiles.Person(ctx, d.Recipient)
					if err != nil {
						return err
					}
					gcps, err := svc.ContactPoints(ctx, consent.Who{Profile: gp.ID})
					if err != nil {
						return err
					}
					secrets = append(secrets, addressesOf(gcps, glinks)...)
					g = &person{ID: gp.ID, Name: profile.DisplayName(gp)}
					recipients[d.Recipient] = g
				}
				cell.Guardian = g
				p.Guardian = g
			}
			if d.Minor {
				p.Minor = true
				if _, why, ok := strings.Cut(d.Reason, "minor ("); ok && p.MinorWhy == "" {
					p.MinorWhy = strings.TrimSuffix(why, ")")
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		p.Grid = append(p.Grid, row)
	}

	recs, err := svc.History(ctx, who)
	if err != nil {
		return err
	}
	// Newest first: by when the person decided, as the gate orders them.
	slices.SortStableFunc(recs, func(a, b kith.ConsentRecord) int {
		if c := b.DecidedAt.Compare(a.DecidedAt); c != 0 {
			return c
		}
		return b.RecordedAt.Compare(a.RecordedAt)
	})
	for _, rec := range recs {
		p.History = append(p.History, historyRow{ConsentRecord: rec})
	}

	if id := q.Get("consent"); id != "" {
		if i := slices.IndexFunc(recs, func(rec kith.ConsentRecord) bool { return rec.ID == id }); i >= 0 {
			p.Notice = recordedNotice(recs[i])
		}
	}
	if ch := q.Get("contact"); ch != "" {
		var last *kith.ContactPoint
		for i := range cps {
			if cps[i].Channel == ch && (last == nil || cps[i].UpdatedAt.After(last.UpdatedAt)) {
				last = &cps[i]
			}
		}
		if last != nil {
			p.Notice = "Saved the " + contactNames[ch] + " contact point " + last.Address + ": " + last.Status + "."
		}
	}

	if p.PII {
		for _, c := range p.Contacts {
			if !slices.Contains(p.Addresses, c.Address) {
				p.Addresses = append(p.Addresses, c.Address)
			}
		}
		return nil
	}
	hide := hider(secrets)
	for i := range p.Contacts {
		p.Contacts[i].Address, p.Contacts[i].Hidden = profile.Hidden, true
	}
	for i := range p.Grid {
		for j := range p.Grid[i].Cells {
			c := &p.Grid[i].Cells[j]
			c.Reason = hide(c.Reason)
			if c.Minor {
				// Not how old: the birthday is personal data.
				c.Reason, _, _ = strings.Cut(c.Reason, " (")
			}
			if c.Address != "" {
				c.Address = profile.Hidden
			}
		}
	}
	for _, g := range recipients {
		g.Name = ""
	}
	p.MinorWhy = ""
	p.Notice = hide(p.Notice)
	for i := range p.History {
		h := &p.History[i]
		h.Hidden = true
		if h.Address != "" {
			h.Address = profile.Hidden
		}
		if h.Wording != "" {
			// What the person agreed to may name them or their address.
			h.Wording = profile.Hidden
		}
	}
	return nil
}

// impliedChannels are the channels an identifier type stands for a contact
// point on, as the gate reads them.
var impliedChannels = map[string][]string{kith.IDEmail: {kith.ContactEmail}, kith.IDPhone: {kith.ContactSMS, kith.ContactPhone}}

func addressesOf(cps []kith.ContactPoint, links []kith.Link) []string {
	var out []string
	for _, cp := range cps {
		out = append(out, cp.Address)
	}
	for _, l := range links {
		out = append(out, l.Value)
	}
	return out
}

// hider replaces each of the addresses in a text with "(hidden)", the
// longest first, so that one address inside another goes too.
func hider(addresses []string) func(string) string {
	addresses = slices.DeleteFunc(slices.Clone(addresses), func(s string) bool { return s == "" })
	slices.SortFunc(addresses, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(addresses))
	for _, a := range addresses {
		pairs = append(pairs, a, profile.Hidden)
	}
	rep := strings.NewReplacer(pairs...)
	return rep.Replace
}

func recordedNotice(rec kith.ConsentRecord) string {
	s := "Recorded: " + stateNames[rec.State] + " of " + strings.ToLower(purposeNames[rec.Purpose]) + " by " + contactNames[rec.Channel]
	if rec.Address != "" {
		s += " at " + rec.Address
	}
	return s + ", via " + viaName(rec.Via) + "."
}

func viaName(via string) string { return strings.ReplaceAll(via, "_", " ") }

// handleRecordConsent is the Preferences panel's form to record a
// decision the person states on the call, as the signed-in agent through
// the call center: back on the customer's page saying what was recorded
// (303), or the page again with what was typed and why not by the field
// at fault (400).
func (con *Console) handleRecordConsent(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	in := consentInput{Purpose: r.PostFormValue("purpose"), Channel: r.PostFormValue("channel"), Address: r.PostFormValue("address"),
		State: r.PostFormValue("state"), Wording: r.PostFormValue("wording")}
	recs, err := con.c.Consent.Record(r.Context(), consent.Change{Who: consent.Who{Profile: id}, Purpose: in.Purpose, Channel: in.Channel,
		Address: in.Address, State: in.State, Via: viaAgent, Wording: strings.TrimSpace(in.Wording)})
	if err == nil {
		http.Redirect(w, r, "/profiles/"+url.PathEscape(recs[0].ProfileID)+"?consent="+url.QueryEscape(recs[0].ID)+"#preferences", http.StatusSeeOther)
		return
	}
	if !kith.IsCode(err, kith.EINVALID) {
		con.fail(w, r, v, err)
		return
	}
	in.Field, in.Error = kith.ErrorField(err), kith.ErrorMessage(err)
	con.profilePage(w, r, v, http.StatusBadRequest, id, nil, &preferencesInput{Consent: &in}, nil)
}

// handleSetContact is the Preferences panel's form to set a contact point
// and its status, answered as handleRecordConsent answers.
func (con *Console) handleSetContact(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	in := contactInput{Channel: r.PostFormValue("channel"), Address: r.PostFormValue("address"), Status: r.PostFormValue("status"),
		Label: strings.TrimSpace(r.PostFormValue("label")), Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	cp, err := con.c.Consent.SetContactPoint(r.Context(), consent.Who{Profile: id}, kith.ContactPoint{Channel: in.Channel,
		Address: in.Address, Status: in.Status, Label: in.Label, Reason: in.Reason})
	if err == nil {
		http.Redirect(w, r, "/profiles/"+url.PathEscape(cp.ProfileID)+"?contact="+url.QueryEscape(cp.Channel)+"#preferences", http.StatusSeeOther)
		return
	}
	if !kith.IsCode(err, kith.EINVALID) {
		con.fail(w, r, v, err)
		return
	}
	in.Field, in.Error = kith.ErrorField(err), kith.ErrorMessage(err)
	con.profilePage(w, r, v, http.StatusBadRequest, id, nil, &preferencesInput{Contact: &in}, nil)
}
