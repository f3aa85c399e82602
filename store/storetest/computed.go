package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
)

func runComputed(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Computed/CreateAndList", testComputedCreateAndList},
		{"Computed/StateInTheProfile", testComputedStateInProfile},
	})
}

func testComputedCreateAndList(t *testing.T, s Store) {
	ctx := context.Background()
	if got, err := s.ComputedTraits(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ComputedTraits of an empty store = %v, %v", got, err)
	}
	spend := &kith.ComputedTraitDef{ID: "ct_2", Name: "total_spend", Function: "sum", Event: "Order Completed", Property: "revenue",
		CreatedAt: at(0), CreatedBy: "user:mia"}
	orders := &kith.ComputedTraitDef{ID: "ct_1", Name: "orders_90d", Function: "count", Event: "Order Completed", Window: "90d", CreatedAt: at(1)}
	for _, d := range []*kith.ComputedTraitDef{spend, orders} {
		if err := s.CreateComputedTrait(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateComputedTrait(ctx, &kith.ComputedTraitDef{ID: "ct_3", Name: "total_spend", Function: "count", Event: "x", CreatedAt: at(2)}); !kith.IsCode(err, kith.ECONFLICT) {
		t.Errorf("a second trait named total_spend: %v, want %s", err, kith.ECONFLICT)
	}
	got, err := s.ComputedTraits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]kith.ComputedTraitDef{*orders, *spend}, got); diff != "" {
		t.Errorf("ComputedTraits (-want +got):\n%s", diff)
	}
}

// A profile's computed traits' states are kept with it.
func testComputedStateInProfile(t *testing.T, s Store) {
	ctx := context.Background()
	lo := 4.5
	p := &kith.Profile{ID: "prf_c", CreatedAt: at(0), UpdatedAt: at(0), Traits: map[string]kith.Trait{},
		Channels: map[kith.Kind]*kith.ChannelSeen{}, Intents: map[string]*kith.Intent{},
		Computed: map[string]*kith.Aggregate{
			"orders_90d": {Parts: []kith.AggregatePart{{T: 1700000000, N: 2, Sum: 10, Min: &lo}}},
			"top":        {Parts: []kith.AggregatePart{{N: 3, Freq: map[string]int64{`"shoes"`: 2, `"hats"`: 1}}}},
		}}
	if err := s.Update(ctx, func(tx kith.ProfileTx) error { return tx.PutProfile(ctx, p) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Profile(ctx, "prf_c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p.Computed, got.Computed); diff != "" {
		t.Errorf("computed states (-put +read):\n%s", diff)
	}
	// A scan that leaves documents undecoded reads the same.
	stored, err := s.ScanStoredProfiles(ctx, "", 10)
	if err != nil || len(stored) != 1 || stored[0].ID != "prf_c" {
		t.Fatalf("ScanStoredProfiles = %v, %v", stored, err)
	}
	byID, err := s.StoredProfilesByID(ctx, []string{"prf_none", "prf_c"})
	if err != nil || len(byID) != 1 || byID[0].ID != "prf_c" || string(byID[0].Doc) != string(stored[0].Doc) {
		t.Fatalf("StoredProfilesByID = %v, %v", byID, err)
	}
	if none, err := s.StoredProfilesByID(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("StoredProfilesByID(nil) = %v, %v", none, err)
	}
	dec, err := stored[0].Decode(kith.AllDocFields)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, dec, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("decoded from the scan (-Profile +ScanStoredProfiles):\n%s", diff)
	}
}
