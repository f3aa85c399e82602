package web

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/importer"
)

// newImportsEnv is a console with imports into a source named crm, of
// files of at most maxBytes.
func newImportsEnv(t *testing.T, maxBytes int64) (*consoleEnv, *importer.Jobs) {
	t.Helper()
	e := newConsoleEnv(t, false)
	if _, err := e.con.c.Access.CreateSource(t.Context(), "crm", "call_center"); err != nil {
		t.Fatal(err)
	}
	svc := importer.New(e.db, identity.DefaultConfig(), nil, nil)
	svc.RecordTo(e.db)
	jobs := importer.NewJobs(svc, t.TempDir(), maxBytes)
	t.Cleanup(jobs.Close)
	cfg := e.con.c
	cfg.Imports = jobs
	var err error
	if e.con, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e, jobs
}

// upload posts the import form as role: fields, then the file (none when
// name is "").
func (e *consoleEnv) upload(role kith.Role, fields map[string]string, name, content string) (int, string, string) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if _, ok := fields["csrf"]; !ok {
		mw.WriteField("csrf", e.session[role].CSRF)
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if name != "" {
		fw, _ := mw.CreateFormFile("file", name)
		io.WriteString(fw, content)
	}
	mw.Close()
	r := httptest.NewRequest("POST", "http://kith.example/imports", &buf)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.secret[role]})
	w := httptest.NewRecorder()
	e.con.ServeHTTP(w, r)
	return w.Code, w.Header().Get("Location"), html.UnescapeString(w.Body.String())
}

// waitImport waits until the job is no longer running.
func waitImport(t *testing.T, jobs *importer.Jobs, id string) importer.JobStatus {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := jobs.Status(id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != importer.JobRunning {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s still running after 10 s: %+v", id, st.Progress)
		}
	}
}

func TestImportsPageByRole(t *testing.T) {
	e, _ := newImportsEnv(t, 1<<20)
	status, _, body := e.do(kith.RoleAdmin, "GET", "/imports", nil)
	if status != http.StatusOK || !strings.Contains(body, `id="start-import"`) || !strings.Contains(body, "No imports on this server") ||
		!strings.Contains(body, `<option value="crm">crm (`) || !strings.Contains(body, `data-types="user_id `) {
		t.Fatalf("admin: %d\n%s", status, body)
	}
	if !strings.Contains(body, `<a href="/imports" aria-current="page">Imports</a>`) {
		t.Error("the admin's navigation has no current Imports link")
	}
	for _, r := range []kith.Role{kith.RoleAgent, kith.RoleMarketer, kith.RoleAnalyst} {
		if status, _, body := e.do(r, "GET", "/imports", nil); status != http.StatusForbidden || !strings.Contains(body, "imports:run") {
			t.Errorf("%s: GET /imports answered %d, want 403 naming imports:run", r, status)
		}
		if _, _, body := e.do(r, "GET", "/", nil); strings.Contains(body, `href="/imports"`) {
			t.Errorf("%s sees a link to the imports page", r)
		}
		if status, _, _ := e.upload(r, map[string]string{"source": "crm", "map": "Email=identifier:email", "delimiter": ","},
			"crm.csv", "Email\nann@example.com\n"); status != http.StatusForbidden {
			t.Errorf("%s: POST /imports answered %d, want 403", r, status)
		}
	}
	if n, _ := e.db.CountEvents(t.Context()); n != 0 {
		t.Errorf("refused imports wrote %d events", n)
	}
	// Without imports configured there is no page and no link.
	plain := newConsoleEnv(t, false)
	if status, _, _ := plain.do(kith.RoleAdmin, "GET", "/imports", nil); status != http.StatusNotFound {
		t.Errorf("no imports: GET /imports answered %d, want 404", status)
	}
	if _, _, body := plain.do(kith.RoleAdmin, "GET", "/", nil); strings.Contains(body, `href="/imports"`) {
		t.Error("no imports: the navigation links to them")
	}
}

func TestImportFromConsole(t *testing.T) {
	e, jobs := newImportsEnv(t, 1<<20)
	csv := "Email,Phone,First name\r\nann@example.com,+14155550101,Ann\r\nnot-an-address,,Bob\r\ncy@example.com,,Cy\r\n"
	status, loc, body := e.upload(kith.RoleAdmin, map[string]string{"source": "crm", "delimiter": ",",
		"map": "# the CRM's export\nEmail=identifier:email\n\nPhone=identifier:phone\nFirst name=trait:first_name\n"}, "crm export.csv", csv)
	id := strings.TrimPrefix(loc, "/imports/")
	if status != http.StatusSeeOther || !strings.HasPrefix(id, "imp_") {
		t.Fatalf("POST /imports: %d %q\n%s", status, loc, body)
	}
	st := waitImport(t, jobs, id)
	if st.Status != importer.JobDone || st.Summary.Rows != 3 || st.Summary.Appended != 2 || st.Summary.Rejected != 1 || st.File != "crm export.csv" {
		t.Fatalf("job %+v, summary %+v", st, st.Summary)
	}
	status, _, body = e.do(kith.RoleAdmin, "GET", loc, nil)
	for _, want := range []string{"Import of crm export.csv", `data-testid="import-done"`, `data-testid="sum-rows">3<`,
		`data-testid="sum-appended">2<`, `data-testid="sum-rejected">1<`, `href="/imports/` + id + `/rejects"`,
		"<code>Email=identifier:email</code> · <code>Phone=identifier:phone</code> · <code>First name=trait:first_name</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	if status != http.StatusOK || strings.Contains(body, "data-refresh") {
		t.Errorf("job page: %d, refreshing when done: %v", status, strings.Contains(body, "data-refresh"))
	}
	status, _, body = e.do(kith.RoleAdmin, "GET", loc+"/rejects", nil)
	if want := "line,reason\n3,\"column \"\"Email\"\": \"\"not-an-address\"\" is not a valid email: not an e-mail address\"\n"; status != http.StatusOK || body != want {
		t.Errorf("rejects: %d %q, want %q", status, body, want)
	}
	if status, _, _ := e.do(kith.RoleAgent, "GET", loc+"/rejects", nil); status != http.StatusForbidden {
		t.Errorf("an agent reads the rejects: %d", status)
	}
	_, _, body = e.do(kith.RoleAdmin, "GET", "/imports", nil)
	if !regexp.MustCompile(`(?s)<tr data-import="` + id + `">.*crm export\.csv.*crm.*done.*>3<`).MatchString(body) {
		t.Errorf("the list does not show the import:\n%s", body)
	}
	status, _, body = e.do(kith.RoleAdmin, "GET", "/imports.json", nil)
	var progress []importProgress
	if err := json.Unmarshal([]byte(body), &progress); status != http.StatusOK || err != nil ||
		!slices.Equal(progress, []importProgress{{ID: id, Status: importer.JobDone, Percent: 100, Rows: 3}}) {
		t.Errorf("GET /imports.json: %d %s (%v)", status, body, err)
	}
	if status, _, _ := e.do(kith.RoleMarketer, "GET", "/imports.json", nil); status != http.StatusForbidden {
		t.Errorf("a marketer reads /imports.json: %d", status)
	}
	if n, _ := e.db.CountEvents(t.Context()); n != 2 {
		t.Errorf("%d events in the log, want 2", n)
	}
	recs, err := e.db.Audit(t.Context(), kith.AuditFilter{Action: importer.AuditImport})
	if err != nil || len(recs) != 1 || recs[0].Actor.Name != "user-admin" || !strings.Contains(recs[0].Detail, "crm export.csv") {
		t.Errorf("audit: %+v %v", recs, err)
	}
	// The same file again: nothing new.
	_, loc, _ = e.upload(kith.RoleAdmin, map[string]string{"source": "crm", "delimiter": ",",
		"map": "Email=identifier:email\nPhone=identifier:phone\nFirst name=trait:first_name"}, "crm export.csv", csv)
	if st := waitImport(t, jobs, strings.TrimPrefix(loc, "/imports/")); st.Summary == nil || st.Summary.Appended != 0 || st.Summary.Duplicates != 2 {
		t.Errorf("again: %+v", st.Summary)
	}
	if status, _, _ := e.do(kith.RoleAdmin, "GET", "/imports/imp_nope", nil); status != http.StatusNotFound {
		t.Errorf("an unknown job: %d, want 404", status)
	}
}

func TestImportFromConsoleRefused(t *testing.T) {
	e, _ := newImportsEnv(t, 1<<20)
	ok := map[string]string{"source": "crm", "delimiter": ",", "map": "Email=identifier:email\nName=trait:name"}
	with := func(k, v string) map[string]string {
		f := map[string]string{}
		for a, b := range ok {
			f[a] = b
		}
		f[k] = v
		return f
	}
	file := "Email,Name\nann@example.com,Ann\n"
	for _, c := range []struct {
		name    string
		fields  map[string]string
		file    string
		content string
		status  int
		field   string // the field whose error the form shows; "" for above it
		message string
	}{
		{"no source", with("source", ""), "a.csv", file, 400, "source", "Choose the source the records come from"},
		{"unknown source", with("source", "shop2"), "a.csv", file, 400, "source", `No source is named "shop2"`},
		{"odd delimiter", with("delimiter", "x"), "a.csv", file, 400, "delimiter", "Choose comma, semicolon, tab or pipe"},
		{"no mapping", with("map", " \n"), "a.csv", file, 400, "map", "No columns are mapped"},
		{"unknown type", with("map", "Email=identifier:mail"), "a.csv", file, 400, "map", `unknown identifier type "mail"`},
		{"no identifier", with("map", "Name=trait:name"), "a.csv", file, 400, "map", "No column is mapped to an identifier"},
		{"missing column", with("map", "E-mail=identifier:email"), "a.csv", file, 400, "map", `Column "E-mail" is mapped but the header has no such column; it has: Email, Name`},
		{"no file", ok, "", "", 400, "file", "Choose a CSV file to import"},
		{"empty file", ok, "a.csv", "", 400, "file", "The file is empty; it needs a header line naming its columns"},
		{"Latin-1", ok, "a.csv", "Email,Name\nj@example.com,Jos\xe9\n", 400, "file", "Line 2 is not valid UTF-8"},
		{"wrong delimiter", ok, "a.csv", "Email;Name\nann@example.com;Ann\n", 400, "delimiter", `the file looks delimited by ';', not ',': import it with the delimiter ';'`},
		{"too large", ok, "a.csv", "Email\n" + strings.Repeat("someone@example.com\n", 1<<20/20+1), 413, "file", "larger than 1048576 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.upload(kith.RoleAdmin, c.fields, c.file, c.content)
			if status != c.status || !strings.Contains(body, c.message) {
				t.Fatalf("%d, want %d with %q:\n%s", status, c.status, c.message, body)
			}
			id := "import-" + c.field + "-error"
			if c.field == "" {
				id = "import-error"
			}
			if !strings.Contains(body, `data-testid="`+id+`"`) || !strings.Contains(body, `id="start-import"`) {
				t.Errorf("the form does not show the error by %s", id)
			}
			// What was chosen is kept.
			if c.fields["source"] == "crm" && !strings.Contains(body, `<option value="crm" selected>`) {
				t.Error("the source chosen is lost")
			}
			if m := c.fields["map"]; strings.TrimSpace(m) != "" && !strings.Contains(body, ">"+m+"</textarea>") {
				t.Errorf("the mapping typed is lost")
			}
		})
	}
	// A body far over the limit is cut off while it is read.
	status, _, body := e.upload(kith.RoleAdmin, ok, "big.csv", "Email\n"+strings.Repeat("someone@example.com\n", 3<<20/20))
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 2 MB") {
		t.Errorf("a 3 MB upload: %d\n%s", status, body)
	}
	// A forged form.
	if status, _, _ := e.upload(kith.RoleAdmin, with("csrf", "forged"), "a.csv", file); status != http.StatusForbidden {
		t.Errorf("a forged form: %d, want 403", status)
	}
	if n, _ := e.db.CountEvents(t.Context()); n != 0 {
		t.Errorf("refused imports wrote %d events", n)
	}
}
