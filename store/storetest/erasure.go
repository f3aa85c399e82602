package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

// erasureStore is what the erasure contract needs besides Store.
type erasureStore interface {
	kith.ErasureStore
	kith.AuditRedactor
}

func runErasure(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Erasure/Profiles", testEraseProfiles},
		{"Erasure/Primary", testErasePrimary},
		{"Erasure/Records", testErasureRecords},
		{"Erasure/RedactAudit", testRedactAudit},
	})
}

func erasing(t *testing.T, s Store) erasureStore {
	t.Helper()
	es, ok := s.(erasureStore)
	if !ok {
		t.Fatalf("%T does not implement kith.ErasureStore and kith.AuditRedactor", s)
	}
	return es
}

// testEraseProfiles erases a person of two profiles (one absorbed) next
// to another who shares a device, a conflict and a do-not-link rule with
// them: the person goes, the other keeps everything of their own.
func testEraseProfiles(t *testing.T, s Store) {
	ctx := context.Background()
	p1, p2, p3 := newProfile("prf_1", 1, "ann"), newProfile("prf_2", 2), newProfile("prf_3", 3, "bob")
	putProfiles(t, s, p1, p2, p3)
	addLinks(t, s,
		newLink(kith.IDEmail, "one@example.com", p1.ID, 1), newLink(kith.IDDeviceID, "dev", p1.ID, 1),
		newLink(kith.IDEmail, "two@example.com", p2.ID, 2),
		newLink(kith.IDEmail, "three@example.com", p3.ID, 3), newLink(kith.IDDeviceID, "dev", p3.ID, 3))
	evs := appendTimed(t, s, "erase", time.Second, 2*time.Second, 3*time.Second, 4*time.Second)
	onTimeline(t, s, p1.ID, evs[0], evs[3])
	onTimeline(t, s, p2.ID, evs[1])
	onTimeline(t, s, p3.ID, evs[2])
	addConflicts(t, s,
		kith.Conflict{Seq: 10, MessageID: "msg-10", Profiles: []string{p3.ID, p1.ID}, Reason: "unique device", At: at(0)},
		kith.Conflict{Seq: 11, MessageID: "msg-11", Profiles: []string{p3.ID}, Reason: "max emails", At: at(0)})
	absorb(t, s, newMerge("mrg_12", p1.ID, p2.ID, 12))
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		return tx.AddDoNotLink(ctx, p1.ID, p3.ID, "mrg_old", at(time.Hour))
	})

	got := inTx(t, s, "EraseProfiles", func(ctx context.Context, tx kith.ProfileTx) (kith.ErasedProfiles, error) {
		return tx.EraseProfiles(ctx, []string{p1.ID, p2.ID, "prf_unknown"})
	})
	want := kith.ErasedProfiles{Profiles: 2, Identifiers: 3, Seqs: []int64{evs[0].Seq, evs[1].Seq, evs[3].Seq}}
	if !cmp.Equal(want, got) {
		t.Errorf("EraseProfiles = %+v, want %+v", got, want)
	}
	for _, id := range []string{p1.ID, p2.ID} {
		_, err := s.Profile(ctx, id)
		wantCode(t, fmt.Sprintf("Profile(%s) after erasing it", id), err, kith.ENOTFOUND)
		if got := readLinks(t, s, id); len(got) != 0 {
			t.Errorf("Links(%s) after erasing it = %v", id, got)
		}
		if got := readTimeline(t, s, id, nil, 10); len(got) != 0 {
			t.Errorf("Timeline(%s) after erasing it = %v", id, messageIDs(got))
		}
		if got := readConflicts(t, s, id); len(got) != 0 {
			t.Errorf("Conflicts(%s) after erasing it = %v", id, got)
		}
	}
	for _, v := range []string{"one@example.com", "two@example.com"} {
		if got := profileIDsFor(t, s, kith.IDEmail, v); len(got) != 0 {
			t.Errorf("ProfilesFor(email %s) after the erasure = %v", v, got)
		}
	}
	if got := search(t, s, "ann", nil, 10); len(got) != 0 {
		t.Errorf("search for ann after the erasure = %v", got)
	}
	if ms, err := s.Merges(ctx, p1.ID); err != nil || len(ms) != 0 {
		t.Errorf("Merges(%s) after the erasure = %v, %v", p1.ID, ms, err)
	}
	// The other person keeps their device, timeline and own conflict; the
	// conflict and the rule that named the erased one are gone.
	if got := profileIDsFor(t, s, kith.IDDeviceID, "dev"); !cmp.Equal(got, []string{p3.ID}) {
		t.Errorf("ProfilesFor(dev) = %v, want [%s]", got, p3.ID)
	}
	if got := readTimeline(t, s, p3.ID, nil, 10); len(got) != 1 || got[0].Seq != evs[2].Seq {
		t.Errorf("Timeline(%s) = %v, want its one event", p3.ID, messageIDs(got))
	}
	if got := readConflicts(t, s, p3.ID); len(got) != 1 || got[0].Seq != 11 {
		t.Errorf("Conflicts(%s) = %+v, want only its own", p3.ID, got)
	}
	if apart := inTx(t, s, "DoNotLink", func(ctx context.Context, tx kith.ProfileTx) (bool, error) {
		return tx.DoNotLink(ctx, p1.ID, p3.ID)
	}); apart {
		t.Errorf("the do-not-link rule naming %s outlived its erasure", p1.ID)
	}
	// Erasing again removes nothing and is no error.
	if again := inTx(t, s, "EraseProfiles again", func(ctx context.Context, tx kith.ProfileTx) (kith.ErasedProfiles, error) {
		return tx.EraseProfiles(ctx, []string{p1.ID, p2.ID})
	}); again.Profiles != 0 || again.Identifiers != 0 || len(again.Seqs) != 0 {
		t.Errorf("EraseProfiles again = %+v, want nothing", again)
	}
	// The identifier can be someone's again.
	putProfiles(t, s, newProfile("prf_new", 20))
	addLinks(t, s, newLink(kith.IDEmail, "one@example.com", "prf_new", 20))
	if got := profileIDsFor(t, s, kith.IDEmail, "one@example.com"); !cmp.Equal(got, []string{"prf_new"}) {
		t.Errorf("ProfilesFor(one@) after linking it anew = %v", got)
	}
}

// testErasePrimary removes the primary data of a person and the log's
// rows of their events, and nothing of anyone else's.
func testErasePrimary(t *testing.T, s Store) {
	ctx := context.Background()
	es := erasing(t, s)
	evs := appendTimed(t, s, "prim", time.Second, 2*time.Second, 3*time.Second)
	gone, kept := []string{"prf_a", "prf_a2"}, "prf_b"
	rec := func(id, profile string) kith.ConsentRecord {
		return kith.ConsentRecord{ID: id, ProfileID: profile, Purpose: kith.PurposeMarketing, Channel: kith.ContactSMS,
			State: kith.ConsentOptedIn, DecidedAt: at(0), RecordedAt: at(0), Via: "api"}
	}
	if err := s.AppendConsents(ctx, rec("c1", "prf_a"), rec("c2", "prf_a2"), rec("c3", kept)); err != nil {
		t.Fatal(err)
	}
	for _, cp := range []kith.ContactPoint{
		{ProfileID: "prf_a", Channel: kith.ContactSMS, Address: "+447911000001", Status: kith.ContactVerified, UpdatedAt: at(0)},
		{ProfileID: kept, Channel: kith.ContactSMS, Address: "+447911000002", Status: kith.ContactVerified, UpdatedAt: at(0)},
	} {
		if err := s.PutContactPoint(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []kith.Relationship{
		{From: kept, To: "prf_a", Kind: kith.RelationParent, Since: at(0)},
		{From: kept, To: "prf_c", Kind: kith.RelationPartner, Since: at(0)},
	} {
		if err := s.PutRelationship(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeLinks(ctx, "prf_a", at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMembershipsMany(ctx, map[string]map[string]bool{"prf_a": {"aud_1": true}, kept: {"aud_1": true}}, at(0)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*kith.MatchPair{
		{ID: "mp_1", Left: "prf_a2", Right: kept, Probability: 0.9, Evidence: []byte(`{}`), Status: kith.MatchPending, CreatedAt: at(0)},
		{ID: "mp_2", Left: kept, Right: "prf_c", Probability: 0.9, Evidence: []byte(`{}`), Status: kith.MatchPending, CreatedAt: at(0)},
	} {
		if _, _, err := s.AddMatchPair(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mustCreateOffer(t, s, upgrade("UPGRADE"))
	live := mustGrant(t, s, newGrant("UPGRADE", "prf_a"))
	used := mustGrant(t, s, newGrant("UPGRADE", "prf_a2"))
	other := mustGrant(t, s, newGrant("UPGRADE", kept))
	if _, err := s.Redeem(ctx, used.ID, redemption(kith.KindStore, "idem-1", at(time.Hour)), 0, ev("r1")); err != nil {
		t.Fatal(err)
	}

	got, err := es.ErasePrimary(ctx, gone, []int64{evs[0].Seq, evs[2].Seq})
	if err != nil {
		t.Fatalf("ErasePrimary: %v", err)
	}
	want := kith.ErasureCounts{Events: 2, Consents: 2, ContactPoints: 1, Relationships: 1, Memberships: 1, Matches: 1, Grants: 2}
	if !cmp.Equal(want, got) {
		t.Errorf("ErasePrimary = %+v, want %+v", got, want)
	}
	// The log keeps the other event; of the erased ones, at most an empty
	// placeholder where the newest was, and no position is used again.
	for _, e := range readAll(t, s) {
		switch {
		case e.Seq == evs[1].Seq:
		case e.Seq == evs[2].Seq && e.SourceID == kith.ErasedSource && e.UserID == "" && e.AnonymousID == "" && string(e.Payload) == "{}":
		default:
			t.Errorf("the log after the erasure holds %d (%s/%s, %s)", e.Seq, e.SourceID, e.MessageID, e.Payload)
		}
	}
	next := event("src_1", "after-erasure")
	mustAppend(t, s, next)
	if all := readAll(t, s); all[len(all)-1].MessageID != "after-erasure" || all[len(all)-1].Seq <= evs[2].Seq {
		t.Errorf("an event appended after the erasure got position %d, at or before the erased %d", all[len(all)-1].Seq, evs[2].Seq)
	}
	if cs, err := s.Consents(ctx, append(gone, kept)...); err != nil || len(cs) != 1 || cs[0].ID != "c3" {
		t.Errorf("Consents after the erasure = %+v, %v; want only c3", cs, err)
	}
	if cps, err := s.ContactPoints(ctx, append(gone, kept)...); err != nil || len(cps) != 1 || cps[0].ProfileID != kept {
		t.Errorf("ContactPoints after the erasure = %+v, %v", cps, err)
	}
	if h, err := s.ContactPointHistory(ctx, append(gone, kept)...); err != nil || len(h) != 1 || h[0].ProfileID != kept {
		t.Errorf("ContactPointHistory after the erasure = %+v, %v", h, err)
	}
	if rs, err := s.Relationships(ctx, kept); err != nil || len(rs) != 1 || rs[0].To != "prf_c" {
		t.Errorf("Relationships(%s) after the erasure = %+v, %v; want only the partner", kept, rs, err)
	}
	if before, err := s.LinksRevokedBefore(ctx, "prf_a"); err != nil || !before.IsZero() {
		t.Errorf("LinksRevokedBefore after the erasure = %v, %v", before, err)
	}
	if ids, err := s.MembershipsOf(ctx, "prf_a"); err != nil || len(ids) != 0 {
		t.Errorf("MembershipsOf(prf_a) after the erasure = %v, %v", ids, err)
	}
	if ids, err := s.MembershipsOf(ctx, kept); err != nil || !cmp.Equal(ids, []string{"aud_1"}) {
		t.Errorf("MembershipsOf(%s) = %v, %v", kept, ids, err)
	}
	if _, err := s.MatchPair(ctx, "mp_1"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("MatchPair(mp_1) after the erasure: %v, want not found", err)
	}
	if _, err := s.MatchPair(ctx, "mp_2"); err != nil {
		t.Errorf("MatchPair(mp_2): %v", err)
	}
	// The live grant is gone and no longer counts; the redeemed one stays
	// in the ledger without the person.
	if _, err := s.GrantByID(ctx, live.ID); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("GrantByID(live) after the erasure: %v, want not found", err)
	}
	if g, err := s.GrantByID(ctx, used.ID); err != nil || g.ProfileID != kith.ErasedProfile || g.Address != (kith.Identifier{}) || g.Redemption == nil {
		t.Errorf("GrantByID(redeemed) after the erasure = %+v, %v; want it kept without the person", g, err)
	}
	if g, err := s.GrantByID(ctx, other.ID); err != nil || g.ProfileID != kept {
		t.Errorf("GrantByID(other) = %+v, %v", g, err)
	}
	if o, err := s.Offer(ctx, "UPGRADE"); err != nil || o.Granted != 2 || o.Redeemed != 1 {
		t.Errorf("offer counts after the erasure = granted %d, redeemed %d, %v; want 2 and 1", o.Granted, o.Redeemed, err)
	}
	// Ledger events waiting for the log that would name the person go; the
	// other person's stay.
	box, err := s.OfferOutbox(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range box {
		if slices.Contains([]string{"u-prf_a", "u-prf_a2"}, e.Event.UserID) {
			t.Errorf("the outbox still holds %s for %s", e.Event.MessageID, e.Event.UserID)
		}
	}
	if !slices.ContainsFunc(box, func(e kith.OutboxEvent) bool { return e.Event.UserID == "u-"+kept }) {
		t.Errorf("the outbox lost the other person's event: %+v", box)
	}
	// Again: nothing more.
	if again, err := es.ErasePrimary(ctx, gone, []int64{evs[0].Seq, evs[2].Seq}); err != nil || again != (kith.ErasureCounts{}) {
		t.Errorf("ErasePrimary again = %+v, %v; want nothing", again, err)
	}
}

func testErasureRecords(t *testing.T, s Store) {
	ctx := context.Background()
	es := erasing(t, s)
	if _, err := es.Erasure(ctx, "era_none"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("Erasure(era_none): %v, want not found", err)
	}
	e1 := kith.Erasure{ID: "era_1", Profiles: []string{"prf_1", "prf_2"}, State: kith.ErasurePending, Reason: "ticket 9",
		By: "key:admin", RequestedAt: at(time.Minute)}
	e2 := kith.Erasure{ID: "era_2", Profiles: []string{"prf_3"}, State: kith.ErasurePending, By: "user:ann", RequestedAt: at(2 * time.Minute)}
	for _, e := range []kith.Erasure{e2, e1} {
		if err := es.PutErasure(ctx, e); err != nil {
			t.Fatalf("PutErasure(%s): %v", e.ID, err)
		}
	}
	e1.State, e1.CompletedAt, e1.Removed = kith.ErasureDone, at(90*time.Second), kith.ErasureCounts{Profiles: 2, Events: 7, AuditRedacted: 1}
	if err := es.PutErasure(ctx, e1); err != nil {
		t.Fatalf("PutErasure(%s) again: %v", e1.ID, err)
	}
	if got, err := es.Erasure(ctx, "era_1"); err != nil || !cmp.Equal(*got, e1) {
		t.Errorf("Erasure(era_1) = %+v, %v; want %+v", got, err, e1)
	}
	if got, err := es.Erasures(ctx, time.Time{}, 0); err != nil || !cmp.Equal(got, []kith.Erasure{e1, e2}) {
		t.Errorf("Erasures = %+v, %v; want both, oldest first", got, err)
	}
	if got, err := es.Erasures(ctx, at(2*time.Minute), 0); err != nil || len(got) != 1 || got[0].ID != "era_2" {
		t.Errorf("Erasures since the second = %+v, %v", got, err)
	}
	if got, err := es.Erasures(ctx, time.Time{}, 1); err != nil || len(got) != 1 || got[0].ID != "era_1" {
		t.Errorf("Erasures limit 1 = %+v, %v", got, err)
	}
}

func testRedactAudit(t *testing.T, s Store) {
	ctx := context.Background()
	es := erasing(t, s)
	ann := kith.Actor{Kind: kith.ActorUser, Name: "ann"}
	if err := s.AppendAudit(ctx,
		kith.AuditRecord{Time: at(time.Second), Actor: ann, Action: kith.AuditProfileLookup, Target: "prf_1", Detail: "phone +14155550100"},
		kith.AuditRecord{Time: at(2 * time.Second), Actor: ann, Action: kith.AuditProfileRead, Target: "prf_1"},
		kith.AuditRecord{Time: at(3 * time.Second), Actor: ann, Action: kith.AuditProfileSearch, Target: "prf_2", Detail: "ramirez"},
		kith.AuditRecord{Time: at(4 * time.Second), Actor: ann, Action: kith.AuditProfileLookup, Target: "prf_9", Detail: "email x@example.com"},
	); err != nil {
		t.Fatal(err)
	}
	n, err := es.RedactAudit(ctx, []string{"prf_1", "prf_2"}, "redacted")
	if err != nil || n != 2 {
		t.Fatalf("RedactAudit = %d, %v; want 2", n, err)
	}
	recs, err := s.Audit(ctx, kith.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	details := map[string]string{}
	for _, r := range recs {
		details[r.Target+" "+r.Action] = r.Detail
	}
	want := map[string]string{"prf_1 profile.lookup": "redacted", "prf_1 profile.read": "", "prf_2 profile.search": "redacted",
		"prf_9 profile.lookup": "email x@example.com"}
	if !cmp.Equal(want, details) {
		t.Errorf("details after redaction = %v, want %v", details, want)
	}
	if n, err := es.RedactAudit(ctx, []string{"prf_1", "prf_2"}, "redacted"); err != nil || n != 0 {
		t.Errorf("RedactAudit again = %d, %v; want 0", n, err)
	}
}
