package http

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
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

func (s *Server) handleCreateAudience(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Name       string `json:"name"`
		Expression string `json:"expression"`
	}
	if err := decodeJSON(r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.audiences.Create(r.Context(), b.Name, b.Expression)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/audiences/"+a.ID)
	writeJSON(w, http.StatusCreated, a)
}

func (s *Server) handleListAudiences(w http.ResponseWriter, r *http.Request) {
	list, err := s.audiences.Audiences(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []kith.AudienceDef{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"audiences": list})
}

func (s *Server) handleGetAudience(w http.ResponseWriter, r *http.Request) {
	a, err := s.audiences.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// audienceHistory is how far back an audience's sizes go unless asked.
const audienceHistory = 30 * 24 * time.Hour

// handleAudienceSizes answers an audience's recorded sizes since a time
// (RFC 3339; by default 30 days ago), oldest first.
func (s *Server) handleAudienceSizes(w http.ResponseWriter, r *http.Request) {
	since := time.Now().Add(-audienceHistory)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.writeError(w, r, kith.Invalid("since", "since is a time such as 2026-11-01T00:00:00Z (RFC 3339)"))
			return
		}
		since = t
	}
	id := r.PathValue("id")
	sizes, err := s.audiences.History(r.Context(), id, since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if sizes == nil {
		sizes = []kith.AudienceSize{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"audience": id, "since": since.UTC(), "sizes": sizes})
}

// handleAudienceMembers pages through who matches a saved audience now.
func (s *Server) handleAudienceMembers(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, kith.Invalid("limit", "a limit is a number from 1 to 1000"))
			return
		}
		limit = n
	}
	page, err := s.audiences.Members(r.Context(), r.PathValue("id"), r.URL.Query().Get("after"), limit, profile.DisplayName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// handleAudienceExport streams every member as JSON lines or CSV.
func (s *Server) handleAudienceExport(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "jsonl"
	}
	if format != "jsonl" && format != "csv" {
		s.writeError(w, r, kith.Invalid("format", "export as jsonl or csv"))
		return
	}
	id := r.PathValue("id")
	if _, err := s.audiences.Audience(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	var each func(audience.Member) error
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		cw.Write([]string{"id", "name"})
		each = func(m audience.Member) error { return cw.Write([]string{m.ID, m.Name}) }
		defer cw.Flush()
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		each = func(m audience.Member) error { return enc.Encode(m) }
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, id, format))
	if _, err := s.audiences.Export(r.Context(), id, profile.DisplayName, each); err != nil {
		s.log.Error("audience export failed midway", "audience", id, "err", err)
	}
}
