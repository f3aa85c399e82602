package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/audit"
	"github.com/kithhq/kith/profile"
)

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (con *Console) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	con.loginPage(w, r, http.StatusOK, "")
}

func (con *Console) loginPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := newToken()
	con.setCookie(w, loginCookie, token, 30*time.Minute)
	w.Header().Set("Cache-Control", "no-store")
	con.render(w, r, status, "login", nil, map[string]any{"Title": "Sign in", "Token": token,
		"Next": safeNext(r.FormValue("next")), "Name": r.PostFormValue("name"), "Error": msg})
}

func (con *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := checkOrigin(r); err != nil {
		con.fail(w, r, nil, err)
		return
	}
	c, _ := r.Cookie(loginCookie)
	if c == nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("token"))) != 1 {
		con.loginPage(w, r, http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	secret, _, _, err := con.c.Users.SignIn(r.Context(), name, r.PostFormValue("password"), r.RemoteAddr, r.UserAgent())
	if err != nil {
		if kith.IsCode(err, kith.EUNAUTHORIZED) {
			con.loginPage(w, r, http.StatusUnauthorized, kith.ErrorMessage(err))
			return
		}
		con.fail(w, r, nil, err)
		return
	}
	con.setCookie(w, loginCookie, "", -1)
	con.setCookie(w, sessionCookie, secret, access.SessionTTL)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (con *Console) handleLogout(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, _ := r.Cookie(sessionCookie)
	if c != nil {
		if err := con.c.Users.SignOut(r.Context(), c.Value); err != nil {
			con.fail(w, r, v, err)
			return
		}
	}
	con.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (con *Console) status(ctx context.Context) Status {
	if con.c.Status == nil {
		return Status{}
	}
	return con.c.Status(ctx)
}

func (con *Console) handleStatus(w http.ResponseWriter, r *http.Request, v *viewer) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(con.status(r.Context()))
}

func (con *Console) handleHome(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := map[string]any{"Title": "Customers", "Q": q, "Status": con.status(r.Context())}
	status := http.StatusOK
	if q != "" {
		if !v.Can(string(access.PermPII)) {
			// Without personal data, a profile is found by its id alone.
			if !strings.HasPrefix(q, "prf_") {
				con.deny(r.Context(), v, r)
				con.fail(w, r, v, kith.Errorf(kith.EFORBIDDEN, "the %s role sees no personal data, so it cannot search by name, e-mail or phone; enter a profile id (prf_…)", v.User.Role))
				return
			}
			http.Redirect(w, r, "/profiles/"+url.PathEscape(q), http.StatusSeeOther)
			return
		}
		views, err := con.c.Profiles.Search(r.Context(), q, 25)
		switch {
		case err == nil:
			if len(views) == 1 {
				http.Redirect(w, r, "/profiles/"+url.PathEscape(views[0].ID), http.StatusSeeOther)
				return
			}
			data["Results"] = views
			data["Searched"] = true
		case kith.IsCode(err, kith.EINVALID):
			status = http.StatusBadRequest
			data["Error"] = kith.ErrorMessage(err)
		default:
			con.fail(w, r, v, err)
			return
		}
	}
	con.render(w, r, status, "home", v, data)
}

// sourceNames maps source ids to names for provenance columns.
func (con *Console) sourceNames(ctx context.Context) map[string]string {
	srcs, err := con.c.Access.Sources(ctx)
	if err != nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(srcs))
	for _, s := range srcs {
		out[s.ID] = s.Name
	}
	return out
}

type traitRow struct {
	Name  string
	Trait kith.Trait
}

type intentRow struct {
	profile.RankedIntent
	Pct int
}

const timelinePage = 50

func (con *Console) handleProfile(w http.ResponseWriter, r *http.Request, v *viewer) {
	con.profilePage(w, r, v, http.StatusOK, r.PathValue("id"), nil, nil, nil)
}

// profilePage draws the customer 360 of profile id; res, when set, is a
// redemption from its Offers panel that was refused; prefs, a form of its
// Preferences panel; erase, its form to erase the person.
func (con *Console) profilePage(w http.ResponseWriter, r *http.Request, v *viewer, status int, id string, res *redeemResult, prefs *preferencesInput, erase *eraseInput) {
	c, err := con.c.Profiles.Customer(r.Context(), id, timelinePage)
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	if c.RequestedID != "" {
		http.Redirect(w, r, "/profiles/"+url.PathEscape(c.ID), http.StatusSeeOther)
		return
	}
	traits := make([]traitRow, 0, len(c.Traits))
	for k, t := range c.Traits {
		traits = append(traits, traitRow{k, t})
	}
	sort.Slice(traits, func(i, j int) bool { return traits[i].Name < traits[j].Name })
	var maxStrength float64
	for _, in := range c.TopIntents {
		maxStrength = max(maxStrength, in.Strength)
	}
	intents := make([]intentRow, len(c.TopIntents))
	for i, in := range c.TopIntents {
		intents[i] = intentRow{in, int(in.Strength/maxStrength*100 + 0.5)}
	}
	kinds := make([]kith.Kind, 0, len(c.Channels))
	for k := range c.Channels {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return c.Channels[kinds[i]].Last.After(c.Channels[kinds[j]].Last) })
	name := c.Name
	if name == "" {
		name = "Profile " + c.ID
	}
	con.render(w, r, status, "profile", v, map[string]any{
		"Title": name, "Name": name, "C": c, "ID": c.ID, "Traits": traits, "Intents": intents, "Kinds": kinds,
		"Sources": con.sourceNames(r.Context()), "Events": c.Timeline.Events, "Next": c.Timeline.NextCursor,
		"Value":       con.valuePanel(c.Profile),
		"Offers":      con.offersPanel(r.Context(), v, c.ID, r.URL.Query().Get("redeemed"), res),
		"Computed":    con.computedPanel(v, c.Profile),
		"Preferences": con.preferencesPanel(r.Context(), r, v, c.ID, prefs),
		"Erase":       con.erasePanel(v, c.ID, erase),
	})
}

func (con *Console) handleTimeline(w http.ResponseWriter, r *http.Request, v *viewer) {
	page, err := con.c.Profiles.Timeline(r.Context(), r.PathValue("id"), r.URL.Query().Get("cursor"), timelinePage)
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	con.render(w, r, http.StatusOK, "timeline", v, map[string]any{"Title": "Timeline", "ID": r.PathValue("id"),
		"Events": page.Events, "Next": page.NextCursor, "Sources": con.sourceNames(r.Context())})
}

func (con *Console) handleUndo(w http.ResponseWriter, r *http.Request, v *viewer) {
	m, err := con.c.Profiles.UndoMerge(r.Context(), r.PathValue("id"))
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/profiles/"+url.PathEscape(m.Survivor)+"?undone="+url.QueryEscape(m.ID), http.StatusSeeOther)
}

func (con *Console) handleAudit(w http.ResponseWriter, r *http.Request, v *viewer) {
	f, err := audit.ParseFilter(r.URL.Query())
	data := map[string]any{"Title": "Audit log", "Q": r.URL.Query()}
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadRequest
		data["Error"] = kith.ErrorMessage(err)
	} else {
		if f.Limit == 0 {
			f.Limit = 100
		}
		recs, err := con.c.Audit.Audit(r.Context(), f)
		if err != nil {
			con.fail(w, r, v, err)
			return
		}
		data["Records"] = recs
		if len(recs) == f.Limit {
			q := r.URL.Query()
			q.Set("before", fmt.Sprint(recs[len(recs)-1].ID))
			data["NextQuery"] = q.Encode()
		}
		q := r.URL.Query()
		q.Del("before")
		data["ExportQuery"] = q.Encode()
	}
	con.render(w, r, status, "audit", v, data)
}

func (con *Console) handleAuditExport(w http.ResponseWriter, r *http.Request, v *viewer) {
	f, err := audit.ParseFilter(r.URL.Query())
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	format := r.URL.Query().Get("format")
	if err := audit.CheckFormat(format); err != nil {
		con.fail(w, r, v, err)
		return
	}
	if err := audit.RecordExport(r.Context(), con.c.Audit, r.URL.RawQuery); err != nil {
		con.fail(w, r, v, err)
		return
	}
	w.Header().Set("Content-Type", audit.ContentType(format))
	w.Header().Set("Content-Disposition", audit.Disposition(format, time.Now()))
	if _, err := audit.Export(r.Context(), con.c.Audit, f, format, w); err != nil {
		con.log.Error("audit export failed", "err", err)
	}
}

func (con *Console) handleUsers(w http.ResponseWriter, r *http.Request, v *viewer) {
	con.usersPage(w, r, v, http.StatusOK, nil)
}

func (con *Console) usersPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, failure error) {
	users, err := con.c.Users.List(r.Context())
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	data := map[string]any{"Title": "Users", "Users": users, "Roles": kith.Roles, "Done": r.URL.Query().Get("done")}
	if failure != nil {
		data["Error"] = kith.ErrorMessage(failure)
		data["Field"] = kith.ErrorField(failure)
		data["Form"] = map[string]string{"name": r.PostFormValue("name"), "role": r.PostFormValue("role")}
	}
	con.render(w, r, status, "users", v, data)
}

// formFailed answers a refused form on its own page with the error shown,
// or with the error page for anything but bad input or a conflict.
func (con *Console) formFailed(w http.ResponseWriter, r *http.Request, v *viewer, err error, page func(int, error)) {
	switch kith.ErrorCode(err) {
	case kith.EINVALID:
		page(http.StatusBadRequest, err)
	case kith.ECONFLICT:
		page(http.StatusConflict, err)
	default:
		con.fail(w, r, v, err)
	}
}

func (con *Console) handleAddUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if _, err := con.c.Users.Add(r.Context(), name, r.PostFormValue("role"), r.PostFormValue("password")); err != nil {
		con.formFailed(w, r, v, err, func(status int, err error) { con.usersPage(w, r, v, status, err) })
		return
	}
	http.Redirect(w, r, "/users?done="+url.QueryEscape("Added "+name), http.StatusSeeOther)
}

func (con *Console) handleChangeUser(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("name")
	var err error
	var done string
	switch r.PostFormValue("action") {
	case "role":
		_, err = con.c.Users.SetRole(r.Context(), name, r.PostFormValue("role"))
		done = name + " is now " + r.PostFormValue("role")
	case "password":
		_, err = con.c.Users.SetPassword(r.Context(), name, r.PostFormValue("password"))
		done = "Changed the password of " + name
	case "disable":
		_, err = con.c.Users.Disable(r.Context(), name)
		done = "Disabled " + name
	case "enable":
		_, err = con.c.Users.Enable(r.Context(), name)
		done = "Enabled " + name
	default:
		err = kith.Invalid("action", "unknown action; use role, password, disable or enable")
	}
	if err != nil {
		con.formFailed(w, r, v, err, func(status int, err error) { con.usersPage(w, r, v, status, err) })
		return
	}
	http.Redirect(w, r, "/users?done="+url.QueryEscape(done), http.StatusSeeOther)
}

func (con *Console) keysPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, data map[string]any) {
	keys, err := con.c.Access.Keys(r.Context())
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	srcs, err := con.c.Access.Sources(r.Context())
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Title"], data["Keys"], data["Sources"], data["Scopes"], data["Kinds"] = "Keys and sources", keys, srcs, kith.Scopes, kith.Kinds
	data["Done"] = r.URL.Query().Get("done")
	con.render(w, r, status, "keys", v, data)
}

func (con *Console) handleKeys(w http.ResponseWriter, r *http.Request, v *viewer) {
	con.keysPage(w, r, v, http.StatusOK, nil)
}

func (con *Console) handleCreateKey(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	secret, k, err := con.c.Access.CreateKey(r.Context(), name, r.PostForm["scope"])
	if err != nil {
		con.formFailed(w, r, v, err, func(status int, err error) {
			con.keysPage(w, r, v, status, map[string]any{"Error": kith.ErrorMessage(err), "Field": kith.ErrorField(err)})
		})
		return
	}
	// The secret is shown this once, in this answer, and never stored.
	con.keysPage(w, r, v, http.StatusCreated, map[string]any{"NewKey": k, "Secret": secret})
}

func (con *Console) handleRevokeKey(w http.ResponseWriter, r *http.Request, v *viewer) {
	k, err := con.c.Access.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/keys?done="+url.QueryEscape("Revoked key "+k.Name), http.StatusSeeOther)
}

func (con *Console) handleCreateSource(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	src, err := con.c.Access.CreateSource(r.Context(), name, r.PostFormValue("kind"))
	if err != nil {
		con.formFailed(w, r, v, err, func(status int, err error) {
			con.keysPage(w, r, v, status, map[string]any{"Error": kith.ErrorMessage(err), "Field": kith.ErrorField(err)})
		})
		return
	}
	http.Redirect(w, r, "/keys?done="+url.QueryEscape("Created source "+src.Name), http.StatusSeeOther)
}

func (con *Console) handleRevokeSource(w http.ResponseWriter, r *http.Request, v *viewer) {
	src, err := con.c.Access.RevokeSource(r.Context(), r.PathValue("id"))
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/keys?done="+url.QueryEscape("Revoked source "+src.Name), http.StatusSeeOther)
}
