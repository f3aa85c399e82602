package kith

import (
	"context"
	"strings"
	"time"
)

// Kind is the kind of channel a source sends from. Every stored event records
// the kind of its source as its channel.
type Kind string

// The channel kinds a source may have.
const (
	KindWeb        Kind = "web"
	KindApp        Kind = "app"
	KindEmail      Kind = "email"
	KindSMS        Kind = "sms"
	KindPush       Kind = "push"
	KindChat       Kind = "chat"
	KindSocial     Kind = "social"
	KindCallCenter Kind = "call_center"
	KindStore      Kind = "store"
	KindPOS        Kind = "pos"
	KindBeacon     Kind = "beacon"
	KindServer     Kind = "server"
)

// Kinds lists every valid Kind, in a stable order for help texts.
var Kinds = []Kind{KindWeb, KindApp, KindEmail, KindSMS, KindPush, KindChat, KindSocial,
	KindCallCenter, KindStore, KindPOS, KindBeacon, KindServer}

// ParseKind returns the Kind named s, or an EINVALID error listing the valid ones.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", Invalid("kind", "unknown source kind %q; use one of %s", s, strings.Join(names, ", "))
}

// Source is a channel that sends data: a site, an app, the call-center system,
// the point of sale. Its write key may only send events.
type Source struct {
	ID        string
	Name      string
	Kind      Kind
	WriteKey  string
	CreatedAt time.Time
	RevokedAt time.Time // zero while the source may send
}

// Revoked reports whether the source's write key no longer sends.
func (s *Source) Revoked() bool { return !s.RevokedAt.IsZero() }

// Scope is a permission an API key carries.
type Scope string

// The scopes of secret API keys. Admin implies every other scope.
const (
	ScopeAdmin         Scope = "admin"
	ScopeProfilesRead  Scope = "profiles:read"
	ScopeProfilesWrite Scope = "profiles:write"
)

// Scopes lists every valid Scope.
var Scopes = []Scope{ScopeAdmin, ScopeProfilesRead, ScopeProfilesWrite}

// APIKey is a secret key for the REST API. Only a hash of its secret is kept.
type APIKey struct {
	ID        string
	Name      string
	Scopes    []Scope
	Hash      []byte // SHA-256 of the secret
	Hint      string // the first characters of the secret, to tell keys apart in lists
	CreatedAt time.Time
	RevokedAt time.Time
}

// Revoked reports whether the key no longer authenticates.
func (k *APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// Allows reports whether the key carries scope s (admin carries every scope).
func (k *APIKey) Allows(s Scope) bool {
	for _, have := range k.Scopes {
		if have == s || have == ScopeAdmin {
			return true
		}
	}
	return false
}

// SourceStore persists sources.
type SourceStore interface {
	// CreateSource stores a new source; ECONFLICT if its name or write key is taken.
	CreateSource(ctx context.Context, s *Source) error
	// Sources lists every source, revoked ones included, oldest first.
	Sources(ctx context.Context) ([]Source, error)
	// SourceByWriteKey returns the source with that write key, or ENOTFOUND.
	SourceByWriteKey(ctx context.Context, writeKey string) (*Source, error)
	// RevokeSource marks a source revoked at the given time; ENOTFOUND if no
	// source has that id or name. Revoking twice keeps the first time.
	RevokeSource(ctx context.Context, idOrName string, at time.Time) (*Source, error)
}

// KeyStore persists secret API keys.
type KeyStore interface {
	// CreateAPIKey stores a new key; ECONFLICT if its name or hash is taken.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeys lists every key, revoked ones included, oldest first.
	APIKeys(ctx context.Context) ([]APIKey, error)
	// APIKeyByHash returns the key whose secret hashes to hash, or ENOTFOUND.
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// RevokeAPIKey marks a key revoked; ENOTFOUND if no key has that id or name.
	RevokeAPIKey(ctx context.Context, idOrName string, at time.Time) (*APIKey, error)
}
