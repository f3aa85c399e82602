// Package access manages who may talk to Kith: sources with their write keys,
// which may only send events, and secret API keys with scopes, which are kept
// only as hashes.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
)

// Service creates, lists, revokes and checks sources and API keys.
type Service struct {
	sources kith.SourceStore
	keys    kith.KeyStore
	now     func() time.Time
	ttl     time.Duration
	audit   kith.AuditLog // nil: changes are not recorded

	mu     sync.Mutex
	cache  map[string]cached    // write key → source, for the ingestion hot path
	authed map[string]cachedKey // hash of an API key's secret → key, for every API call
	gen    uint64               // bumped by every revocation, so a lookup that raced one is not cached
}

type cachedKey struct {
	key     *kith.APIKey
	expires time.Time
}

type cached struct {
	src     *kith.Source
	expires time.Time
}

// RecordTo makes the Service record every source and key it creates or
// revokes in the audit log, with the actor its context carries.
func (s *Service) RecordTo(a kith.AuditLog) { s.audit = a }

func (s *Service) record(ctx context.Context, action, target, detail string) error {
	if s.audit == nil {
		return nil
	}
	a, ok := kith.ActorFrom(ctx)
	if !ok {
		a = kith.Actor{Kind: kith.ActorSystem, Via: "cli"}
	}
	if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: action, Target: target, Detail: detail}); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}

// maxCached bounds the write-key cache; past it the cache starts afresh.
const maxCached = 10000

// New returns a Service over the given stores. Write keys and API keys are
// cached for cacheTTL: a revocation through this Service takes effect at
// once, one made by another process (the CLI, another node) within cacheTTL.
func New(sources kith.SourceStore, keys kith.KeyStore, cacheTTL time.Duration) *Service {
	return &Service{sources: sources, keys: keys, now: time.Now, ttl: cacheTTL, cache: map[string]cached{}, authed: map[string]cachedKey{}}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return kith.Invalid("name", "name must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n characters drawn uniformly from alphabet.
func randomString(n int) string {
	b := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		rand.Read(buf)
		if int(buf[0]) >= 256-256%len(alphabet) { // reject to avoid modulo bias
			continue
		}
		b[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(b)
}

// CreateSource creates a source of the given kind with a new write key.
func (s *Service) CreateSource(ctx context.Context, name, kind string) (*kith.Source, error) {
	return s.createSource(ctx, name, kind, randomString(32))
}

func (s *Service) createSource(ctx context.Context, name, kind, writeKey string) (*kith.Source, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	k, err := kith.ParseKind(kind)
	if err != nil {
		return nil, err
	}
	src := &kith.Source{ID: "src_" + randomString(16), Name: name, Kind: k, WriteKey: writeKey, CreatedAt: s.now().UTC()}
	if err := s.sources.CreateSource(ctx, src); err != nil {
		return nil, err
	}
	if err := s.record(ctx, kith.AuditSourceCreate, src.Name, "kind "+string(src.Kind)); err != nil {
		return nil, err
	}
	return src, nil
}

// EnsureSource makes sure a source with that name and write key exists, as a
// database image makes sure of its first password. It is an error if the name
// is taken by a source with another write key.
func (s *Service) EnsureSource(ctx context.Context, name, kind, writeKey string) (*kith.Source, error) {
	if len(writeKey) < 8 {
		return nil, kith.Invalid("writeKey", "a write key must be at least 8 characters")
	}
	if src, err := s.sources.SourceByWriteKey(ctx, writeKey); err == nil {
		if src.Revoked() {
			return nil, kith.Errorf(kith.ECONFLICT, "write key of source %q was revoked; choose another", src.Name)
		}
		if src.Name != name {
			return nil, kith.Errorf(kith.ECONFLICT, "write key belongs to source %q, not %q", src.Name, name)
		}
		return src, nil
	} else if !kith.IsCode(err, kith.ENOTFOUND) {
		return nil, err
	}
	src, err := s.createSource(ctx, name, kind, writeKey)
	if kith.IsCode(err, kith.ECONFLICT) {
		// Nodes starting at once all ensure it: another made it meanwhile.
		if other, lerr := s.sources.SourceByWriteKey(ctx, writeKey); lerr == nil && other.Name == name && !other.Revoked() {
			return other, nil
		}
	}
	return src, err
}

// Sources lists every source.
func (s *Service) Sources(ctx context.Context) ([]kith.Source, error) { return s.sources.Sources(ctx) }

// RevokeSource revokes the source with that id or name; its write key stops
// sending at once on this node.
func (s *Service) RevokeSource(ctx context.Context, idOrName string) (*kith.Source, error) {
	src, err := s.sources.RevokeSource(ctx, idOrName, s.now().UTC())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.cache, src.WriteKey)
	s.gen++
	s.mu.Unlock()
	if err := s.record(ctx, kith.AuditSourceRevoke, src.Name, ""); err != nil {
		return nil, err
	}
	return src, nil
}

// SourceForWriteKey returns the active source with that write key, or
// EUNAUTHORIZED. Answers are cached for the TTL given to New.
func (s *Service) SourceForWriteKey(ctx context.Context, writeKey string) (*kith.Source, error) {
	if writeKey == "" {
		return nil, kith.Errorf(kith.EUNAUTHORIZED, "a write key is required: send it as the Basic auth user name or as writeKey in the body")
	}
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[writeKey]
	gen := s.gen
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.src, nil
	}
	src, err := s.sources.SourceByWriteKey(ctx, writeKey)
	if kith.IsCode(err, kith.ENOTFOUND) || err == nil && src.Revoked() {
		return nil, kith.Errorf(kith.EUNAUTHORIZED, "unknown or revoked write key")
	}
	if err != nil {
		return nil, fmt.Errorf("look up write key: %w", err)
	}
	s.mu.Lock()
	if s.gen == gen {
		if len(s.cache) >= maxCached {
			s.cache = map[string]cached{}
		}
		s.cache[writeKey] = cached{src: src, expires: now.Add(s.ttl)}
	}
	s.mu.Unlock()
	return src, nil
}

// HashSecret returns the hash under which an API key's secret is stored.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func parseScopes(names []string) ([]kith.Scope, error) {
	if len(names) == 0 {
		return nil, kith.Invalid("scopes", "at least one scope is required (%s)", scopeList())
	}
	var out []kith.Scope
	seen := map[kith.Scope]bool{}
	for _, n := range names {
		ok := false
		for _, s := range kith.Scopes {
			if string(s) == n {
				ok = true
				if !seen[s] {
					out = append(out, s)
					seen[s] = true
				}
			}
		}
		if !ok {
			return nil, kith.Invalid("scopes", "unknown scope %q; use %s", n, scopeList())
		}
	}
	return out, nil
}

func scopeList() string {
	s := ""
	for i, sc := range kith.Scopes {
		if i > 0 {
			s += ", "
		}
		s += string(sc)
	}
	return s
}

// CreateKey creates an API key with the given scopes and returns its secret,
// which is shown this once and never stored.
func (s *Service) CreateKey(ctx context.Context, name string, scopes []string) (string, *kith.APIKey, error) {
	secret := "kith_" + randomString(40)
	k, err := s.createKey(ctx, name, secret, scopes)
	return secret, k, err
}

func (s *Service) createKey(ctx context.Context, name, secret string, scopes []string) (*kith.APIKey, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	sc, err := parseScopes(scopes)
	if err != nil {
		return nil, err
	}
	hint := ""
	if len(secret) >= 24 {
		hint = secret[:9]
	}
	k := &kith.APIKey{ID: "key_" + randomString(16), Name: name, Scopes: sc, Hash: HashSecret(secret),
		Hint: hint, CreatedAt: s.now().UTC()}
	if err := s.keys.CreateAPIKey(ctx, k); err != nil {
		return nil, err
	}
	if err := s.record(ctx, kith.AuditKeyCreate, k.Name, "scopes "+joinScopes(k.Scopes)); err != nil {
		return nil, err
	}
	return k, nil
}

// EnsureKey makes sure an API key with that secret exists, creating it under
// name with the given scopes if not.
func (s *Service) EnsureKey(ctx context.Context, name, secret string, scopes []string) (*kith.APIKey, error) {
	if len(secret) < 16 {
		return nil, kith.Invalid("secret", "an API key secret must be at least 16 characters")
	}
	if k, err := s.keys.APIKeyByHash(ctx, HashSecret(secret)); err == nil {
		if k.Revoked() {
			return nil, kith.Errorf(kith.ECONFLICT, "API key %q with this secret was revoked; choose another secret", k.Name)
		}
		return k, nil
	} else if !kith.IsCode(err, kith.ENOTFOUND) {
		return nil, err
	}
	k, err := s.createKey(ctx, name, secret, scopes)
	if kith.IsCode(err, kith.ECONFLICT) {
		// Nodes starting at once all ensure it: another made it meanwhile.
		if other, lerr := s.keys.APIKeyByHash(ctx, HashSecret(secret)); lerr == nil && !other.Revoked() {
			return other, nil
		}
	}
	return k, err
}

// Keys lists every API key (without secrets, which are not kept).
func (s *Service) Keys(ctx context.Context) ([]kith.APIKey, error) { return s.keys.APIKeys(ctx) }

// RevokeKey revokes the API key with that id or name, at once on this node.
func (s *Service) RevokeKey(ctx context.Context, idOrName string) (*kith.APIKey, error) {
	k, err := s.keys.RevokeAPIKey(ctx, idOrName, s.now().UTC())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.authed = map[string]cachedKey{}
	s.gen++
	s.mu.Unlock()
	if err := s.record(ctx, kith.AuditKeyRevoke, k.Name, ""); err != nil {
		return nil, err
	}
	return k, nil
}

// Authenticate returns the active API key whose secret is given, or EUNAUTHORIZED.
func (s *Service) Authenticate(ctx context.Context, secret string) (*kith.APIKey, error) {
	if secret == "" {
		return nil, kith.Errorf(kith.EUNAUTHORIZED, "an API key is required: send Authorization: Bearer KEY")
	}
	h := HashSecret(secret)
	now := s.now()
	s.mu.Lock()
	c, ok := s.authed[string(h)]
	gen := s.gen
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.key, nil
	}
	k, err := s.keys.APIKeyByHash(ctx, h)
	if kith.IsCode(err, kith.ENOTFOUND) {
		return nil, kith.Errorf(kith.EUNAUTHORIZED, "unknown API key")
	}
	if err != nil {
		return nil, fmt.Errorf("look up api key: %w", err)
	}
	// The lookup is by hash; compare anyway so a store that matched loosely cannot admit a wrong key.
	if subtle.ConstantTimeCompare(k.Hash, h) != 1 {
		return nil, kith.Errorf(kith.EUNAUTHORIZED, "unknown API key")
	}
	if k.Revoked() {
		return nil, kith.Errorf(kith.EUNAUTHORIZED, "this API key was revoked")
	}
	s.mu.Lock()
	if s.gen == gen {
		if len(s.authed) >= maxCached {
			s.authed = map[string]cachedKey{}
		}
		s.authed[string(h)] = cachedKey{key: k, expires: now.Add(s.ttl)}
	}
	s.mu.Unlock()
	return k, nil
}

// Require returns EFORBIDDEN unless the key carries the scope.
func Require(k *kith.APIKey, scope kith.Scope) error {
	if !k.Allows(scope) {
		return kith.Errorf(kith.EFORBIDDEN, "this API key lacks the %s scope", scope)
	}
	return nil
}

func joinScopes(ss []kith.Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, " ")
}
