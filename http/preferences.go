package http

import (
	"html/template"
	"net/http"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/consent"
)

// The preference centre: the page a person reaches from the link in a
// message, with no login, to see and change what Kith may send them. It
// works without JavaScript: each switch is a small form.

var purposeNames = map[string]string{
	kith.PurposeMarketing: "Offers and news",
	kith.PurposeService:   "About your orders and account",
	kith.PurposeAlerts:    "Security and service alerts",
}

var channelNames = map[string]string{
	kith.ContactEmail: "E-mail", kith.ContactSMS: "Text messages", kith.ContactPush: "App notifications",
	kith.ContactPhone: "Phone calls", kith.ContactPost: "Post", kith.ContactChat: "Chat",
}

type prefSwitch struct {
	Purpose, Channel, Name string
	On                     bool
	Reason                 string
}

type prefSection struct {
	Name     string
	Switches []prefSwitch
}

type prefPage struct {
	Token    string
	Sections []prefSection
	Saved    bool
	Problem  string
	Minor    bool
}

var prefTemplate = template.Must(template.New("prefs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your preferences</title><link rel="icon" href="data:,">
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:40rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .25rem}
section{background:#fff;border:1px solid #dde1e8;border-radius:.5rem;margin:1rem 0;padding:.5rem 1rem}
h2{font-size:1.1rem;margin:.5rem 0}
.row{display:flex;align-items:center;justify-content:space-between;padding:.5rem 0;border-top:1px solid #eef0f4}
.row:first-of-type{border-top:0}
.why{color:#5b6475;font-size:.85rem}
button{font:inherit;border-radius:1rem;padding:.25rem .9rem;border:1px solid #8a94a6;background:#fff;cursor:pointer;min-width:6rem}
button[aria-pressed=true]{background:#1f6f43;border-color:#1f6f43;color:#fff}
.note{background:#e8f4ec;border:1px solid #b7dcc3;padding:.5rem 1rem;border-radius:.5rem}
.problem{background:#fdecea;border:1px solid #f3b8b1;padding:.5rem 1rem;border-radius:.5rem}
</style></head><body><main>
<h1>Your preferences</h1>
<p>Choose what we may send you and how. Changes apply at once, on every channel.</p>
{{if .Saved}}<p class="note" role="status">Saved.</p>{{end}}
{{if .Problem}}<p class="problem" role="alert">{{.Problem}}</p>{{end}}
{{if .Minor}}<p class="note">Offers and news are never sent to people under the age of majority.</p>{{end}}
{{range .Sections}}<section aria-labelledby="s-{{(index .Switches 0).Purpose}}">
<h2 id="s-{{(index .Switches 0).Purpose}}">{{.Name}}</h2>
{{range .Switches}}<form class="row" method="post" action="/preferences/{{$.Token}}">
<div><div>{{.Name}}</div><div class="why">{{.Reason}}</div></div>
<input type="hidden" name="purpose" value="{{.Purpose}}"><input type="hidden" name="channel" value="{{.Channel}}">
<input type="hidden" name="state" value="{{if .On}}opted_out{{else}}opted_in{{end}}">
<button type="submit" aria-pressed="{{.On}}" aria-label="{{.Name}}: {{if .On}}on, turn off{{else}}off, turn on{{end}}" data-switch="{{.Purpose}}/{{.Channel}}">{{if .On}}On{{else}}Off{{end}}</button>
</form>{{end}}
</section>{{end}}
</main></body></html>`))

var prefRefused = template.Must(template.New("refused").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>This link no longer works</title><link rel="icon" href="data:,"><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}</style>
</head><body><h1>This link no longer works</h1><p role="alert">{{.}}</p></body></html>`))

// handlePreferencePage shows the person's switches behind a link.
func (s *Server) handlePreferencePage(w http.ResponseWriter, r *http.Request) {
	s.preferencePage(w, r, http.StatusOK, r.URL.Query().Get("saved") == "1", "")
}

func (s *Server) preferencePage(w http.ResponseWriter, r *http.Request, status int, saved bool, problem string) {
	token := r.PathValue("token")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the link is a secret
	l, err := s.consent.OpenLink(r.Context(), token)
	if err != nil {
		if kith.IsCode(err, kith.EFORBIDDEN) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			prefRefused.Execute(w, kith.ErrorMessage(err))
			return
		}
		s.writeError(w, r, err)
		return
	}
	page := prefPage{Token: token, Saved: saved, Problem: problem}
	for _, p := range kith.Purposes {
		sec := prefSection{Name: purposeNames[p]}
		for _, ch := range kith.ContactChannels {
			d, err := s.consent.Check(r.Context(), consent.Who{Profile: l.Profile}, p, ch)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			page.Minor = page.Minor || d.Minor && p == kith.PurposeMarketing
			sec.Switches = append(sec.Switches, prefSwitch{Purpose: p, Channel: ch, Name: channelNames[ch], On: d.Allowed, Reason: d.Reason})
		}
		page.Sections = append(page.Sections, sec)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	prefTemplate.Execute(w, page)
}

// handlePreferenceSave records one switch and shows the page again.
func (s *Server) handlePreferenceSave(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		s.preferencePage(w, r, http.StatusBadRequest, false, "That change could not be read; please try again.")
		return
	}
	_, err := s.consent.SetPreference(r.Context(), r.PathValue("token"), r.PostForm.Get("purpose"), r.PostForm.Get("channel"), r.PostForm.Get("state"))
	if err != nil {
		if kith.IsCode(err, kith.EINVALID) {
			s.preferencePage(w, r, http.StatusBadRequest, false, "That change was not saved: "+kith.ErrorMessage(err))
			return
		}
		s.preferencePage(w, r, http.StatusForbidden, false, "")
		return
	}
	http.Redirect(w, r, "/preferences/"+r.PathValue("token")+"?saved=1", http.StatusSeeOther)
}
