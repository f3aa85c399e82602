package http

import (
	"net/http"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/consent"
)

// handleConsentCheck is the gate: may a message of a purpose go to a
// person on a channel now, at which contact point, and why. With "at" (RFC
// 3339, not in the future) it answers as the gate would have then, to
// explain a past answer.
func (s *Server) handleConsentCheck(w http.ResponseWriter, r *http.Request) {
	var b struct {
		consent.Who
		Purpose string  `json:"purpose"`
		Channel string  `json:"channel"`
		At      *string `json:"at"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	var (
		d   *consent.Decision
		err error
	)
	if b.At == nil {
		d, err = s.consent.Check(r.Context(), b.Who, b.Purpose, b.Channel)
	} else {
		at, perr := time.Parse(time.RFC3339Nano, *b.At)
		if perr != nil {
			s.writeError(w, r, kith.Invalid("at", "not a time: use RFC 3339, e.g. 2027-03-03T12:00:00Z"))
			return
		}
		d, err = s.consent.CheckAt(r.Context(), b.Who, b.Purpose, b.Channel, at)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// handleRecordConsent records one decision ({purpose, channel, state, …})
// or several ({"consents": […]}) about the profile in the path, all or
// none: 201 with the records.
func (s *Server) handleRecordConsent(w http.ResponseWriter, r *http.Request) {
	var b struct {
		consent.Change
		Consents []consent.Change `json:"consents"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	changes := b.Consents
	if changes == nil {
		changes = []consent.Change{b.Change}
	}
	for i := range changes {
		changes[i].Who = consent.Who{Profile: r.PathValue("id")}
	}
	recs, err := s.consent.Record(r.Context(), changes...)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"consents": recs})
}

// handleConsentHistory lists every decision about a person, oldest first.
func (s *Server) handleConsentHistory(w http.ResponseWriter, r *http.Request) {
	h, err := s.consent.History(r.Context(), consent.Who{Profile: r.PathValue("id")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if h == nil {
		h = []kith.ConsentRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"consents": h})
}

// handleSetContactPoint records a contact point and its status.
func (s *Server) handleSetContactPoint(w http.ResponseWriter, r *http.Request) {
	var cp kith.ContactPoint
	if err := decodeJSON(r, &cp); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.consent.SetContactPoint(r.Context(), consent.Who{Profile: r.PathValue("id")}, cp)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleContactPoints(w http.ResponseWriter, r *http.Request) {
	cps, err := s.consent.ContactPoints(r.Context(), consent.Who{Profile: r.PathValue("id")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if cps == nil {
		cps = []kith.ContactPoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact_points": cps})
}

// handleContactPointHistory answers GET
// /v1/profiles/{id}/contact-points/history: every change of the person's
// contact points, oldest first, to explain a past answer of the gate.
func (s *Server) handleContactPointHistory(w http.ResponseWriter, r *http.Request) {
	h, err := s.consent.ContactPointHistory(r.Context(), consent.Who{Profile: r.PathValue("id")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if h == nil {
		h = []kith.ContactPoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"history": h})
}

// handleSuppress is what the inbound side of messaging calls on a hard
// bounce or a STOP reply: {"channel", "address", "kind": "hard_bounce" |
// "stop", "reason"?, "profile"?}.
func (s *Server) handleSuppress(w http.ResponseWriter, r *http.Request) {
	var b struct {
		consent.Who
		Channel string `json:"channel"`
		Address string `json:"address"`
		Kind    string `json:"kind"`
		Reason  string `json:"reason"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	cp, err := s.consent.Suppress(r.Context(), b.Who, b.Channel, b.Address, b.Kind, b.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cp)
}

// handleRelate records a relationship: {"from", "to", "kind", "household"?,
// "recipient"?}.
func (s *Server) handleRelate(w http.ResponseWriter, r *http.Request) {
	var rel kith.Relationship
	if err := decodeJSON(r, &rel); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.consent.Relate(r.Context(), rel)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleConsentCheckList checks one message against a list of profiles:
// {"profiles": [...], "purpose", "channel"} → {"decisions": [...]}, in the
// order asked, with counts.
func (s *Server) handleConsentCheckList(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Profiles []string `json:"profiles"`
		Purpose  string   `json:"purpose"`
		Channel  string   `json:"channel"`
	}
	if err := decodeJSONLimit(r, &b, 8<<20); err != nil {
		s.writeError(w, r, err)
		return
	}
	ds, err := s.consent.CheckList(r.Context(), b.Profiles, b.Purpose, b.Channel)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	allowed := 0
	for _, d := range ds {
		if d.Allowed {
			allowed++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"decisions": ds, "allowed": allowed, "refused": len(ds) - allowed})
}

// handleIssueLink signs a preference link for a person, to put in a
// message: {"channel"?, "address"?, "ttl_hours"?} → 201 with the token and
// the paths that take it.
func (s *Server) handleIssueLink(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Channel  string `json:"channel"`
		Address  string `json:"address"`
		TTLHours int    `json:"ttl_hours"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	token, l, err := s.consent.IssueLink(r.Context(), consent.Who{Profile: r.PathValue("id")}, b.Channel, b.Address, time.Duration(b.TTLHours)*time.Hour)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": token, "expires": l.Expires,
		"preferences": "/v1/consent/links/" + token, "unsubscribe": "/v1/consent/unsubscribe/" + token})
}

// handleRevokeLinks withdraws every preference link issued to a person.
func (s *Server) handleRevokeLinks(w http.ResponseWriter, r *http.Request) {
	if err := s.consent.RevokeLinks(r.Context(), consent.Who{Profile: r.PathValue("id")}); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleUnsubscribe is RFC 8058's one-click unsubscribe: a POST, with no
// login, to the link a message's List-Unsubscribe header carries (its body
// "List-Unsubscribe=One-Click", which it does not need).
func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	recs, err := s.consent.Unsubscribe(r.Context(), r.PathValue("token"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"unsubscribed": len(recs)})
}

// preferenceJSON is one switch of a preference centre: a purpose on a
// channel, whether messages go out now and why.
type preferenceJSON struct {
	Purpose string `json:"purpose"`
	Channel string `json:"channel"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

// handlePreferences is what a preference centre shows, behind a link and
// with no login: each purpose on each channel, allowed or not and why.
func (s *Server) handlePreferences(w http.ResponseWriter, r *http.Request) {
	l, err := s.consent.OpenLink(r.Context(), r.PathValue("token"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var out []preferenceJSON
	for _, p := range kith.Purposes {
		for _, ch := range kith.ContactChannels {
			d, err := s.consent.Check(r.Context(), consent.Who{Profile: l.Profile}, p, ch)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			out = append(out, preferenceJSON{Purpose: p, Channel: ch, Allowed: d.Allowed, Reason: d.Reason})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"expires": l.Expires, "preferences": out})
}

// handleSetPreference changes one switch behind a link:
// {"purpose", "channel", "state"}, recorded as the person's own decision
// through the preference centre, at once.
func (s *Server) handleSetPreference(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Purpose string `json:"purpose"`
		Channel string `json:"channel"`
		State   string `json:"state"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	recs, err := s.consent.SetPreference(r.Context(), r.PathValue("token"), b.Purpose, b.Channel, b.State)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"consents": recs})
}
