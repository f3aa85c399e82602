package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/offer"
)

// offerBody is an offer as the API takes it. PerPerson is a pointer so
// that leaving it out means one per person, not no limit.
type offerBody struct {
	Code         string                    `json:"code"`
	Version      int                       `json:"version"`
	Name         string                    `json:"name"`
	Description  string                    `json:"description"`
	Terms        kith.Terms                `json:"terms"`
	Status       kith.OfferStatus          `json:"status"`
	ValidFrom    time.Time                 `json:"valid_from"`
	ValidUntil   time.Time                 `json:"valid_until"`
	GrantDays    int                       `json:"grant_days"`
	GrantBudget  int                       `json:"grant_budget"`
	RedeemBudget int                       `json:"redeem_budget"`
	PerPerson    *int                      `json:"per_person"`
	Eligibility  []kith.Condition          `json:"eligibility"`
	Channels     []kith.Kind               `json:"channels"`
	Honour       map[kith.Kind]kith.Honour `json:"honour"`
	Withdrawal   kith.Withdrawal           `json:"withdrawal"`
}

func (b offerBody) offer() kith.Offer {
	o := kith.Offer{Code: b.Code, Version: b.Version, Name: b.Name, Description: b.Description, Terms: b.Terms, Status: b.Status,
		ValidFrom: b.ValidFrom, ValidUntil: b.ValidUntil, GrantDays: b.GrantDays, GrantBudget: b.GrantBudget,
		RedeemBudget: b.RedeemBudget, PerPerson: 1, Eligibility: b.Eligibility, Channels: b.Channels, Honour: b.Honour,
		Withdrawal: b.Withdrawal}
	if b.PerPerson != nil {
		o.PerPerson = *b.PerPerson
	}
	return o
}

func (s *Server) handleCreateOffer(w http.ResponseWriter, r *http.Request) {
	var b offerBody
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.offers.Create(r.Context(), b.offer())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/offers/"+o.Code)
	writeJSON(w, http.StatusCreated, o)
}

func (s *Server) handleUpdateOffer(w http.ResponseWriter, r *http.Request) {
	var b offerBody
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.offers.Update(r.Context(), r.PathValue("code"), b.offer())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) handleOfferStatus(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Status kith.OfferStatus `json:"status"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.offers.SetStatus(r.Context(), r.PathValue("code"), b.Status)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) handleListOffers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	all := q.Get("all") == "true" || q.Get("all") == "1"
	list, err := s.offers.List(r.Context(), q.Get("q"), all)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []kith.Offer{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"offers": list})
}

func (s *Server) handleGetOffer(w http.ResponseWriter, r *http.Request) {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, r, kith.Invalid("version", "a version is a number from 1"))
			return
		}
		version = n
	}
	o, err := s.offers.Offer(r.Context(), r.PathValue("code"), version)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// personBody names a person: by profile id, an identifier object, or one
// of the shorthand identifier fields.
type personBody struct {
	Profile    string           `json:"profile"`
	Identifier *kith.Identifier `json:"identifier"`
	Email      string           `json:"email"`
	Phone      string           `json:"phone"`
	UserID     string           `json:"user_id"`
}

func (p personBody) target() offer.Target {
	t := offer.Target{Profile: p.Profile}
	switch {
	case p.Identifier != nil:
		t.Identifier = *p.Identifier
	case p.Email != "":
		t.Identifier = kith.Identifier{Type: kith.IDEmail, Value: p.Email}
	case p.Phone != "":
		t.Identifier = kith.Identifier{Type: kith.IDPhone, Value: p.Phone}
	case p.UserID != "":
		t.Identifier = kith.Identifier{Type: kith.IDUserID, Value: p.UserID}
	}
	return t
}

func (s *Server) handleGrant(w http.ResponseWriter, r *http.Request) {
	var b struct {
		personBody
		Offer     string    `json:"offer"`
		Channel   kith.Kind `json:"channel"`
		Campaign  string    `json:"campaign"`
		Message   string    `json:"message"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, err := s.offers.Grant(r.Context(), offer.GrantRequest{Offer: b.Offer, Target: b.target(), Channel: b.Channel, Campaign: b.Campaign,
		Message: b.Message, ExpiresAt: b.ExpiresAt, IdempotencyKey: idempotencyKey(r)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/grants/"+g.ID)
	writeJSON(w, http.StatusCreated, g)
}

// idempotencyKey is the request's Idempotency-Key, scoped to the API key
// that sent it so two clients' keys never collide.
func idempotencyKey(r *http.Request) string {
	k := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if k == "" {
		return ""
	}
	if a, ok := kith.ActorFrom(r.Context()); ok {
		return a.String() + "/" + k
	}
	return k
}

func (s *Server) handleGrantMany(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Profiles    []string          `json:"profiles"`
		Identifiers []kith.Identifier `json:"identifiers"`
		Channel     kith.Kind         `json:"channel"`
		Campaign    string            `json:"campaign"`
		Message     string            `json:"message"`
	}
	if err := decodeJSONLimit(r, &b, 64<<20); err != nil {
		s.writeError(w, r, err)
		return
	}
	targets := make([]offer.Target, 0, len(b.Profiles)+len(b.Identifiers))
	for _, p := range b.Profiles {
		targets = append(targets, offer.Target{Profile: p})
	}
	for _, id := range b.Identifiers {
		targets = append(targets, offer.Target{Identifier: id})
	}
	if len(targets) == 0 {
		s.writeError(w, r, kith.Invalid("profiles", "name the people: profiles (ids) or identifiers"))
		return
	}
	res, err := s.offers.GrantMany(r.Context(), offer.GrantRequest{Offer: r.PathValue("code"), Channel: b.Channel, Campaign: b.Campaign, Message: b.Message}, targets, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleHeld(w http.ResponseWriter, r *http.Request) {
	t := offer.Target{Profile: r.PathValue("id")}
	if t.Profile == "" {
		q := r.URL.Query()
		if c := q.Get("code"); c != "" {
			g, err := s.offers.GrantOf(r.Context(), "", c)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"profile": g.ProfileID, "grants": []*offer.View{g}})
			return
		}
		t.Profile = q.Get("profile")
		t.Identifier = kith.Identifier{Type: q.Get("type"), Value: q.Get("value")}
		if t.Profile == "" && t.Identifier.Type == "" {
			s.writeError(w, r, kith.Invalid("profile", "ask by profile, by type and value of an identifier, or by code"))
			return
		}
	}
	who, views, err := s.offers.Held(r.Context(), t)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.URL.Query().Get("state") == "held" {
		kept := views[:0]
		for _, v := range views {
			if v.State == kith.GrantHeld {
				kept = append(kept, v)
			}
		}
		views = kept
	}
	if views == nil {
		views = []offer.View{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"profile": who, "grants": views})
}

func (s *Server) handleGetGrant(w http.ResponseWriter, r *http.Request) {
	g, err := s.offers.GrantOf(r.Context(), r.PathValue("id"), "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

type redeemBody struct {
	Code     string    `json:"code"`
	Channel  kith.Kind `json:"channel"`
	Actor    string    `json:"actor"`
	Location string    `json:"location"`
}

func (s *Server) handleRedeem(w http.ResponseWriter, r *http.Request) {
	var b redeemBody
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if id != "" && b.Code != "" {
		s.writeError(w, r, kith.Invalid("code", "the grant is named by the path; leave code out"))
		return
	}
	g, err := s.offers.Redeem(r.Context(), offer.RedeemRequest{GrantID: id, Code: b.Code, Channel: b.Channel, Actor: b.Actor,
		Location: b.Location, IdempotencyKey: idempotencyKey(r)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) handleVoid(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Channel kith.Kind `json:"channel"`
		Actor   string    `json:"actor"`
		Reason  string    `json:"reason"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, err := s.offers.Void(r.Context(), offer.VoidRequest{GrantID: r.PathValue("id"), Channel: b.Channel, Actor: b.Actor, Reason: b.Reason})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}
