package kith

import (
	"context"
	"strings"
	"time"
)

// Role is what a console user is for. Each role carries a fixed set of
// permissions (see access.Allowed).
type Role string

// The console roles.
const (
	// RoleAdmin manages users, keys and sources, reads the audit log and may
	// undo merges; sees everything.
	RoleAdmin Role = "admin"
	// RoleAgent serves customers: searches and reads whole profiles.
	RoleAgent Role = "agent"
	// RoleMarketer reads whole profiles to plan and check campaigns.
	RoleMarketer Role = "marketer"
	// RoleAnalyst studies behaviour and sees no personal data: identifiers,
	// personal traits and message bodies are hidden.
	RoleAnalyst Role = "analyst"
)

// Roles lists every Role, in a stable order for help texts.
var Roles = []Role{RoleAdmin, RoleAgent, RoleMarketer, RoleAnalyst}

// ParseRole returns the Role named s, or an EINVALID error listing the valid ones.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return "", Invalid("role", "unknown role %q; use one of %s", s, strings.Join(names, ", "))
}

// User is a person who signs in to the console. Only a memory-hard hash of
// the password is kept.
type User struct {
	ID           string
	Name         string // the sign-in name, unique
	Role         Role
	PasswordHash string // PHC string, e.g. $argon2id$v=19$m=19456,t=2,p=1$…
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DisabledAt   time.Time // zero while the user may sign in
}

// Disabled reports whether the user may no longer sign in.
func (u *User) Disabled() bool { return !u.DisabledAt.IsZero() }

// Session is a signed-in console user. The browser holds the secret; the
// store keeps only its SHA-256 hash.
type Session struct {
	Hash      []byte
	UserID    string
	CSRF      string // the token every state-changing form must carry
	CreatedAt time.Time
	ExpiresAt time.Time
	Addr      string // where the sign-in came from
	UserAgent string
}

// UserStore persists console users.
type UserStore interface {
	// CreateUser stores a new user; ECONFLICT if the name is taken.
	CreateUser(ctx context.Context, u *User) error
	// Users lists every user, disabled ones included, by name.
	Users(ctx context.Context) ([]User, error)
	// UserByName returns the user with that name, or ENOTFOUND.
	UserByName(ctx context.Context, name string) (*User, error)
	// UserByID returns the user with that id, or ENOTFOUND.
	UserByID(ctx context.Context, id string) (*User, error)
	// ChangeUser runs change on the user with that name, given every user
	// as well, and stores the role, password hash, disabled time and updated
	// time that change leaves. It is one atomic step: no other change of any
	// user interleaves with it, so a rule over all users (keep one admin)
	// holds across processes and nodes. ENOTFOUND if there is no such user;
	// an error from change stores nothing and is returned as it is.
	ChangeUser(ctx context.Context, name string, change func(u *User, all []User) error) (*User, error)
}

// SessionStore persists console sessions.
type SessionStore interface {
	// CreateSession stores a new session; ECONFLICT if the hash is taken.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByHash returns the session with that hash, or ENOTFOUND.
	// Expired sessions are returned too; the caller checks ExpiresAt.
	SessionByHash(ctx context.Context, hash []byte) (*Session, error)
	// DeleteSession removes one session; removing a missing one is not an error.
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteUserSessions removes every session of a user and says how many.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
	// DeleteExpiredSessions removes sessions that expired before t.
	DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error)
}
