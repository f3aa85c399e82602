package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
)

func runConsent(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Consent/AppendAndRead", testConsentAppendAndRead},
		{"Consent/AppendedOnce", testConsentAppendedOnce},
		{"Consent/NeverOverwritten", testConsentNeverOverwritten},
		{"Consent/ConcurrentAppend", testConsentConcurrentAppend},
		{"Consent/ContactPoints", testContactPoints},
		{"Consent/ContactPointHistory", testContactPointHistory},
		{"Consent/Relationships", testRelationships},
		{"Consent/TimePrecision", testConsentTimePrecision},
		{"Consent/NoIDs", testConsentNoIDs},
		{"Consent/ManyProfiles", testConsentManyProfiles},
	})
}

// decision is a marketing e-mail decision about a profile, recorded at rec.
func decision(id, profileID, state string, rec time.Time) kith.ConsentRecord {
	return kith.ConsentRecord{ID: id, ProfileID: profileID, Purpose: kith.PurposeMarketing, Channel: kith.ContactEmail,
		State: state, Basis: "consent", DecidedAt: rec.Add(-time.Minute), RecordedAt: rec, Via: "api"}
}

func mustAppendConsents(t *testing.T, s Store, recs ...kith.ConsentRecord) {
	t.Helper()
	if err := s.AppendConsents(context.Background(), recs...); err != nil {
		t.Fatalf("AppendConsents: %v", err)
	}
}

func consents(t *testing.T, s Store, profileIDs ...string) []kith.ConsentRecord {
	t.Helper()
	got, err := s.Consents(context.Background(), profileIDs...)
	if err != nil {
		t.Fatalf("Consents(%v): %v", profileIDs, err)
	}
	return got
}

func contactPoints(t *testing.T, s Store, profileIDs ...string) []kith.ContactPoint {
	t.Helper()
	got, err := s.ContactPoints(context.Background(), profileIDs...)
	if err != nil {
		t.Fatalf("ContactPoints(%v): %v", profileIDs, err)
	}
	return got
}

func contactPointHistory(t *testing.T, s Store, profileIDs ...string) []kith.ContactPoint {
	t.Helper()
	got, err := s.ContactPointHistory(context.Background(), profileIDs...)
	if err != nil {
		t.Fatalf("ContactPointHistory(%v): %v", profileIDs, err)
	}
	return got
}

func relationships(t *testing.T, s Store, profileIDs ...string) []kith.Relationship {
	t.Helper()
	got, err := s.Relationships(context.Background(), profileIDs...)
	if err != nil {
		t.Fatalf("Relationships(%v): %v", profileIDs, err)
	}
	return got
}

// Decisions about several profiles come back together, oldest recorded
// first and ties by id, every field as appended.
func testConsentAppendAndRead(t *testing.T, s Store) {
	full := kith.ConsentRecord{ID: "cns_5", ProfileID: "prf_2", Purpose: kith.PurposeService, Channel: kith.ContactSMS,
		Address: "+447700900123", State: kith.ConsentOptedOut, Basis: "contract", DecidedAt: at(-time.Hour),
		RecordedAt: at(time.Hour), Via: "call_center", Actor: "agent:sam", Wording: "No texts about my orders, «s'il vous plaît»."}
	undated := decision("cns_2", "prf_1", kith.ConsentOptedIn, at(2*time.Hour))
	undated.DecidedAt = time.Time{} // an import that did not say when
	// Appended out of order, in two calls.
	mustAppendConsents(t, s, decision("cns_4", "prf_1", kith.ConsentOptedOut, at(3*time.Hour)), full,
		decision("cns_9", "prf_3", kith.ConsentOptedIn, at(0)))
	mustAppendConsents(t, s, undated, decision("cns_3", "prf_1", kith.ConsentOptedIn, at(0)),
		decision("cns_1", "prf_2", kith.ConsentUnset, at(time.Hour)))

	want := []kith.ConsentRecord{
		decision("cns_3", "prf_1", kith.ConsentOptedIn, at(0)),
		decision("cns_1", "prf_2", kith.ConsentUnset, at(time.Hour)), // recorded with cns_5: by id
		full,
		undated,
		decision("cns_4", "prf_1", kith.ConsentOptedOut, at(3*time.Hour)),
	}
	if diff := cmp.Diff(want, consents(t, s, "prf_2", "prf_1")); diff != "" {
		t.Errorf("Consents(prf_2, prf_1) (-want +got):\n%s", diff)
	}
	// An id given twice reads its decisions once.
	if diff := cmp.Diff(want[1:3], consents(t, s, "prf_none", "prf_2", "prf_2")); diff != "" {
		t.Errorf("Consents(prf_none, prf_2, prf_2) (-want +got):\n%s", diff)
	}
	if got := consents(t, s, "prf_none"); len(got) != 0 {
		t.Errorf("Consents(prf_none) = %+v, want none", got)
	}
}

// A record whose id is held is kept once, as first appended, whether it
// comes again in a later call or twice in one; the others in the call are
// stored.
func testConsentAppendedOnce(t *testing.T, s Store) {
	first := decision("cns_1", "prf_1", kith.ConsentOptedIn, at(0))
	mustAppendConsents(t, s, first)
	again := first
	again.State, again.RecordedAt = kith.ConsentOptedOut, at(time.Hour)
	second := decision("cns_2", "prf_1", kith.ConsentOptedOut, at(2*time.Hour))
	secondAgain := second
	secondAgain.Wording = "a second copy in the same call"
	mustAppendConsents(t, s, again, second, secondAgain)
	if diff := cmp.Diff([]kith.ConsentRecord{first, second}, consents(t, s, "prf_1")); diff != "" {
		t.Errorf("Consents (-want +got):\n%s", diff)
	}
}

// A later decision for the same purpose and channel is a new record; the
// earlier one stays.
func testConsentNeverOverwritten(t *testing.T, s Store) {
	in := decision("cns_a", "prf_1", kith.ConsentOptedIn, at(0))
	out := decision("cns_b", "prf_1", kith.ConsentOptedOut, at(time.Hour))
	unset := decision("cns_c", "prf_1", kith.ConsentUnset, at(2*time.Hour))
	for _, r := range []kith.ConsentRecord{in, out, unset} {
		mustAppendConsents(t, s, r)
	}
	if diff := cmp.Diff([]kith.ConsentRecord{in, out, unset}, consents(t, s, "prf_1")); diff != "" {
		t.Errorf("Consents (-want +got):\n%s", diff)
	}
}

// Appends from several writers at once lose nothing, and records they
// all append, in different orders, are kept once.
func testConsentConcurrentAppend(t *testing.T, s Store) {
	const writers, each = 8, 40
	sharedA := decision("cns_shared_a", "prf_0", kith.ConsentOptedIn, at(0))
	sharedB := decision("cns_shared_b", "prf_0", kith.ConsentOptedOut, at(time.Second))
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < each; i += 2 {
				// Two at a time, now and then with the shared ones, first
				// or last.
				recs := []kith.ConsentRecord{
					decision(fmt.Sprintf("cns_%d_%03d", w, i), fmt.Sprintf("prf_%d", w%3), kith.ConsentOptedIn, at(time.Duration(i)*time.Second)),
					decision(fmt.Sprintf("cns_%d_%03d", w, i+1), fmt.Sprintf("prf_%d", w%3), kith.ConsentOptedOut, at(time.Duration(i+1)*time.Second)),
				}
				if i%10 == 0 {
					if w%2 == 0 {
						recs = append([]kith.ConsentRecord{sharedA}, append(recs, sharedB)...)
					} else {
						recs = append([]kith.ConsentRecord{sharedB}, append(recs, sharedA)...)
					}
				}
				if err := s.AppendConsents(context.Background(), recs...); err != nil {
					t.Errorf("writer %d: AppendConsents: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := consents(t, s, "prf_0", "prf_1", "prf_2")
	if len(got) != writers*each+2 {
		t.Errorf("read %d decisions, want %d", len(got), writers*each+2)
	}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.ID] {
			t.Errorf("decision %s read twice", r.ID)
		}
		seen[r.ID] = true
	}
}

// A contact point replaces the one of its profile, channel and address;
// another address on the channel is another contact point. They read by
// profile, channel and address.
func testContactPoints(t *testing.T, s Store) {
	ctx := context.Background()
	work := kith.ContactPoint{ProfileID: "prf_1", Channel: kith.ContactEmail, Address: "ana@work.example", Status: kith.ContactVerified,
		Label: "work", UpdatedAt: at(0), UpdatedBy: "user:mia"}
	home := kith.ContactPoint{ProfileID: "prf_1", Channel: kith.ContactEmail, Address: "ana@home.example", Status: kith.ContactUnverified,
		UpdatedAt: at(time.Minute)}
	mobile := kith.ContactPoint{ProfileID: "prf_1", Channel: kith.ContactSMS, Address: "+447700900123", Status: kith.ContactVerified,
		Label: "mobile", UpdatedAt: at(2 * time.Minute)}
	other := kith.ContactPoint{ProfileID: "prf_0", Channel: kith.ContactSMS, Address: "+447700900123", Status: kith.ContactUnverified,
		UpdatedAt: at(3 * time.Minute)} // the same number: another person's contact point
	for _, cp := range []kith.ContactPoint{mobile, work, other, home} {
		if err := s.PutContactPoint(ctx, cp); err != nil {
			t.Fatalf("PutContactPoint(%s %s): %v", cp.ProfileID, cp.Address, err)
		}
	}
	if diff := cmp.Diff([]kith.ContactPoint{other, home, work, mobile}, contactPoints(t, s, "prf_1", "prf_0")); diff != "" {
		t.Errorf("ContactPoints (-want +got):\n%s", diff)
	}
	bounced := work
	bounced.Status, bounced.Label, bounced.UpdatedAt, bounced.UpdatedBy, bounced.Reason = kith.ContactBounced, "", at(time.Hour), "smtp", "hard bounce"
	if err := s.PutContactPoint(ctx, bounced); err != nil {
		t.Fatalf("PutContactPoint(bounced): %v", err)
	}
	if diff := cmp.Diff([]kith.ContactPoint{home, bounced, mobile}, contactPoints(t, s, "prf_1")); diff != "" {
		t.Errorf("ContactPoints after a bounce (-want +got):\n%s", diff)
	}
	if got := contactPoints(t, s, "prf_none"); len(got) != 0 {
		t.Errorf("ContactPoints(prf_none) = %+v, want none", got)
	}
}

// Every put of a contact point is kept in its history, the replaced ones
// too: oldest UpdatedAt first (the zero time before any other), ties in
// the order put, whatever the order of the profiles asked for.
func testContactPointHistory(t *testing.T, s Store) {
	ctx := context.Background()
	put := func(cp kith.ContactPoint) {
		t.Helper()
		if err := s.PutContactPoint(ctx, cp); err != nil {
			t.Fatalf("PutContactPoint(%s %s %s): %v", cp.ProfileID, cp.Address, cp.Status, err)
		}
	}
	mobile := kith.ContactPoint{ProfileID: "prf_1", Channel: kith.ContactSMS, Address: "+447700900123", Status: kith.ContactVerified,
		Label: "mobile", UpdatedAt: at(0), UpdatedBy: "user:mia"}
	other := kith.ContactPoint{ProfileID: "prf_0", Channel: kith.ContactSMS, Address: "+447700900123", Status: kith.ContactUnverified,
		UpdatedAt: at(time.Minute)}
	email := kith.ContactPoint{ProfileID: "prf_1", Channel: kith.ContactEmail, Address: "ana@example.com", Status: kith.ContactUnverified,
		UpdatedAt: at(2 * time.Minute)}
	bounced := mobile
	bounced.Status, bounced.Label, bounced.UpdatedAt, bounced.UpdatedBy, bounced.Reason = kith.ContactBounced, "", at(time.Hour), "sms-gateway", "hard bounce"
	// Re-verified in the same instant as the bounce: the tie is read in
	// the order put.
	again := mobile
	again.UpdatedAt, again.Reason = at(time.Hour), "re-verified by code"
	undated := kith.ContactPoint{ProfileID: "prf_1", Channel: kith.ContactPost, Address: "12 High St", Status: kith.ContactUnverified}
	for _, cp := range []kith.ContactPoint{email, mobile, other, bounced, again, undated} {
		put(cp)
	}

	if diff := cmp.Diff([]kith.ContactPoint{undated, mobile, email, bounced, again}, contactPointHistory(t, s, "prf_1")); diff != "" {
		t.Errorf("ContactPointHistory(prf_1) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]kith.ContactPoint{undated, mobile, other, email, bounced, again},
		contactPointHistory(t, s, "prf_none", "prf_1", "prf_0", "prf_1")); diff != "" {
		t.Errorf("ContactPointHistory(prf_none, prf_1, prf_0, prf_1) (-want +got):\n%s", diff)
	}
	if got := contactPointHistory(t, s, "prf_none"); len(got) != 0 {
		t.Errorf("ContactPointHistory(prf_none) = %+v, want none", got)
	}
	// The contact points themselves hold the last put.
	if diff := cmp.Diff([]kith.ContactPoint{email, undated, again}, contactPoints(t, s, "prf_1")); diff != "" {
		t.Errorf("ContactPoints(prf_1) (-want +got):\n%s", diff)
	}
}

// Relationships are put, replaced and deleted by (From, To, Kind), and
// read from either end.
func testRelationships(t *testing.T, s Store) {
	ctx := context.Background()
	mum := kith.Relationship{From: "prf_mum", To: "prf_kid", Kind: kith.RelationParent, Household: "Ramirez, 12 High St",
		Since: at(0), By: "user:mia"}
	gran := kith.Relationship{From: "prf_gran", To: "prf_kid", Kind: kith.RelationGuardian, Recipient: true, Since: at(time.Hour)}
	partner := kith.Relationship{From: "prf_mum", To: "prf_dad", Kind: kith.RelationPartner, Since: at(2 * time.Hour)}
	// Two kinds between one pair are two relationships.
	mumGuardian := kith.Relationship{From: "prf_mum", To: "prf_kid", Kind: kith.RelationGuardian, Since: at(3 * time.Hour)}
	for _, r := range []kith.Relationship{partner, mumGuardian, gran, mum} {
		if err := s.PutRelationship(ctx, r); err != nil {
			t.Fatalf("PutRelationship(%s %s %s): %v", r.From, r.Kind, r.To, err)
		}
	}
	for _, c := range []struct {
		ids  []string
		want []kith.Relationship
	}{
		{[]string{"prf_kid"}, []kith.Relationship{gran, mumGuardian, mum}},
		{[]string{"prf_mum"}, []kith.Relationship{partner, mumGuardian, mum}},
		{[]string{"prf_dad"}, []kith.Relationship{partner}},
		// Both ends given: each relationship once.
		{[]string{"prf_kid", "prf_mum", "prf_gran"}, []kith.Relationship{gran, partner, mumGuardian, mum}},
		{[]string{"prf_none"}, nil},
	} {
		if diff := cmp.Diff(c.want, relationships(t, s, c.ids...), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Relationships(%v) (-want +got):\n%s", c.ids, diff)
		}
	}

	mum.Recipient, mum.Household, mum.Since, mum.By = true, "Ramirez, 3 Low Rd", at(4*time.Hour), "user:sam"
	if err := s.PutRelationship(ctx, mum); err != nil {
		t.Fatalf("PutRelationship(replace): %v", err)
	}
	if diff := cmp.Diff([]kith.Relationship{gran, mumGuardian, mum}, relationships(t, s, "prf_kid")); diff != "" {
		t.Errorf("Relationships after replacing one (-want +got):\n%s", diff)
	}

	if err := s.DeleteRelationship(ctx, "prf_mum", "prf_kid", kith.RelationGuardian); err != nil {
		t.Fatalf("DeleteRelationship: %v", err)
	}
	wantCode(t, "a second DeleteRelationship", s.DeleteRelationship(ctx, "prf_mum", "prf_kid", kith.RelationGuardian), kith.ENOTFOUND)
	wantCode(t, "DeleteRelationship the wrong way round", s.DeleteRelationship(ctx, "prf_kid", "prf_mum", kith.RelationParent), kith.ENOTFOUND)
	if diff := cmp.Diff([]kith.Relationship{gran, mum}, relationships(t, s, "prf_kid")); diff != "" {
		t.Errorf("Relationships after a delete (-want +got):\n%s", diff)
	}
}

// Times come back within a microsecond, the finest every store keeps.
func testConsentTimePrecision(t *testing.T, s Store) {
	ctx := context.Background()
	r := decision("cns_1", "prf_1", kith.ConsentOptedIn, at(789*time.Nanosecond))
	r.DecidedAt = at(-time.Minute + 456*time.Nanosecond)
	mustAppendConsents(t, s, r)
	cp := kith.ContactPoint{ProfileID: "prf_1", Channel: kith.ContactEmail, Address: "ana@example.com", Status: kith.ContactVerified,
		UpdatedAt: at(999 * time.Nanosecond)}
	if err := s.PutContactPoint(ctx, cp); err != nil {
		t.Fatal(err)
	}
	rel := kith.Relationship{From: "prf_1", To: "prf_2", Kind: kith.RelationPartner, Since: at(time.Second + time.Nanosecond)}
	if err := s.PutRelationship(ctx, rel); err != nil {
		t.Fatal(err)
	}
	recs, cps, rels := consents(t, s, "prf_1"), contactPoints(t, s, "prf_1"), relationships(t, s, "prf_1")
	hist := contactPointHistory(t, s, "prf_1")
	if len(recs) != 1 || len(cps) != 1 || len(rels) != 1 || len(hist) != 1 {
		t.Fatalf("read %d decisions, %d contact points, %d relationships, %d contact point changes; want one of each",
			len(recs), len(cps), len(rels), len(hist))
	}
	checkMicros(t, []timePair{
		{"DecidedAt", recs[0].DecidedAt, r.DecidedAt},
		{"RecordedAt", recs[0].RecordedAt, r.RecordedAt},
		{"UpdatedAt", cps[0].UpdatedAt, cp.UpdatedAt},
		{"UpdatedAt in the history", hist[0].UpdatedAt, cp.UpdatedAt},
		{"Since", rels[0].Since, rel.Since},
	})
}

// No ids, no rows, no error; nothing to append is no error either.
func testConsentNoIDs(t *testing.T, s Store) {
	ctx := context.Background()
	mustAppendConsents(t, s, decision("cns_1", "prf_1", kith.ConsentOptedIn, at(0)))
	if err := s.PutContactPoint(ctx, kith.ContactPoint{ProfileID: "prf_1", Channel: kith.ContactEmail, Address: "a@example.com",
		Status: kith.ContactVerified, UpdatedAt: at(0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRelationship(ctx, kith.Relationship{From: "prf_1", To: "prf_2", Kind: kith.RelationPartner, Since: at(0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendConsents(ctx); err != nil {
		t.Errorf("AppendConsents of nothing: %v", err)
	}
	if got, err := s.Consents(ctx); err != nil || len(got) != 0 {
		t.Errorf("Consents() = %+v, %v; want none", got, err)
	}
	if got, err := s.ContactPoints(ctx); err != nil || len(got) != 0 {
		t.Errorf("ContactPoints() = %+v, %v; want none", got, err)
	}
	if got, err := s.Relationships(ctx); err != nil || len(got) != 0 {
		t.Errorf("Relationships() = %+v, %v; want none", got, err)
	}
	if got, err := s.ContactPointHistory(ctx); err != nil || len(got) != 0 {
		t.Errorf("ContactPointHistory() = %+v, %v; want none", got, err)
	}
}

// More profiles than one statement may take are read in the documented
// order all the same, and a relationship between two of them once.
func testConsentManyProfiles(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 1200
	ids := make([]string, n)
	var recs []kith.ConsentRecord
	for i := range n {
		ids[i] = fmt.Sprintf("prf_m%04d", i)
		// Recorded in the reverse order of the profiles' ids.
		recs = append(recs, decision(fmt.Sprintf("cns_m%04d", i), ids[i], kith.ConsentOptedIn, at(time.Duration(n-i)*time.Second)))
		if err := s.PutContactPoint(ctx, kith.ContactPoint{ProfileID: ids[i], Channel: kith.ContactEmail,
			Address: ids[i] + "@example.com", Status: kith.ContactVerified, UpdatedAt: at(0)}); err != nil {
			t.Fatal(err)
		}
	}
	mustAppendConsents(t, s, recs...)
	far := kith.Relationship{From: ids[n-1], To: ids[0], Kind: kith.RelationPartner, Since: at(0)}
	near := kith.Relationship{From: ids[0], To: ids[1], Kind: kith.RelationParent, Since: at(0)}
	for _, r := range []kith.Relationship{far, near} {
		if err := s.PutRelationship(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got := consents(t, s, ids...)
	if len(got) != n || got[0].ID != "cns_m1199" || got[n-1].ID != "cns_m0000" {
		t.Fatalf("Consents of %d profiles: %d, want %d oldest recorded first", n, len(got), n)
	}
	for i := 1; i < n; i++ {
		if got[i].RecordedAt.Before(got[i-1].RecordedAt) {
			t.Fatalf("Consents of %d profiles: %s before %s, recorded later", n, got[i-1].ID, got[i].ID)
		}
	}
	cps := contactPoints(t, s, ids...)
	if len(cps) != n || cps[0].ProfileID != ids[0] || cps[n-1].ProfileID != ids[n-1] {
		t.Fatalf("ContactPoints of %d profiles: %d, want %d by profile", n, len(cps), n)
	}
	for i := 1; i < n; i++ {
		if cps[i].ProfileID <= cps[i-1].ProfileID {
			t.Fatalf("ContactPoints of %d profiles: %s after %s", n, cps[i].ProfileID, cps[i-1].ProfileID)
		}
	}
	// Each contact point again, a second later, in the reverse order: the
	// history reads oldest first and ties in the order put, across
	// statements too.
	for i := n - 1; i >= 0; i-- {
		if err := s.PutContactPoint(ctx, kith.ContactPoint{ProfileID: ids[i], Channel: kith.ContactEmail,
			Address: ids[i] + "@example.com", Status: kith.ContactBounced, UpdatedAt: at(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	hist := contactPointHistory(t, s, ids...)
	if len(hist) != 2*n {
		t.Fatalf("ContactPointHistory of %d profiles: %d, want %d", n, len(hist), 2*n)
	}
	for i, cp := range hist {
		want, status := ids[min(i, 2*n-1-i)], kith.ContactVerified
		if i >= n {
			status = kith.ContactBounced
		}
		if cp.ProfileID != want || cp.Status != status {
			t.Fatalf("ContactPointHistory of %d profiles: %s %s at %d, want %s %s", n, cp.ProfileID, cp.Status, i, want, status)
		}
	}
	if diff := cmp.Diff([]kith.Relationship{near, far}, relationships(t, s, ids...)); diff != "" {
		t.Errorf("Relationships of %d profiles (-want +got):\n%s", n, diff)
	}
}
