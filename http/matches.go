package http

import (
	"net/http"
	"strconv"

	"github.com/kithhq/kith"
)

var matchStatuses = map[string]bool{"": true, kith.MatchPending: true, kith.MatchMerged: true, kith.MatchRejected: true,
	kith.MatchUndone: true, kith.MatchRefused: true}

// handleMatches lists the matcher's pairs: the review queue by default.
func (s *Server) handleMatches(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := q.Get("status")
	if !q.Has("status") {
		status = kith.MatchPending
	}
	if status == "all" {
		status = ""
	}
	if !matchStatuses[status] {
		s.writeError(w, r, kith.Invalid("status", "unknown status %q; use pending, merged, rejected, undone, refused or all", status))
		return
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, kith.Invalid("limit", "a limit is a number from 1 to 1000"))
			return
		}
		limit = n
	}
	pairs, err := s.matching.Pairs(r.Context(), status, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pairs == nil {
		pairs = []kith.MatchPair{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"pairs": pairs})
}

func (s *Server) handleMatch(w http.ResponseWriter, r *http.Request) {
	p, err := s.matching.Pair(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleMatchDecision(w http.ResponseWriter, r *http.Request) {
	var p *kith.MatchPair
	var err error
	switch r.PathValue("decision") {
	case "accept":
		p, err = s.matching.Accept(r.Context(), r.PathValue("id"))
	case "reject":
		p, err = s.matching.Reject(r.Context(), r.PathValue("id"))
	default:
		err = kith.Errorf(kith.ENOTFOUND, "a pair is accepted or rejected: POST /v1/matches/{id}/accept or /reject")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
