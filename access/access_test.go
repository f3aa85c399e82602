package access_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/store/sqlite"
)

func openStore(t *testing.T) *sqlite.DB {
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

func newService(t *testing.T, ttl time.Duration) (*access.Service, *sqlite.DB) {
	t.Helper()
	db := openStore(t)
	return access.New(db, db, ttl), db
}

func wantError(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	if !kith.IsCode(err, code) {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, kith.ErrorCode(err), code)
		return
	}
	if got := kith.ErrorField(err); got != field {
		t.Errorf("%s: error field %q, want %q", what, got, field)
	}
}

func mustCreateSource(t *testing.T, svc *access.Service, name, kind string) *kith.Source {
	t.Helper()
	src, err := svc.CreateSource(context.Background(), name, kind)
	if err != nil {
		t.Fatalf("CreateSource(%q, %q): %v", name, kind, err)
	}
	return src
}

func listSources(t *testing.T, svc *access.Service) []kith.Source {
	t.Helper()
	srcs, err := svc.Sources(context.Background())
	if err != nil {
		t.Fatalf("Sources: %v", err)
	}
	return srcs
}

func listKeys(t *testing.T, svc *access.Service) []kith.APIKey {
	t.Helper()
	keys, err := svc.Keys(context.Background())
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return keys
}

func TestCreateSourceValidates(t *testing.T) {
	svc, _ := newService(t, time.Minute)
	tests := []struct {
		name, srcName, kind, field string
	}{
		{"empty name", "", "web", "name"},
		{"name starting with a dash", "-site", "web", "name"},
		{"name starting with a dot", ".site", "web", "name"},
		{"name with a space", "my site", "web", "name"},
		{"name with a slash", "shop/till", "web", "name"},
		{"non-ASCII name", "café", "web", "name"},
		{"name of 65 characters", strings.Repeat("a", 65), "web", "name"},
		{"unknown kind", "site", "fax", "kind"},
		{"empty kind", "site", "", "kind"},
		{"kind in capitals", "site", "WEB", "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := svc.CreateSource(context.Background(), tt.srcName, tt.kind)
			wantError(t, fmt.Sprintf("CreateSource(%q, %q)", tt.srcName, tt.kind), err, kith.EINVALID, tt.field)
			if src != nil {
				t.Errorf("CreateSource returned %+v with its error", src)
			}
		})
	}
	if got := listSources(t, svc); len(got) != 0 {
		t.Errorf("invalid sources were stored: %v", got)
	}
}

func TestCreateSource(t *testing.T) {
	ctx := context.Background()
	svc, db := newService(t, time.Minute)
	before := time.Now()
	var created []kith.Source
	keys := map[string]bool{}
	// Every kind, and names at the edges of what is allowed.
	for i, kind := range kith.Kinds {
		name := fmt.Sprintf("%s-%d", kind, i)
		switch i {
		case 0:
			name = "a"
		case 1:
			name = strings.Repeat("b", 64)
		case 2:
			name = "Shop_1.till-2"
		}
		src := mustCreateSource(t, svc, name, string(kind))
		if src.Name != name || src.Kind != kind {
			t.Errorf("CreateSource(%q, %q) = name %q kind %q", name, kind, src.Name, src.Kind)
		}
		if src.ID == "" {
			t.Errorf("source %s has no id", name)
		}
		// 22 characters of [A-Za-z0-9] hold 128 bits.
		if len(src.WriteKey) < 22 {
			t.Errorf("write key %q is too short to be unguessable", src.WriteKey)
		}
		if keys[src.WriteKey] {
			t.Errorf("write key %q generated twice", src.WriteKey)
		}
		keys[src.WriteKey] = true
		if src.CreatedAt.Before(before.Add(-time.Second)) || src.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("CreatedAt = %v, want about now", src.CreatedAt)
		}
		if src.Revoked() {
			t.Errorf("new source %s is revoked", name)
		}
		created = append(created, *src)

		got, err := svc.SourceForWriteKey(ctx, src.WriteKey)
		if err != nil {
			t.Fatalf("SourceForWriteKey of a new source: %v", err)
		}
		if diff := cmp.Diff(src, got); diff != "" {
			t.Errorf("SourceForWriteKey (-created +got):\n%s", diff)
		}
	}
	stored, err := db.Sources(ctx)
	if err != nil {
		t.Fatalf("store Sources: %v", err)
	}
	if diff := cmp.Diff(created, stored); diff != "" {
		t.Errorf("stored sources (-created +stored):\n%s", diff)
	}
	if diff := cmp.Diff(created, listSources(t, svc)); diff != "" {
		t.Errorf("Service.Sources (-created +listed):\n%s", diff)
	}

	_, err = svc.CreateSource(ctx, "a", "app")
	wantError(t, "CreateSource with a taken name", err, kith.ECONFLICT, "")
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

func TestSourceForWriteKeyRejects(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, time.Hour)
	active := mustCreateSource(t, svc, "site", "web")
	revoked := mustCreateSource(t, svc, "old-site", "web")
	if _, err := svc.RevokeSource(ctx, revoked.Name); err != nil {
		t.Fatalf("RevokeSource: %v", err)
	}
	tests := []struct {
		name, writeKey string
	}{
		{"empty", ""},
		{"unknown", "no-such-write-key-0000000000000"},
		{"revoked", revoked.WriteKey},
		{"prefix of a valid key", active.WriteKey[:len(active.WriteKey)-1]},
		{"valid key with more", active.WriteKey + "x"},
		{"valid key in swapped case", swapCase(active.WriteKey)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := svc.SourceForWriteKey(ctx, tt.writeKey)
			wantError(t, fmt.Sprintf("SourceForWriteKey(%q)", tt.writeKey), err, kith.EUNAUTHORIZED, "")
			if src != nil {
				t.Errorf("SourceForWriteKey returned %+v with its error", src)
			}
		})
	}
	if _, err := svc.SourceForWriteKey(ctx, active.WriteKey); err != nil {
		t.Errorf("SourceForWriteKey of the active source: %v", err)
	}
}

// A revocation through the Service stops the write key at once, however long
// the cache keeps answers.
func TestRevokeSourceTakesEffectAtOnce(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, time.Hour)
	other := mustCreateSource(t, svc, "other", "app")
	tests := []struct {
		name string
		by   func(*kith.Source) string
	}{
		{"by name", func(s *kith.Source) string { return s.Name }},
		{"by id", func(s *kith.Source) string { return s.ID }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := mustCreateSource(t, svc, fmt.Sprintf("site-%d", i), "web")
			// Looked up once, so the answer is cached.
			if _, err := svc.SourceForWriteKey(ctx, src.WriteKey); err != nil {
				t.Fatalf("SourceForWriteKey before revocation: %v", err)
			}
			got, err := svc.RevokeSource(ctx, tt.by(src))
			if err != nil {
				t.Fatalf("RevokeSource: %v", err)
			}
			if got.ID != src.ID || !got.Revoked() {
				t.Errorf("RevokeSource returned %+v, want source %s revoked", got, src.ID)
			}
			_, err = svc.SourceForWriteKey(ctx, src.WriteKey)
			wantError(t, "SourceForWriteKey right after RevokeSource", err, kith.EUNAUTHORIZED, "")
		})
	}
	if _, err := svc.SourceForWriteKey(ctx, other.WriteKey); err != nil {
		t.Errorf("SourceForWriteKey of a source not revoked: %v", err)
	}
	_, err := svc.RevokeSource(ctx, "no-such-source")
	wantError(t, "RevokeSource of an unknown source", err, kith.ENOTFOUND, "")
}

// Within the TTL, answers come from the cache: a revocation made in the store
// by another process is not seen yet.
func TestWriteKeyAnswersCached(t *testing.T) {
	ctx := context.Background()
	svc, db := newService(t, time.Hour)
	src := mustCreateSource(t, svc, "site", "web")
	if _, err := svc.SourceForWriteKey(ctx, src.WriteKey); err != nil {
		t.Fatalf("SourceForWriteKey: %v", err)
	}
	if _, err := db.RevokeSource(ctx, src.Name, time.Now()); err != nil {
		t.Fatalf("store RevokeSource: %v", err)
	}
	if _, err := svc.SourceForWriteKey(ctx, src.WriteKey); err != nil {
		t.Errorf("SourceForWriteKey within the TTL after a revocation elsewhere: %v, want the cached source", err)
	}
}

// A revocation made in the store by another process (the CLI, another node)
// is seen once the cache TTL has passed.
func TestRevokeElsewhereSeenAfterTTL(t *testing.T) {
	ctx := context.Background()
	const ttl = 20 * time.Millisecond
	svc, db := newService(t, ttl)
	src := mustCreateSource(t, svc, "site", "web")
	if _, err := svc.SourceForWriteKey(ctx, src.WriteKey); err != nil {
		t.Fatalf("SourceForWriteKey: %v", err)
	}
	revokedAt := time.Now()
	if _, err := db.RevokeSource(ctx, src.ID, revokedAt); err != nil {
		t.Fatalf("store RevokeSource: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := svc.SourceForWriteKey(ctx, src.WriteKey)
		if kith.IsCode(err, kith.EUNAUTHORIZED) {
			t.Logf("revocation seen after %v (TTL %v)", time.Since(revokedAt), ttl)
			return
		}
		if err != nil {
			t.Fatalf("SourceForWriteKey: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("write key still accepted %v after its revocation, with a cache TTL of %v", time.Since(revokedAt), ttl)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pausingSources lets a test stop a write-key lookup between reading the
// store and returning, as a slow request would be.
type pausingSources struct {
	*sqlite.DB
	pause  atomic.Bool
	looked chan struct{}
	resume chan struct{}
}

func (p *pausingSources) SourceByWriteKey(ctx context.Context, writeKey string) (*kith.Source, error) {
	src, err := p.DB.SourceByWriteKey(ctx, writeKey)
	if p.pause.Load() {
		p.looked <- struct{}{}
		<-p.resume
	}
	return src, err
}

// A lookup that read the store before a revocation through the Service, and
// finishes after it, must not cache the source as active again.
func TestRevokeDuringLookup(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	store := &pausingSources{DB: db, looked: make(chan struct{}), resume: make(chan struct{})}
	svc := access.New(store, db, time.Hour)
	src := mustCreateSource(t, svc, "site", "web")

	store.pause.Store(true)
	lookup := make(chan error)
	go func() {
		_, err := svc.SourceForWriteKey(ctx, src.WriteKey)
		lookup <- err
	}()
	<-store.looked
	store.pause.Store(false)
	if _, err := svc.RevokeSource(ctx, src.Name); err != nil {
		t.Fatalf("RevokeSource: %v", err)
	}
	close(store.resume)
	if err := <-lookup; err != nil {
		t.Logf("the lookup in flight returned %v", err) // either answer is fine for it
	}
	_, err := svc.SourceForWriteKey(ctx, src.WriteKey)
	wantError(t, "SourceForWriteKey after RevokeSource", err, kith.EUNAUTHORIZED, "")
}

func TestEnsureSource(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, time.Minute)
	const writeKey = "bootstrap-write-key-0001"
	first, err := svc.EnsureSource(ctx, "site", "web", writeKey)
	if err != nil {
		t.Fatalf("EnsureSource: %v", err)
	}
	if first.Name != "site" || first.Kind != kith.KindWeb || first.WriteKey != writeKey {
		t.Errorf("EnsureSource created %+v, want site/web with the given write key", first)
	}
	again, err := svc.EnsureSource(ctx, "site", "web", writeKey)
	if err != nil {
		t.Fatalf("second EnsureSource: %v", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("second EnsureSource (-first +second):\n%s", diff)
	}
	got, err := svc.SourceForWriteKey(ctx, writeKey)
	if err != nil {
		t.Fatalf("SourceForWriteKey: %v", err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("SourceForWriteKey (-ensured +got):\n%s", diff)
	}

	tests := []struct {
		name, srcName, kind, writeKey, code, field string
	}{
		{"write key owned by another name", "app", "app", writeKey, kith.ECONFLICT, ""},
		{"name owned with another write key", "site", "web", "another-write-key-0002", kith.ECONFLICT, ""},
		{"short write key", "app", "app", "1234567", kith.EINVALID, "writeKey"},
		{"invalid name", "my app", "app", "app-write-key-0003", kith.EINVALID, "name"},
		{"invalid kind", "app", "fax", "app-write-key-0003", kith.EINVALID, "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := svc.EnsureSource(ctx, tt.srcName, tt.kind, tt.writeKey)
			wantError(t, fmt.Sprintf("EnsureSource(%q, %q, %q)", tt.srcName, tt.kind, tt.writeKey), err, tt.code, tt.field)
			if src != nil {
				t.Errorf("EnsureSource returned %+v with its error", src)
			}
		})
	}
	if diff := cmp.Diff([]kith.Source{*first}, listSources(t, svc)); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

func TestCreateKey(t *testing.T) {
	ctx := context.Background()
	svc, db := newService(t, time.Minute)
	secret, k, err := svc.CreateKey(ctx, "crm", []string{"profiles:read", "profiles:write"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if len(secret) < 22 {
		t.Errorf("secret %q is too short to be unguessable", secret)
	}
	if diff := cmp.Diff([]kith.Scope{kith.ScopeProfilesRead, kith.ScopeProfilesWrite}, k.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	sum := sha256.Sum256([]byte(secret))
	if !bytes.Equal(k.Hash, sum[:]) {
		t.Errorf("Hash = %x, want the SHA-256 of the secret, %x", k.Hash, sum)
	}
	if !bytes.Equal(access.HashSecret(secret), sum[:]) {
		t.Errorf("HashSecret = %x, want %x", access.HashSecret(secret), sum)
	}

	// The secret is shown once and kept nowhere: only a hint of it.
	stored, err := db.APIKeys(ctx)
	if err != nil {
		t.Fatalf("store APIKeys: %v", err)
	}
	if diff := cmp.Diff([]kith.APIKey{*k}, stored); diff != "" {
		t.Errorf("stored keys (-created +stored):\n%s", diff)
	}
	for _, s := range stored {
		if bytes.Contains(s.Hash, []byte(secret)) || strings.Contains(fmt.Sprintf("%+v", s), secret) {
			t.Errorf("stored key %+v holds the secret", s)
		}
		if !strings.HasPrefix(secret, s.Hint) || len(s.Hint) > len(secret)/2 {
			t.Errorf("hint %q is not a short prefix of the secret", s.Hint)
		}
	}

	got, err := svc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate with the new secret: %v", err)
	}
	if diff := cmp.Diff(k, got); diff != "" {
		t.Errorf("Authenticate (-created +got):\n%s", diff)
	}

	secret2, k2, err := svc.CreateKey(ctx, "reader", []string{"profiles:read"})
	if err != nil {
		t.Fatalf("second CreateKey: %v", err)
	}
	if secret2 == secret || k2.ID == k.ID || bytes.Equal(k2.Hash, k.Hash) {
		t.Errorf("two keys share a secret, id or hash: %q/%s, %q/%s", secret, k.ID, secret2, k2.ID)
	}
	if diff := cmp.Diff([]kith.APIKey{*k, *k2}, listKeys(t, svc)); diff != "" {
		t.Errorf("Keys (-want +got):\n%s", diff)
	}

	_, dup, err := svc.CreateKey(ctx, "crm", []string{"admin"})
	wantError(t, "CreateKey with a taken name", err, kith.ECONFLICT, "")
	if dup != nil {
		t.Errorf("CreateKey returned %+v with its error", dup)
	}
}

func TestCreateKeyValidates(t *testing.T) {
	svc, _ := newService(t, time.Minute)
	tests := []struct {
		name, keyName string
		scopes        []string
		field         string
	}{
		{"no scopes", "crm", nil, "scopes"},
		{"empty scopes", "crm", []string{}, "scopes"},
		{"unknown scope", "crm", []string{"profiles:delete"}, "scopes"},
		{"unknown among known", "crm", []string{"profiles:read", "Admin"}, "scopes"},
		{"empty scope", "crm", []string{""}, "scopes"},
		{"empty name", "", []string{"admin"}, "name"},
		{"name with a space", "my key", []string{"admin"}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, k, err := svc.CreateKey(context.Background(), tt.keyName, tt.scopes)
			wantError(t, fmt.Sprintf("CreateKey(%q, %q)", tt.keyName, tt.scopes), err, kith.EINVALID, tt.field)
			if k != nil {
				t.Errorf("CreateKey returned %+v with its error", k)
			}
		})
	}
	if got := listKeys(t, svc); len(got) != 0 {
		t.Errorf("invalid keys were stored: %v", got)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, time.Hour)
	secret, _, err := svc.CreateKey(ctx, "admin", []string{"admin"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	byName, _, err := svc.CreateKey(ctx, "revoked-by-name", []string{"admin"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	byID, k, err := svc.CreateKey(ctx, "revoked-by-id", []string{"admin"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	// Authenticated once before revocation, so any cache would be warm.
	for _, s := range []string{byName, byID} {
		if _, err := svc.Authenticate(ctx, s); err != nil {
			t.Fatalf("Authenticate before revocation: %v", err)
		}
	}
	if _, err := svc.RevokeKey(ctx, "revoked-by-name"); err != nil {
		t.Fatalf("RevokeKey by name: %v", err)
	}
	revoked, err := svc.RevokeKey(ctx, k.ID)
	if err != nil {
		t.Fatalf("RevokeKey by id: %v", err)
	}
	if !revoked.Revoked() {
		t.Errorf("RevokeKey returned %+v, not revoked", revoked)
	}
	tests := []struct {
		name, secret string
	}{
		{"empty", ""},
		{"unknown", "kith_unknownunknownunknownunknown0000"},
		{"revoked by name", byName},
		{"revoked by id", byID},
		{"prefix of a valid secret", secret[:len(secret)-1]},
		{"valid secret with more", secret + "x"},
		{"the hash instead of the secret", string(access.HashSecret(secret))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := svc.Authenticate(ctx, tt.secret)
			wantError(t, "Authenticate", err, kith.EUNAUTHORIZED, "")
			if k != nil {
				t.Errorf("Authenticate returned %+v with its error", k)
			}
		})
	}
	if _, err := svc.Authenticate(ctx, secret); err != nil {
		t.Errorf("Authenticate with the active secret: %v", err)
	}
	_, err = svc.RevokeKey(ctx, "no-such-key")
	wantError(t, "RevokeKey of an unknown key", err, kith.ENOTFOUND, "")
}

func TestRequire(t *testing.T) {
	var (
		admin = kith.ScopeAdmin
		read  = kith.ScopeProfilesRead
		write = kith.ScopeProfilesWrite
	)
	tests := []struct {
		has     []kith.Scope
		need    kith.Scope
		allowed bool
	}{
		{[]kith.Scope{admin}, admin, true},
		{[]kith.Scope{admin}, read, true},
		{[]kith.Scope{admin}, write, true},
		{[]kith.Scope{read}, read, true},
		{[]kith.Scope{read}, write, false},
		{[]kith.Scope{read}, admin, false},
		{[]kith.Scope{write}, write, true},
		{[]kith.Scope{write}, read, false},
		{[]kith.Scope{write}, admin, false},
		{[]kith.Scope{read, write}, write, true},
		{[]kith.Scope{read, write}, admin, false},
		{nil, read, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v needs %s", tt.has, tt.need), func(t *testing.T) {
			err := access.Require(&kith.APIKey{Name: "k", Scopes: tt.has}, tt.need)
			if tt.allowed {
				if err != nil {
					t.Errorf("Require = %v, want nil", err)
				}
				return
			}
			wantError(t, "Require", err, kith.EFORBIDDEN, "")
		})
	}
}

// Scopes survive the store: a key's permissions after Authenticate are the
// ones it was created with.
func TestRequireAfterAuthenticate(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, time.Minute)
	secret, _, err := svc.CreateKey(ctx, "reader", []string{"profiles:read"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	k, err := svc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := access.Require(k, kith.ScopeProfilesRead); err != nil {
		t.Errorf("Require(profiles:read) = %v, want nil", err)
	}
	for _, s := range []kith.Scope{kith.ScopeAdmin, kith.ScopeProfilesWrite} {
		wantError(t, fmt.Sprintf("Require(%s)", s), access.Require(k, s), kith.EFORBIDDEN, "")
	}
}

func TestEnsureKey(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, time.Minute)
	const secret = "bootstrap-admin-secret-0001"
	first, err := svc.EnsureKey(ctx, "bootstrap", secret, []string{"admin"})
	if err != nil {
		t.Fatalf("EnsureKey: %v", err)
	}
	again, err := svc.EnsureKey(ctx, "bootstrap", secret, []string{"admin"})
	if err != nil {
		t.Fatalf("second EnsureKey: %v", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("second EnsureKey (-first +second):\n%s", diff)
	}
	got, err := svc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate with the ensured secret: %v", err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("Authenticate (-ensured +got):\n%s", diff)
	}
	if err := access.Require(got, kith.ScopeProfilesWrite); err != nil {
		t.Errorf("ensured admin key: Require(profiles:write) = %v", err)
	}
	if bytes.Equal(got.Hash, []byte(secret)) || strings.Contains(got.Hint, secret) {
		t.Errorf("ensured key keeps its secret: %+v", got)
	}

	tests := []struct {
		name, keyName, secret string
		scopes                []string
		code, field           string
	}{
		{"short secret", "other", "fifteen-chars-1", []string{"admin"}, kith.EINVALID, "secret"},
		{"name taken by another secret", "bootstrap", "another-secret-000002", []string{"admin"}, kith.ECONFLICT, ""},
		{"unknown scope", "other", "other-secret-000003", []string{"root"}, kith.EINVALID, "scopes"},
		{"invalid name", "other key", "other-secret-000003", []string{"admin"}, kith.EINVALID, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := svc.EnsureKey(ctx, tt.keyName, tt.secret, tt.scopes)
			wantError(t, fmt.Sprintf("EnsureKey(%q, %q, %q)", tt.keyName, tt.secret, tt.scopes), err, tt.code, tt.field)
			if k != nil {
				t.Errorf("EnsureKey returned %+v with its error", k)
			}
		})
	}
	if diff := cmp.Diff([]kith.APIKey{*first}, listKeys(t, svc)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

// API keys are cached like write keys: revoked through the Service, a key
// stops at once; revoked by another process, within the TTL.
func TestAPIKeyRevocation(t *testing.T) {
	ctx := context.Background()
	svc, db := newService(t, time.Hour)
	secret, k, err := svc.CreateKey(ctx, "agents", []string{"profiles:read"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, secret); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if _, err := svc.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Authenticate(ctx, secret)
	wantError(t, "Authenticate after RevokeKey", err, kith.EUNAUTHORIZED, "")

	short := access.New(db, db, 20*time.Millisecond)
	secret2, k2, err := short.CreateKey(ctx, "reports", []string{"profiles:read"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.Authenticate(ctx, secret2); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	// Another process revokes it in the store itself.
	if _, err := db.RevokeAPIKey(ctx, k2.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := short.Authenticate(ctx, secret2); kith.IsCode(err, kith.EUNAUTHORIZED) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a key revoked in the store still authenticates after 5 s with a 20 ms TTL")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Bootstrapping with a key or write key that was revoked is an error, not a
// server that answers 401 to its own operator.
func TestEnsureRefusesRevoked(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, time.Hour)
	if _, err := svc.EnsureSource(ctx, "default", "server", "boot-write-key-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RevokeSource(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	_, err := svc.EnsureSource(ctx, "default", "server", "boot-write-key-1")
	wantError(t, "EnsureSource of a revoked write key", err, kith.ECONFLICT, "")
	k, err := svc.EnsureKey(ctx, "boot", "boot-admin-secret-0001", []string{"admin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.EnsureKey(ctx, "boot", "boot-admin-secret-0001", []string{"admin"})
	wantError(t, "EnsureKey of a revoked secret", err, kith.ECONFLICT, "")
}

// Nodes starting at once all ensure the bootstrap source and key: every
// one of them gets the same source and key, none an error.
func TestEnsureConcurrently(t *testing.T) {
	ctx := context.Background()
	_, db := newService(t, time.Minute)
	var wg sync.WaitGroup
	srcs := make([]*kith.Source, 8)
	keys := make([]*kith.APIKey, 8)
	errs := make([]error, 16)
	for i := range 8 {
		// A service per node, sharing the store, as separate processes do.
		svc := access.New(db, db, time.Minute)
		wg.Go(func() { srcs[i], errs[i] = svc.EnsureSource(ctx, "default", "server", "bootstrap-write-key-0001") })
		wg.Go(func() {
			keys[i], errs[8+i] = svc.EnsureKey(ctx, "bootstrap-admin", "bootstrap-admin-secret-0001", []string{"admin"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ensure %d: %v", i, err)
		}
	}
	for i := range 8 {
		if srcs[i].ID != srcs[0].ID || keys[i].ID != keys[0].ID {
			t.Errorf("node %d got source %s and key %s; node 0 %s and %s", i, srcs[i].ID, keys[i].ID, srcs[0].ID, keys[0].ID)
		}
	}
}
