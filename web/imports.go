package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/importer"
)

// importDelimiters are the delimiters the import form offers.
var importDelimiters = []struct{ Value, Name string }{
	{",", "comma ( , )"}, {";", "semicolon ( ; )"}, {"\t", "tab"}, {"|", "pipe ( | )"},
}

// importForm is what the form to start an import holds, and why it was
// refused.
type importForm struct {
	Source, Map, Delimiter string
	// Field is the field at fault: source, file, map or delimiter ("" when
	// none is); Error says why.
	Field, Error string
}

// importFields are the form's fields; an error about none of them is shown
// above the form.
var importFields = []string{"source", "file", "map", "delimiter"}

// importListed is an import job as the console shows it.
type importListed struct {
	importer.JobStatus
	Running bool
	Percent int    // of the file read, while running
	Rows    int    // data rows read so far, or in all once done
	Read    string // how far it is, in words
	Took    time.Duration
}

func listedImport(st importer.JobStatus) importListed {
	l := importListed{JobStatus: st, Running: st.Status == importer.JobRunning}
	p := st.Progress
	if p.TotalBytes > 0 {
		l.Percent = int(p.Bytes * 100 / p.TotalBytes)
	}
	if st.FinishedAt != nil {
		l.Took = st.FinishedAt.Sub(st.CreatedAt)
	}
	l.Rows = p.Rows
	if st.Summary != nil {
		l.Rows = st.Summary.Rows
	}
	l.Read = count(p.Rows) + " " + pluralWord(p.Rows, "row") + " read"
	if p.Rejected > 0 {
		l.Read += ", " + count(p.Rejected) + " rejected"
	}
	return l
}

// handleImports lists this node's imports with the form to start one.
func (con *Console) handleImports(w http.ResponseWriter, r *http.Request, v *viewer) {
	con.importsPage(w, r, v, http.StatusOK, importForm{Delimiter: ","})
}

func (con *Console) importsPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, f importForm) {
	srcs, err := con.c.Access.Sources(r.Context())
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	active := srcs[:0:0]
	for _, s := range srcs {
		if !s.Revoked() {
			active = append(active, s)
		}
	}
	jobs := con.c.Imports.List()
	rows := make([]importListed, len(jobs))
	for i, j := range jobs {
		rows[i] = listedImport(j)
	}
	other := ""
	if f.Error != "" && !slices.Contains(importFields, f.Field) {
		other = f.Error
	}
	con.render(w, r, status, "imports", v, map[string]any{"Title": "Imports", "Jobs": rows, "Sources": active,
		"Form": f, "Other": other, "Delimiters": importDelimiters, "Types": con.c.Imports.IdentifierTypes()})
}

// importProgress is a job's progress as the imports page's script reads
// it from /imports.json.
type importProgress struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Percent int    `json:"percent"`
	Rows    int    `json:"rows"`
}

// handleImportsJSON answers the jobs' progress, so that the list follows
// the running ones without drawing the page (and its form) again.
func (con *Console) handleImportsJSON(w http.ResponseWriter, r *http.Request, v *viewer) {
	jobs := con.c.Imports.List()
	out := make([]importProgress, len(jobs))
	for i, j := range jobs {
		l := listedImport(j)
		out[i] = importProgress{ID: j.ID, Status: j.Status, Percent: l.Percent, Rows: l.Rows}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// handleStartImport is the form's Import button: the file is checked as a
// whole and imported in the background, and the job's page follows it; or
// the form is drawn again, with what was chosen, and why not by the field
// at fault (400; 413 for a file too large).
func (con *Console) handleStartImport(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := importForm{Source: r.PostFormValue("source"), Map: r.PostFormValue("map"), Delimiter: r.PostFormValue("delimiter")}
	st, err := con.startImport(r, f)
	if err == nil {
		http.Redirect(w, r, "/imports/"+st.ID, http.StatusSeeOther)
		return
	}
	status, ok := map[string]int{kith.EINVALID: http.StatusBadRequest, kith.ETOOLARGE: http.StatusRequestEntityTooLarge}[kith.ErrorCode(err)]
	if !ok {
		con.fail(w, r, v, err)
		return
	}
	f.Field, f.Error = kith.ErrorField(err), kith.ErrorMessage(err)
	if strings.HasPrefix(f.Field, "map[") { // one line of the mapping: its message quotes it
		f.Field = "map"
	}
	con.importsPage(w, r, v, status, f)
}

// startImport checks the form and starts its import.
func (con *Console) startImport(r *http.Request, f importForm) (importer.JobStatus, error) {
	var opt importer.Options
	if f.Source == "" {
		return importer.JobStatus{}, kith.Invalid("source", "choose the source the records come from")
	}
	srcs, err := con.c.Access.Sources(r.Context())
	if err != nil {
		return importer.JobStatus{}, err
	}
	for i := range srcs {
		if srcs[i].Name == f.Source {
			opt.Source = &srcs[i]
		}
	}
	if opt.Source == nil {
		return importer.JobStatus{}, kith.Invalid("source", "no source is named %q", f.Source)
	}
	switch f.Delimiter {
	case ",", ";", "\t", "|":
		opt.Delimiter = rune(f.Delimiter[0])
	default:
		return importer.JobStatus{}, kith.Invalid("delimiter", "choose comma, semicolon, tab or pipe")
	}
	var specs []string
	for line := range strings.Lines(f.Map) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			specs = append(specs, line)
		}
	}
	if opt.Mapping, err = con.c.Imports.ParseMapping(specs); err != nil {
		return importer.JobStatus{}, err
	}
	file, hdr, err := r.FormFile("file")
	if errors.Is(err, http.ErrMissingFile) {
		return importer.JobStatus{}, kith.Invalid("file", "choose a CSV file to import")
	}
	if err != nil {
		return importer.JobStatus{}, kith.Invalid("file", "reading the upload: %v", err)
	}
	defer file.Close()
	opt.File = hdr.Filename
	return con.c.Imports.Start(r.Context(), io.Reader(file), opt)
}

// handleImport shows one import: its progress while it runs, then its
// summary and rejected rows.
func (con *Console) handleImport(w http.ResponseWriter, r *http.Request, v *viewer) {
	st, err := con.c.Imports.Status(r.PathValue("id"))
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	con.render(w, r, http.StatusOK, "import", v, map[string]any{"Title": "Import " + st.ID, "Job": listedImport(st)})
}

// handleImportRejects sends a finished import's rejected rows as CSV
// (line, reason).
func (con *Console) handleImportRejects(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	rc, err := con.c.Imports.Rejects(id)
	if err != nil {
		con.fail(w, r, v, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.rejects.csv"`)
	if _, err := io.Copy(w, rc); err != nil {
		con.log.Warn("send import rejects", "err", err)
	}
}
