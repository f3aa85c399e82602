package offer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/offer"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/sqlite"
)

var t0 = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

// world is the ledger over a real embedded store and real profiles.
type world struct {
	t      *testing.T
	db     *sqlite.DB
	proc   *profile.Processor
	people *profile.Service
	svc    *offer.Service
	now    time.Time
	n      int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := &world{t: t, db: db, now: t0}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.proc = profile.NewProcessor(db, profile.Config{Identity: identity.DefaultConfig()}, quiet, nil)
	w.people = profile.NewService(db, w.proc)
	w.svc = offer.New(db, offer.Config{People: w.people, Log: db, Source: &kith.Source{ID: "src_offers", Name: "kith-offers", Kind: kith.KindServer},
		Audit: db, Logger: quiet, Now: func() time.Time { return w.now }})
	return w
}

// identify sends an identify event with traits and processes it.
func (w *world) identify(user string, traits map[string]any) {
	w.t.Helper()
	w.n++
	body := map[string]any{"type": "identify", "traits": traits}
	e := kith.Event{MessageID: fmt.Sprint("m-", w.n), Type: kith.TypeIdentify, SourceID: "src_crm", Channel: kith.KindCallCenter,
		Timestamp: w.now, ReceivedAt: w.now}
	if user != "" {
		body["userId"], e.UserID = user, user
	} else {
		body["anonymousId"], e.AnonymousID = fmt.Sprint("anon-", w.n), fmt.Sprint("anon-", w.n)
	}
	e.Payload, _ = json.Marshal(body)
	if _, err := w.db.Append(context.Background(), []kith.Event{e}); err != nil {
		w.t.Fatal(err)
	}
	w.process()
}

func (w *world) process() {
	w.t.Helper()
	for range 100 {
		n, err := w.proc.Step(context.Background())
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func (w *world) profileOf(typ, value string) string {
	w.t.Helper()
	id, err := w.people.Resolve(context.Background(), typ, value)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func upgrade() kith.Offer {
	return kith.Offer{Code: "free-upgrade", Name: "Free upgrade", Description: "Internet only: upgrade to 1 Gbit",
		Terms:      kith.Terms{Price: kith.Money{Amount: 0, Currency: "usd"}, RegularPrice: &kith.Money{Amount: 130, Currency: "USD"}, Summary: "upgrade at 0 USD instead of 130"},
		ValidUntil: t0.Add(60 * 24 * time.Hour), GrantDays: 21, PerPerson: 1,
		Channels: []kith.Kind{kith.KindStore, kith.KindCallCenter, kith.KindWeb},
		Honour: map[kith.Kind]kith.Honour{
			kith.KindApp:       {Action: kith.HonourWithFee, Fee: &kith.Money{Amount: 5, Currency: "USD"}},
			kith.OtherChannels: {Action: kith.HonourAlternative, Alternative: "20% off the upgrade", Note: "send the customer to a store"}}}
}

func (w *world) create(o kith.Offer) *kith.Offer {
	w.t.Helper()
	got, err := w.svc.Create(context.Background(), o)
	if err != nil {
		w.t.Fatal(err)
	}
	return got
}

func reason(err error) string {
	d, _ := kith.ErrorDetail(err).(map[string]any)
	r, _ := d["reason"].(string)
	return r
}

// Situation 4: e-mail grants the offer to a customer known by e-mail; the
// call center finds her by phone and sees it at 0 with its terms; a store
// redeems it by code; the call center sees it redeemed, when and where; a
// second redemption anywhere is refused.
func TestSituation4(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify("cust-1", map[string]any{"email": "Maria@Example.com", "phone": "+1 415 555 0101", "plan": "internet"})
	o := w.create(upgrade())
	if o.Code != "FREE-UPGRADE" || o.Terms.Price.Currency != "USD" || o.Withdrawal != kith.WithdrawHonour || o.Status != kith.OfferActive {
		t.Fatalf("created %+v", o)
	}
	g, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "free-upgrade", Target: offer.Target{Identifier: kith.Identifier{Type: "email", Value: "maria@example.com"}},
		Channel: kith.KindEmail, Campaign: "autumn", Message: "mail-77"})
	if err != nil {
		t.Fatal(err)
	}
	if g.State != kith.GrantHeld || !g.Redeemable || g.ExpiresAt != t0.Add(21*24*time.Hour) || len(g.Code) != 14 {
		t.Errorf("grant %+v", g)
	}
	w.now = w.now.Add(time.Hour)
	_, held, err := w.svc.Held(ctx, offer.Target{Identifier: kith.Identifier{Type: "phone", Value: "(415) 555-0101"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].Terms.Price.Amount != 0 || held[0].Terms.RegularPrice.Amount != 130 || held[0].Name != "Free upgrade" {
		t.Fatalf("the call center sees %+v", held)
	}
	w.now = w.now.Add(24 * time.Hour)
	typed := "  " + toLowerWithSpaces(g.Code) + " "
	red, err := w.svc.Redeem(ctx, offer.RedeemRequest{Code: typed, Channel: kith.KindStore, Actor: "till 4", Location: "Market St store"})
	if err != nil {
		t.Fatal(err)
	}
	if red.State != kith.GrantRedeemed || red.Redemption.Location != "Market St store" || !red.Redemption.At.Equal(w.now) {
		t.Errorf("redeemed %+v", red.Redemption)
	}
	_, held, _ = w.svc.Held(ctx, offer.Target{Identifier: kith.Identifier{Type: "phone", Value: "+14155550101"}})
	if held[0].State != kith.GrantRedeemed || held[0].Redemption.Channel != kith.KindStore {
		t.Errorf("the call center then sees %+v", held[0])
	}
	for _, ch := range []kith.Kind{kith.KindStore, kith.KindCallCenter, kith.KindWeb} {
		_, err = w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: g.ID, Channel: ch})
		if !kith.IsCode(err, kith.ECONFLICT) || reason(err) != offer.ReasonRedeemed {
			t.Errorf("second redemption via %s: %v", ch, err)
		}
	}
	if msg := kith.ErrorMessage(err); msg != "Free upgrade was already redeemed on 5 May 2026 10:00 UTC through store (Market St store) by till 4" {
		t.Errorf("refusal says %q", msg)
	}
	// Every change and read is in the audit log.
	recs, err := w.db.Audit(ctx, kith.AuditFilter{Action: "grant."})
	if err != nil || len(recs) != 2 {
		t.Errorf("grant audit records %+v, %v", recs, err)
	}
	// The ledger events reach the log and the timeline.
	if n, err := w.svc.RelayOnce(ctx); err != nil || n != 2 {
		t.Fatalf("relayed %d, %v", n, err)
	}
	if n, _ := w.svc.RelayOnce(ctx); n != 0 {
		t.Errorf("relayed %d more; the outbox should be empty", n)
	}
	w.process()
	tl, err := w.people.Timeline(ctx, w.profileOf("email", "maria@example.com"), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range tl.Events {
		var m struct{ Event string }
		json.Unmarshal(e.Payload, &m)
		names = append(names, m.Event)
	}
	if len(names) < 3 || names[0] != kith.EventOfferRedeemed || names[1] != kith.EventOfferGranted {
		t.Errorf("timeline events %q", names)
	}
}

func toLowerWithSpaces(code string) string {
	out := []rune{}
	for _, r := range code {
		switch r {
		case '-':
			out = append(out, ' ')
		case '0':
			out = append(out, 'o') // read as a zero
		case '1':
			out = append(out, 'l')
		default:
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			out = append(out, r)
		}
	}
	return string(out)
}

func TestOfferValidation(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		edit  func(o *kith.Offer)
		field string
	}{
		{"bad code", func(o *kith.Offer) { o.Code = "x" }, "code"},
		{"no name", func(o *kith.Offer) { o.Name = " " }, "name"},
		{"negative price", func(o *kith.Offer) { o.Terms.Price.Amount = -1 }, "terms.price.amount"},
		{"bad currency", func(o *kith.Offer) { o.Terms.Price.Currency = "dollars" }, "terms.price.currency"},
		{"currencies differ", func(o *kith.Offer) { o.Terms.RegularPrice.Currency = "EUR" }, "terms.regular_price.currency"},
		{"no end", func(o *kith.Offer) { o.ValidUntil = time.Time{} }, "valid_until"},
		{"ends before it starts", func(o *kith.Offer) { o.ValidFrom = o.ValidUntil.Add(time.Hour) }, "valid_until"},
		{"negative budget", func(o *kith.Offer) { o.GrantBudget = -3 }, "grant_budget"},
		{"no channels", func(o *kith.Offer) { o.Channels = nil }, "channels"},
		{"unknown channel", func(o *kith.Offer) { o.Channels = append(o.Channels, "fax") }, "channels[3]"},
		{"channel twice", func(o *kith.Offer) { o.Channels = append(o.Channels, kith.KindWeb) }, "channels[3]"},
		{"honour for a redeeming channel", func(o *kith.Offer) { o.Honour[kith.KindStore] = kith.Honour{Action: kith.HonourAsGranted} }, "honour.store"},
		{"others not covered", func(o *kith.Offer) { delete(o.Honour, kith.OtherChannels) }, "honour"},
		{"fee without fee", func(o *kith.Offer) { o.Honour[kith.KindApp] = kith.Honour{Action: kith.HonourWithFee} }, "honour.app.fee"},
		{"alternative without words", func(o *kith.Offer) { o.Honour[kith.OtherChannels] = kith.Honour{Action: kith.HonourAlternative} }, "honour.*.alternative"},
		{"unknown action", func(o *kith.Offer) { o.Honour[kith.KindApp] = kith.Honour{Action: "maybe"} }, "honour.app.action"},
		{"unknown withdrawal", func(o *kith.Offer) { o.Withdrawal = "forget" }, "withdrawal"},
		{"unknown status", func(o *kith.Offer) { o.Status = "live" }, "status"},
		{"condition without trait", func(o *kith.Offer) { o.Eligibility = []kith.Condition{{Op: "eq", Value: []byte(`1`)}} }, "eligibility[0].trait"},
		{"unknown operator", func(o *kith.Offer) { o.Eligibility = []kith.Condition{{Trait: "plan", Op: "like"}} }, "eligibility[0].op"},
		{"gt on a string", func(o *kith.Offer) { o.Eligibility = []kith.Condition{{Trait: "age", Op: "gt", Value: []byte(`"x"`)}} }, "eligibility[0].value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := upgrade()
			c.edit(&o)
			_, err := w.svc.Create(ctx, o)
			if !kith.IsCode(err, kith.EINVALID) || kith.ErrorField(err) != c.field {
				t.Errorf("Create: %v (field %q), want invalid %s", err, kith.ErrorField(err), c.field)
			}
		})
	}
	if all, _ := w.svc.List(ctx, "", true); len(all) != 0 {
		t.Errorf("refused offers were stored: %+v", all)
	}
	w.create(upgrade())
	if _, err := w.svc.Create(ctx, upgrade()); !kith.IsCode(err, kith.ECONFLICT) || kith.ErrorField(err) != "code" {
		t.Errorf("a second offer with one code: %v", err)
	}
}

func TestGrantRefusals(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify("u1", map[string]any{"email": "a@example.com", "plan": "mobile"})
	w.identify("u2", map[string]any{"email": "b@example.com", "plan": "internet"})
	o := upgrade()
	o.Eligibility = []kith.Condition{{Trait: "plan", Op: "eq", Value: []byte(`"internet"`)}}
	w.create(o)
	byEmail := func(e string) offer.Target { return offer.Target{Identifier: kith.Identifier{Type: "email", Value: e}} }
	cases := []struct {
		name   string
		req    offer.GrantRequest
		code   string
		field  string
		reason string
	}{
		{"unknown offer", offer.GrantRequest{Offer: "NOPE", Target: byEmail("b@example.com"), Channel: kith.KindEmail}, kith.ENOTFOUND, "offer", ""},
		{"no offer", offer.GrantRequest{Target: byEmail("b@example.com"), Channel: kith.KindEmail}, kith.EINVALID, "offer", ""},
		{"unknown person", offer.GrantRequest{Offer: "FREE-UPGRADE", Target: byEmail("nobody@example.com"), Channel: kith.KindEmail}, kith.ENOTFOUND, "profile.identifier", ""},
		{"unknown profile id", offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Profile: "prof_nope"}, Channel: kith.KindEmail}, kith.ENOTFOUND, "profile", ""},
		{"no person", offer.GrantRequest{Offer: "FREE-UPGRADE", Channel: kith.KindEmail}, kith.EINVALID, "profile", ""},
		{"bad channel", offer.GrantRequest{Offer: "FREE-UPGRADE", Target: byEmail("b@example.com"), Channel: "pigeon"}, kith.EINVALID, "channel", ""},
		{"not eligible", offer.GrantRequest{Offer: "FREE-UPGRADE", Target: byEmail("a@example.com"), Channel: kith.KindEmail}, kith.ECONFLICT, "profile", "not_eligible"},
		{"expiry past the offer", offer.GrantRequest{Offer: "FREE-UPGRADE", Target: byEmail("b@example.com"), Channel: kith.KindEmail, ExpiresAt: t0.Add(90 * 24 * time.Hour)}, kith.EINVALID, "expires_at", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := w.svc.Grant(ctx, c.req)
			if kith.ErrorCode(err) != c.code || kith.ErrorField(err) != c.field || reason(err) != c.reason {
				t.Errorf("Grant: %v (field %q, reason %q), want %s %s %s", err, kith.ErrorField(err), reason(err), c.code, c.field, c.reason)
			}
		})
	}
	if got, _ := w.svc.Offer(ctx, "FREE-UPGRADE", 0); got.Granted != 0 {
		t.Errorf("refused grants counted: %d", got.Granted)
	}
	if out, _ := w.db.OfferOutbox(ctx, 10); len(out) != 0 {
		t.Errorf("refused grants queued events: %d", len(out))
	}
	// The per-person limit, then a paused offer.
	if _, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: byEmail("b@example.com"), Channel: kith.KindEmail}); err != nil {
		t.Fatal(err)
	}
	_, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: byEmail("b@example.com"), Channel: kith.KindSMS})
	if reason(err) != "person_limit" {
		t.Errorf("second grant to one person: %v", err)
	}
	if _, err := w.svc.SetStatus(ctx, "FREE-UPGRADE", kith.OfferPaused); err != nil {
		t.Fatal(err)
	}
	w.identify("u3", map[string]any{"email": "c@example.com", "plan": "internet"})
	_, err = w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: byEmail("c@example.com"), Channel: kith.KindEmail})
	if reason(err) != "offer_paused" {
		t.Errorf("grant of a paused offer: %v", err)
	}
	w.now = t0.Add(61 * 24 * time.Hour)
	w.svc.SetStatus(ctx, "FREE-UPGRADE", kith.OfferActive)
	_, err = w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: byEmail("c@example.com"), Channel: kith.KindEmail})
	if reason(err) != "offer_over" {
		t.Errorf("grant after the validity window: %v", err)
	}
}

// Editing the offer after a grant leaves the grant's terms; pausing follows
// the offer's withdrawal policy.
func TestEditAndPause(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify("u1", map[string]any{"email": "a@example.com"})
	w.identify("u2", map[string]any{"email": "b@example.com"})
	w.create(upgrade())
	g1, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Profile: w.profileOf("email", "a@example.com")}, Channel: kith.KindEmail})
	if err != nil {
		t.Fatal(err)
	}
	edit := upgrade()
	edit.Version = 1
	edit.Terms.Price.Amount = 49
	edit.Terms.Summary = "upgrade at 49 USD"
	v2, err := w.svc.Update(ctx, "free-upgrade", edit)
	if err != nil || v2.Version != 2 || v2.Terms.Price.Amount != 49 || v2.Granted != 1 {
		t.Fatalf("Update = %+v, %v", v2, err)
	}
	if _, err := w.svc.Update(ctx, "FREE-UPGRADE", edit); !kith.IsCode(err, kith.ECONFLICT) || kith.ErrorField(err) != "version" {
		t.Errorf("an edit of a stale version: %v", err)
	}
	g2, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Profile: w.profileOf("email", "b@example.com")}, Channel: kith.KindEmail})
	if err != nil {
		t.Fatal(err)
	}
	_, held, _ := w.svc.Held(ctx, offer.Target{Profile: w.profileOf("email", "a@example.com")})
	if held[0].OfferVersion != 1 || held[0].Terms.Price.Amount != 0 || g2.OfferVersion != 2 || g2.Terms.Price.Amount != 49 {
		t.Errorf("after the edit: first grant %+v v%d, second %+v v%d", held[0].Terms, held[0].OfferVersion, g2.Terms, g2.OfferVersion)
	}
	// Paused, the default policy honours grants until they expire.
	if _, err := w.svc.SetStatus(ctx, "FREE-UPGRADE", kith.OfferPaused); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: g1.ID, Channel: kith.KindStore}); err != nil {
		t.Errorf("redeeming a grant of a paused offer under honour: %v", err)
	}
	// A version with the hold policy holds its grants back while paused.
	hold := upgrade()
	hold.Withdrawal = kith.WithdrawHold
	if _, err := w.svc.Update(ctx, "FREE-UPGRADE", hold); err != nil {
		t.Fatal(err)
	}
	w.svc.SetStatus(ctx, "FREE-UPGRADE", kith.OfferActive)
	w.identify("u3", map[string]any{"email": "c@example.com"})
	g3, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Profile: w.profileOf("email", "c@example.com")}, Channel: kith.KindEmail})
	if err != nil {
		t.Fatal(err)
	}
	w.svc.SetStatus(ctx, "FREE-UPGRADE", kith.OfferEnded)
	_, err = w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: g3.ID, Channel: kith.KindStore})
	if reason(err) != offer.ReasonWithheld {
		t.Errorf("redeeming a held-back grant: %v", err)
	}
	// g2 was made under version 2, whose policy is honour.
	if _, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: g2.ID, Channel: kith.KindStore}); err != nil {
		t.Errorf("redeeming a version-2 grant of an ended offer: %v", err)
	}
}

func TestRedeemChannelsAndExpiry(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.create(upgrade())
	var grants []*offer.View
	for i := range 4 {
		w.identify(fmt.Sprint("u", i), map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		g, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Identifier: kith.Identifier{Type: "user_id", Value: fmt.Sprint("u", i)}}, Channel: kith.KindEmail})
		if err != nil {
			t.Fatal(err)
		}
		grants = append(grants, g)
	}
	// A channel whose policy is an alternative refuses, with the instruction.
	_, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: grants[0].ID, Channel: kith.KindSMS})
	if reason(err) != offer.ReasonNotAllowed || kith.ErrorMessage(err) != "Free upgrade cannot be redeemed through sms; it is redeemed through store, call_center, web; offer instead: 20% off the upgrade" {
		t.Errorf("redeeming through sms: %v", err)
	}
	// A channel with a fee redeems it with the fee.
	g, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: grants[0].ID, Channel: kith.KindApp})
	if err != nil || g.Redemption.Fee == nil || g.Redemption.Fee.Amount != 5 || g.Redemption.Honour != "fee" {
		t.Errorf("redeeming through the app: %+v, %v", g, err)
	}
	// Idempotent: a retry with the key gets the first result.
	first, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: grants[1].ID, Channel: kith.KindStore, IdempotencyKey: "till-4-0001"})
	if err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(time.Minute)
	again, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: grants[1].ID, Channel: kith.KindStore, IdempotencyKey: "till-4-0001"})
	if err != nil || !again.Redemption.At.Equal(first.Redemption.At) {
		t.Errorf("retry: %+v, %v", again, err)
	}
	// Void, then redeem: refused as voided.
	if _, err := w.svc.Void(ctx, offer.VoidRequest{GrantID: grants[2].ID}); kith.ErrorField(err) != "reason" {
		t.Errorf("void without a reason: %v", err)
	}
	if _, err := w.svc.Void(ctx, offer.VoidRequest{GrantID: grants[2].ID, Channel: kith.KindCallCenter, Reason: "sent to the wrong person"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: grants[2].ID, Channel: kith.KindStore}); reason(err) != offer.ReasonVoided {
		t.Errorf("redeeming a voided grant: %v", err)
	}
	// Expired after 21 days.
	w.now = t0.Add(22 * 24 * time.Hour)
	if _, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: grants[3].ID, Channel: kith.KindStore}); reason(err) != offer.ReasonExpired {
		t.Errorf("redeeming an expired grant: %v", err)
	}
	if _, err := w.svc.Redeem(ctx, offer.RedeemRequest{Code: "ZZZZ-ZZZZ-ZZZZ", Channel: kith.KindStore}); !kith.IsCode(err, kith.ENOTFOUND) || kith.ErrorField(err) != "code" {
		t.Errorf("an unknown code: %v", err)
	}
	if _, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: grants[3].ID, Channel: "till"}); kith.ErrorField(err) != "channel" {
		t.Errorf("an unknown channel: %v", err)
	}
	o, _ := w.svc.Offer(ctx, "FREE-UPGRADE", 0)
	if o.Granted != 3 || o.Redeemed != 2 {
		t.Errorf("counts: %d granted, %d redeemed; want 3 and 2", o.Granted, o.Redeemed)
	}
}

// 100 simultaneous redemptions of one grant from different channels:
// exactly one succeeds; the rest say when and where it was redeemed.
func TestConcurrentRedemptions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify("u1", map[string]any{"email": "a@example.com"})
	o := upgrade()
	o.Honour[kith.KindApp] = kith.Honour{Action: kith.HonourAsGranted}
	w.create(o)
	g, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Identifier: kith.Identifier{Type: "user_id", Value: "u1"}}, Channel: kith.KindEmail})
	if err != nil {
		t.Fatal(err)
	}
	channels := []kith.Kind{kith.KindStore, kith.KindCallCenter, kith.KindWeb, kith.KindApp}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for i := range 100 {
		wg.Go(func() {
			_, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: g.ID, Channel: channels[i%4], Actor: fmt.Sprint("clerk ", i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case reason(err) == offer.ReasonRedeemed:
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || refused != 99 {
		t.Errorf("%d redeemed, %d refused; want 1 and 99", ok, refused)
	}
}

// Budgets hold under the same race.
func TestConcurrentBudget(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	o := upgrade()
	o.GrantBudget, o.RedeemBudget = 10, 3
	w.create(o)
	for i := range 30 {
		w.identify(fmt.Sprint("u", i), map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var granted []*offer.View
	over := 0
	for i := range 30 {
		wg.Go(func() {
			g, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Identifier: kith.Identifier{Type: "user_id", Value: fmt.Sprint("u", i)}}, Channel: kith.KindEmail})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				granted = append(granted, g)
			case reason(err) == offer.ReasonBudget:
				over++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(granted) != 10 || over != 20 {
		t.Fatalf("%d granted, %d over budget; want 10 and 20", len(granted), over)
	}
	redeemed, spent := 0, 0
	for _, g := range granted {
		wg.Go(func() {
			_, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: g.ID, Channel: kith.KindStore})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				redeemed++
			case reason(err) == offer.ReasonBudget:
				spent++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if redeemed != 3 || spent != 7 {
		t.Errorf("%d redeemed, %d refused for budget; want 3 and 7", redeemed, spent)
	}
}

// Grants follow a merge to the surviving profile; undoing the merge gives
// each side its own back.
func TestGrantsFollowMerges(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify("", map[string]any{"email": "ann@example.com"})
	w.identify("", map[string]any{"phone": "+1 415 555 0199"})
	byEmail := w.profileOf("email", "ann@example.com")
	byPhone := w.profileOf("phone", "+14155550199")
	if byEmail == byPhone {
		t.Fatal("two profiles expected before the merge")
	}
	w.create(upgrade())
	g, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Profile: byPhone}, Channel: kith.KindSMS})
	if err != nil {
		t.Fatal(err)
	}
	w.identify("ann", map[string]any{"email": "ann@example.com", "phone": "+1 415 555 0199"})
	survivor := w.profileOf("email", "ann@example.com")
	if w.profileOf("phone", "+14155550199") != survivor {
		t.Fatal("the profiles did not merge")
	}
	who, held, err := w.svc.Held(ctx, offer.Target{Profile: survivor})
	if err != nil || who != survivor || len(held) != 1 || held[0].ID != g.ID {
		t.Fatalf("after the merge %s holds %+v, %v", who, held, err)
	}
	// One person, so the per-person limit counts the absorbed side's grant.
	if _, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Profile: survivor}, Channel: kith.KindEmail}); reason(err) != "person_limit" {
		t.Errorf("granting the merged person again: %v", err)
	}
	ids, err := w.people.Identities(kith.WithActor(ctx, kith.Actor{Kind: kith.ActorSystem, PII: true}), survivor)
	if err != nil || len(ids.Merges) != 1 {
		t.Fatalf("merges %+v, %v", ids, err)
	}
	if _, err := w.people.UndoMerge(ctx, ids.Merges[0].ID); err != nil {
		t.Fatal(err)
	}
	_, a, _ := w.svc.Held(ctx, offer.Target{Profile: byEmail})
	_, b, _ := w.svc.Held(ctx, offer.Target{Profile: byPhone})
	if len(b) != 1 || b[0].ID != g.ID || len(a) != 0 && a[0].ID == g.ID {
		t.Errorf("after undo: email side %d grants, phone side %+v", len(a), b)
	}
}

func TestGrantMany(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.create(upgrade())
	var targets []offer.Target
	for i := range 1200 {
		if i%100 == 0 {
			targets = append(targets, offer.Target{Profile: fmt.Sprint("prof_missing_", i)})
			continue
		}
		w.n++
		e := kith.Event{MessageID: fmt.Sprint("m-", w.n), Type: kith.TypeIdentify, SourceID: "src_crm", Channel: kith.KindCallCenter,
			UserID: fmt.Sprint("u", i), Timestamp: w.now, ReceivedAt: w.now, Payload: []byte(fmt.Sprintf(`{"type":"identify","userId":"u%d"}`, i))}
		if _, err := w.db.Append(ctx, []kith.Event{e}); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, offer.Target{Identifier: kith.Identifier{Type: "user_id", Value: fmt.Sprint("u", i)}})
	}
	w.process()
	targets = append(targets, targets[1]) // the same person twice
	var calls []int
	res, err := w.svc.GrantMany(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Channel: kith.KindEmail, Campaign: "winter"}, targets,
		func(done, total int) { calls = append(calls, done) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Granted != 1188 || res.Refused != 13 || len(calls) != 3 || calls[2] != 1201 {
		t.Errorf("result %d granted, %d refused, progress %v", res.Granted, res.Refused, calls)
	}
	if res.Refusals[0].Index != 0 || res.Refusals[0].Reason != "no profile prof_missing_0" {
		t.Errorf("first refusal %+v", res.Refusals[0])
	}
	if last := res.Refusals[len(res.Refusals)-1]; last.Index != 1200 || reason(nil) != "" {
		t.Errorf("last refusal %+v", last)
	}
	o, _ := w.svc.Offer(ctx, "FREE-UPGRADE", 0)
	if o.Granted != 1188 {
		t.Errorf("granted count %d", o.Granted)
	}
}

func TestEligibility(t *testing.T) {
	p := &kith.Profile{Traits: map[string]kith.Trait{
		"plan": {Value: []byte(`"internet"`)}, "age": {Value: []byte(`"42"`)}, "score": {Value: []byte(`7.5`)}, "gone": {Value: []byte(`null`)}}}
	cases := []struct {
		c    kith.Condition
		want bool
	}{
		{kith.Condition{Trait: "plan", Op: "eq", Value: []byte(`"internet"`)}, true},
		{kith.Condition{Trait: "plan", Op: "eq", Value: []byte(`"mobile"`)}, false},
		{kith.Condition{Trait: "plan", Op: "ne", Value: []byte(`"mobile"`)}, true},
		{kith.Condition{Trait: "missing", Op: "ne", Value: []byte(`"mobile"`)}, true},
		{kith.Condition{Trait: "age", Op: "gte", Value: []byte(`18`)}, true},
		{kith.Condition{Trait: "age", Op: "eq", Value: []byte(`42`)}, true},
		{kith.Condition{Trait: "score", Op: "lt", Value: []byte(`7`)}, false},
		{kith.Condition{Trait: "plan", Op: "in", Value: []byte(`["tv","internet"]`)}, true},
		{kith.Condition{Trait: "plan", Op: "gt", Value: []byte(`3`)}, false},
		{kith.Condition{Trait: "gone", Op: "exists"}, false},
		{kith.Condition{Trait: "gone", Op: "missing"}, true},
		{kith.Condition{Trait: "plan", Op: "exists"}, true},
	}
	for _, c := range cases {
		if got, _ := offer.Eligible(p, []kith.Condition{c.c}); got != c.want {
			t.Errorf("%s %s %s = %v, want %v", c.c.Trait, c.c.Op, c.c.Value, got, c.want)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{
		"7kq4-m2zp-9xhd":   "7KQ4-M2ZP-9XHD",
		" 7KQ4 M2ZP 9XHD ": "7KQ4-M2ZP-9XHD",
		"oIl0":             "0110",
	} {
		if got := offer.NormalizeCode(in); got != want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRelayAfterFailure(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify("u1", map[string]any{"email": "a@example.com"})
	w.create(upgrade())
	if _, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Identifier: kith.Identifier{Type: "user_id", Value: "u1"}}, Channel: kith.KindEmail}); err != nil {
		t.Fatal(err)
	}
	// A log that fails leaves the event queued; the next relay delivers it once.
	failing := offer.New(w.db, offer.Config{People: w.people, Log: failLog{}, Source: &kith.Source{ID: "src_offers", Kind: kith.KindServer}})
	if _, err := failing.RelayOnce(ctx); err == nil {
		t.Fatal("relay to a failing log reported no error")
	}
	for range 2 {
		if _, err := w.svc.RelayOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := w.db.OfferOutbox(ctx, 10)
	evs, _ := w.db.ReadEvents(ctx, 0, 100)
	n := 0
	for _, e := range evs {
		if e.SourceID == "src_offers" {
			n++
		}
	}
	if len(out) != 0 || n != 1 {
		t.Errorf("outbox %d, ledger events in the log %d; want 0 and 1", len(out), n)
	}
}

type failLog struct{}

func (failLog) Append(context.Context, []kith.Event) (kith.AppendResult, error) {
	return kith.AppendResult{}, errors.New("log down")
}

// A redeemer who names the customer is refused a grant that is not theirs.
func TestRedeemForProfile(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify("u1", map[string]any{"email": "a@example.com"})
	w.identify("u2", map[string]any{"email": "b@example.com"})
	w.create(upgrade())
	g, err := w.svc.Grant(ctx, offer.GrantRequest{Offer: "FREE-UPGRADE", Target: offer.Target{Profile: w.profileOf("user_id", "u1")}, Channel: kith.KindEmail})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: g.ID, Channel: kith.KindStore, Profile: w.profileOf("user_id", "u2")})
	if !kith.IsCode(err, kith.ENOTFOUND) || kith.ErrorField(err) != "grant" {
		t.Errorf("redeeming another's grant: %v", err)
	}
	if _, err := w.svc.Redeem(ctx, offer.RedeemRequest{GrantID: g.ID, Channel: kith.KindStore, Profile: w.profileOf("user_id", "u1")}); err != nil {
		t.Errorf("redeeming her own grant: %v", err)
	}
	// HeldUnrecorded records nothing; Held records one read.
	before, _ := w.db.Audit(ctx, kith.AuditFilter{Action: kith.AuditProfileRead})
	w.svc.HeldUnrecorded(ctx, offer.Target{Profile: w.profileOf("user_id", "u1")})
	mid, _ := w.db.Audit(ctx, kith.AuditFilter{Action: kith.AuditProfileRead})
	_, views, _ := w.svc.Held(ctx, offer.Target{Profile: w.profileOf("user_id", "u1")})
	after, _ := w.db.Audit(ctx, kith.AuditFilter{Action: kith.AuditProfileRead})
	if len(mid) != len(before) || len(after) != len(before)+1 {
		t.Errorf("audit reads %d, %d, %d", len(before), len(mid), len(after))
	}
	if got := views[0].RedeemableOn(); len(got) != 4 || got[3] != kith.KindApp {
		t.Errorf("RedeemableOn = %v; want the offer's channels and the app (with a fee)", got)
	}
}
