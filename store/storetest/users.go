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

func runUsers(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Users/CreateAndRead", testUsersCreateAndRead},
		{"Users/Conflict", testUsersConflict},
		{"Users/NotFound", testUsersNotFound},
		{"Users/Change", testUsersUpdate},
		{"Users/ChangeAtomic", testUsersChangeAtomic},
		{"Sessions/RoundTrip", testSessionsRoundTrip},
		{"Sessions/DeleteUserSessions", testSessionsDeleteUser},
		{"Sessions/DeleteExpired", testSessionsDeleteExpired},
		{"Audit/AppendAndSearch", testAuditAppendAndSearch},
		{"Audit/Paging", testAuditPaging},
		{"Audit/Invalid", testAuditInvalid},
		{"Audit/ConcurrentAppend", testAuditConcurrent},
	})
}

func newUser(id, name string, role kith.Role, created time.Time) *kith.User {
	return &kith.User{ID: id, Name: name, Role: role, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		CreatedAt: created, UpdatedAt: created}
}

func testUsersCreateAndRead(t *testing.T, s Store) {
	ctx := context.Background()
	b := newUser("u2", "bea", kith.RoleAgent, at(time.Second))
	a := newUser("u1", "ann", kith.RoleAdmin, at(2*time.Second))
	for _, u := range []*kith.User{b, a} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.Name, err)
		}
	}
	got, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]kith.User{*a, *b}, got); diff != "" {
		t.Errorf("Users() by name (-want +got):\n%s", diff)
	}
	byName, err := s.UserByName(ctx, "bea")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, byName); diff != "" {
		t.Errorf("UserByName (-want +got):\n%s", diff)
	}
	byID, err := s.UserByID(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, byID); diff != "" {
		t.Errorf("UserByID (-want +got):\n%s", diff)
	}
}

func testUsersConflict(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.CreateUser(ctx, newUser("u1", "ann", kith.RoleAdmin, base)); err != nil {
		t.Fatal(err)
	}
	err := s.CreateUser(ctx, newUser("u2", "ann", kith.RoleAgent, base))
	if !kith.IsCode(err, kith.ECONFLICT) {
		t.Fatalf("second user named ann: got %v, want ECONFLICT", err)
	}
	users, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Role != kith.RoleAdmin {
		t.Errorf("after the conflict: %+v, want ann the admin alone", users)
	}
}

func testUsersNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.UserByName(ctx, "nobody"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("UserByName(nobody) = %v, want ENOTFOUND", err)
	}
	if _, err := s.UserByID(ctx, "u404"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("UserByID(u404) = %v, want ENOTFOUND", err)
	}
	called := false
	if _, err := s.ChangeUser(ctx, "nobody", func(*kith.User, []kith.User) error { called = true; return nil }); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("ChangeUser(nobody) = %v, want ENOTFOUND", err)
	}
	if called {
		t.Error("ChangeUser called change for a user who does not exist")
	}
}

func testUsersUpdate(t *testing.T, s Store) {
	ctx := context.Background()
	u := newUser("u1", "ann", kith.RoleAgent, base)
	other := newUser("u2", "bea", kith.RoleAdmin, base)
	for _, x := range []*kith.User{u, other} {
		if err := s.CreateUser(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	want := *u
	want.Role = kith.RoleAnalyst
	want.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3"
	want.UpdatedAt = at(time.Minute)
	want.DisabledAt = at(time.Hour)
	got, err := s.ChangeUser(ctx, "ann", func(x *kith.User, all []kith.User) error {
		if diff := cmp.Diff([]kith.User{*u, *other}, all); diff != "" {
			t.Errorf("change saw all users (-want +got):\n%s", diff)
		}
		// Only these fields are stored; a changed name or id is not.
		x.Role, x.PasswordHash, x.UpdatedAt, x.DisabledAt = want.Role, want.PasswordHash, want.UpdatedAt, want.DisabledAt
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("ChangeUser returned (-want +got):\n%s", diff)
	}
	stored, err := s.UserByID(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, stored); diff != "" {
		t.Errorf("after ChangeUser (-want +got):\n%s", diff)
	}
	if !stored.Disabled() {
		t.Error("Disabled() = false after setting DisabledAt")
	}
	// An error from change stores nothing.
	refused := kith.Errorf(kith.ECONFLICT, "no")
	if _, err := s.ChangeUser(ctx, "ann", func(x *kith.User, _ []kith.User) error {
		x.Role = kith.RoleAdmin
		x.DisabledAt = time.Time{}
		return refused
	}); err != refused {
		t.Errorf("ChangeUser returned %v, want change's own error", err)
	}
	if got, _ := s.UserByID(ctx, "u1"); got.Role != kith.RoleAnalyst || !got.Disabled() {
		t.Errorf("a refused change was stored: %+v", got)
	}
	// Enabling again clears the time.
	if _, err := s.ChangeUser(ctx, "ann", func(x *kith.User, _ []kith.User) error { x.DisabledAt = time.Time{}; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByID(ctx, "u1"); got.Disabled() {
		t.Error("still disabled after clearing DisabledAt")
	}
}

// Concurrent changes of users are one at a time: each sees the others'
// results, so a rule over all users holds.
func testUsersChangeAtomic(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 10
	for i := range n {
		if err := s.CreateUser(ctx, newUser(fmt.Sprint("u", i), fmt.Sprint("admin", i), kith.RoleAdmin, base)); err != nil {
			t.Fatal(err)
		}
	}
	// Every admin tries to disable itself unless it is the last one enabled.
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.ChangeUser(ctx, fmt.Sprint("admin", i), func(x *kith.User, all []kith.User) error {
				enabled := 0
				for _, o := range all {
					if !o.Disabled() {
						enabled++
					}
				}
				if enabled <= 1 {
					return kith.Errorf(kith.ECONFLICT, "last admin")
				}
				x.DisabledAt = at(time.Minute)
				return nil
			})
			if err != nil && !kith.IsCode(err, kith.ECONFLICT) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	all, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	enabled := 0
	for _, u := range all {
		if !u.Disabled() {
			enabled++
		}
	}
	if enabled != 1 {
		t.Errorf("%d admins left enabled after concurrent changes, want exactly 1", enabled)
	}
}

func newSession(hash, userID string, created, expires time.Time) *kith.Session {
	return &kith.Session{Hash: []byte(hash), UserID: userID, CSRF: "csrf-" + hash, CreatedAt: created, ExpiresAt: expires,
		Addr: "127.0.0.1:5000", UserAgent: "test"}
}

func testSessionsRoundTrip(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.CreateUser(ctx, newUser("u1", "ann", kith.RoleAdmin, base)); err != nil {
		t.Fatal(err)
	}
	sess := newSession("h1", "u1", base, at(time.Hour))
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, newSession("h1", "u1", base, at(time.Hour))); !kith.IsCode(err, kith.ECONFLICT) {
		t.Errorf("CreateSession with a taken hash = %v, want ECONFLICT", err)
	}
	got, err := s.SessionByHash(ctx, []byte("h1"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sess, got); diff != "" {
		t.Errorf("SessionByHash (-want +got):\n%s", diff)
	}
	if err := s.DeleteSession(ctx, []byte("h1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByHash(ctx, []byte("h1")); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("after DeleteSession: %v, want ENOTFOUND", err)
	}
	if err := s.DeleteSession(ctx, []byte("h1")); err != nil {
		t.Errorf("deleting a missing session: %v, want nil", err)
	}
}

func testSessionsDeleteUser(t *testing.T, s Store) {
	ctx := context.Background()
	for _, u := range []*kith.User{newUser("u1", "ann", kith.RoleAdmin, base), newUser("u2", "bea", kith.RoleAgent, base)} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, sess := range []*kith.Session{newSession("a1", "u1", base, at(time.Hour)), newSession("a2", "u1", base, at(time.Hour)),
		newSession("b1", "u2", base, at(time.Hour))} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteUserSessions(ctx, "u1")
	if err != nil || n != 2 {
		t.Fatalf("DeleteUserSessions(u1) = %d, %v; want 2, nil", n, err)
	}
	if _, err := s.SessionByHash(ctx, []byte("a2")); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("ann's session after DeleteUserSessions: %v, want ENOTFOUND", err)
	}
	if _, err := s.SessionByHash(ctx, []byte("b1")); err != nil {
		t.Errorf("bea's session was touched: %v", err)
	}
}

func testSessionsDeleteExpired(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.CreateUser(ctx, newUser("u1", "ann", kith.RoleAdmin, base)); err != nil {
		t.Fatal(err)
	}
	for _, sess := range []*kith.Session{newSession("old", "u1", base, at(time.Minute)), newSession("new", "u1", base, at(time.Hour))} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteExpiredSessions(ctx, at(30*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 1, nil", n, err)
	}
	if _, err := s.SessionByHash(ctx, []byte("old")); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("expired session: %v, want ENOTFOUND", err)
	}
	if _, err := s.SessionByHash(ctx, []byte("new")); err != nil {
		t.Errorf("live session: %v", err)
	}
}

func auditRecords() []kith.AuditRecord {
	ann := kith.Actor{Kind: kith.ActorUser, ID: "u1", Name: "ann", Role: kith.RoleAgent, PII: true, Addr: "10.0.0.1:4000", Via: "console"}
	crm := kith.Actor{Kind: kith.ActorKey, ID: "k1", Name: "crm", Addr: "10.0.0.2:4000", Via: "api"}
	return []kith.AuditRecord{
		{Time: at(1 * time.Second), Actor: ann, Action: kith.AuditProfileLookup, Target: "p1", Detail: "phone +14155550100"},
		{Time: at(2 * time.Second), Actor: ann, Action: kith.AuditProfileRead, Target: "p1"},
		{Time: at(3 * time.Second), Actor: crm, Action: kith.AuditProfileRead, Target: "p2"},
		{Time: at(4 * time.Second), Actor: ann, Action: kith.AuditMergeUndo, Target: "p1", Detail: "merge m1"},
	}
}

// The store keeps everything but PII, which is a property of the actor's
// session rather than of the record.
func stored(recs []kith.AuditRecord) []kith.AuditRecord {
	out := make([]kith.AuditRecord, len(recs))
	for i, r := range recs {
		r.Actor.PII = false
		out[len(recs)-1-i] = r // newest first
	}
	return out
}

func testAuditAppendAndSearch(t *testing.T, s Store) {
	ctx := context.Background()
	recs := auditRecords()
	if err := s.AppendAudit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].ID <= recs[i-1].ID {
			t.Fatalf("ids do not increase: %d then %d", recs[i-1].ID, recs[i].ID)
		}
	}
	all := stored(recs)
	search := func(f kith.AuditFilter) []kith.AuditRecord {
		t.Helper()
		got, err := s.Audit(ctx, f)
		if err != nil {
			t.Fatalf("Audit(%+v): %v", f, err)
		}
		return got
	}
	cases := []struct {
		name string
		f    kith.AuditFilter
		want []kith.AuditRecord
	}{
		{"everything", kith.AuditFilter{}, all},
		{"by kind and name", kith.AuditFilter{Actor: "key:crm"}, all[1:2]},
		{"by bare name", kith.AuditFilter{Actor: "ann"}, []kith.AuditRecord{all[0], all[2], all[3]}},
		{"kind must match", kith.AuditFilter{Actor: "key:ann"}, []kith.AuditRecord{}},
		{"by action", kith.AuditFilter{Action: kith.AuditProfileRead}, all[1:3]},
		{"by action prefix", kith.AuditFilter{Action: "profile."}, all[1:]},
		{"by target", kith.AuditFilter{Target: "p1"}, []kith.AuditRecord{all[0], all[2], all[3]}},
		{"time range", kith.AuditFilter{From: at(2 * time.Second), To: at(4 * time.Second)}, all[1:3]},
		{"limit", kith.AuditFilter{Limit: 2}, all[:2]},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, search(c.f)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func testAuditPaging(t *testing.T, s Store) {
	ctx := context.Background()
	for i := range 25 {
		r := kith.AuditRecord{Actor: kith.Actor{Kind: kith.ActorSystem}, Action: kith.AuditProfileRead, Target: fmt.Sprint("p", i)}
		if err := s.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	var before int64
	for {
		page, err := s.Audit(ctx, kith.AuditFilter{Before: before, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if r.Time.IsZero() {
				t.Errorf("record %d has no time; AppendAudit must fill it in", r.ID)
			}
			seen = append(seen, r.Target)
		}
		before = page[len(page)-1].ID
	}
	if len(seen) != 25 || seen[0] != "p24" || seen[24] != "p0" {
		t.Errorf("paged through %d records %v, want p24 … p0", len(seen), seen)
	}
}

func testAuditInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	good := kith.AuditRecord{Actor: kith.Actor{Kind: kith.ActorSystem}, Action: kith.AuditProfileRead, Target: "p1"}
	bad := kith.AuditRecord{Actor: kith.Actor{Kind: kith.ActorSystem}, Target: "p2"}
	if err := s.AppendAudit(ctx, good, bad); !kith.IsCode(err, kith.EINVALID) {
		t.Fatalf("a record without an action: %v, want EINVALID", err)
	}
	got, err := s.Audit(ctx, kith.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("a refused call stored %d records, want none", len(got))
	}
}

func testAuditConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := kith.AuditRecord{Actor: kith.Actor{Kind: kith.ActorKey, Name: fmt.Sprint("k", w)},
					Action: kith.AuditProfileRead, Target: fmt.Sprintf("p%d-%d", w, i)}
				if err := s.AppendAudit(ctx, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Audit(ctx, kith.AuditFilter{Limit: writers * each * 2})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for _, r := range got {
		ids[r.ID] = true
	}
	if len(got) != writers*each || len(ids) != writers*each {
		t.Errorf("%d records with %d distinct ids, want %d of each", len(got), len(ids), writers*each)
	}
}
