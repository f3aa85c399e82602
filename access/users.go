package access

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kithhq/kith"
)

// Permission is something a console role may do.
type Permission string

// The console's permissions.
const (
	// PermProfilesRead: search profiles and open them. Without PermPII,
	// personal data is hidden.
	PermProfilesRead Permission = "profiles:read"
	// PermPII: see identifiers, personal traits and message bodies, and
	// search by them.
	PermPII Permission = "pii"
	// PermMergesUndo: undo a merge.
	PermMergesUndo Permission = "merges:undo"
	// PermUsersManage: add users, change roles and passwords, disable users.
	PermUsersManage Permission = "users:manage"
	// PermKeysManage: create and revoke API keys and sources.
	PermKeysManage Permission = "keys:manage"
	// PermAuditRead: search and export the audit log.
	PermAuditRead Permission = "audit:read"
	// PermLifecycleRead: see how many customers are in each lifecycle
	// stage, the flows between stages, the value distribution and the
	// fitted models. Counts only: no personal data.
	PermLifecycleRead Permission = "lifecycle:read"
	// PermLifecycleFit: ask for the lifetime-value models to be fitted again.
	PermLifecycleFit Permission = "lifecycle:fit"
	// PermOffersRead: see the offer catalog, and the offers a customer
	// holds on their page. The catalog holds no personal data.
	PermOffersRead Permission = "offers:read"
	// PermOffersRedeem: redeem a customer's grant from their page.
	PermOffersRedeem Permission = "offers:redeem"
	// PermMatchesReview: see the pairs the probabilistic matcher proposed,
	// both people side by side with the evidence, and accept (merge) or
	// reject them: the data steward's work. Data stewards are admins for now.
	PermMatchesReview Permission = "matches:review"
	// PermAudiencesBuild: write audience expressions and preview who
	// matches them now: how many, and a sample of them, named only for a
	// role with PermPII.
	PermAudiencesBuild Permission = "audiences:build"
	// PermConsentChange: record a person's consent decisions and set their
	// contact points from their page, as said on a call: the agent's
	// work. Marketers, who gain by an opt-in, do not take them.
	PermConsentChange Permission = "consent:change"
	// PermErase: erase a person from their page, as they asked: everything
	// Kith holds about them goes, on every channel, and cannot be brought
	// back. Admins only.
	PermErase Permission = "profiles:erase"
	// PermImport: import a file of customer records from another system
	// into a source, and follow the import. Admins only.
	PermImport Permission = "imports:run"
)

var rolePerms = map[kith.Role][]Permission{
	kith.RoleAdmin: {PermProfilesRead, PermPII, PermMergesUndo, PermUsersManage, PermKeysManage, PermAuditRead,
		PermLifecycleRead, PermLifecycleFit, PermOffersRead, PermOffersRedeem, PermMatchesReview, PermAudiencesBuild, PermConsentChange,
		PermErase, PermImport},
	kith.RoleAgent:    {PermProfilesRead, PermPII, PermOffersRead, PermOffersRedeem, PermConsentChange},
	kith.RoleMarketer: {PermProfilesRead, PermPII, PermLifecycleRead, PermOffersRead, PermAudiencesBuild},
	kith.RoleAnalyst:  {PermProfilesRead, PermLifecycleRead, PermOffersRead, PermAudiencesBuild},
}

// Allowed reports whether a role carries a permission.
func Allowed(r kith.Role, p Permission) bool {
	for _, have := range rolePerms[r] {
		if have == p {
			return true
		}
	}
	return false
}

// Check returns EFORBIDDEN, naming the permission and the role, unless the
// role carries it.
func Check(r kith.Role, p Permission) error {
	if !Allowed(r, p) {
		return kith.Errorf(kith.EFORBIDDEN, "the %s role may not do this (it needs the %s permission)", r, p)
	}
	return nil
}

// Session lengths: a sign-in lasts a working day.
const SessionTTL = 12 * time.Hour

// MinPasswordLength is the shortest password Kith accepts.
const MinPasswordLength = 10

// Sign-in throttling: after maxFailures failed sign-ins for one name within
// failureWindow, that name is refused for lockout.
const (
	maxFailures   = 5
	failureWindow = 15 * time.Minute
	lockout       = time.Minute
)

// Users manages console users and their sessions, and records what they
// change in the audit log.
type Users struct {
	users    kith.UserStore
	sessions kith.SessionStore
	audit    kith.AuditLog
	now      func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time // name → recent sign-in attempts that did not succeed
	// signing serialises sign-ins per name (striped by hash), so attempts
	// sent at once are checked one after another against the throttle.
	signing [64]sync.Mutex
	dummy   string // a hash to verify against for unknown names
	once    sync.Once
}

// NewUsers returns a Users over the given stores.
func NewUsers(users kith.UserStore, sessions kith.SessionStore, audit kith.AuditLog) *Users {
	return &Users{users: users, sessions: sessions, audit: audit, now: time.Now, failures: map[string][]time.Time{}}
}

func checkPassword(name, password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return kith.Invalid("password", "a password needs at least %d characters", MinPasswordLength)
	}
	if len(password) > 1024 {
		return kith.Invalid("password", "a password may have at most 1024 bytes")
	}
	if strings.EqualFold(password, name) {
		return kith.Invalid("password", "the password may not be the user name")
	}
	return nil
}

func newID(prefix string) string { return prefix + "_" + randomString(20) }

func (u *Users) record(ctx context.Context, action, target, detail string) error {
	a, ok := kith.ActorFrom(ctx)
	if !ok {
		a = kith.Actor{Kind: kith.ActorSystem, Via: "cli"}
	}
	if err := u.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: action, Target: target, Detail: detail}); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}

// Add creates a user with a role and a password.
func (u *Users) Add(ctx context.Context, name, role, password string) (*kith.User, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	r, err := kith.ParseRole(role)
	if err != nil {
		return nil, err
	}
	if err := checkPassword(name, password); err != nil {
		return nil, err
	}
	now := u.now().UTC()
	usr := &kith.User{ID: newID("usr"), Name: name, Role: r, PasswordHash: HashPassword(password), CreatedAt: now, UpdatedAt: now}
	if err := u.users.CreateUser(ctx, usr); err != nil {
		return nil, err
	}
	if err := u.record(ctx, kith.AuditUserCreate, usr.Name, "role "+string(r)); err != nil {
		return nil, err
	}
	return usr, nil
}

// Ensure creates the user unless one with that name exists; an existing
// user is left as it is. It reports whether it created one.
func (u *Users) Ensure(ctx context.Context, name, role, password string) (*kith.User, bool, error) {
	existing, err := u.users.UserByName(ctx, name)
	if err == nil {
		return existing, false, nil
	}
	if !kith.IsCode(err, kith.ENOTFOUND) {
		return nil, false, err
	}
	usr, err := u.Add(ctx, name, role, password)
	if kith.IsCode(err, kith.ECONFLICT) { // created meanwhile by another process
		existing, err := u.users.UserByName(ctx, name)
		return existing, false, err
	}
	return usr, err == nil, err
}

// List returns every user by name.
func (u *Users) List(ctx context.Context) ([]kith.User, error) { return u.users.Users(ctx) }

// Get returns a user by name.
func (u *Users) Get(ctx context.Context, name string) (*kith.User, error) {
	return u.users.UserByName(ctx, name)
}

// update changes a user in one atomic step of the store and, when signOut
// is set, ends the user's sessions.
func (u *Users) update(ctx context.Context, name string, signOut bool, detail string, change func(usr *kith.User, all []kith.User) error) (*kith.User, error) {
	now := u.now().UTC()
	usr, err := u.users.ChangeUser(ctx, name, func(usr *kith.User, all []kith.User) error {
		if err := change(usr, all); err != nil {
			return err
		}
		usr.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	if signOut {
		if _, err := u.sessions.DeleteUserSessions(ctx, usr.ID); err != nil {
			return nil, err
		}
	}
	if err := u.record(ctx, kith.AuditUserUpdate, usr.Name, detail); err != nil {
		return nil, err
	}
	return usr, nil
}

// lastAdmin refuses a change that would leave no enabled admin.
func lastAdmin(usr *kith.User, all []kith.User) error {
	if usr.Role != kith.RoleAdmin || usr.Disabled() {
		return nil
	}
	for _, o := range all {
		if o.ID != usr.ID && o.Role == kith.RoleAdmin && !o.Disabled() {
			return nil
		}
	}
	return kith.Errorf(kith.ECONFLICT, "%s is the last admin; make another user admin first", usr.Name)
}

// SetRole changes a user's role; the user's sessions end so that the new
// role applies at once.
func (u *Users) SetRole(ctx context.Context, name, role string) (*kith.User, error) {
	r, err := kith.ParseRole(role)
	if err != nil {
		return nil, err
	}
	return u.update(ctx, name, true, "role "+string(r), func(usr *kith.User, all []kith.User) error {
		if r != kith.RoleAdmin {
			if err := lastAdmin(usr, all); err != nil {
				return err
			}
		}
		usr.Role = r
		return nil
	})
}

// SetPassword changes a user's password and ends the user's sessions.
func (u *Users) SetPassword(ctx context.Context, name, password string) (*kith.User, error) {
	if err := checkPassword(name, password); err != nil {
		return nil, err
	}
	hash := HashPassword(password)
	return u.update(ctx, name, true, "password changed", func(usr *kith.User, _ []kith.User) error {
		usr.PasswordHash = hash
		return nil
	})
}

// Disable stops a user from signing in and ends the user's sessions.
func (u *Users) Disable(ctx context.Context, name string) (*kith.User, error) {
	return u.update(ctx, name, true, "disabled", func(usr *kith.User, all []kith.User) error {
		if err := lastAdmin(usr, all); err != nil {
			return err
		}
		if !usr.Disabled() {
			usr.DisabledAt = u.now().UTC()
		}
		return nil
	})
}

// Enable lets a disabled user sign in again.
func (u *Users) Enable(ctx context.Context, name string) (*kith.User, error) {
	return u.update(ctx, name, false, "enabled", func(usr *kith.User, _ []kith.User) error {
		usr.DisabledAt = time.Time{}
		return nil
	})
}

var errSignIn = kith.Errorf(kith.EUNAUTHORIZED, "wrong user name or password")

// attempt counts a sign-in attempt for a name before its password is
// checked, so attempts sent at once cannot all slip past the limit. It
// reports false, counting nothing, while the name is locked out. A
// successful sign-in forgets the name's attempts.
func (u *Users) attempt(name string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	recent := u.failures[name][:0]
	for _, t := range u.failures[name] {
		if now.Sub(t) < failureWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) >= maxFailures && now.Sub(recent[len(recent)-1]) < lockout {
		u.failures[name] = recent
		return false
	}
	if len(u.failures) > 10000 { // bounded: a flood of names starts afresh
		u.failures = map[string][]time.Time{}
	}
	u.failures[name] = append(recent, now)
	return true
}

// SignIn checks a user's password and opens a session. It returns the
// secret for the browser's cookie; only its hash is stored. Failures say
// only "wrong user name or password" (the audit record says why), take as
// long for an unknown name as for a wrong password, and are throttled per
// name: every attempt counts until one succeeds.
func (u *Users) SignIn(ctx context.Context, name, password, addr, userAgent string) (string, *kith.Session, *kith.User, error) {
	h := fnv.New32a()
	h.Write([]byte(name))
	lock := &u.signing[h.Sum32()%uint32(len(u.signing))]
	lock.Lock()
	defer lock.Unlock()
	now := u.now().UTC()
	actor := kith.Actor{Kind: kith.ActorUser, Name: name, Addr: addr, Via: "console"}
	refuse := func(err error, why string) (string, *kith.Session, *kith.User, error) {
		if aerr := u.audit.AppendAudit(ctx, kith.AuditRecord{Actor: actor, Action: kith.AuditSignInFailed, Target: name, Detail: why}); aerr != nil {
			return "", nil, nil, aerr
		}
		return "", nil, nil, err
	}
	if !u.attempt(name, now) {
		return refuse(kith.Errorf(kith.EUNAUTHORIZED, "too many failed sign-ins for %s; try again in a minute", name), "throttled")
	}
	usr, err := u.users.UserByName(ctx, name)
	if err != nil && !kith.IsCode(err, kith.ENOTFOUND) {
		return "", nil, nil, err
	}
	if usr == nil {
		// Spend the same time as a real check, so timing does not tell
		// which names exist.
		u.once.Do(func() { u.dummy = HashPassword(randomString(16)) })
		_, _ = VerifyPassword(u.dummy, password)
		return refuse(errSignIn, "unknown user")
	}
	ok, err := VerifyPassword(usr.PasswordHash, password)
	if err != nil {
		return "", nil, nil, fmt.Errorf("verify password of %s: %w", name, err)
	}
	if !ok {
		return refuse(errSignIn, "wrong password")
	}
	if usr.Disabled() {
		// The same answer as a wrong password: a disabled account's
		// password is no one's business.
		return refuse(errSignIn, "disabled")
	}
	secret := randomToken()
	sess := &kith.Session{Hash: HashSecret(secret), UserID: usr.ID, CSRF: randomToken(), CreatedAt: now,
		ExpiresAt: now.Add(SessionTTL), Addr: addr, UserAgent: truncate(userAgent, 256)}
	if err := u.sessions.CreateSession(ctx, sess); err != nil {
		return "", nil, nil, err
	}
	actor = UserActor(usr, addr)
	if err := u.audit.AppendAudit(ctx, kith.AuditRecord{Actor: actor, Action: kith.AuditSignIn, Target: usr.Name}); err != nil {
		return "", nil, nil, err
	}
	u.mu.Lock()
	delete(u.failures, name)
	u.mu.Unlock()
	return secret, sess, usr, nil
}

// errNoSession is what every kind of missing, expired or revoked session
// answers, so the browser is sent to sign in.
var errNoSession = kith.Errorf(kith.EUNAUTHORIZED, "please sign in")

// Session returns the live session whose secret is given, and its user.
func (u *Users) Session(ctx context.Context, secret string) (*kith.Session, *kith.User, error) {
	if secret == "" {
		return nil, nil, errNoSession
	}
	sess, err := u.sessions.SessionByHash(ctx, HashSecret(secret))
	if kith.IsCode(err, kith.ENOTFOUND) {
		return nil, nil, errNoSession
	}
	if err != nil {
		return nil, nil, err
	}
	if !u.now().Before(sess.ExpiresAt) {
		return nil, nil, errNoSession
	}
	usr, err := u.users.UserByID(ctx, sess.UserID)
	if kith.IsCode(err, kith.ENOTFOUND) {
		return nil, nil, errNoSession
	}
	if err != nil {
		return nil, nil, err
	}
	if usr.Disabled() {
		return nil, nil, errNoSession
	}
	return sess, usr, nil
}

// SignOut ends a session.
func (u *Users) SignOut(ctx context.Context, secret string) error {
	sess, usr, err := u.Session(ctx, secret)
	if errors.Is(err, errNoSession) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := u.sessions.DeleteSession(ctx, sess.Hash); err != nil {
		return err
	}
	return u.audit.AppendAudit(ctx, kith.AuditRecord{Actor: UserActor(usr, sess.Addr), Action: kith.AuditSignOut, Target: usr.Name})
}

// Sweep removes expired sessions.
func (u *Users) Sweep(ctx context.Context) (int, error) {
	return u.sessions.DeleteExpiredSessions(ctx, u.now())
}

// UserActor is the audit actor of a signed-in user.
func UserActor(u *kith.User, addr string) kith.Actor {
	return kith.Actor{Kind: kith.ActorUser, ID: u.ID, Name: u.Name, Role: u.Role, PII: Allowed(u.Role, PermPII),
		Addr: addr, Via: "console"}
}

// KeyActor is the audit actor of a program calling with an API key. Every
// scope that reads profiles reads them whole.
func KeyActor(k *kith.APIKey, addr string) kith.Actor {
	return kith.Actor{Kind: kith.ActorKey, ID: k.ID, Name: k.Name, PII: true, Addr: addr, Via: "api"}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// RandomPassword returns a new password of 20 letters and digits (about
// 119 bits), for a user whose password is made up for them.
func RandomPassword() string { return randomString(20) }
