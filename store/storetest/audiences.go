package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

func runAudiences(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Audiences/CreateAndRead", testAudiencesCreateAndRead},
		{"Audiences/Memberships", testAudienceMemberships},
		{"Audiences/ConcurrentMemberships", testAudienceMembershipsConcurrent},
		{"Audiences/ManyMemberships", testAudienceMembershipsMany},
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

func testAudienceMemberships(t *testing.T, s Store) {
	ctx := context.Background()
	got, err := s.SetMemberships(ctx, "prf_1", map[string]bool{"aud_a": true, "aud_b": true, "aud_c": false}, at(0))
	want := []kith.MembershipChange{{Audience: "aud_a", Entered: true, Since: at(0)}, {Audience: "aud_b", Entered: true, Since: at(0)}}
	if err != nil || !cmp.Equal(want, got) {
		t.Fatalf("first SetMemberships = %+v, %v; want %+v", got, err, want)
	}
	// Nothing changes: nothing is reported.
	if got, err := s.SetMemberships(ctx, "prf_1", map[string]bool{"aud_a": true, "aud_c": false}, at(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("unchanged SetMemberships = %+v, %v", got, err)
	}
	got, err = s.SetMemberships(ctx, "prf_1", map[string]bool{"aud_a": false, "aud_c": true}, at(2*time.Hour))
	want = []kith.MembershipChange{{Audience: "aud_a", Since: at(0)}, {Audience: "aud_c", Entered: true, Since: at(2 * time.Hour)}}
	if err != nil || !cmp.Equal(want, got) {
		t.Errorf("SetMemberships = %+v, %v; want %+v", got, err, want)
	}
	if ids, err := s.MembershipsOf(ctx, "prf_1"); err != nil || !cmp.Equal(ids, []string{"aud_b", "aud_c"}) {
		t.Errorf("MembershipsOf = %v, %v", ids, err)
	}
	s.SetMemberships(ctx, "prf_2", map[string]bool{"aud_b": true}, at(0))
	if n, err := s.AudienceSize(ctx, "aud_b"); err != nil || n != 2 {
		t.Errorf("AudienceSize(aud_b) = %d, %v", n, err)
	}
	if n, err := s.AudienceSize(ctx, "aud_none"); err != nil || n != 0 {
		t.Errorf("AudienceSize(aud_none) = %d, %v", n, err)
	}
}

func testAudienceMembershipsConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	var mu sync.Mutex
	var wg sync.WaitGroup
	entered := 0
	for range 10 {
		wg.Go(func() {
			got, err := s.SetMemberships(ctx, "prf_1", map[string]bool{"aud_a": true}, at(0))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			entered += len(got)
		})
	}
	wg.Wait()
	if entered != 1 {
		t.Errorf("%d evaluators saw the entry; want 1", entered)
	}
}

// Many profiles' memberships are recorded in one call, which reports each
// profile's changes, and read back in one.
func testAudienceMembershipsMany(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.SetMemberships(ctx, "prf_2", map[string]bool{"aud_a": true}, at(0)); err != nil {
		t.Fatal(err)
	}
	got, err := s.SetMembershipsMany(ctx, map[string]map[string]bool{
		"prf_1": {"aud_a": true, "aud_b": true},
		"prf_2": {"aud_a": false, "aud_b": false}, // leaves a, was never in b
		"prf_3": {"aud_b": false},                 // nothing to change
	}, at(time.Hour))
	want := map[string][]kith.MembershipChange{
		"prf_1": {{Audience: "aud_a", Entered: true, Since: at(time.Hour)}, {Audience: "aud_b", Entered: true, Since: at(time.Hour)}},
		"prf_2": {{Audience: "aud_a", Since: at(0)}},
	}
	if err != nil || !cmp.Equal(want, got) {
		t.Fatalf("SetMembershipsMany = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.SetMembershipsMany(ctx, map[string]map[string]bool{"prf_1": {"aud_a": true}}, at(2*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("unchanged SetMembershipsMany = %+v, %v", got, err)
	}
	of, err := s.MembershipsOfMany(ctx, []string{"prf_1", "prf_2", "prf_none"})
	if err != nil || !cmp.Equal(map[string][]string{"prf_1": {"aud_a", "aud_b"}}, of) {
		t.Errorf("MembershipsOfMany = %v, %v", of, err)
	}
	// More profiles than one statement takes.
	many := map[string]map[string]bool{}
	var ids []string
	for i := range 1200 {
		id := fmt.Sprintf("prf_m%04d", i)
		many[id] = map[string]bool{"aud_c": i%2 == 0}
		ids = append(ids, id)
	}
	if _, err := s.SetMembershipsMany(ctx, many, at(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	of, err = s.MembershipsOfMany(ctx, ids)
	if err != nil || len(of) != 600 || len(of["prf_m0000"]) != 1 || of["prf_m0001"] != nil {
		t.Errorf("MembershipsOfMany of 1,200 profiles: %d in some audience, %v", len(of), err)
	}
}
