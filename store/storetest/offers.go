package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

func runOffers(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Offers/CreateAndRead", testOffersCreateAndRead},
		{"Offers/Versions", testOffersVersions},
		{"Offers/Status", testOffersStatus},
		{"Grants/AddAndRead", testGrantsAddAndRead},
		{"Grants/Budget", testGrantsBudget},
		{"Grants/PerPerson", testGrantsPerPerson},
		{"Grants/Idempotent", testGrantsIdempotent},
		{"Grants/ConcurrentBudget", testGrantsConcurrentBudget},
		{"Grants/Redeem", testGrantsRedeem},
		{"Grants/RedeemBudget", testGrantsRedeemBudget},
		{"Grants/ConcurrentRedeem", testGrantsConcurrentRedeem},
		{"Grants/Void", testGrantsVoid},
		{"Grants/Outbox", testGrantsOutbox},
	})
}

func upgrade(code string) *kith.Offer {
	return &kith.Offer{Code: code, Version: 1, Name: "Free upgrade", Description: "internet only",
		Terms:  kith.Terms{Price: kith.Money{Amount: 0, Currency: "USD"}, RegularPrice: &kith.Money{Amount: 130, Currency: "USD"}, Summary: "1 Gbit at no cost"},
		Status: kith.OfferActive, ValidFrom: at(0), ValidUntil: at(30 * 24 * time.Hour), PerPerson: 1,
		Channels: []kith.Kind{kith.KindWeb, kith.KindStore},
		Honour: map[kith.Kind]kith.Honour{kith.KindCallCenter: {Action: kith.HonourWithFee, Fee: &kith.Money{Amount: 10, Currency: "USD"}},
			kith.OtherChannels: {Action: kith.HonourAlternative, Alternative: "half price"}},
		Withdrawal: kith.WithdrawHonour, CreatedAt: at(0), CreatedBy: "user:ann",
		Eligibility: []kith.Condition{{Trait: "plan", Op: "eq", Value: []byte(`"internet"`)}}}
}

func mustCreateOffer(t *testing.T, s Store, o *kith.Offer) {
	t.Helper()
	if err := s.CreateOffer(context.Background(), o); err != nil {
		t.Fatalf("CreateOffer(%s): %v", o.Code, err)
	}
}

var grantSeq int

func newGrant(offer, profile string, holders ...string) kith.NewGrant {
	grantSeq++
	id := fmt.Sprintf("gr_%d", grantSeq)
	g := &kith.Grant{ID: id, Code: fmt.Sprintf("CODE-%d", grantSeq), Offer: offer, OfferVersion: 1, ProfileID: profile,
		Channel: kith.KindEmail, Campaign: "spring", MessageRef: "msg-1", GrantedAt: at(time.Duration(grantSeq) * time.Second),
		GrantedBy: "key:mailer", ExpiresAt: at(7 * 24 * time.Hour), Address: kith.Identifier{Type: kith.IDUserID, Value: "u-" + profile}}
	if len(holders) == 0 {
		holders = []string{profile}
	}
	return kith.NewGrant{Grant: g, Holders: holders, PerPerson: 1,
		Event: kith.Event{MessageID: "offer-grant-" + id, Type: kith.TypeTrack, SourceID: "src_offers", Channel: kith.KindServer,
			UserID: "u-" + profile, Timestamp: g.GrantedAt, ReceivedAt: g.GrantedAt, Payload: []byte(`{"type":"track"}`)}}
}

func mustGrant(t *testing.T, s Store, ng kith.NewGrant) *kith.Grant {
	t.Helper()
	stored, errs, err := s.AddGrants(context.Background(), []kith.NewGrant{ng})
	if err != nil || errs[0] != nil {
		t.Fatalf("AddGrants: %v %v", err, errs)
	}
	return stored[0]
}

func testOffersCreateAndRead(t *testing.T, s Store) {
	ctx := context.Background()
	o := upgrade("UPGRADE")
	mustCreateOffer(t, s, o)
	got, err := s.Offer(ctx, "UPGRADE")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, got); diff != "" {
		t.Errorf("Offer (-want +got):\n%s", diff)
	}
	if err := s.CreateOffer(ctx, upgrade("UPGRADE")); !kith.IsCode(err, kith.ECONFLICT) {
		t.Errorf("second CreateOffer: %v, want conflict", err)
	}
	mustCreateOffer(t, s, upgrade("ANOTHER"))
	all, err := s.Offers(ctx)
	if err != nil || len(all) != 2 || all[0].Code != "ANOTHER" || all[1].Code != "UPGRADE" {
		t.Errorf("Offers = %+v, %v", all, err)
	}
	if _, err := s.Offer(ctx, "NONE"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("Offer(NONE): %v, want not found", err)
	}
}

func testOffersVersions(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	v2 := upgrade("UPGRADE")
	v2.Version, v2.Terms.Price.Amount, v2.CreatedAt = 2, 25, at(time.Hour)
	if err := s.UpdateOffer(ctx, v2); err != nil {
		t.Fatal(err)
	}
	stale := upgrade("UPGRADE")
	stale.Version = 2
	if err := s.UpdateOffer(ctx, stale); !kith.IsCode(err, kith.ECONFLICT) {
		t.Errorf("stale UpdateOffer: %v, want conflict", err)
	}
	missing := upgrade("NONE")
	missing.Version = 2
	if err := s.UpdateOffer(ctx, missing); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("UpdateOffer of a missing offer: %v, want not found", err)
	}
	cur, err := s.Offer(ctx, "UPGRADE")
	if err != nil || cur.Version != 2 || cur.Terms.Price.Amount != 25 {
		t.Errorf("current = %+v, %v", cur, err)
	}
	v1, err := s.OfferVersion(ctx, "UPGRADE", 1)
	if err != nil || v1.Version != 1 || v1.Terms.Price.Amount != 0 {
		t.Errorf("version 1 = %+v, %v", v1, err)
	}
	if _, err := s.OfferVersion(ctx, "UPGRADE", 3); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("version 3: %v, want not found", err)
	}
}

func testOffersStatus(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	o, err := s.SetOfferStatus(ctx, "UPGRADE", kith.OfferPaused)
	if err != nil || o.Status != kith.OfferPaused {
		t.Fatalf("SetOfferStatus = %+v, %v", o, err)
	}
	v1, err := s.OfferVersion(ctx, "UPGRADE", 1)
	if err != nil || v1.Status != kith.OfferPaused {
		t.Errorf("version 1 status = %+v, %v", v1, err)
	}
	if _, err := s.SetOfferStatus(ctx, "NONE", kith.OfferPaused); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("SetOfferStatus(NONE): %v, want not found", err)
	}
}

func testGrantsAddAndRead(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	mustCreateOffer(t, s, upgrade("OTHER"))
	a := newGrant("UPGRADE", "p1")
	b := newGrant("OTHER", "p2")
	c := newGrant("OTHER", "p3")
	stored, errs, err := s.AddGrants(ctx, []kith.NewGrant{a, b, c})
	if err != nil || errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("AddGrants: %v %v", err, errs)
	}
	if diff := cmp.Diff(a.Grant, stored[0]); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	got, err := s.GrantByID(ctx, a.Grant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.Grant, got); diff != "" {
		t.Errorf("GrantByID (-want +got):\n%s", diff)
	}
	if got, err := s.GrantByCode(ctx, b.Grant.Code); err != nil || got.ID != b.Grant.ID {
		t.Errorf("GrantByCode = %+v, %v", got, err)
	}
	if _, err := s.GrantByCode(ctx, "NOPE"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("GrantByCode(NOPE): %v, want not found", err)
	}
	if _, err := s.GrantByID(ctx, "gr_none"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("GrantByID(gr_none): %v, want not found", err)
	}
	list, err := s.Grants(ctx, []string{"p1", "p2", "p9"})
	if err != nil || len(list) != 2 || list[0].ID != b.Grant.ID || list[1].ID != a.Grant.ID {
		t.Errorf("Grants = %+v, %v; want newest first", list, err)
	}
	o, err := s.Offer(ctx, "OTHER")
	if err != nil || o.Granted != 2 || o.Redeemed != 0 {
		t.Errorf("OTHER counts = %+v, %v", o, err)
	}
	// A grant of an unknown offer is refused and stores nothing.
	_, errs, err = s.AddGrants(ctx, []kith.NewGrant{newGrant("NONE", "p1")})
	if err == nil && !kith.IsCode(errs[0], kith.ENOTFOUND) {
		t.Errorf("grant of an unknown offer: %v %v", err, errs)
	}
}

func testGrantsBudget(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	var gs []kith.NewGrant
	for i := range 3 {
		g := newGrant("UPGRADE", fmt.Sprint("p", i))
		g.Budget = 2
		gs = append(gs, g)
	}
	stored, errs, err := s.AddGrants(ctx, gs)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], kith.ErrGrantBudget) || stored[2] != nil {
		t.Fatalf("errs = %v; want the third over budget", errs)
	}
	if _, err := s.GrantByID(ctx, gs[2].Grant.ID); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("the refused grant was stored: %v", err)
	}
	if o, _ := s.Offer(ctx, "UPGRADE"); o.Granted != 2 {
		t.Errorf("granted = %d, want 2", o.Granted)
	}
	if out, _ := s.OfferOutbox(ctx, 10); len(out) != 2 {
		t.Errorf("outbox holds %d events, want 2 (none for the refused grant)", len(out))
	}
}

func testGrantsPerPerson(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	mustGrant(t, s, newGrant("UPGRADE", "absorbed"))
	// The survivor of a merge with the absorbed profile is one person.
	g := newGrant("UPGRADE", "survivor", "survivor", "absorbed")
	_, errs, err := s.AddGrants(ctx, []kith.NewGrant{g})
	if err != nil || !errors.Is(errs[0], kith.ErrPersonLimit) {
		t.Fatalf("second grant to one person: %v %v, want the per-person limit", err, errs)
	}
	g2 := newGrant("UPGRADE", "survivor", "survivor", "absorbed")
	g2.PerPerson = 2
	mustGrant(t, s, g2)
}

func testGrantsIdempotent(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	first := newGrant("UPGRADE", "p1")
	first.Grant.IdempotencyKey = "k1"
	g1 := mustGrant(t, s, first)
	retry := newGrant("UPGRADE", "p1")
	retry.Grant.IdempotencyKey = "k1"
	g2 := mustGrant(t, s, retry)
	if g2.ID != g1.ID || g2.Code != g1.Code {
		t.Errorf("retry stored %s, want the first grant %s", g2.ID, g1.ID)
	}
	if o, _ := s.Offer(ctx, "UPGRADE"); o.Granted != 1 {
		t.Errorf("granted = %d after a retry, want 1", o.Granted)
	}
}

func testGrantsConcurrentBudget(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	gs := make([]kith.NewGrant, 40)
	for i := range gs {
		gs[i] = newGrant("UPGRADE", fmt.Sprint("p", i))
		gs[i].Budget = 5
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, over := 0, 0
	for i := range gs {
		wg.Go(func() {
			_, errs, err := s.AddGrants(ctx, gs[i:i+1])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case errs[0] == nil:
				ok++
			case errors.Is(errs[0], kith.ErrGrantBudget):
				over++
			default:
				t.Error(errs[0])
			}
		})
	}
	wg.Wait()
	if ok != 5 || over != 35 {
		t.Errorf("%d granted, %d over budget; want 5 and 35", ok, over)
	}
	if o, _ := s.Offer(ctx, "UPGRADE"); o.Granted != 5 {
		t.Errorf("granted = %d, want 5", o.Granted)
	}
}

func redemption(ch kith.Kind, key string, when time.Time) kith.Redemption {
	return kith.Redemption{At: when, Channel: ch, Actor: "user:till-4", Location: "store 12", Honour: "honour", IdempotencyKey: key}
}

func ev(id string) kith.Event {
	return kith.Event{MessageID: id, Type: kith.TypeTrack, SourceID: "src_offers", Channel: kith.KindServer, UserID: "u",
		Timestamp: at(0), ReceivedAt: at(0), Payload: []byte(`{}`)}
}

func testGrantsRedeem(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	g := mustGrant(t, s, newGrant("UPGRADE", "p1"))
	r := redemption(kith.KindStore, "idem-1", at(time.Hour))
	got, err := s.Redeem(ctx, g.ID, r, 0, ev("r1"))
	if err != nil || got.Redemption == nil || !got.Redemption.At.Equal(r.At) || got.Redemption.Location != "store 12" {
		t.Fatalf("Redeem = %+v, %v", got, err)
	}
	// A retry with the same key gets the first result.
	again, err := s.Redeem(ctx, g.ID, redemption(kith.KindStore, "idem-1", at(2*time.Hour)), 0, ev("r2"))
	if err != nil || !again.Redemption.At.Equal(r.At) {
		t.Errorf("retry = %+v, %v; want the first redemption", again, err)
	}
	// Another redemption is refused, with when and where the first was.
	other, err := s.Redeem(ctx, g.ID, redemption(kith.KindCallCenter, "idem-2", at(2*time.Hour)), 0, ev("r3"))
	if !errors.Is(err, kith.ErrGrantSettled) || other == nil || other.Redemption == nil || other.Redemption.Channel != kith.KindStore {
		t.Errorf("second redemption = %+v, %v; want settled with the first", other, err)
	}
	stored, _ := s.GrantByID(ctx, g.ID)
	if stored.Redemption == nil || stored.Redemption.Channel != kith.KindStore || stored.Redemption.IdempotencyKey != "idem-1" {
		t.Errorf("stored redemption = %+v", stored.Redemption)
	}
	if o, _ := s.Offer(ctx, "UPGRADE"); o.Redeemed != 1 {
		t.Errorf("redeemed = %d, want 1", o.Redeemed)
	}
	// An expired grant is not redeemed.
	old := mustGrant(t, s, newGrant("UPGRADE", "p2"))
	if _, err := s.Redeem(ctx, old.ID, redemption(kith.KindStore, "", old.ExpiresAt), 0, ev("r4")); !errors.Is(err, kith.ErrGrantSettled) {
		t.Errorf("redeeming at expiry: %v, want settled", err)
	}
	if _, err := s.Redeem(ctx, "gr_none", r, 0, ev("r5")); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("redeeming a missing grant: %v, want not found", err)
	}
}

func testGrantsRedeemBudget(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	a := mustGrant(t, s, newGrant("UPGRADE", "p1"))
	b := mustGrant(t, s, newGrant("UPGRADE", "p2"))
	if _, err := s.Redeem(ctx, a.ID, redemption(kith.KindStore, "", at(time.Hour)), 1, ev("r1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Redeem(ctx, b.ID, redemption(kith.KindStore, "", at(time.Hour)), 1, ev("r2"))
	if !errors.Is(err, kith.ErrRedeemBudget) || got == nil || got.Redemption != nil {
		t.Errorf("over budget: %+v, %v", got, err)
	}
	if stored, _ := s.GrantByID(ctx, b.ID); stored.Redemption != nil {
		t.Errorf("the refused redemption was stored")
	}
}

func testGrantsConcurrentRedeem(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	g := mustGrant(t, s, newGrant("UPGRADE", "p1"))
	channels := []kith.Kind{kith.KindStore, kith.KindCallCenter, kith.KindWeb, kith.KindApp}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, settled := 0, 0
	for i := range 100 {
		wg.Go(func() {
			_, err := s.Redeem(ctx, g.ID, redemption(channels[i%len(channels)], fmt.Sprint("k", i), at(time.Hour)), 0, ev(fmt.Sprint("r", i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, kith.ErrGrantSettled):
				settled++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || settled != 99 {
		t.Errorf("%d redeemed, %d refused; want 1 and 99", ok, settled)
	}
	if o, _ := s.Offer(ctx, "UPGRADE"); o.Redeemed != 1 {
		t.Errorf("redeemed = %d, want 1", o.Redeemed)
	}
}

func testGrantsVoid(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	g := mustGrant(t, s, newGrant("UPGRADE", "p1"))
	v := kith.Void{At: at(time.Hour), Channel: kith.KindCallCenter, Actor: "user:bob", Reason: "sent by mistake"}
	got, err := s.VoidGrant(ctx, g.ID, v, ev("v1"))
	if err != nil || got.Void == nil || got.Void.Reason != "sent by mistake" {
		t.Fatalf("VoidGrant = %+v, %v", got, err)
	}
	if _, err := s.VoidGrant(ctx, g.ID, v, ev("v2")); !errors.Is(err, kith.ErrGrantSettled) {
		t.Errorf("second void: %v, want settled", err)
	}
	if _, err := s.Redeem(ctx, g.ID, redemption(kith.KindStore, "", at(2*time.Hour)), 0, ev("r1")); !errors.Is(err, kith.ErrGrantSettled) {
		t.Errorf("redeeming a voided grant: %v, want settled", err)
	}
	if o, _ := s.Offer(ctx, "UPGRADE"); o.Granted != 0 {
		t.Errorf("granted = %d after the void, want 0", o.Granted)
	}
	// The voided grant no longer counts against the person's limit.
	mustGrant(t, s, newGrant("UPGRADE", "p1"))
}

func testGrantsOutbox(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	ng := newGrant("UPGRADE", "p1")
	g := mustGrant(t, s, ng)
	if _, err := s.Redeem(ctx, g.ID, redemption(kith.KindStore, "", at(time.Hour)), 0, ev("offer-redeem-1")); err != nil {
		t.Fatal(err)
	}
	out, err := s.OfferOutbox(ctx, 10)
	if err != nil || len(out) != 2 {
		t.Fatalf("outbox = %+v, %v; want 2 events", out, err)
	}
	if diff := cmp.Diff(ng.Event, out[0].Event); diff != "" {
		t.Errorf("outbox event (-want +got):\n%s", diff)
	}
	if out[1].Event.MessageID != "offer-redeem-1" || out[1].ID <= out[0].ID {
		t.Errorf("outbox order: %+v", out)
	}
	if err := s.DeleteOfferOutbox(ctx, []int64{out[0].ID}); err != nil {
		t.Fatal(err)
	}
	rest, _ := s.OfferOutbox(ctx, 10)
	if len(rest) != 1 || rest[0].ID != out[1].ID {
		t.Errorf("after delete: %+v", rest)
	}
}
