package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/audience"
	"github.com/kithhq/kith/computed"
	"github.com/kithhq/kith/consent"
	"github.com/kithhq/kith/erasure"
	"github.com/kithhq/kith/importer"
	"github.com/kithhq/kith/lifecycle"
	"github.com/kithhq/kith/matching"
	"github.com/kithhq/kith/offer"
	"github.com/kithhq/kith/profile"
)

//go:embed templates static
var assets embed.FS

// Status is what the console's home page and status bar show about the
// running system.
type Status struct {
	Events     int64   `json:"events"`      // events in the log
	LagEvents  int64   `json:"lag_events"`  // not yet folded into profiles
	LagSeconds float64 `json:"lag_seconds"` // age of the oldest of those
	Demo       *Demo   `json:"demo,omitempty"`
}

// Demo is the progress of loading the demo data set.
type Demo struct {
	Sent  int    `json:"sent"`
	Total int    `json:"total"`
	Done  bool   `json:"done"`
	Error string `json:"error,omitempty"`
}

// Config is what the console needs.
type Config struct {
	Access   *access.Service
	Users    *access.Users
	Profiles *profile.Service
	Audit    kith.AuditLog
	// Lifecycle scores customers and follows the stages; nil shows neither
	// the customer's value panel nor the lifecycle page.
	Lifecycle *lifecycle.Service
	// Offers is the offer ledger; nil shows neither the offers page nor the
	// customer's Offers panel.
	Offers *offer.Service
	// Matching is the probabilistic matcher; nil shows no review queue.
	Matching *matching.Service
	// Audiences evaluates audience expressions; nil shows no audience
	// builder.
	Audiences *audience.Service
	// Computed defines computed traits and gives their values; nil shows
	// neither the computed traits page nor the customer's Computed traits
	// panel.
	Computed *computed.Service
	// Consent is the consent gate and record; nil shows no Preferences
	// panel on the customer's page.
	Consent *consent.Service
	// Erasure forgets a person who asks to be; nil shows no "Erase this
	// person" section on the customer's page.
	Erasure *erasure.Service
	// Imports runs imports of files in the background; nil shows no
	// imports page.
	Imports *importer.Jobs
	// Status reports the system's state; nil shows none.
	Status  func(context.Context) Status
	Logger  *slog.Logger
	Version string
	// SecureCookies marks cookies Secure; set it when the console is served
	// over HTTPS (directly or behind a proxy).
	SecureCookies bool
}

// Console serves the web console.
type Console struct {
	c     Config
	mux   *http.ServeMux
	pages map[string]*template.Template
	log   *slog.Logger
}

// Cookie names.
const (
	sessionCookie = "kith_session"
	loginCookie   = "kith_login" // double-submit token of the sign-in form
)

type ctxKey int

const startKey ctxKey = iota

// viewer is the signed-in person a request is for.
type viewer struct {
	User    *kith.User
	Session *kith.Session
	Actor   kith.Actor
}

func (v *viewer) Can(p string) bool { return access.Allowed(v.User.Role, access.Permission(p)) }

// New returns the console.
func New(c Config) (*Console, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	con := &Console{c: c, mux: http.NewServeMux(), pages: pages, log: c.Logger}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	files := http.FileServerFS(static)
	con.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheAssets(files)))
	con.mux.HandleFunc("GET /login", con.handleLoginForm)
	con.mux.HandleFunc("POST /login", con.handleLogin)
	con.mux.Handle("POST /logout", con.signedIn("", con.handleLogout))
	con.mux.Handle("GET /{$}", con.signedIn("", con.handleHome))
	con.mux.Handle("GET /status.json", con.signedIn("", con.handleStatus))
	con.mux.Handle("GET /profiles/{id}", con.signedIn(access.PermProfilesRead, con.handleProfile))
	con.mux.Handle("GET /profiles/{id}/timeline", con.signedIn(access.PermProfilesRead, con.handleTimeline))
	con.mux.Handle("POST /merges/{id}/undo", con.signedIn(access.PermMergesUndo, con.handleUndo))
	con.mux.Handle("GET /audit", con.signedIn(access.PermAuditRead, con.handleAudit))
	con.mux.Handle("GET /audit/export", con.signedIn(access.PermAuditRead, con.handleAuditExport))
	con.mux.Handle("GET /users", con.signedIn(access.PermUsersManage, con.handleUsers))
	con.mux.Handle("POST /users", con.signedIn(access.PermUsersManage, con.handleAddUser))
	con.mux.Handle("POST /users/{name}", con.signedIn(access.PermUsersManage, con.handleChangeUser))
	con.mux.Handle("GET /keys", con.signedIn(access.PermKeysManage, con.handleKeys))
	con.mux.Handle("POST /keys", con.signedIn(access.PermKeysManage, con.handleCreateKey))
	con.mux.Handle("POST /keys/{id}/revoke", con.signedIn(access.PermKeysManage, con.handleRevokeKey))
	con.mux.Handle("POST /sources", con.signedIn(access.PermKeysManage, con.handleCreateSource))
	con.mux.Handle("POST /sources/{id}/revoke", con.signedIn(access.PermKeysManage, con.handleRevokeSource))
	if c.Lifecycle != nil {
		con.mux.Handle("GET /lifecycle", con.signedIn(access.PermLifecycleRead, con.handleLifecycle))
		con.mux.Handle("POST /lifecycle/fit", con.signedIn(access.PermLifecycleFit, con.handleRefit))
	}
	if c.Offers != nil {
		con.mux.Handle("GET /offers", con.signedIn(access.PermOffersRead, con.handleOffers))
		con.mux.Handle("GET /offers/{code}", con.signedIn(access.PermOffersRead, con.handleOffer))
		con.mux.Handle("POST /profiles/{id}/grants/{grant}/redeem", con.signedIn(access.PermOffersRedeem, con.handleRedeem))
	}
	if c.Matching != nil {
		con.mux.Handle("GET /matches", con.signedIn(access.PermMatchesReview, con.handleMatches))
		con.mux.Handle("POST /matches/{id}/{decision}", con.signedIn(access.PermMatchesReview, con.handleMatchDecision))
	}
	if c.Audiences != nil {
		con.mux.Handle("GET /audiences", con.signedIn(access.PermAudiencesBuild, con.handleAudiences))
		con.mux.Handle("POST /audiences", con.signedIn(access.PermAudiencesBuild, con.handleSaveAudience))
		con.mux.Handle("GET /audiences/new", con.signedIn(access.PermAudiencesBuild, con.handleAudienceBuilder))
		con.mux.Handle("POST /audiences/new", con.signedIn(access.PermAudiencesBuild, con.handleAudiencePreviewPage))
		con.mux.Handle("POST /audiences/preview", con.signedIn(access.PermAudiencesBuild, con.handleAudiencePreview))
	}
	if c.Computed != nil {
		// Whoever builds audiences defines what they read.
		con.mux.Handle("GET /computed", con.signedIn(access.PermAudiencesBuild, con.handleComputed))
		con.mux.Handle("POST /computed", con.signedIn(access.PermAudiencesBuild, con.handleDefineComputed))
	}
	if c.Consent != nil {
		con.mux.Handle("POST /profiles/{id}/consents", con.signedIn(access.PermConsentChange, con.handleRecordConsent))
		con.mux.Handle("POST /profiles/{id}/contact-points", con.signedIn(access.PermConsentChange, con.handleSetContact))
	}
	if c.Erasure != nil {
		con.mux.Handle("POST /profiles/{id}/erase", con.signedIn(access.PermErase, con.handleErase))
		con.mux.Handle("GET /erasures/{id}", con.signedIn(access.PermErase, con.handleErasure))
	}
	if c.Imports != nil {
		con.mux.Handle("GET /imports", con.signedIn(access.PermImport, con.handleImports))
		con.mux.Handle("GET /imports.json", con.signedIn(access.PermImport, con.handleImportsJSON))
		start := con.signedIn(access.PermImport, con.handleStartImport)
		if n := c.Imports.MaxBytes(); n > 0 {
			start = limitBody(n+1<<20, start) // the file and the form around it
		}
		con.mux.Handle("POST /imports", start)
		con.mux.Handle("GET /imports/{id}", con.signedIn(access.PermImport, con.handleImport))
		con.mux.Handle("GET /imports/{id}/rejects", con.signedIn(access.PermImport, con.handleImportRejects))
	}
	return con, nil
}

func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler, with the headers every page carries.
func (con *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
		"frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	con.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), startKey, time.Now())))
}

// signedIn lets a request through only with a live session and, when perm
// is set, a role that carries it. State-changing requests must also carry
// the session's CSRF token and come from this origin.
func (con *Console) signedIn(perm access.Permission, h func(http.ResponseWriter, *http.Request, *viewer)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Pages with personal data are never cached by the browser or a proxy.
		w.Header().Set("Cache-Control", "no-store")
		c, _ := r.Cookie(sessionCookie)
		secret := ""
		if c != nil {
			secret = c.Value
		}
		sess, usr, err := con.c.Users.Session(r.Context(), secret)
		if err != nil {
			if kith.IsCode(err, kith.EUNAUTHORIZED) {
				if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".json") {
					http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				con.fail(w, r, nil, err)
				return
			}
			con.fail(w, r, nil, err)
			return
		}
		v := &viewer{User: usr, Session: sess, Actor: access.UserActor(usr, r.RemoteAddr)}
		ctx := kith.WithActor(r.Context(), v.Actor)
		if r.Method == http.MethodPost {
			if err := checkOrigin(r); err != nil {
				con.fail(w, r, v, err)
				return
			}
			if err := parseForm(r); err != nil {
				con.fail(w, r, v, err)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
				con.fail(w, r, v, kith.Errorf(kith.EFORBIDDEN, "this form has expired or did not come from the console; reload the page and try again"))
				return
			}
		}
		if perm != "" {
			if err := access.Check(usr.Role, perm); err != nil {
				con.deny(ctx, v, r)
				con.fail(w, r, v, err)
				return
			}
		}
		h(w, r.WithContext(ctx), v)
	})
}

// parseForm reads a posted form, an upload's parts included (those over
// 32 MB spooled to disk, and removed after the request). A body over the
// route's limit (limitBody) is ETOOLARGE.
func parseForm(r *http.Request) error {
	err := r.ParseMultipartForm(32 << 20)
	if err == nil || errors.Is(err, http.ErrNotMultipart) {
		return nil
	}
	if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &kith.Error{Code: kith.ETOOLARGE, Field: "file",
			Message: fmt.Sprintf("the upload is larger than %s MB, the limit here; import the file with 'kith import' on the server", count(int(tooLarge.Limit>>20)))}
	}
	return kith.Invalid("", "the form could not be read: %v", err)
}

// limitBody bounds the body a route reads to n bytes.
func limitBody(n int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h.ServeHTTP(w, r)
	})
}

// deny records a refusal, so admins see who tried what.
func (con *Console) deny(ctx context.Context, v *viewer, r *http.Request) {
	if err := con.c.Audit.AppendAudit(ctx, kith.AuditRecord{Actor: v.Actor, Action: kith.AuditPermissionDenied,
		Target: r.URL.Path, Detail: r.Method}); err != nil {
		con.log.Error("record refusal", "err", err)
	}
}

// checkOrigin refuses a cross-site form post. Browsers send Origin on every
// POST; without one (an old browser, a script) the CSRF token alone decides.
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host != r.Host {
		return kith.Errorf(kith.EFORBIDDEN, "a form from %s may not post to this console", o)
	}
	return nil
}

var statusOf = map[string]int{
	kith.EINVALID:      http.StatusBadRequest,
	kith.ENOTFOUND:     http.StatusNotFound,
	kith.ECONFLICT:     http.StatusConflict,
	kith.EUNAUTHORIZED: http.StatusUnauthorized,
	kith.EFORBIDDEN:    http.StatusForbidden,
	kith.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	kith.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// fail renders an error page with the error's status.
func (con *Console) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	code := kith.ErrorCode(err)
	status, ok := statusOf[code]
	msg := kith.ErrorMessage(err)
	if !ok {
		status = http.StatusInternalServerError
		msg = "Something went wrong on our side; the server log has the details."
		if errors.Is(err, context.Canceled) {
			return
		}
		con.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	con.render(w, r, status, "error", v, map[string]any{
		"Title": http.StatusText(status), "Status": status, "Message": msg, "Field": kith.ErrorField(err)})
}

func (con *Console) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: con.c.SecureCookies,
		SameSite: http.SameSiteLaxMode}
	if ttl < 0 {
		c.MaxAge = -1
	} else if ttl > 0 {
		c.MaxAge = int(ttl.Seconds())
	}
	http.SetCookie(w, c)
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
