package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/store/postgres"
)

// What the contract suite cannot test with one store: the ledger's guards
// between nodes sharing one database, and what only PostgreSQL refuses.

func ledgerOffer(code string) *kith.Offer {
	return &kith.Offer{Code: code, Version: 1, Name: code, Status: kith.OfferActive, ValidFrom: t0,
		ValidUntil: t0.Add(30 * 24 * time.Hour), PerPerson: 1, Channels: []kith.Kind{kith.KindStore},
		Withdrawal: kith.WithdrawHonour, CreatedAt: t0}
}

func ledgerGrant(offer, id, profile string) kith.NewGrant {
	g := &kith.Grant{ID: id, Code: "C-" + id, Offer: offer, OfferVersion: 1, ProfileID: profile, Channel: kith.KindEmail,
		GrantedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour)}
	return kith.NewGrant{Grant: g, Holders: []string{profile}, PerPerson: 1,
		Event: kith.Event{MessageID: "offer-grant-" + id, Type: kith.TypeTrack, SourceID: "src_offers",
			Channel: kith.KindServer, UserID: profile, Timestamp: t0, ReceivedAt: t0, Payload: []byte(`{}`)}}
}

func mustOffer(t testing.TB, db *postgres.DB, code string) {
	t.Helper()
	if err := db.CreateOffer(context.Background(), ledgerOffer(code)); err != nil {
		t.Fatalf("CreateOffer(%s): %v", code, err)
	}
}

func counts(t *testing.T, db *postgres.DB, code string) (granted, redeemed int) {
	t.Helper()
	o, err := db.Offer(context.Background(), code)
	if err != nil {
		t.Fatalf("Offer(%s): %v", code, err)
	}
	return o.Granted, o.Redeemed
}

func outboxLen(t *testing.T, db *postgres.DB) int {
	t.Helper()
	out, err := db.OfferOutbox(context.Background(), -1)
	if err != nil {
		t.Fatalf("OfferOutbox: %v", err)
	}
	return len(out)
}

// run calls fn n times at once, the i-th call on nodes[i%len(nodes)].
func run(n int, nodes []*postgres.DB, fn func(i int, db *postgres.DB)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i, nodes[i%len(nodes)]) })
	}
	wg.Wait()
}

func TestLedgerGuardsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	nodes := []*postgres.DB{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	db := nodes[0]

	t.Run("Redeem", func(t *testing.T) {
		mustOffer(t, db, "REDEEM")
		stored, errs, err := db.AddGrants(ctx, []kith.NewGrant{ledgerGrant("REDEEM", "r1", "p1")})
		if err != nil || errs[0] != nil {
			t.Fatalf("AddGrants: %v %v", err, errs)
		}
		var mu sync.Mutex
		var ok, settled int
		run(100, nodes, func(i int, db *postgres.DB) {
			r := kith.Redemption{At: t0.Add(time.Hour), Channel: kith.KindStore, Actor: "till", IdempotencyKey: fmt.Sprint("k", i)}
			_, err := db.Redeem(ctx, stored[0].ID, r, 0, event("src_offers", fmt.Sprint("redeem-", i)))
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
		if ok != 1 || settled != 99 {
			t.Errorf("%d redeemed, %d refused; want 1 and 99", ok, settled)
		}
		if _, redeemed := counts(t, db, "REDEEM"); redeemed != 1 {
			t.Errorf("redeemed = %d, want 1", redeemed)
		}
	})

	t.Run("PerPersonAndBudget", func(t *testing.T) {
		mustOffer(t, db, "LIMITS")
		// 60 grants at once: lp0…lp9 six times each, under a budget of 7.
		var mu sync.Mutex
		var ok, person, budget int
		run(60, nodes, func(i int, db *postgres.DB) {
			ng := ledgerGrant("LIMITS", fmt.Sprint("l", i), fmt.Sprint("lp", i%10))
			ng.Budget = 7
			_, errs, err := db.AddGrants(ctx, []kith.NewGrant{ng})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case errs[0] == nil:
				ok++
			case errors.Is(errs[0], kith.ErrPersonLimit):
				person++
			case errors.Is(errs[0], kith.ErrGrantBudget):
				budget++
			default:
				t.Error(errs[0])
			}
		})
		if ok != 7 || person+budget != 53 {
			t.Errorf("%d granted, %d over the per-person limit, %d over budget; want 7 granted", ok, person, budget)
		}
		list, err := db.Grants(ctx, []string{"lp0", "lp1", "lp2", "lp3", "lp4", "lp5", "lp6", "lp7", "lp8", "lp9"})
		if err != nil || len(list) != 7 {
			t.Fatalf("Grants = %d, %v; want 7", len(list), err)
		}
		people := map[string]bool{}
		for _, g := range list {
			if people[g.ProfileID] {
				t.Errorf("%s holds two grants", g.ProfileID)
			}
			people[g.ProfileID] = true
		}
		if granted, _ := counts(t, db, "LIMITS"); granted != 7 {
			t.Errorf("granted = %d, want 7", granted)
		}
	})

	t.Run("RedeemOrVoid", func(t *testing.T) {
		mustOffer(t, db, "EITHER")
		var gs []kith.NewGrant
		for i := range 20 {
			gs = append(gs, ledgerGrant("EITHER", fmt.Sprint("e", i), fmt.Sprint("p", i)))
		}
		stored, _, err := db.AddGrants(ctx, gs)
		if err != nil {
			t.Fatal(err)
		}
		// Each grant is redeemed on one node and voided on the other at once.
		var mu sync.Mutex
		var redeemed, voided int
		run(40, nodes, func(i int, db *postgres.DB) {
			id := stored[i/2].ID
			var err error
			if i%2 == 0 {
				_, err = db.Redeem(ctx, id, kith.Redemption{At: t0.Add(time.Hour), Channel: kith.KindStore, Actor: "till"}, 0, event("src_offers", "r-"+id))
			} else {
				_, err = db.VoidGrant(ctx, id, kith.Void{At: t0.Add(time.Hour), Actor: "bob", Reason: "test"}, event("src_offers", "v-"+id))
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && i%2 == 0:
				redeemed++
			case err == nil:
				voided++
			case !errors.Is(err, kith.ErrGrantSettled):
				t.Error(err)
			}
		})
		if redeemed+voided != 20 {
			t.Errorf("%d redeemed and %d voided; want 20 in all", redeemed, voided)
		}
		granted, red := counts(t, db, "EITHER")
		if granted != 20-voided || red != redeemed {
			t.Errorf("counts: granted %d, redeemed %d; want %d and %d", granted, red, 20-voided, redeemed)
		}
	})
}

// A retried grant may reach another node, and, for another offer, race the
// first: one grant is stored, and both calls return it.
func TestGrantIdempotencyKeyAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	nodes := []*postgres.DB{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	mustOffer(t, nodes[0], "A")
	mustOffer(t, nodes[0], "B")
	for round := range 20 {
		key := fmt.Sprint("key-", round)
		ids := make([]string, 4)
		run(4, nodes, func(i int, db *postgres.DB) {
			ng := ledgerGrant([]string{"A", "B"}[i/2], fmt.Sprintf("g%d-%d", round, i), fmt.Sprint("q", round))
			ng.Grant.IdempotencyKey = key
			stored, errs, err := db.AddGrants(ctx, []kith.NewGrant{ng})
			if err != nil || errs[0] != nil {
				t.Errorf("AddGrants: %v %v", err, errs)
				return
			}
			ids[i] = stored[0].ID
		})
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("round %d: the calls returned grants %v; want one", round, ids)
			}
		}
	}
	a, _ := counts(t, nodes[0], "A")
	b, _ := counts(t, nodes[0], "B")
	if a+b != 20 || outboxLen(t, nodes[0]) != 20 {
		t.Errorf("granted %d + %d, outbox %d; want 20 grants and 20 events", a, b, outboxLen(t, nodes[0]))
	}
}

func TestAddGrantsInOneCall(t *testing.T) {
	ctx := context.Background()
	db := open(t, newSchema(t), postgres.Options{})
	mustOffer(t, db, "ONE")

	// Grants of one call see the grants before them.
	first := ledgerGrant("ONE", "a", "p1")
	twice := ledgerGrant("ONE", "b", "p1")
	keyed := ledgerGrant("ONE", "c", "p2")
	keyed.Grant.IdempotencyKey = "k"
	retry := ledgerGrant("ONE", "d", "p2")
	retry.Grant.IdempotencyKey = "k"
	missing := ledgerGrant("NONE", "e", "p3")
	stored, errs, err := db.AddGrants(ctx, []kith.NewGrant{first, twice, keyed, retry, missing})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], kith.ErrPersonLimit) || errs[2] != nil || errs[3] != nil || !kith.IsCode(errs[4], kith.ENOTFOUND) {
		t.Errorf("errs = %v", errs)
	}
	if stored[3] == nil || stored[3].ID != "c" {
		t.Errorf("the retry stored %+v, want grant c", stored[3])
	}
	if granted, _ := counts(t, db, "ONE"); granted != 2 || outboxLen(t, db) != 2 {
		t.Errorf("granted = %d, outbox %d; want 2 and 2", granted, outboxLen(t, db))
	}

	// A budget that runs out within a call, beside one that cannot: a
	// grant refused for the person's limit spends none of it.
	mustOffer(t, db, "TIGHT")
	mustOffer(t, db, "LOOSE")
	var gs []kith.NewGrant
	for i, p := range []string{"t1", "t1", "t2", "t3", "t4"} {
		ng := ledgerGrant("TIGHT", fmt.Sprint("tight", i), p)
		ng.Budget = 3
		loose := ledgerGrant("LOOSE", fmt.Sprint("loose", i), p)
		loose.Budget = 100
		gs = append(gs, ng, loose)
	}
	_, errs, err = db.AddGrants(ctx, gs)
	if err != nil {
		t.Fatal(err)
	}
	want := []error{nil, nil, kith.ErrPersonLimit, kith.ErrPersonLimit, nil, nil, nil, nil, kith.ErrGrantBudget, nil}
	for i := range want {
		if !errors.Is(errs[i], want[i]) || (want[i] == nil) != (errs[i] == nil) {
			t.Errorf("errs[%d] = %v, want %v", i, errs[i], want[i])
		}
	}
	if tight, _ := counts(t, db, "TIGHT"); tight != 3 {
		t.Errorf("TIGHT granted = %d, want 3", tight)
	}
	if loose, _ := counts(t, db, "LOOSE"); loose != 4 {
		t.Errorf("LOOSE granted = %d, want 4", loose)
	}
	if n := outboxLen(t, db); n != 9 {
		t.Errorf("outbox = %d, want 9", n)
	}

	// A grant the store fails to keep stores none of the call.
	again := ledgerGrant("ONE", "a", "p9") // id a is taken
	_, _, err = db.AddGrants(ctx, []kith.NewGrant{ledgerGrant("ONE", "f", "p4"), again})
	if !kith.IsCode(err, kith.ECONFLICT) {
		t.Errorf("a taken id: %v, want conflict", err)
	}
	if _, err := db.GrantByID(ctx, "f"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("grant f of the failed call: %v, want not found", err)
	}
	if granted, _ := counts(t, db, "ONE"); granted != 2 || outboxLen(t, db) != 9 {
		t.Errorf("after the failed call: granted = %d, outbox %d; want 2 and 9", granted, outboxLen(t, db))
	}

	// Text PostgreSQL cannot keep: a key is refused alone, free text is kept with U+FFFD.
	bad := ledgerGrant("ONE", "g\x00", "p5")
	odd := ledgerGrant("ONE", "h", "p6")
	odd.Grant.Campaign = "spring\x00"
	stored, errs, err = db.AddGrants(ctx, []kith.NewGrant{bad, odd})
	if err != nil || !kith.IsCode(errs[0], kith.EINVALID) || errs[1] != nil {
		t.Fatalf("unstorable text: %v %v", err, errs)
	}
	if got, err := db.GrantByID(ctx, "h"); err != nil || got.Campaign != "spring\uFFFD" || stored[1].Campaign != got.Campaign {
		t.Errorf("grant h = %+v, %v", got, err)
	}
}

// BenchmarkAddGrants stores calls of 1,000 grants, as the offer service
// does when it grants an offer to an audience.
func BenchmarkAddGrants(b *testing.B) {
	ctx := context.Background()
	db := open(b, newSchema(b), postgres.Options{})
	mustOffer(b, db, "BENCH")
	const batch = 1000
	n := 0
	for b.Loop() {
		b.StopTimer()
		gs := make([]kith.NewGrant, batch)
		for i := range gs {
			n++
			gs[i] = ledgerGrant("BENCH", fmt.Sprint("g", n), fmt.Sprint("p", n))
			gs[i].Budget = 1 << 30
		}
		b.StartTimer()
		_, errs, err := db.AddGrants(ctx, gs)
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "grants/s")
}
