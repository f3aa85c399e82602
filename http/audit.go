package http

import (
	"net/http"
	"time"

	"github.com/kithhq/kith/audit"
)

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	f, err := audit.ParseFilter(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	recs, err := s.audit.Audit(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]audit.Record, len(recs))
	for i, rec := range recs {
		out[i] = audit.FromRecord(rec)
	}
	var next any
	if len(recs) == f.Limit {
		next = recs[len(recs)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out, "next_before": next})
}

func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request) {
	f, err := audit.ParseFilter(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "jsonl"
	}
	if err := audit.CheckFormat(format); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := audit.RecordExport(r.Context(), s.audit, r.URL.RawQuery); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", audit.ContentType(format))
	w.Header().Set("Content-Disposition", audit.Disposition(format, time.Now()))
	if _, err := audit.Export(r.Context(), s.audit, f, format, w); err != nil {
		// The status is sent; a broken export ends short, and the log says why.
		s.log.Error("audit export failed", "err", err)
	}
}
