package http

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/audience"
	"github.com/kithhq/kith/computed"
	"github.com/kithhq/kith/consent"
	"github.com/kithhq/kith/erasure"
	"github.com/kithhq/kith/importer"
	"github.com/kithhq/kith/ingest"
	"github.com/kithhq/kith/lifecycle"
	"github.com/kithhq/kith/matching"
	"github.com/kithhq/kith/metrics"
	"github.com/kithhq/kith/offer"
	"github.com/kithhq/kith/profile"
)

// Server routes Kith's HTTP API to the domain services.
type Server struct {
	ingest    *ingest.Service
	access    *access.Service
	profiles  *profile.Service
	audit     kith.AuditLog
	imports   *importer.Jobs
	lifecycle *lifecycle.Service
	offers    *offer.Service
	matching  *matching.Service
	audiences *audience.Service
	computed  *computed.Service
	consent   *consent.Service
	erasure   *erasure.Service
	console   http.Handler
	metrics   *metrics.Metrics
	log       *slog.Logger
	version   string
	ready     func(context.Context) error
	draining  atomic.Bool
	mux       *http.ServeMux
}

// Config is what a Server needs.
type Config struct {
	Ingest   *ingest.Service
	Access   *access.Service
	Profiles *profile.Service // nil: no profile API
	Audit    kith.AuditLog    // nil: no audit API
	Imports  *importer.Jobs   // nil: no import API
	// Lifecycle scores people and moves them through stages; nil: no
	// lifecycle API and no value on profiles.
	Lifecycle *lifecycle.Service
	// Offers is the offer ledger; nil: no offer API.
	Offers *offer.Service
	// Matching is the live probabilistic matcher; nil: no match API.
	Matching *matching.Service
	// Audiences evaluates audience expressions; nil: no audience API.
	Audiences *audience.Service
	// Computed defines computed traits; nil: no computed-trait API, and
	// profiles show none.
	Computed *computed.Service
	// Consent is the gate and the record of consent; nil: no consent API.
	Consent *consent.Service
	// Erasure forgets people; nil: no erasure API.
	Erasure *erasure.Service
	// Console serves every path the API does not: the web console.
	Console http.Handler
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Version string
	// Ready reports whether the store (and the log) can serve; /readyz answers 503 when it errs.
	Ready func(context.Context) error
}

// NewServer returns a Server with every route registered.
func NewServer(c Config) *Server {
	s := &Server{ingest: c.Ingest, access: c.Access, profiles: c.Profiles, audit: c.Audit, imports: c.Imports, lifecycle: c.Lifecycle, offers: c.Offers, matching: c.Matching, audiences: c.Audiences, computed: c.Computed, consent: c.Consent, erasure: c.Erasure, console: c.Console,
		metrics: c.Metrics, log: c.Logger,
		version: c.Version, ready: c.Ready, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}

	// Segment-compatible ingestion, long and short paths.
	s.mux.HandleFunc("POST /v1/{endpoint}", s.handleIngest)
	s.mux.HandleFunc("OPTIONS /v1/{endpoint}", s.handlePreflight)
	s.mux.HandleFunc("GET /v1/projects/{writeKey}/settings", s.handleSettings)
	s.mux.HandleFunc("OPTIONS /v1/projects/{writeKey}/settings", s.handlePreflight)

	// Administration.
	s.mux.Handle("GET /v1/sources", s.scoped(kith.ScopeAdmin, s.handleListSources))
	s.mux.Handle("POST /v1/sources", s.scoped(kith.ScopeAdmin, s.handleCreateSource))
	s.mux.Handle("POST /v1/sources/{id}/revoke", s.scoped(kith.ScopeAdmin, s.handleRevokeSource))
	s.mux.Handle("DELETE /v1/sources/{id}", s.scoped(kith.ScopeAdmin, s.handleRevokeSource))
	s.mux.Handle("GET /v1/keys", s.scoped(kith.ScopeAdmin, s.handleListKeys))
	s.mux.Handle("POST /v1/keys", s.scoped(kith.ScopeAdmin, s.handleCreateKey))
	s.mux.Handle("POST /v1/keys/{id}/revoke", s.scoped(kith.ScopeAdmin, s.handleRevokeKey))
	s.mux.Handle("DELETE /v1/keys/{id}", s.scoped(kith.ScopeAdmin, s.handleRevokeKey))

	if s.profiles != nil {
		s.mux.Handle("GET /v1/profiles", s.scoped(kith.ScopeProfilesRead, s.handleSearch))
		s.mux.Handle("GET /v1/profiles/lookup", s.scoped(kith.ScopeProfilesRead, s.handleLookup))
		s.mux.Handle("GET /v1/profiles/{id}", s.scoped(kith.ScopeProfilesRead, s.handleGetProfile))
		s.mux.Handle("GET /v1/profiles/{id}/events", s.scoped(kith.ScopeProfilesRead, s.handleTimeline))
		s.mux.Handle("GET /v1/profiles/{id}/identities", s.scoped(kith.ScopeProfilesRead, s.handleIdentities))
		s.mux.Handle("GET /v1/profiles/{id}/export", s.scoped(kith.ScopeAdmin, s.handleExportProfile))
		if s.erasure != nil {
			s.mux.Handle("POST /v1/profiles/{id}/erase", s.scoped(kith.ScopeAdmin, s.handleErase))
			s.mux.Handle("GET /v1/erasures", s.scoped(kith.ScopeAdmin, s.handleErasures))
			s.mux.Handle("GET /v1/erasures/{id}", s.scoped(kith.ScopeAdmin, s.handleErasure))
		}
		s.mux.Handle("POST /v1/merges/{mergeId}/undo", s.scoped(kith.ScopeProfilesWrite, s.handleUndoMerge))
		s.mux.Handle("GET /v1/processing", s.scoped(kith.ScopeProfilesRead, s.handleProcessing))
	}

	if s.audit != nil {
		s.mux.Handle("GET /v1/audit", s.scoped(kith.ScopeAdmin, s.handleAudit))
		s.mux.Handle("GET /v1/audit/export", s.scoped(kith.ScopeAdmin, s.handleAuditExport))
	}
	if s.imports != nil {
		s.mux.Handle("POST /v1/imports", s.scoped(kith.ScopeAdmin, s.handleStartImport))
		s.mux.Handle("GET /v1/imports", s.scoped(kith.ScopeAdmin, s.handleImports))
		s.mux.Handle("GET /v1/imports/{id}", s.scoped(kith.ScopeAdmin, s.handleImport))
		s.mux.Handle("GET /v1/imports/{id}/rejects", s.scoped(kith.ScopeAdmin, s.handleImportRejects))
	}
	if s.lifecycle != nil {
		s.mux.Handle("GET /v1/lifecycle", s.scoped(kith.ScopeProfilesRead, s.handleLifecycle))
		s.mux.Handle("POST /v1/lifecycle/fit", s.scoped(kith.ScopeAdmin, s.handleLifecycleFit))
	}
	if s.offers != nil {
		s.mux.Handle("GET /v1/offers", s.scoped(kith.ScopeProfilesRead, s.handleListOffers))
		s.mux.Handle("POST /v1/offers", s.scoped(kith.ScopeAdmin, s.handleCreateOffer))
		s.mux.Handle("GET /v1/offers/{code}", s.scoped(kith.ScopeProfilesRead, s.handleGetOffer))
		s.mux.Handle("PUT /v1/offers/{code}", s.scoped(kith.ScopeAdmin, s.handleUpdateOffer))
		s.mux.Handle("POST /v1/offers/{code}/status", s.scoped(kith.ScopeAdmin, s.handleOfferStatus))
		s.mux.Handle("POST /v1/offers/{code}/grants", s.scoped(kith.ScopeAdmin, s.handleGrantMany))
		s.mux.Handle("POST /v1/grants", s.scoped(kith.ScopeProfilesWrite, s.handleGrant))
		s.mux.Handle("GET /v1/grants", s.scoped(kith.ScopeProfilesRead, s.handleHeld))
		s.mux.Handle("GET /v1/grants/{id}", s.scoped(kith.ScopeProfilesRead, s.handleGetGrant))
		s.mux.Handle("POST /v1/grants/{id}/redeem", s.scoped(kith.ScopeProfilesWrite, s.handleRedeem))
		s.mux.Handle("POST /v1/grants/{id}/void", s.scoped(kith.ScopeProfilesWrite, s.handleVoid))
		s.mux.Handle("POST /v1/redemptions", s.scoped(kith.ScopeProfilesWrite, s.handleRedeem))
		s.mux.Handle("GET /v1/profiles/{id}/grants", s.scoped(kith.ScopeProfilesRead, s.handleHeld))
	}
	if s.consent != nil {
		s.mux.Handle("POST /v1/consent/check", s.scoped(kith.ScopeProfilesRead, s.handleConsentCheck))
		s.mux.Handle("POST /v1/consent/checks", s.scoped(kith.ScopeProfilesRead, s.handleConsentCheckList))
		s.mux.Handle("POST /v1/profiles/{id}/links", s.scoped(kith.ScopeProfilesWrite, s.handleIssueLink))
		s.mux.Handle("POST /v1/profiles/{id}/links/revoke", s.scoped(kith.ScopeProfilesWrite, s.handleRevokeLinks))
		// Behind a signed link, with no login: the person themselves.
		s.mux.HandleFunc("POST /v1/consent/unsubscribe/{token}", s.handleUnsubscribe)
		s.mux.HandleFunc("GET /v1/consent/links/{token}", s.handlePreferences)
		s.mux.HandleFunc("POST /v1/consent/links/{token}", s.handleSetPreference)
		s.mux.HandleFunc("GET /preferences/{token}", s.handlePreferencePage)
		s.mux.HandleFunc("POST /preferences/{token}", s.handlePreferenceSave)
		s.mux.Handle("POST /v1/consent/suppressions", s.scoped(kith.ScopeProfilesWrite, s.handleSuppress))
		s.mux.Handle("POST /v1/relationships", s.scoped(kith.ScopeProfilesWrite, s.handleRelate))
		s.mux.Handle("POST /v1/profiles/{id}/consents", s.scoped(kith.ScopeProfilesWrite, s.handleRecordConsent))
		s.mux.Handle("GET /v1/profiles/{id}/consents", s.scoped(kith.ScopeProfilesRead, s.handleConsentHistory))
		s.mux.Handle("PUT /v1/profiles/{id}/contact-points", s.scoped(kith.ScopeProfilesWrite, s.handleSetContactPoint))
		s.mux.Handle("GET /v1/profiles/{id}/contact-points", s.scoped(kith.ScopeProfilesRead, s.handleContactPoints))
		s.mux.Handle("GET /v1/profiles/{id}/contact-points/history", s.scoped(kith.ScopeProfilesRead, s.handleContactPointHistory))
	}
	if s.computed != nil {
		s.mux.Handle("POST /v1/computed-traits", s.scoped(kith.ScopeProfilesWrite, s.handleCreateComputed))
		s.mux.Handle("GET /v1/computed-traits", s.scoped(kith.ScopeProfilesRead, s.handleListComputed))
		s.mux.Handle("GET /v1/computed-traits/{name}", s.scoped(kith.ScopeProfilesRead, s.handleGetComputed))
	}
	if s.audiences != nil {
		s.mux.Handle("POST /v1/audiences/validate", s.scoped(kith.ScopeProfilesRead, s.handleAudienceValidate))
		s.mux.Handle("POST /v1/audiences/preview", s.scoped(kith.ScopeProfilesRead, s.handleAudiencePreview))
		s.mux.Handle("POST /v1/audiences", s.scoped(kith.ScopeProfilesWrite, s.handleCreateAudience))
		s.mux.Handle("GET /v1/audiences", s.scoped(kith.ScopeProfilesRead, s.handleListAudiences))
		s.mux.Handle("GET /v1/audiences/{id}", s.scoped(kith.ScopeProfilesRead, s.handleGetAudience))
		s.mux.Handle("GET /v1/audiences/{id}/members", s.scoped(kith.ScopeProfilesRead, s.handleAudienceMembers))
		s.mux.Handle("GET /v1/audiences/{id}/sizes", s.scoped(kith.ScopeProfilesRead, s.handleAudienceSizes))
		s.mux.Handle("GET /v1/audiences/{id}/export", s.scoped(kith.ScopeProfilesRead, s.handleAudienceExport))
	}
	if s.matching != nil {
		s.mux.Handle("GET /v1/matches", s.scoped(kith.ScopeAdmin, s.handleMatches))
		s.mux.Handle("GET /v1/matches/{id}", s.scoped(kith.ScopeAdmin, s.handleMatch))
		s.mux.Handle("POST /v1/matches/{id}/{decision}", s.scoped(kith.ScopeAdmin, s.handleMatchDecision))
	}
	if s.console != nil {
		s.mux.Handle("/", s.console)
	}

	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", s.metrics.Handler())
	s.mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": s.version})
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// handleHealth answers liveness: the process serves requests. It does not
// ask the store or the log: while a database is away the node answers 503
// to what needs it and /readyz says why, and restarting the process would
// not bring the database back.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.version})
}

// Drain makes /readyz answer 503 from now on, so that a load balancer
// stops sending new requests while in-flight ones finish.
func (s *Server) Drain() { s.draining.Store(true) }

// handleReady answers whether this node should receive traffic: not while
// it shuts down, and not while its store cannot serve.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining", "reason": "the node is shutting down"})
		return
	}
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "the store does not answer: " + err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "version": s.version})
}

type ctxKey int

const apiKeyCtx ctxKey = iota

// scoped authenticates the Bearer API key and requires a scope.
func (s *Server) scoped(scope kith.Scope, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			s.writeError(w, r, kith.Errorf(kith.EUNAUTHORIZED, "an API key is required: send Authorization: Bearer KEY"))
			return
		}
		key, err := s.access.Authenticate(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := access.Require(key, scope); err != nil {
			s.writeError(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), apiKeyCtx, key)
		h(w, r.WithContext(kith.WithActor(ctx, access.KeyActor(key, r.RemoteAddr))))
	})
}
