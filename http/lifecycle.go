package http

import "net/http"

// handleLifecycle answers where customers stand: the rules, the fitted
// models, how the last fit went, and people per stage with the changes
// between stages at each sweep.
func (s *Server) handleLifecycle(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"rules":   s.lifecycle.Rules(),
		"model":   s.lifecycle.Model(),
		"fit":     s.lifecycle.Status(),
		"history": s.lifecycle.History(),
	})
}

// handleLifecycleFit asks for the models to be fitted again (then a
// sweep) and answers 202 at once; GET /v1/lifecycle follows the fit.
func (s *Server) handleLifecycleFit(w http.ResponseWriter, r *http.Request) {
	st, err := s.lifecycle.Refit(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"fit": st, "follow": "/v1/lifecycle"})
}
