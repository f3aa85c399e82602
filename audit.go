package kith

import (
	"context"
	"time"
)

// ActorKind says what kind of principal acted.
type ActorKind string

// The kinds of actor.
const (
	ActorUser   ActorKind = "user"   // a person signed in to the console
	ActorKey    ActorKind = "key"    // a program holding a secret API key
	ActorSystem ActorKind = "system" // Kith itself, or an operator at the command line
	// ActorCustomer is the person themselves, through a link Kith sent them.
	ActorCustomer ActorKind = "customer"
)

// Actor is who is reading or changing something, and from where. Every
// profile read and every change is recorded with its actor.
type Actor struct {
	Kind ActorKind
	ID   string // user or key id
	Name string // user or key name
	Role Role   // for users
	// PII is whether the actor may see personal data. Profiles read by an
	// actor without it come back with personal data hidden.
	PII  bool
	Addr string // the client's address
	Via  string // console, api or cli
}

// String names the actor as audit lists show it, e.g. "user:ann".
func (a Actor) String() string {
	if a.Name == "" {
		return string(a.Kind)
	}
	return string(a.Kind) + ":" + a.Name
}

type actorKey struct{}

// WithActor returns a context that carries the actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor a context carries.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Audit actions: what an audit record says happened.
const (
	AuditProfileRead      = "profile.read"    // a profile, its timeline or its identities was shown
	AuditProfileLookup    = "profile.lookup"  // a profile was found by an identifier
	AuditProfileSearch    = "profile.search"  // a profile appeared in search results
	AuditMergeUndo        = "merge.undo"      // a merge was undone
	AuditUserCreate       = "user.create"     // a console user was added
	AuditUserUpdate       = "user.update"     // a user's role or password changed, or the user was disabled
	AuditKeyCreate        = "key.create"      // an API key was created
	AuditKeyRevoke        = "key.revoke"      // an API key was revoked
	AuditSourceCreate     = "source.create"   // a source was created
	AuditSourceRevoke     = "source.revoke"   // a source was revoked
	AuditSignIn           = "session.signin"  // a user signed in
	AuditSignInFailed     = "session.refused" // a sign-in was refused
	AuditSignOut          = "session.signout" // a user signed out
	AuditExport           = "audit.export"    // the audit log was exported
	AuditProfileExport    = "profile.export"  // everything held about a person was exported
	AuditProfileErase     = "profile.erase"   // a person was erased
	AuditPermissionDenied = "access.denied"   // an actor was refused something
	AuditLifecycleFit     = "lifecycle.fit"   // a new fit of the lifetime-value models was asked for
)

// AuditRecord is one entry of the audit log: who did what to what, when and
// from where.
type AuditRecord struct {
	ID     int64 // assigned by the store, increasing
	Time   time.Time
	Actor  Actor
	Action string
	Target string // the profile, user, key or source acted on
	Detail string // e.g. the search query, the identifier looked up
}

// AuditFilter selects audit records. Zero fields match everything.
type AuditFilter struct {
	Actor  string // "user:ann", "key:crm" or a bare name
	Action string // an action, or a prefix ending in "." such as "profile."
	Target string
	From   time.Time // inclusive
	To     time.Time // exclusive
	Before int64     // records with a smaller ID: the next page
	Limit  int       // at most this many; 0 means the store's default
}

// AuditLog keeps the audit trail. Records are never changed or removed
// through it.
type AuditLog interface {
	// AppendAudit stores records before returning — committed, as durably
	// as the store keeps its audit trail (each store documents how) —
	// assigning increasing IDs and filling in Time where it is zero.
	AppendAudit(ctx context.Context, recs ...AuditRecord) error
	// Audit returns the records that match f, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
}
