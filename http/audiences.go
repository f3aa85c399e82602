package http

import (
	"net/http"

	"github.com/kithhq/kith/profile"
)

// handleAudienceValidate type-checks an expression: 200 when it compiles,
// else 400 with the line, column and reason in the error's detail.
func (s *Server) handleAudienceValidate(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Expression string `json:"expression"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.audiences.Validate(b.Expression); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true})
}

// handleAudiencePreview counts who matches an expression now, with a sample.
func (s *Server) handleAudiencePreview(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Expression string `json:"expression"`
		Sample     *int   `json:"sample"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	sample := 10
	if b.Sample != nil {
		sample = min(max(*b.Sample, 0), 100)
	}
	pv, err := s.audiences.Preview(r.Context(), b.Expression, sample, profile.DisplayName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pv)
}
