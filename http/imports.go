package http

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"unicode/utf8"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/importer"
)

// handleStartImport starts an import job: POST /v1/imports with the CSV
// as the body (parameters in the query) or as multipart/form-data (the
// fields source, map and delimiter before the part named file). It answers
// 202 with the job; a file that cannot be imported as a whole is refused
// with 400 before anything is written.
func (s *Server) handleStartImport(w http.ResponseWriter, r *http.Request) {
	params := importParams{values: r.URL.Query()}
	body := io.Reader(r.Body)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			s.writeError(w, r, kith.Invalid("", "malformed multipart body: %v", err))
			return
		}
		part, name, err := params.readFields(mr)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer part.Close()
		body = part
		if params.get("file") == "" {
			params.set("file", name)
		}
	}
	opt, err := s.importOptions(r, params)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.imports.Start(r.Context(), body, opt)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/imports/"+st.ID)
	writeJSON(w, http.StatusAccepted, st)
}

// importParams are an import's parameters, from the query string and
// multipart fields.
type importParams struct {
	values map[string][]string
}

func (p *importParams) get(k string) string {
	if v := p.values[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (p *importParams) set(k, v string) { p.values[k] = []string{v} }

// readFields reads form fields up to the part named file, which it returns.
func (p *importParams) readFields(mr *multipart.Reader) (*multipart.Part, string, error) {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, "", kith.Invalid("file", "the multipart body has no part named file")
		}
		if err != nil {
			return nil, "", kith.Invalid("", "malformed multipart body: %v", err)
		}
		name := part.FormName()
		if name == "file" {
			return part, path.Base(part.FileName()), nil
		}
		b, err := io.ReadAll(io.LimitReader(part, 64*1024))
		part.Close()
		if err != nil {
			return nil, "", kith.Invalid(name, "malformed multipart field: %v", err)
		}
		p.values[name] = append(p.values[name], string(b))
	}
}

// importOptions checks the source, mapping and delimiter of an import.
func (s *Server) importOptions(r *http.Request, p importParams) (importer.Options, error) {
	var opt importer.Options
	name := p.get("source")
	if name == "" {
		return opt, kith.Invalid("source", "name the source the records come from, e.g. ?source=crm")
	}
	srcs, err := s.access.Sources(r.Context())
	if err != nil {
		return opt, err
	}
	for i := range srcs {
		if srcs[i].Name == name || srcs[i].ID == name {
			opt.Source = &srcs[i]
		}
	}
	if opt.Source == nil {
		return opt, kith.Invalid("source", "no source is named %q; create it with POST /v1/sources", name)
	}
	if opt.Source.Revoked() {
		return opt, kith.Invalid("source", "source %q is revoked", name)
	}
	if opt.Mapping, err = s.imports.ParseMapping(p.values["map"]); err != nil {
		return opt, err
	}
	opt.Delimiter = ','
	if d := p.get("delimiter"); d != "" {
		if d == `\t` || d == "tab" {
			d = "\t"
		}
		r, n := utf8.DecodeRuneInString(d)
		if n != len(d) || r == '"' || r == '\n' || r == '\r' || r == utf8.RuneError {
			return opt, kith.Invalid("delimiter", "use one character such as , ; | or \\t")
		}
		opt.Delimiter = r
	}
	opt.File = p.get("file")
	return opt, nil
}

// handleImports answers GET /v1/imports: the jobs this node remembers,
// the newest first.
func (s *Server) handleImports(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"imports": s.imports.List()})
}

// handleImport answers GET /v1/imports/{id}: the job's status, progress
// and, when done, its summary.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	st, err := s.imports.Status(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleImportRejects answers GET /v1/imports/{id}/rejects: the rejected
// rows as CSV (line, reason).
func (s *Server) handleImportRejects(w http.ResponseWriter, r *http.Request) {
	rc, err := s.imports.Rejects(r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+r.PathValue("id")+`.rejects.csv"`)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("send import rejects", "err", err)
	}
}
