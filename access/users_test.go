package access

// Internal tests of console users, sessions, passwords and roles, so that
// they can drive the Users clock. Argon2id at the real parameters costs tens
// of milliseconds a hash, so users that a test only needs to exist are
// seeded straight into the store with a cheap argon2id hash (which
// VerifyPassword accepts, as it accepts any parameters a hash records); the
// real parameters are exercised where passwords are set through Users.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/argon2"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/store/sqlite"
)

// testClock is a settable clock for Users.now, safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var clockStart = time.Date(2030, 3, 4, 9, 30, 0, 0, time.UTC)

// usersEnv is a Users over a real SQLite store, with a test clock.
type usersEnv struct {
	db    *sqlite.DB
	users *Users
	clock *testClock
}

func openUsersStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return db
}

func newUsersEnv(t *testing.T) *usersEnv {
	t.Helper()
	db := openUsersStore(t)
	return newUsersEnvOver(t, db, db)
}

// newUsersEnvOver builds a Users whose user store is us (db itself, or a
// wrapper around it).
func newUsersEnvOver(t *testing.T, db *sqlite.DB, us kith.UserStore) *usersEnv {
	t.Helper()
	clock := &testClock{t: clockStart}
	u := NewUsers(us, db, db)
	u.now = clock.Now
	return &usersEnv{db: db, users: u, clock: clock}
}

// cheapHash returns an argon2id PHC string with tiny parameters.
func cheapHash(password string) string {
	return phc(password, 64, 1, 1, 32)
}

// phc builds an argon2id PHC string with the given parameters, independently
// of HashPassword.
func phc(password string, memKiB, passes uint32, lanes uint8, keyLen uint32) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, passes, memKiB, lanes, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memKiB, passes, lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// seedUser stores a user directly (no audit record), with a cheap hash.
func (e *usersEnv) seedUser(t *testing.T, name string, role kith.Role, password string, disabled bool) *kith.User {
	t.Helper()
	now := e.clock.Now()
	usr := &kith.User{ID: "usr_" + name, Name: name, Role: role, PasswordHash: cheapHash(password), CreatedAt: now, UpdatedAt: now}
	if disabled {
		usr.DisabledAt = now
	}
	if err := e.db.CreateUser(context.Background(), usr); err != nil {
		t.Fatalf("seed user %s: %v", name, err)
	}
	return usr
}

func (e *usersEnv) user(t *testing.T, name string) *kith.User {
	t.Helper()
	usr, err := e.db.UserByName(context.Background(), name)
	if err != nil {
		t.Fatalf("UserByName(%s): %v", name, err)
	}
	return usr
}

func (e *usersEnv) mustSignIn(t *testing.T, name, password string) (string, *kith.Session) {
	t.Helper()
	secret, sess, _, err := e.users.SignIn(context.Background(), name, password, "192.0.2.1", "test-agent")
	if err != nil {
		t.Fatalf("SignIn(%s): %v", name, err)
	}
	return secret, sess
}

// auditEntry is an audit record without its id and time, and with the
// actor's PII flag cleared: the audit store does not keep it.
type auditEntry struct {
	Action, Target, Detail string
	Actor                  kith.Actor
}

func entryOf(action, target, detail string, a kith.Actor) auditEntry {
	a.PII = false
	return auditEntry{Action: action, Target: target, Detail: detail, Actor: a}
}

// audit returns the entries matching f, oldest first.
func (e *usersEnv) audit(t *testing.T, f kith.AuditFilter) []auditEntry {
	t.Helper()
	f.Limit = 1000
	recs, err := e.db.Audit(context.Background(), f)
	if err != nil {
		t.Fatalf("Audit(%+v): %v", f, err)
	}
	out := make([]auditEntry, len(recs))
	for i, r := range recs {
		out[len(recs)-1-i] = entryOf(r.Action, r.Target, r.Detail, r.Actor)
	}
	return out
}

// endSessions ends the sessions of a user and says how many there were.
func (e *usersEnv) endSessions(t *testing.T, userID string) int {
	t.Helper()
	n, err := e.db.DeleteUserSessions(context.Background(), userID)
	if err != nil {
		t.Fatalf("DeleteUserSessions: %v", err)
	}
	return n
}

func wantCode(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	if !kith.IsCode(err, code) {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, kith.ErrorCode(err), code)
		return
	}
	if got := kith.ErrorField(err); got != field {
		t.Errorf("%s: error field %q, want %q", what, got, field)
	}
}

func wantNoSession(t *testing.T, what string, err error) {
	t.Helper()
	if !kith.IsCode(err, kith.EUNAUTHORIZED) || kith.ErrorMessage(err) != "please sign in" {
		t.Errorf("%s: error %v, want unauthorized \"please sign in\"", what, err)
	}
}

const (
	annPassword  = "correct horse battery"
	bossPassword = "staple in the stable"
)

// ---- passwords ----

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

func TestHashPassword(t *testing.T) {
	h1 := HashPassword(annPassword)
	h2 := HashPassword(annPassword)
	m1, m2 := phcRE.FindStringSubmatch(h1), phcRE.FindStringSubmatch(h2)
	if m1 == nil || m2 == nil {
		t.Fatalf("hashes %q and %q, want the form $argon2id$v=19$m=19456,t=2,p=1$<22 chars of salt>$<43 chars of key>", h1, h2)
	}
	if m1[1] == m2[1] || h1 == h2 {
		t.Errorf("two hashes of one password share salt %q: each hash needs a fresh salt", m1[1])
	}
	for _, tc := range []struct {
		hash, password string
		want           bool
	}{
		{h1, annPassword, true},
		{h2, annPassword, true},
		{h1, "correct horse batterY", false},
		{h1, "", false},
	} {
		got, err := VerifyPassword(tc.hash, tc.password)
		if err != nil || got != tc.want {
			t.Errorf("VerifyPassword(%q, %q) = %v, %v; want %v, nil", tc.hash, tc.password, got, err, tc.want)
		}
	}
}

func TestVerifyPasswordOtherParameters(t *testing.T) {
	for _, p := range []struct {
		mem, passes uint32
		lanes       uint8
		keyLen      uint32
	}{
		{8192, 1, 1, 32},
		{4096, 3, 2, 32},
		{1024, 1, 4, 16},
		{64, 1, 1, 64},
	} {
		h := phc("old parameters", p.mem, p.passes, p.lanes, p.keyLen)
		if ok, err := VerifyPassword(h, "old parameters"); !ok || err != nil {
			t.Errorf("VerifyPassword(%q, right password) = %v, %v; want true, nil", h, ok, err)
		}
		if ok, err := VerifyPassword(h, "new parameters"); ok || err != nil {
			t.Errorf("VerifyPassword(%q, wrong password) = %v, %v; want false, nil", h, ok, err)
		}
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good := phc("pw", 64, 1, 1, 32)
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=…, salt, key
	salt, key := parts[4], parts[5]
	with := func(algo, version, params, salt, key string) string {
		return strings.Join([]string{"", algo, version, params, salt, key}, "$")
	}
	for _, tc := range []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "hunter2hunter2"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with("argon2i", "v=19", "m=64,t=1,p=1", salt, key)},
		{"argon2d", with("argon2d", "v=19", "m=64,t=1,p=1", salt, key)},
		{"upper case algorithm", with("ARGON2ID", "v=19", "m=64,t=1,p=1", salt, key)},
		{"too few parts", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"too many parts", good + "$extra"},
		{"no version", with("argon2id", "", "m=64,t=1,p=1", salt, key)},
		{"version 16", with("argon2id", "v=16", "m=64,t=1,p=1", salt, key)},
		{"version text", with("argon2id", "v=new", "m=64,t=1,p=1", salt, key)},
		{"params missing", with("argon2id", "v=19", "", salt, key)},
		{"params text", with("argon2id", "v=19", "m=lots,t=1,p=1", salt, key)},
		{"params reordered", with("argon2id", "v=19", "t=1,m=64,p=1", salt, key)},
		{"params truncated", with("argon2id", "v=19", "m=64,t=1", salt, key)},
		{"memory zero", with("argon2id", "v=19", "m=0,t=1,p=1", salt, key)},
		{"passes zero", with("argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"lanes zero", with("argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"memory negative", with("argon2id", "v=19", "m=-1,t=1,p=1", salt, key)},
		{"lanes beyond uint8", with("argon2id", "v=19", "m=64,t=1,p=256", salt, key)},
		{"memory beyond uint32", with("argon2id", "v=19", "m=4294967296,t=1,p=1", salt, key)},
		{"absurd memory", with("argon2id", "v=19", "m=99999999,t=1,p=1", salt, key)},
		{"memory just past the bound", with("argon2id", "v=19", "m=1048577,t=1,p=1", salt, key)},
		{"absurd passes", with("argon2id", "v=19", "m=64,t=1000000,p=1", salt, key)},
		{"passes just past the bound", with("argon2id", "v=19", "m=64,t=17,p=1", salt, key)},
		{"salt not base64", with("argon2id", "v=19", "m=64,t=1,p=1", "!!not base64!!", key)},
		{"salt padded", with("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"key not base64", with("argon2id", "v=19", "m=64,t=1,p=1", salt, "%%%%")},
		{"key url alphabet", with("argon2id", "v=19", "m=64,t=1,p=1", salt, strings.Repeat("-_", 21)+"A")},
		{"key empty", with("argon2id", "v=19", "m=64,t=1,p=1", salt, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("VerifyPassword(%q) panicked: %v", tc.hash, p)
				}
			}()
			ok, err := VerifyPassword(tc.hash, "pw")
			if err == nil || ok {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", tc.hash, ok, err)
			}
		})
	}
}

func TestRandomPassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		p := RandomPassword()
		if len(p) != 20 {
			t.Fatalf("RandomPassword() = %q, %d characters; want 20", p, len(p))
		}
		if strings.Trim(p, alphabet) != "" {
			t.Fatalf("RandomPassword() = %q, want only letters and digits", p)
		}
		if err := checkPassword("ann", p); err != nil {
			t.Fatalf("RandomPassword() = %q is not accepted as a password: %v", p, err)
		}
		if seen[p] {
			t.Fatalf("RandomPassword() repeated %q", p)
		}
		seen[p] = true
	}
}

// ---- roles ----

var allPerms = []Permission{PermProfilesRead, PermPII, PermMergesUndo, PermUsersManage, PermKeysManage, PermAuditRead,
	PermLifecycleRead, PermLifecycleFit, PermOffersRead, PermOffersRedeem, PermMatchesReview, PermAudiencesBuild, PermConsentChange,
	PermErase}

func TestAllowed(t *testing.T) {
	want := map[kith.Role][]Permission{
		kith.RoleAdmin:    allPerms,
		kith.RoleAgent:    {PermProfilesRead, PermPII, PermOffersRead, PermOffersRedeem, PermConsentChange},
		kith.RoleMarketer: {PermProfilesRead, PermPII, PermLifecycleRead, PermOffersRead, PermAudiencesBuild},
		kith.RoleAnalyst:  {PermProfilesRead, PermLifecycleRead, PermOffersRead, PermAudiencesBuild},
		"":                nil,
		"root":            nil,
		"Admin":           nil,
	}
	got := map[kith.Role][]Permission{}
	for r := range want {
		got[r] = nil
		for _, p := range allPerms {
			if Allowed(r, p) {
				got[r] = append(got[r], p)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("permissions by role (-want +got):\n%s", diff)
	}
	for _, r := range kith.Roles {
		if Allowed(r, "made:up") {
			t.Errorf("Allowed(%s, made:up) = true", r)
		}
		if _, ok := want[r]; !ok {
			t.Errorf("role %s has no expectation in this test", r)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, r := range append([]kith.Role{"", "root"}, kith.Roles...) {
		for _, p := range allPerms {
			err := Check(r, p)
			if Allowed(r, p) {
				if err != nil {
					t.Errorf("Check(%q, %s) = %v, want nil", r, p, err)
				}
				continue
			}
			if !kith.IsCode(err, kith.EFORBIDDEN) {
				t.Errorf("Check(%q, %s) = %v, want forbidden", r, p, err)
				continue
			}
			msg := kith.ErrorMessage(err)
			if !strings.Contains(msg, "the "+string(r)+" role") || !strings.Contains(msg, "the "+string(p)+" permission") {
				t.Errorf("Check(%q, %s) message %q does not name the role and the permission", r, p, msg)
			}
		}
	}
}

func TestUserActor(t *testing.T) {
	for _, r := range kith.Roles {
		usr := &kith.User{ID: "usr_x", Name: "x", Role: r}
		want := kith.Actor{Kind: kith.ActorUser, ID: "usr_x", Name: "x", Role: r, PII: r != kith.RoleAnalyst,
			Addr: "192.0.2.9", Via: "console"}
		if diff := cmp.Diff(want, UserActor(usr, "192.0.2.9")); diff != "" {
			t.Errorf("UserActor(%s) (-want +got):\n%s", r, diff)
		}
	}
}

// ---- adding users ----

func TestAddValidates(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		what, name, role, password, field string
	}{
		{"empty name", "", "agent", annPassword, "name"},
		{"name with a space", "ann smith", "agent", annPassword, "name"},
		{"name starting with a dash", "-ann", "agent", annPassword, "name"},
		{"name too long", strings.Repeat("a", 65), "agent", annPassword, "name"},
		{"empty role", "ann", "", annPassword, "role"},
		{"unknown role", "ann", "root", annPassword, "role"},
		{"role in capitals", "ann", "Admin", annPassword, "role"},
		{"empty password", "ann", "agent", "", "password"},
		{"password of 9 characters", "ann", "agent", "123456789", "password"},
		{"password of 9 runes in 18 bytes", "ann", "agent", strings.Repeat("é", 9), "password"},
		{"password over 1024 bytes", "ann", "agent", strings.Repeat("x", 1025), "password"},
		{"password equal to name", "administrator", "admin", "administrator", "password"},
		{"password equal to name but for case", "administrator", "admin", "AdminIstrator", "password"},
	} {
		usr, err := e.users.Add(ctx, tc.name, tc.role, tc.password)
		wantCode(t, tc.what, err, kith.EINVALID, tc.field)
		if usr != nil {
			t.Errorf("%s: Add returned user %+v along with error", tc.what, usr)
		}
	}
	if all, err := e.users.List(ctx); err != nil || len(all) != 0 {
		t.Errorf("after refused adds List() = %v, %v; want no users", all, err)
	}
	if got := e.audit(t, kith.AuditFilter{}); len(got) != 0 {
		t.Errorf("refused adds left audit records %v", got)
	}
}

func TestAdd(t *testing.T) {
	e := newUsersEnv(t)
	admin := kith.Actor{Kind: kith.ActorUser, ID: "usr_boss", Name: "boss", Role: kith.RoleAdmin, Addr: "192.0.2.7", Via: "console"}
	ctx := kith.WithActor(context.Background(), admin)

	// Exactly the minimum length, counted in characters, not bytes.
	ann, err := e.users.Add(ctx, "ann", "agent", strings.Repeat("é", MinPasswordLength))
	if err != nil {
		t.Fatalf("Add(ann): %v", err)
	}
	if !strings.HasPrefix(ann.ID, "usr_") || len(ann.ID) != len("usr_")+20 {
		t.Errorf("user id %q, want usr_ and 20 random characters", ann.ID)
	}
	want := &kith.User{ID: ann.ID, Name: "ann", Role: kith.RoleAgent, PasswordHash: ann.PasswordHash, CreatedAt: clockStart, UpdatedAt: clockStart}
	if diff := cmp.Diff(want, ann); diff != "" {
		t.Errorf("Add returned (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, e.user(t, "ann")); diff != "" {
		t.Errorf("stored user (-want +got):\n%s", diff)
	}
	if !phcRE.MatchString(ann.PasswordHash) {
		t.Errorf("stored hash %q is not argon2id at the default parameters", ann.PasswordHash)
	}
	if ok, err := VerifyPassword(ann.PasswordHash, strings.Repeat("é", MinPasswordLength)); !ok || err != nil {
		t.Errorf("stored hash does not verify the password: %v, %v", ok, err)
	}

	// Without an actor in the context, the system acted (the command line).
	e.clock.Advance(time.Hour)
	bob, err := e.users.Add(context.Background(), "bob.smith-2", "analyst", bossPassword)
	if err != nil {
		t.Fatalf("Add(bob.smith-2): %v", err)
	}
	if ann.ID == bob.ID {
		t.Errorf("two users share id %s", ann.ID)
	}
	if !bob.CreatedAt.Equal(clockStart.Add(time.Hour)) {
		t.Errorf("CreatedAt %v, want the clock's %v", bob.CreatedAt, clockStart.Add(time.Hour))
	}

	// A taken name is a conflict, and changes nothing.
	_, err = e.users.Add(ctx, "ann", "admin", bossPassword)
	wantCode(t, "Add(ann) again", err, kith.ECONFLICT, "")
	if diff := cmp.Diff(want, e.user(t, "ann")); diff != "" {
		t.Errorf("stored user after a conflicting Add (-want +got):\n%s", diff)
	}
	all, err := e.users.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range all {
		names = append(names, u.Name)
	}
	if diff := cmp.Diff([]string{"ann", "bob.smith-2"}, names); diff != "" {
		t.Errorf("List() names (-want +got):\n%s", diff)
	}

	wantAudit := []auditEntry{
		entryOf(kith.AuditUserCreate, "ann", "role agent", admin),
		entryOf(kith.AuditUserCreate, "bob.smith-2", "role analyst", kith.Actor{Kind: kith.ActorSystem, Via: "cli"}),
	}
	if diff := cmp.Diff(wantAudit, e.audit(t, kith.AuditFilter{})); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestEnsure(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()

	_, created, err := e.users.Ensure(ctx, "root", "admin", "short")
	wantCode(t, "Ensure with a short password", err, kith.EINVALID, "password")
	if created {
		t.Error("Ensure reported created along with an error")
	}

	first, created, err := e.users.Ensure(ctx, "root", "admin", annPassword)
	if err != nil || !created {
		t.Fatalf("first Ensure = %v, %v; want created", created, err)
	}
	e.clock.Advance(time.Minute)
	again, created, err := e.users.Ensure(ctx, "root", "agent", bossPassword)
	if err != nil || created {
		t.Fatalf("second Ensure = %v, %v; want not created", created, err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("second Ensure returned another user (-first +second):\n%s", diff)
	}
	stored := e.user(t, "root")
	if diff := cmp.Diff(first, stored); diff != "" {
		t.Errorf("Ensure changed the existing user (-first +stored):\n%s", diff)
	}
	if ok, _ := VerifyPassword(stored.PasswordHash, annPassword); !ok {
		t.Error("the first password no longer verifies")
	}
	if ok, _ := VerifyPassword(stored.PasswordHash, bossPassword); ok {
		t.Error("the second Ensure's password replaced the first")
	}
	if got := e.audit(t, kith.AuditFilter{Action: kith.AuditUserCreate}); len(got) != 1 {
		t.Errorf("user.create records %v, want one", got)
	}
}

// ---- signing in ----

func TestSignIn(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	ann, err := e.users.Add(ctx, "ann", "agent", annPassword) // real parameters
	if err != nil {
		t.Fatal(err)
	}
	ua := "Mozilla/5.0 (X11; Linux x86_64)"
	secret, sess, usr, err := e.users.SignIn(ctx, "ann", annPassword, "192.0.2.1", ua)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if len(secret) < 40 {
		t.Errorf("secret %q is too short to be a 256-bit token", secret)
	}
	sum := sha256.Sum256([]byte(secret))
	if diff := cmp.Diff(sum[:], HashSecret(secret)); diff != "" {
		t.Errorf("HashSecret is not SHA-256 (-want +got):\n%s", diff)
	}
	if sess.CSRF == "" || sess.CSRF == secret {
		t.Errorf("CSRF token %q, want a token of its own", sess.CSRF)
	}
	want := &kith.Session{Hash: sum[:], UserID: ann.ID, CSRF: sess.CSRF, CreatedAt: clockStart,
		ExpiresAt: clockStart.Add(SessionTTL), Addr: "192.0.2.1", UserAgent: ua}
	if diff := cmp.Diff(want, sess); diff != "" {
		t.Errorf("session (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ann, usr); diff != "" {
		t.Errorf("signed-in user (-want +got):\n%s", diff)
	}
	stored, err := e.db.SessionByHash(ctx, sum[:])
	if err != nil {
		t.Fatalf("stored session: %v", err)
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored session (-want +got):\n%s", diff)
	}

	gotSess, gotUsr, err := e.users.Session(ctx, secret)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if diff := cmp.Diff(want, gotSess); diff != "" {
		t.Errorf("Session() session (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ann, gotUsr); diff != "" {
		t.Errorf("Session() user (-want +got):\n%s", diff)
	}

	secret2, sess2, _, err := e.users.SignIn(ctx, "ann", annPassword, "192.0.2.2", ua)
	if err != nil {
		t.Fatalf("second SignIn: %v", err)
	}
	if secret2 == secret || sess2.CSRF == sess.CSRF {
		t.Error("a second sign-in reused the first one's secret or CSRF token")
	}

	wantAudit := []auditEntry{
		entryOf(kith.AuditUserCreate, "ann", "role agent", kith.Actor{Kind: kith.ActorSystem, Via: "cli"}),
		entryOf(kith.AuditSignIn, "ann", "", UserActor(ann, "192.0.2.1")),
		entryOf(kith.AuditSignIn, "ann", "", UserActor(ann, "192.0.2.2")),
	}
	if diff := cmp.Diff(wantAudit, e.audit(t, kith.AuditFilter{})); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestSignInTruncatesUserAgent(t *testing.T) {
	e := newUsersEnv(t)
	e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	ua := "x" + strings.Repeat("é", 200) // 401 bytes; byte 256 is the second byte of an é
	_, sess, _, err := e.users.SignIn(context.Background(), "ann", annPassword, "192.0.2.1", ua)
	if err != nil {
		t.Fatal(err)
	}
	if len(sess.UserAgent) > 256 || !utf8.ValidString(sess.UserAgent) || !strings.HasPrefix(ua, sess.UserAgent) {
		t.Errorf("user agent kept as %q (%d bytes), want a valid UTF-8 prefix of at most 256 bytes", sess.UserAgent, len(sess.UserAgent))
	}
	if len(sess.UserAgent) != 255 {
		t.Errorf("user agent cut to %d bytes, want 255 (256 less the split rune's first byte)", len(sess.UserAgent))
	}
}

func TestSignInRefused(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	ann := e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	gone := e.seedUser(t, "gone", kith.RoleAgent, annPassword, true)
	e.seedUser(t, "bad-hash", kith.RoleAgent, annPassword, false)
	const badHash = "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5"
	if _, err := e.db.ChangeUser(ctx, "bad-hash", func(u *kith.User, _ []kith.User) error { u.PasswordHash = badHash; return nil }); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		what, name, password string
		msg                  string // the whole message; "" for any
		detail               string
	}{
		{"wrong password", "ann", "correct horse batterY", "wrong user name or password", "wrong password"},
		{"empty password", "ann", "", "wrong user name or password", "wrong password"},
		{"name in another case", "Ann", annPassword, "wrong user name or password", "unknown user"},
		{"unknown user", "nobody", annPassword, "wrong user name or password", "unknown user"},
		{"unknown user again", "nobody2", "whatever it is", "wrong user name or password", "unknown user"},
		{"disabled user, wrong password", "gone", "nope nope nope", "wrong user name or password", "wrong password"},
		{"disabled user, right password", "gone", annPassword, "", "disabled"},
	} {
		secret, sess, usr, err := e.users.SignIn(ctx, tc.name, tc.password, "198.51.100.4", "curl")
		if !kith.IsCode(err, kith.EUNAUTHORIZED) {
			t.Errorf("%s: SignIn error %v, want unauthorized", tc.what, err)
			continue
		}
		msg := kith.ErrorMessage(err)
		if tc.msg != "" && msg != tc.msg {
			t.Errorf("%s: message %q, want %q", tc.what, msg, tc.msg)
		}
		if secret != "" || sess != nil || usr != nil {
			t.Errorf("%s: refused SignIn returned %q, %v, %v", tc.what, secret, sess, usr)
		}
		actor := kith.Actor{Kind: kith.ActorUser, Name: tc.name, Addr: "198.51.100.4", Via: "console"}
		want := []auditEntry{entryOf(kith.AuditSignInFailed, tc.name, tc.detail, actor)}
		recs := e.audit(t, kith.AuditFilter{Target: tc.name})
		if len(recs) > 0 {
			recs = recs[len(recs)-1:]
		}
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("%s: last audit record (-want +got):\n%s", tc.what, diff)
		}
	}
	if n := e.endSessions(t, ann.ID) + e.endSessions(t, gone.ID); n != 0 {
		t.Errorf("refused sign-ins left %d sessions", n)
	}
	if got := e.audit(t, kith.AuditFilter{Action: kith.AuditSignIn}); len(got) != 0 {
		t.Errorf("refused sign-ins recorded as successful: %v", got)
	}

	// A stored hash the server will not compute gives no session.
	_, sess, _, err := e.users.SignIn(ctx, "bad-hash", annPassword, "198.51.100.4", "curl")
	if err == nil || sess != nil {
		t.Errorf("SignIn over a malformed stored hash = %v, %v; want an error", sess, err)
	}
}

func TestSignInThrottled(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	ann := e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	e.seedUser(t, "bob", kith.RoleAgent, bossPassword, false)

	signIn := func(name, password string) error {
		_, _, _, err := e.users.SignIn(ctx, name, password, "203.0.113.5", "curl")
		return err
	}
	fail := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := signIn("ann", "wrong password!"); kith.ErrorMessage(err) != "wrong user name or password" {
				t.Fatalf("failure %d: %v, want wrong user name or password", i+1, err)
			}
			e.clock.Advance(time.Second)
		}
	}
	wantThrottled := func(what string) {
		t.Helper()
		err := signIn("ann", annPassword)
		if !kith.IsCode(err, kith.EUNAUTHORIZED) || !strings.Contains(kith.ErrorMessage(err), "too many failed sign-ins") {
			t.Fatalf("%s: right password gave %v, want unauthorized: too many failed sign-ins", what, err)
		}
	}
	wantSignedIn := func(what string) {
		t.Helper()
		if err := signIn("ann", annPassword); err != nil {
			t.Fatalf("%s: right password gave %v, want a session", what, err)
		}
	}

	fail(maxFailures - 1)
	wantSignedIn("after one failure short of the limit")

	// The success reset the count: the limit is counted afresh.
	fail(maxFailures)
	wantThrottled("after the limit of failures")
	if n := e.endSessions(t, ann.ID); n != 1 { // the one from before the failures
		t.Errorf("%d sessions, want only the one from before the lockout", n)
	}
	recs := e.audit(t, kith.AuditFilter{Target: "ann", Action: kith.AuditSignInFailed})
	if last := recs[len(recs)-1]; last.Detail != "throttled" {
		t.Errorf("refusal recorded with detail %q, want throttled", last.Detail)
	}
	if err := signIn("bob", bossPassword); err != nil {
		t.Errorf("another user is throttled too: %v", err)
	}

	// Still locked just before the lockout ends (it runs from the last
	// failure, a second before now). Refused attempts do not extend it, or
	// anyone who knows a name could keep its owner locked out.
	e.clock.Advance(lockout - 2*time.Second)
	wantThrottled("a second before the lockout ends")
	e.clock.Advance(time.Second)
	wantSignedIn("when the lockout ends, despite the refused attempts")
	fail(maxFailures)
	e.clock.Advance(lockout + time.Second)
	wantSignedIn("after the lockout")

	// The success reset the count again.
	fail(maxFailures - 1)
	wantSignedIn("after the lockout and a few more failures")

	// Failures older than the window are forgotten.
	fail(maxFailures - 1)
	e.clock.Advance(failureWindow)
	fail(maxFailures - 1)
	wantSignedIn("with the limit reached only across the window")
}

func TestSession(t *testing.T) {
	db := openUsersStore(t)
	hide := &hidingUsers{UserStore: db}
	e := newUsersEnvOver(t, db, hide)
	ctx := context.Background()
	e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	e.seedUser(t, "bob", kith.RoleAgent, annPassword, false)
	e.seedUser(t, "cat", kith.RoleAgent, annPassword, false)

	for _, secret := range []string{"", "nonsense", strings.Repeat("A", 43)} {
		_, _, err := e.users.Session(ctx, secret)
		wantNoSession(t, fmt.Sprintf("Session(%q)", secret), err)
	}

	// Expiry, to the nanosecond.
	secret, sess := e.mustSignIn(t, "ann", annPassword)
	e.clock.Advance(sess.ExpiresAt.Sub(e.clock.Now()) - time.Nanosecond)
	if _, _, err := e.users.Session(ctx, secret); err != nil {
		t.Errorf("Session a nanosecond before expiry: %v", err)
	}
	e.clock.Advance(time.Nanosecond)
	_, _, err := e.users.Session(ctx, secret)
	wantNoSession(t, "Session at expiry", err)
	e.clock.Advance(time.Hour)
	_, _, err = e.users.Session(ctx, secret)
	wantNoSession(t, "Session after expiry", err)
	if n, err := e.users.Sweep(ctx); n != 1 || err != nil {
		t.Errorf("Sweep() = %d, %v; want 1 expired session removed", n, err)
	}
	if _, err := db.SessionByHash(ctx, sess.Hash); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("expired session after Sweep: %v, want not found", err)
	}

	// A user disabled behind Users' back (as by another node that has not
	// yet ended the sessions) is refused.
	secret, _ = e.mustSignIn(t, "bob", annPassword)
	if _, err := db.ChangeUser(ctx, "bob", func(u *kith.User, _ []kith.User) error { u.DisabledAt = e.clock.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.users.Session(ctx, secret)
	wantNoSession(t, "Session of a disabled user", err)

	// A user who is gone.
	secret, _ = e.mustSignIn(t, "cat", annPassword)
	if _, _, err := e.users.Session(ctx, secret); err != nil {
		t.Fatalf("Session before the user is gone: %v", err)
	}
	hide.hide("usr_cat")
	_, _, err = e.users.Session(ctx, secret)
	wantNoSession(t, "Session of a deleted user", err)
	if err := e.users.SignOut(ctx, secret); err != nil {
		t.Errorf("SignOut of a deleted user's session: %v", err)
	}
}

// hidingUsers is a user store in which some users have been deleted.
type hidingUsers struct {
	kith.UserStore
	mu     sync.Mutex
	hidden map[string]bool
}

func (h *hidingUsers) hide(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hidden == nil {
		h.hidden = map[string]bool{}
	}
	h.hidden[id] = true
}

func (h *hidingUsers) UserByID(ctx context.Context, id string) (*kith.User, error) {
	h.mu.Lock()
	hidden := h.hidden[id]
	h.mu.Unlock()
	if hidden {
		return nil, kith.Errorf(kith.ENOTFOUND, "user %s not found", id)
	}
	return h.UserStore.UserByID(ctx, id)
}

func TestSignOut(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	ann := e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	secret, sess := e.mustSignIn(t, "ann", annPassword)
	other, _ := e.mustSignIn(t, "ann", annPassword)

	if err := e.users.SignOut(ctx, secret); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	_, _, err := e.users.Session(ctx, secret)
	wantNoSession(t, "Session after SignOut", err)
	if _, err := e.db.SessionByHash(ctx, sess.Hash); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("session after SignOut: %v, want it removed from the store", err)
	}
	if _, _, err := e.users.Session(ctx, other); err != nil {
		t.Errorf("the user's other session ended too: %v", err)
	}
	for _, s := range []string{secret, "", "nonsense"} {
		if err := e.users.SignOut(ctx, s); err != nil {
			t.Errorf("SignOut(%q) of no session: %v, want nil", s, err)
		}
	}
	want := []auditEntry{entryOf(kith.AuditSignOut, "ann", "", UserActor(ann, "192.0.2.1"))}
	if diff := cmp.Diff(want, e.audit(t, kith.AuditFilter{Action: kith.AuditSignOut})); diff != "" {
		t.Errorf("sign-out records (-want +got):\n%s", diff)
	}
}

// ---- changing users ----

func TestChangesEndSessions(t *testing.T) {
	noCheck := func(*testing.T, *usersEnv, *kith.User) {}
	for _, tc := range []struct {
		what    string
		change  func(context.Context, *Users) (*kith.User, error)
		signOut bool   // whether the user's sessions end
		detail  string // of the user.update record
		check   func(*testing.T, *usersEnv, *kith.User)
	}{{
		what:    "SetRole",
		change:  func(ctx context.Context, u *Users) (*kith.User, error) { return u.SetRole(ctx, "ann", "marketer") },
		signOut: true,
		detail:  "role marketer",
		check: func(t *testing.T, e *usersEnv, usr *kith.User) {
			if usr.Role != kith.RoleMarketer {
				t.Errorf("role %s, want marketer", usr.Role)
			}
		},
	}, {
		what:    "SetRole to the same role",
		change:  func(ctx context.Context, u *Users) (*kith.User, error) { return u.SetRole(ctx, "ann", "agent") },
		signOut: true,
		detail:  "role agent",
		check:   noCheck,
	}, {
		what: "SetPassword",
		change: func(ctx context.Context, u *Users) (*kith.User, error) {
			return u.SetPassword(ctx, "ann", "a brand new secret")
		},
		signOut: true,
		detail:  "password changed",
		check: func(t *testing.T, e *usersEnv, usr *kith.User) {
			_, _, _, err := e.users.SignIn(context.Background(), "ann", annPassword, "", "")
			if kith.ErrorMessage(err) != "wrong user name or password" {
				t.Errorf("old password after SetPassword: %v, want refused", err)
			}
			if _, _, _, err := e.users.SignIn(context.Background(), "ann", "a brand new secret", "", ""); err != nil {
				t.Errorf("new password after SetPassword: %v", err)
			}
			if !phcRE.MatchString(usr.PasswordHash) {
				t.Errorf("new hash %q is not argon2id at the default parameters", usr.PasswordHash)
			}
		},
	}, {
		what:    "Disable",
		change:  func(ctx context.Context, u *Users) (*kith.User, error) { return u.Disable(ctx, "ann") },
		signOut: true,
		detail:  "disabled",
		check: func(t *testing.T, e *usersEnv, usr *kith.User) {
			if !usr.DisabledAt.Equal(e.clock.Now()) {
				t.Errorf("DisabledAt %v, want %v", usr.DisabledAt, e.clock.Now())
			}
			_, _, _, err := e.users.SignIn(context.Background(), "ann", annPassword, "", "")
			if !kith.IsCode(err, kith.EUNAUTHORIZED) {
				t.Errorf("SignIn of a disabled user: %v, want refused", err)
			}
			// Disabling again keeps the first time.
			e.clock.Advance(time.Hour)
			again, err := e.users.Disable(context.Background(), "ann")
			if err != nil || !again.DisabledAt.Equal(usr.DisabledAt) {
				t.Errorf("Disable again = %v, %v; want DisabledAt kept at %v", again, err, usr.DisabledAt)
			}
			// Enable lets the user back in.
			back, err := e.users.Enable(context.Background(), "ann")
			if err != nil || back.Disabled() || e.user(t, "ann").Disabled() {
				t.Fatalf("Enable = %+v, %v; want enabled", back, err)
			}
			e.mustSignIn(t, "ann", annPassword)
		},
	}, {
		what:    "Enable",
		change:  func(ctx context.Context, u *Users) (*kith.User, error) { return u.Enable(ctx, "ann") },
		signOut: false,
		detail:  "enabled",
		check: func(t *testing.T, e *usersEnv, usr *kith.User) {
			if usr.Disabled() {
				t.Error("enabled user is disabled")
			}
		},
	}} {
		t.Run(tc.what, func(t *testing.T) {
			e := newUsersEnv(t)
			ann := e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
			boss := e.seedUser(t, "boss", kith.RoleAdmin, bossPassword, false)
			s1, _ := e.mustSignIn(t, "ann", annPassword)
			s2, _ := e.mustSignIn(t, "ann", annPassword)
			sb, _ := e.mustSignIn(t, "boss", bossPassword)
			e.clock.Advance(time.Minute)

			actor := UserActor(boss, "192.0.2.7")
			usr, err := tc.change(kith.WithActor(context.Background(), actor), e.users)
			if err != nil {
				t.Fatalf("%s: %v", tc.what, err)
			}
			if !usr.UpdatedAt.Equal(e.clock.Now()) || !usr.CreatedAt.Equal(ann.CreatedAt) {
				t.Errorf("CreatedAt %v, UpdatedAt %v; want %v, %v", usr.CreatedAt, usr.UpdatedAt, ann.CreatedAt, e.clock.Now())
			}
			if diff := cmp.Diff(usr, e.user(t, "ann")); diff != "" {
				t.Errorf("returned and stored user differ (-returned +stored):\n%s", diff)
			}
			for _, s := range []string{s1, s2} {
				_, _, err := e.users.Session(context.Background(), s)
				if tc.signOut {
					wantNoSession(t, tc.what+": the user's session", err)
				} else if err != nil {
					t.Errorf("%s: the user's session ended: %v", tc.what, err)
				}
			}
			if _, _, err := e.users.Session(context.Background(), sb); err != nil {
				t.Errorf("%s ended another user's session: %v", tc.what, err)
			}
			want := []auditEntry{entryOf(kith.AuditUserUpdate, "ann", tc.detail, actor)}
			if diff := cmp.Diff(want, e.audit(t, kith.AuditFilter{Action: kith.AuditUserUpdate})); diff != "" {
				t.Errorf("update records (-want +got):\n%s", diff)
			}
			tc.check(t, e, usr)
		})
	}
}

func TestChangesValidate(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	ann := e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	e.seedUser(t, "boss", kith.RoleAdmin, bossPassword, false)
	e.seedUser(t, "administrator", kith.RoleAgent, annPassword, false)
	for _, tc := range []struct {
		what        string
		err         error
		code, field string
	}{
		{"SetRole to an unknown role", second(e.users.SetRole(ctx, "ann", "root")), kith.EINVALID, "role"},
		{"SetRole of nobody", second(e.users.SetRole(ctx, "nobody", "agent")), kith.ENOTFOUND, ""},
		{"SetPassword too short", second(e.users.SetPassword(ctx, "ann", "short")), kith.EINVALID, "password"},
		{"SetPassword to the name", second(e.users.SetPassword(ctx, "administrator", "ADMINISTRATOR")), kith.EINVALID, "password"},
		{"SetPassword of nobody", second(e.users.SetPassword(ctx, "nobody", "long enough password")), kith.ENOTFOUND, ""},
		{"Disable nobody", second(e.users.Disable(ctx, "nobody")), kith.ENOTFOUND, ""},
		{"Enable nobody", second(e.users.Enable(ctx, "nobody")), kith.ENOTFOUND, ""},
	} {
		wantCode(t, tc.what, tc.err, tc.code, tc.field)
	}
	if diff := cmp.Diff(ann, e.user(t, "ann")); diff != "" {
		t.Errorf("refused changes changed ann (-want +got):\n%s", diff)
	}
	if got := e.audit(t, kith.AuditFilter{}); len(got) != 0 {
		t.Errorf("refused changes left audit records %v", got)
	}
}

func second[T any](_ T, err error) error { return err }

func TestLastAdmin(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	root := e.seedUser(t, "root", kith.RoleAdmin, annPassword, false)
	e.seedUser(t, "old", kith.RoleAdmin, annPassword, true) // a disabled admin does not count
	e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	secret, _ := e.mustSignIn(t, "root", annPassword)

	refused := func(what string, err error) {
		t.Helper()
		wantCode(t, what, err, kith.ECONFLICT, "")
		if msg := kith.ErrorMessage(err); err != nil && !strings.Contains(msg, "last admin") {
			t.Errorf("%s: message %q, want it to say why", what, msg)
		}
	}
	for _, role := range []string{"agent", "marketer", "analyst"} {
		refused("demote the last admin to "+role, second(e.users.SetRole(ctx, "root", role)))
	}
	refused("disable the last admin", second(e.users.Disable(ctx, "root")))
	if diff := cmp.Diff(root, e.user(t, "root")); diff != "" {
		t.Errorf("refused changes changed root (-want +got):\n%s", diff)
	}
	if _, _, err := e.users.Session(ctx, secret); err != nil {
		t.Errorf("a refused change ended the last admin's session: %v", err)
	}
	if got := e.audit(t, kith.AuditFilter{Action: kith.AuditUserUpdate}); len(got) != 0 {
		t.Errorf("refused changes recorded: %v", got)
	}
	if _, err := e.users.SetRole(ctx, "root", "admin"); err != nil {
		t.Errorf("keeping the last admin an admin: %v", err)
	}

	// With a second enabled admin, either may go.
	if _, err := e.users.SetRole(ctx, "ann", "admin"); err != nil {
		t.Fatalf("promote ann: %v", err)
	}
	if _, err := e.users.Disable(ctx, "root"); err != nil {
		t.Fatalf("disable root beside another admin: %v", err)
	}
	refused("demote ann, now the last enabled admin", second(e.users.SetRole(ctx, "ann", "agent")))
	refused("disable ann, now the last enabled admin", second(e.users.Disable(ctx, "ann")))
	// A disabled admin may be demoted: it does not count.
	if _, err := e.users.SetRole(ctx, "root", "analyst"); err != nil {
		t.Errorf("demote disabled root: %v", err)
	}
	if _, err := e.users.SetRole(ctx, "old", "agent"); err != nil {
		t.Errorf("demote disabled old: %v", err)
	}
	if _, err := e.users.SetRole(ctx, "root", "admin"); err != nil {
		t.Fatalf("promote root again: %v", err)
	}
	if _, err := e.users.Enable(ctx, "root"); err != nil {
		t.Fatalf("enable root: %v", err)
	}
	if _, err := e.users.SetRole(ctx, "ann", "agent"); err != nil {
		t.Errorf("demote ann beside enabled root: %v", err)
	}
}

// barrierUsers holds every ChangeUser until n callers have arrived (or a
// while has passed), so that concurrent changes all reach the store at once.
type barrierUsers struct {
	kith.UserStore
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func newBarrierUsers(us kith.UserStore, n int) *barrierUsers {
	return &barrierUsers{UserStore: us, n: n, all: make(chan struct{})}
}

func (b *barrierUsers) ChangeUser(ctx context.Context, name string, change func(*kith.User, []kith.User) error) (*kith.User, error) {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
	case <-time.After(500 * time.Millisecond): // an implementation that serialises the changes never gets here together
	}
	return b.UserStore.ChangeUser(ctx, name, change)
}

func TestLastAdminConcurrent(t *testing.T) {
	db := openUsersStore(t)
	e := newUsersEnvOver(t, db, newBarrierUsers(db, 2))
	e.seedUser(t, "a", kith.RoleAdmin, annPassword, false)
	e.seedUser(t, "b", kith.RoleAdmin, annPassword, false)
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		wg.Go(func() { e.users.Disable(context.Background(), name) })
	}
	wg.Wait()
	all, err := e.users.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	enabled := 0
	for _, u := range all {
		if u.Role == kith.RoleAdmin && !u.Disabled() {
			enabled++
		}
	}
	if enabled == 0 {
		t.Error("two concurrent Disables left no enabled admin")
	}
}

func TestConcurrentChangesNotLost(t *testing.T) {
	db := openUsersStore(t)
	e := newUsersEnvOver(t, db, newBarrierUsers(db, 2))
	e.seedUser(t, "root", kith.RoleAdmin, annPassword, false)
	e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	var wg sync.WaitGroup
	wg.Go(func() { e.users.Disable(context.Background(), "ann") })
	wg.Go(func() { e.users.SetRole(context.Background(), "ann", "marketer") })
	wg.Wait()
	ann := e.user(t, "ann")
	if !ann.Disabled() || ann.Role != kith.RoleMarketer {
		t.Errorf("after concurrent Disable and SetRole: role %s, disabled %v; want marketer and disabled", ann.Role, ann.Disabled())
	}
}

// ---- concurrency ----

// barrierLookups holds every UserByName until n callers have arrived (or a
// while has passed).
type barrierLookups struct {
	kith.UserStore
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func (b *barrierLookups) UserByName(ctx context.Context, name string) (*kith.User, error) {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
	case <-time.After(500 * time.Millisecond): // attempts refused before the lookup never arrive
	}
	return b.UserStore.UserByName(ctx, name)
}

func TestSignInThrottledConcurrent(t *testing.T) {
	const n = 2 * maxFailures
	db := openUsersStore(t)
	e := newUsersEnvOver(t, db, &barrierLookups{UserStore: db, n: n, all: make(chan struct{})})
	e.seedUser(t, "ann", kith.RoleAgent, annPassword, false)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, _, errs[i] = e.users.SignIn(context.Background(), "ann", fmt.Sprintf("guess number %d", i), "203.0.113.5", "curl")
		})
	}
	wg.Wait()
	checked := 0
	for _, err := range errs {
		if kith.ErrorMessage(err) == "wrong user name or password" {
			checked++
		}
	}
	if checked > maxFailures {
		t.Errorf("%d of %d concurrent guesses were checked against the password; want at most %d", checked, n, maxFailures)
	}
}

func TestSignInConcurrent(t *testing.T) {
	e := newUsersEnv(t)
	ctx := context.Background()
	if _, err := e.users.Add(ctx, "ann", "agent", annPassword); err != nil { // real parameters
		t.Fatal(err)
	}
	e.seedUser(t, "bob", kith.RoleAgent, bossPassword, false)

	const n = 8
	secrets := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { secrets[i], _, _, errs[i] = e.users.SignIn(ctx, "ann", annPassword, "192.0.2.1", "ua") })
	}
	// Meanwhile, failures for another name and for names that do not exist
	// touch the throttle's and the unknown-name check's shared state.
	for i := range 3 {
		wg.Go(func() { e.users.SignIn(ctx, "bob", "wrong password!", "192.0.2.2", "ua") })
		wg.Go(func() { e.users.SignIn(ctx, fmt.Sprintf("nobody%d", i), "wrong password!", "192.0.2.2", "ua") })
	}
	wg.Wait()

	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("sign-in %d: %v", i, errs[i])
			continue
		}
		if seen[secrets[i]] {
			t.Errorf("sign-in %d repeated a secret", i)
		}
		seen[secrets[i]] = true
		if _, usr, err := e.users.Session(ctx, secrets[i]); err != nil || usr.Name != "ann" {
			t.Errorf("Session of sign-in %d: %v, %v", i, usr, err)
		}
	}
	if got := e.audit(t, kith.AuditFilter{Action: kith.AuditSignIn}); len(got) != n {
		t.Errorf("%d sign-in records, want %d", len(got), n)
	}
	if got := e.audit(t, kith.AuditFilter{Action: kith.AuditSignInFailed}); len(got) != 6 {
		t.Errorf("%d refusal records, want 6", len(got))
	}
	// Three failures for bob are below the limit.
	if _, _, _, err := e.users.SignIn(ctx, "bob", bossPassword, "192.0.2.2", "ua"); err != nil {
		t.Errorf("bob after three concurrent failures: %v", err)
	}
}
