package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/offer"
)

// honourRow is what one channel, or every channel an offer does not name,
// does when a customer brings the offer there.
type honourRow struct {
	kith.Honour
	Channel kith.Kind   // kith.OtherChannels for the rest
	Covers  []kith.Kind // for kith.OtherChannels: the channels it stands for
}

// honourRows lists the honour policy of every channel that does not redeem
// an offer: the channels it names, in the usual order, then the rest.
func honourRows(channels []kith.Kind, honour map[kith.Kind]kith.Honour) []honourRow {
	var rows []honourRow
	var rest []kith.Kind
	for _, k := range kith.Kinds {
		if slices.Contains(channels, k) {
			continue
		}
		if h, ok := honour[k]; ok {
			rows = append(rows, honourRow{Honour: h, Channel: k})
			continue
		}
		rest = append(rest, k)
	}
	if h, ok := honour[kith.OtherChannels]; ok && len(rest) > 0 {
		rows = append(rows, honourRow{Honour: h, Channel: kith.OtherChannels, Covers: rest})
	}
	return rows
}

// honourText says what staff on a channel do with an offer they do not
// redeem, as an instruction.
func honourText(h kith.Honour) string {
	switch h.Action {
	case kith.HonourAsGranted:
		return "Honour it as granted"
	case kith.HonourWithFee:
		if h.Fee == nil {
			return "Honour it with a fee"
		}
		return "Honour it with a fee of " + price(*h.Fee)
	case kith.HonourAlternative:
		return "Do not redeem it; offer instead: " + h.Alternative
	}
	return string(h.Action)
}

// price shows an amount with its currency: "130.00 USD".
func price(m kith.Money) string { return money(m.Amount) + " " + m.Currency }

// channelList names channels as people do: "Store, Call center and Website".
func channelList(ks []kith.Kind) string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = channelName(k)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// offerRow is an offer as the offers page shows it.
type offerRow struct {
	kith.Offer
	Live   bool
	Others []honourRow
}

func (con *Console) handleOffers(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	all := r.URL.Query().Get("all") != ""
	offers, err := con.c.Offers.List(r.Context(), q, all)
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	now := time.Now()
	rows := make([]offerRow, len(offers))
	for i := range offers {
		o := &offers[i]
		rows[i] = offerRow{Offer: *o, Live: offer.Live(o, now), Others: honourRows(o.Channels, o.Honour)}
	}
	// The toggle keeps the search, and the search keeps the toggle.
	toggle := url.Values{}
	if q != "" {
		toggle.Set("q", q)
	}
	if !all {
		toggle.Set("all", "1")
	}
	con.render(w, r, http.StatusOK, "offers", v, map[string]any{"Title": "Offers", "View": "list", "Q": q, "All": all,
		"Offers": rows, "Toggle": template.URL("/offers?" + toggle.Encode())})
}

func (con *Console) handleOffer(w http.ResponseWriter, r *http.Request, v *viewer) {
	code := r.PathValue("code")
	cur, err := con.c.Offers.Offer(r.Context(), code, 0)
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	o := cur
	if s := r.URL.Query().Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > cur.Version {
			con.fail(w, r, v, kith.Invalid("version", "offer %s has versions 1 to %d", cur.Code, cur.Version))
			return
		}
		if n != cur.Version {
			if o, err = con.c.Offers.Offer(r.Context(), code, n); err != nil {
				con.fail(w, r, v, err)
				return
			}
		}
	}
	versions := make([]int, cur.Version)
	for i := range versions {
		versions[i] = cur.Version - i
	}
	con.render(w, r, http.StatusOK, "offers", v, map[string]any{"Title": o.Name, "View": "offer",
		"O":       offerRow{Offer: *o, Live: offer.Live(cur, time.Now()), Others: honourRows(o.Channels, o.Honour)},
		"Current": cur.Version, "Versions": versions})
}

// redeemOption is a channel a grant can be redeemed through from the
// console, with the fee its honour policy charges, if any.
type redeemOption struct {
	Channel  kith.Kind
	Fee      *kith.Money
	Selected bool
}

// defaultChannel is where a redemption in the console happens unless the
// person says otherwise: the agent is on the phone.
const defaultChannel = kith.KindCallCenter

// redeemOptions lists the channels that redeem a grant: the offer's own,
// then those whose honour policy honours it, with or without a fee. The
// channel picked is selected, else the call center, else the first.
func redeemOptions(gv *offer.View, picked kith.Kind) []redeemOption {
	var opts []redeemOption
	for _, k := range gv.RedeemableOn() {
		opt := redeemOption{Channel: k}
		if h := gv.HonourFor(k); h != nil && h.Action == kith.HonourWithFee {
			opt.Fee = h.Fee
		}
		opts = append(opts, opt)
	}
	for _, want := range []kith.Kind{picked, defaultChannel} {
		if i := slices.IndexFunc(opts, func(o redeemOption) bool { return o.Channel == want }); i >= 0 {
			opts[i].Selected = true
			return opts
		}
	}
	if len(opts) > 0 {
		opts[0].Selected = true
	}
	return opts
}

// grantRow is a grant as the customer's Offers panel shows it.
type grantRow struct {
	offer.View
	Others  []honourRow
	Options []redeemOption
	// Key makes a second submission of the same form (a double click, a
	// resend) return the first result instead of a refusal.
	Key string
}

// offersPanel is the customer 360's Offers panel.
type offersPanel struct {
	ProfileID string
	CSRF      string
	CanRedeem bool
	Held      []grantRow // held now, redeemable or held back
	History   []grantRow // redeemed, voided or expired, newest first
	Notice    string     // what a redemption just did
	Refusal   string     // why one was refused
	Failed    bool       // the grants could not be read
}

// redeemResult is what a redemption from the panel did, to show on the
// customer's page: the grant it was for and the refusal, if any.
type redeemResult struct {
	Grant   string
	Channel kith.Kind
	Err     error
}

// offersPanel reads the grants of the person with profile id; nil when the
// console has no offer ledger or the viewer may not see offers.
func (con *Console) offersPanel(ctx context.Context, v *viewer, id, redeemed string, res *redeemResult) *offersPanel {
	if con.c.Offers == nil || !v.Can(string(access.PermOffersRead)) {
		return nil
	}
	p := &offersPanel{ProfileID: id, CSRF: v.Session.CSRF, CanRedeem: v.Can(string(access.PermOffersRedeem))}
	_, views, err := con.c.Offers.HeldUnrecorded(ctx, offer.Target{Profile: id})
	if err != nil {
		// The rest of the customer's page is still worth showing.
		con.log.Error("read the grants of a profile", "profile", id, "err", err)
		p.Failed = true
		return p
	}
	if res != nil {
		p.Refusal = kith.ErrorMessage(res.Err)
	}
	for i := range views {
		gv := &views[i]
		row := grantRow{View: *gv, Others: honourRows(gv.Channels, gv.Honour)}
		if gv.State == kith.GrantHeld {
			var picked kith.Kind
			if res != nil && res.Grant == gv.ID {
				picked = res.Channel
			}
			row.Options, row.Key = redeemOptions(gv, picked), newToken()
			p.Held = append(p.Held, row)
			continue
		}
		p.History = append(p.History, row)
		if gv.ID == redeemed && gv.Redemption != nil {
			p.Notice = redeemedNotice(gv)
		}
	}
	return p
}

func redeemedNotice(gv *offer.View) string {
	r := gv.Redemption
	s := "Redeemed " + gv.Name + " through " + channelName(r.Channel)
	if r.Location != "" {
		s += " (" + r.Location + ")"
	}
	s += " by " + r.Actor
	if r.Fee != nil {
		s += ", charging " + price(*r.Fee)
	}
	return s + "."
}

// handleRedeem redeems a grant of the customer's, once the person has
// confirmed it: in the browser (kith.js asks, and says yes in the form), or
// on a page of its own when the script did not run.
func (con *Console) handleRedeem(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, grant := r.PathValue("id"), r.PathValue("grant")
	channel := kith.Kind(r.PostFormValue("channel"))
	// The grant must be this customer's now: after a merge is undone it may
	// belong to someone else than the page that offered it.
	pid, views, err := con.c.Offers.Held(r.Context(), offer.Target{Profile: id})
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	i := slices.IndexFunc(views, func(gv offer.View) bool { return gv.ID == grant })
	if i < 0 {
		con.fail(w, r, v, kith.Errorf(kith.ENOTFOUND, "profile %s holds no grant %s; reload the customer's page", pid, grant))
		return
	}
	gv := &views[i]
	if r.PostFormValue("confirmed") != "yes" {
		con.render(w, r, http.StatusOK, "offers", v, map[string]any{"Title": "Redeem " + gv.Name, "View": "confirm",
			"ProfileID": pid, "G": grantRow{View: *gv, Others: honourRows(gv.Channels, gv.Honour),
				Options: redeemOptions(gv, channel), Key: first(r.PostFormValue("key"), newToken())}})
		return
	}
	_, err = con.c.Offers.Redeem(r.Context(), offer.RedeemRequest{GrantID: grant, Channel: channel, Actor: v.User.Name,
		IdempotencyKey: r.PostFormValue("key"), Profile: pid})
	switch kith.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/profiles/"+url.PathEscape(pid)+"?redeemed="+url.QueryEscape(grant)+"#offers", http.StatusSeeOther)
	case kith.ECONFLICT, kith.EINVALID:
		// Refused: the customer's page as it is now, saying why.
		con.profilePage(w, r, v, statusOf[kith.ErrorCode(err)], pid, &redeemResult{Grant: grant, Channel: channel, Err: err}, nil, nil)
	default:
		con.fail(w, r, v, err)
	}
}
