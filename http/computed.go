package http

import (
	"net/http"

	"github.com/kithhq/kith"
)

// handleCreateComputed defines a computed trait: 202 with the definition,
// its backfill over past events following in GET /v1/computed-traits/{name}.
func (s *Server) handleCreateComputed(w http.ResponseWriter, r *http.Request) {
	var b kith.ComputedTraitDef
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.computed.Create(r.Context(), kith.ComputedTraitDef{Name: b.Name, Function: b.Function, Event: b.Event,
		Property: b.Property, Window: b.Window})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.computed.Get(d.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/computed-traits/"+d.Name)
	writeJSON(w, http.StatusAccepted, t)
}

func (s *Server) handleListComputed(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"computed_traits": s.computed.List()})
}

func (s *Server) handleGetComputed(w http.ResponseWriter, r *http.Request) {
	t, err := s.computed.Get(r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
