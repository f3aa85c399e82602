package kith

import (
	"context"
	"time"
)

// AudienceDef is a saved audience: a name and the expression that says who
// is in it (see package audience for the language).
type AudienceDef struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Expression string    `json:"expression"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"`
}

// Audit actions of audiences.
const (
	AuditAudienceCreate = "audience.create" // an audience was saved
	AuditAudienceExport = "audience.export" // an audience's members were exported
)

// AudienceStore keeps saved audiences.
type AudienceStore interface {
	// CreateAudience stores a new audience; ECONFLICT when its name is taken.
	CreateAudience(ctx context.Context, a *AudienceDef) error
	// AudienceByID returns one audience; ENOTFOUND when none.
	AudienceByID(ctx context.Context, id string) (*AudienceDef, error)
	// Audiences returns every audience, by name.
	Audiences(ctx context.Context) ([]AudienceDef, error)
}
