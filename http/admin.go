package http

import (
	"net/http"
	"time"

	"github.com/kithhq/kith"
)

// sourceJSON is a source as the API shows it.
type sourceJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	WriteKey  string     `json:"writeKey"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

func toSourceJSON(s *kith.Source) sourceJSON {
	out := sourceJSON{ID: s.ID, Name: s.Name, Kind: string(s.Kind), WriteKey: s.WriteKey, CreatedAt: s.CreatedAt}
	if s.Revoked() {
		t := s.RevokedAt
		out.RevokedAt = &t
	}
	return out
}

// keyJSON is an API key as the API shows it; Secret only on creation.
type keyJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	Hint      string     `json:"hint,omitempty"`
	Secret    string     `json:"secret,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

func toKeyJSON(k *kith.APIKey) keyJSON {
	out := keyJSON{ID: k.ID, Name: k.Name, Hint: k.Hint, CreatedAt: k.CreatedAt, Scopes: []string{}}
	for _, s := range k.Scopes {
		out.Scopes = append(out.Scopes, string(s))
	}
	if k.Revoked() {
		t := k.RevokedAt
		out.RevokedAt = &t
	}
	return out
}

func (s *Server) handleListSources(w http.ResponseWriter, r *http.Request) {
	srcs, err := s.access.Sources(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]sourceJSON, len(srcs))
	for i := range srcs {
		out[i] = toSourceJSON(&srcs[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": out})
}

func (s *Server) handleCreateSource(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	src, err := s.access.CreateSource(r.Context(), in.Name, in.Kind)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toSourceJSON(src))
}

func (s *Server) handleRevokeSource(w http.ResponseWriter, r *http.Request) {
	src, err := s.access.RevokeSource(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSourceJSON(src))
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.access.Keys(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]keyJSON, len(keys))
	for i := range keys {
		out[i] = toKeyJSON(&keys[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	secret, k, err := s.access.CreateKey(r.Context(), in.Name, in.Scopes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := toKeyJSON(k)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.access.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toKeyJSON(k))
}
