package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	kithhttp "github.com/kithhq/kith/http"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/importer"
	"github.com/kithhq/kith/store/sqlite"
)

func newImportEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, "crm", "call_center", func(db *sqlite.DB, c *kithhttp.Config) {
		jobs := importer.NewJobs(importer.New(db, identity.DefaultConfig(), nil, nil), t.TempDir(), 1<<20)
		t.Cleanup(jobs.Close)
		c.Imports = jobs
	})
}

func TestImportJob(t *testing.T) {
	e := newImportEnv(t)
	q := url.Values{"source": {"crm"}, "map": {"Email=identifier:email", "Name=trait:name"}, "file": {"crm.csv"}}
	status, body, hdr := e.do("POST", "/v1/imports?"+q.Encode(), []byte("Email,Name\nann@example.com,Ann\nnope,Bob\n"), bearer(adminKey))
	if status != http.StatusAccepted {
		t.Fatalf("POST /v1/imports: %d %s", status, body)
	}
	var job importer.JobStatus
	if err := json.Unmarshal(body, &job); err != nil || !strings.HasPrefix(job.ID, "imp_") || hdr.Get("Location") != "/v1/imports/"+job.ID {
		t.Fatalf("job %s (%v), Location %q", body, err, hdr.Get("Location"))
	}
	for deadline := time.Now().Add(10 * time.Second); job.Status == importer.JobRunning; {
		if time.Now().After(deadline) {
			t.Fatal("the job did not finish in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
		_, body, _ = e.do("GET", "/v1/imports/"+job.ID, nil, bearer(adminKey))
		json.Unmarshal(body, &job)
	}
	if job.Status != importer.JobDone || job.Summary == nil || job.Summary.Appended != 1 || job.Summary.Rejected != 1 || job.File != "crm.csv" {
		t.Fatalf("job %s", body)
	}
	status, body, _ = e.do("GET", "/v1/imports", nil, bearer(adminKey))
	var list struct{ Imports []importer.JobStatus }
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil || len(list.Imports) != 1 ||
		list.Imports[0].ID != job.ID || list.Imports[0].Summary == nil || list.Imports[0].Summary.Appended != 1 {
		t.Fatalf("GET /v1/imports: %d %s (%v)", status, body, err)
	}
	status, body, hdr = e.do("GET", "/v1/imports/"+job.ID+"/rejects", nil, bearer(adminKey))
	want := "line,reason\n3,\"column \"\"Email\"\": \"\"nope\"\" is not a valid email: not an e-mail address\"\n"
	if status != http.StatusOK || string(body) != want || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Errorf("rejects: %d %q %q; want %q", status, hdr.Get("Content-Type"), body, want)
	}
}

func TestImportErrors(t *testing.T) {
	e := newImportEnv(t)
	big := "Email\n" + strings.Repeat("someone@example.com\n", 1<<20/20+1)
	for _, tc := range []struct {
		name, query, body string
		key               string
		status            int
		want              string // the error's JSON
	}{
		{"no key", "source=crm&map=Email%3Didentifier%3Aemail", "Email\n", "", 401, `{"code":"unauthorized","message":"an API key is required: send Authorization: Bearer KEY"}`},
		{"write key", "source=crm&map=Email%3Didentifier%3Aemail", "Email\n", writeKey, 401, ``},
		{"no source", "map=Email%3Didentifier%3Aemail", "Email\n", adminKey, 400, `{"code":"invalid","field":"source","message":"name the source the records come from, e.g. ?source=crm"}`},
		{"bad map", "source=crm&map=Email", "Email\n", adminKey, 400, `{"code":"invalid","field":"map[0]","message":"\"Email\": write COLUMN=identifier:TYPE or COLUMN=trait:NAME"}`},
		{"missing column", "source=crm&map=Mail%3Didentifier%3Aemail", "Email\n", adminKey, 400, `{"code":"invalid","field":"map[0]","message":"column \"Mail\" is mapped but the header has no such column; it has: Email"}`},
		{"empty", "source=crm&map=Email%3Didentifier%3Aemail", "", adminKey, 400, `{"code":"invalid","field":"file","message":"the file is empty; it needs a header line naming its columns"}`},
		{"too large", "source=crm&map=Email%3Didentifier%3Aemail", big, adminKey, 413, `{"code":"too_large","field":"file","message":"the file is larger than 1048576 bytes, the limit for uploads; import it with 'kith import' on the server"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []reqOpt
			if tc.key != "" {
				opts = append(opts, bearer(tc.key))
			}
			status, body, _ := e.do("POST", "/v1/imports?"+tc.query, []byte(tc.body), opts...)
			var got struct {
				Error json.RawMessage `json:"error"`
			}
			json.Unmarshal(body, &got)
			if status != tc.status || tc.want != "" && string(got.Error) != tc.want {
				t.Errorf("%d %s; want %d %s", status, body, tc.status, tc.want)
			}
		})
	}
	status, body, _ := e.do("GET", "/v1/imports/imp_unknown/rejects", nil, bearer(adminKey))
	if status != http.StatusNotFound {
		t.Errorf("rejects of an unknown job: %d %s", status, body)
	}
	if n, _ := e.db.CountEvents(context.Background()); n != 0 {
		t.Errorf("%d events after refused imports", n)
	}
}
