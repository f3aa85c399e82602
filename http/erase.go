package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/kithhq/kith"
)

// handleErase answers POST /v1/profiles/{id}/erase: the person the profile
// is part of is forgotten (scope admin, audited). The body is optional:
// {"reason": "ticket 2026-114"}.
func (s *Server) handleErase(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	e, err := s.erasure.Erase(r.Context(), r.PathValue("id"), req.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// handleErasure answers GET /v1/erasures/{id}.
func (s *Server) handleErasure(w http.ResponseWriter, r *http.Request) {
	e, err := s.erasure.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// handleErasures answers GET /v1/erasures?since=RFC3339&limit=N: the
// record of who was erased when, oldest first.
func (s *Server) handleErasures(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.writeError(w, r, kith.Invalid("since", "%q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", v))
			return
		}
		since = t
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, kith.Invalid("limit", "give a number from 1 to 1000"))
			return
		}
		limit = n
	}
	es, err := s.erasure.List(r.Context(), since, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if es == nil {
		es = []kith.Erasure{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"erasures": es})
}
