package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

func runAudiences(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Audiences/CreateAndRead", testAudiencesCreateAndRead},
	})
}

func testAudiencesCreateAndRead(t *testing.T, s Store) {
	ctx := context.Background()
	a := &kith.AudienceDef{ID: "aud_2", Name: "Internet", Expression: `traits.plan == "internet"`, CreatedAt: at(0), CreatedBy: "user:mia"}
	if err := s.CreateAudience(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAudience(ctx, &kith.AudienceDef{ID: "aud_1", Name: "At risk", Expression: `stage == "at_risk"`, CreatedAt: at(1)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AudienceByID(ctx, "aud_2")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("AudienceByID (-want +got):\n%s", diff)
	}
	if err := s.CreateAudience(ctx, &kith.AudienceDef{ID: "aud_3", Name: "Internet", Expression: "true", CreatedAt: at(2)}); !kith.IsCode(err, kith.ECONFLICT) {
		t.Errorf("a second audience named Internet: %v", err)
	}
	all, err := s.Audiences(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "At risk" || all[1].Name != "Internet" {
		t.Errorf("Audiences = %+v, %v; want by name", all, err)
	}
	if _, err := s.AudienceByID(ctx, "aud_none"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("AudienceByID(aud_none): %v", err)
	}
}
