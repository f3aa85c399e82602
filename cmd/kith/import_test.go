package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/importer"
	"github.com/kithhq/kith/store/sqlite"
)

// The two exports of TestImportOverlappingExports: a CRM keyed by phone and
// a loyalty programme keyed by card and e-mail, naming some of the same
// people. Ann is linked by her e-mail, Bob by his phone; Dee is only in
// the loyalty programme; Eve's card row holds her phone (her CRM profile)
// and the e-mail she signed in with on the web (another profile), so it
// merges the two.
const (
	crmExport = `Phone,Email,First name,Last name,Tier
+1 925-413-0182,ann@example.com,Ann,Lee,gold
(925) 413-7745,,Bob,Park,silver
925 413 2876,,Eve,Ramirez,bronze
925-000,,Bad,Phone,gold
925 413 1111,,Short
`
	loyaltyExport = `Card;E-mail;Points;Phone
L-100;ANN@example.com;1200;
L-200;bob@example.net;80;+19254137745
L-300;dee@example.org;15;
L-400;eve@example.com;640;+1 925 413 2876
L-500;not-an-email;5;
`
)

var (
	crmMap     = []string{"Phone=identifier:phone", "Email=identifier:email", "First name=trait:first_name", "Last name=trait:last_name", "Tier=trait:tier"}
	loyaltyMap = []string{"Card=identifier:loyalty_id", "E-mail=identifier:email", "Points=trait:points", "Phone=identifier:phone"}
)

// importJob is a job as GET /v1/imports/{id} shows it.
type importJob struct {
	ID       string            `json:"id"`
	Status   string            `json:"status"`
	Source   string            `json:"source"`
	Summary  *importer.Summary `json:"summary"`
	Progress importer.Progress `json:"progress"`
	Error    *struct {
		Code, Field, Message string
	} `json:"error"`
}

// postImport posts a CSV body to /v1/imports with query parameters and
// returns the status and body.
func postImport(t *testing.T, m *Main, key, body string, q url.Values) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", m.URL()+"/v1/imports?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/csv")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// importAndWait imports a file over the API and waits for its job to end.
func importAndWait(t *testing.T, m *Main, body string, q url.Values) importJob {
	t.Helper()
	status, b := postImport(t, m, testAPIKey, body, q)
	if status != http.StatusAccepted {
		t.Fatalf("POST /v1/imports: %d %s", status, b)
	}
	var job importJob
	if err := json.Unmarshal(b, &job); err != nil || job.ID == "" {
		t.Fatalf("POST /v1/imports: %v %s", err, b)
	}
	c := newProfileClient(t, m)
	deadline := time.Now().Add(60 * time.Second)
	for job.Status == importer.JobRunning {
		if time.Now().After(deadline) {
			t.Fatalf("import %s still running after 60s: %+v", job.ID, job.Progress)
		}
		time.Sleep(20 * time.Millisecond)
		c.get("/v1/imports/"+job.ID, &job)
	}
	if job.Status != importer.JobDone {
		t.Fatalf("import %s: %s %+v", job.ID, job.Status, job.Error)
	}
	return job
}

func TestImportOverlappingExports(t *testing.T) { eachStore(t, testImportOverlappingExports) }

func testImportOverlappingExports(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	crmID, _ := c.createSource("crm", "call_center")
	loyaltyID, _ := c.createSource("loyalty", "store")
	webID, webKey := c.createSource("website", "web")
	// Eve signed in on the website before any import.
	c.send(webKey, map[string]any{"type": "identify", "userId": "web-eve", "traits": map[string]any{"email": "eve@example.com"}})
	c.waitProcessed()

	crm := importAndWait(t, m, crmExport, url.Values{"source": {"crm"}, "map": crmMap, "file": {"crm.csv"}})
	want := &importer.Summary{Rows: 5, Appended: 3, Rejected: 2, Counted: true, Created: 3}
	if diff := cmp.Diff(want, crm.Summary, cmpSummary); diff != "" {
		t.Errorf("CRM import summary (-want +got):\n%s", diff)
	}
	loyalty := importAndWait(t, m, loyaltyExport, url.Values{"source": {"loyalty"}, "map": loyaltyMap, "delimiter": {";"}})
	want = &importer.Summary{Rows: 5, Appended: 4, Rejected: 1, Counted: true, Created: 1, Linked: 3, Merged: 1}
	if diff := cmp.Diff(want, loyalty.Summary, cmpSummary); diff != "" {
		t.Errorf("loyalty import summary (-want +got):\n%s", diff)
	}

	// One profile per person, found by every identifier, with traits from
	// both exports and the source of each.
	for _, p := range []struct {
		name                   string
		ids                    [][2]string
		crmTraits, loyalTraits map[string]string
	}{
		{"Ann", [][2]string{{"phone", "+19254130182"}, {"email", "ann@example.com"}, {"loyalty_id", "L-100"}},
			map[string]string{"first_name": `"Ann"`, "tier": `"gold"`}, map[string]string{"points": `"1200"`}},
		{"Bob", [][2]string{{"phone", "+19254137745"}, {"email", "bob@example.net"}, {"loyalty_id", "L-200"}},
			map[string]string{"first_name": `"Bob"`, "last_name": `"Park"`}, map[string]string{"points": `"80"`}},
		{"Dee", [][2]string{{"email", "dee@example.org"}, {"loyalty_id", "L-300"}},
			nil, map[string]string{"points": `"15"`}},
		{"Eve", [][2]string{{"phone", "+19254132876"}, {"email", "eve@example.com"}, {"loyalty_id", "L-400"}, {"user_id", "web-eve"}},
			map[string]string{"first_name": `"Eve"`, "tier": `"bronze"`}, map[string]string{"points": `"640"`}},
	} {
		first := c.lookup(p.ids[0][0], p.ids[0][1])
		for _, id := range p.ids {
			if got := c.lookup(id[0], id[1]); got.ID != first.ID {
				t.Errorf("%s: %s %s is on profile %s, %s on %s", p.name, id[0], id[1], got.ID, p.ids[0][1], first.ID)
			}
		}
		for traits, src := range map[*map[string]string]string{&p.crmTraits: crmID, &p.loyalTraits: loyaltyID} {
			for name, v := range *traits {
				tr, ok := first.Traits[name]
				if !ok || string(tr.Value) != v || tr.Source != src {
					t.Errorf("%s: trait %s = %s from %s; want %s from %s", p.name, name, tr.Value, tr.Source, v, src)
				}
			}
		}
		// The imported rows are on the timeline as events of their source.
		for _, e := range c.timeline(first.ID, 50) {
			if e.Source != webID && !strings.HasPrefix(e.MessageID, "imp-") {
				t.Errorf("%s: timeline event %+v is not an imported row", p.name, e)
			}
		}
	}
	// Importing the same file again changes nothing.
	again := importAndWait(t, m, crmExport, url.Values{"source": {"crm"}, "map": crmMap})
	want = &importer.Summary{Rows: 5, Duplicates: 3, Rejected: 2, Counted: true}
	if diff := cmp.Diff(want, again.Summary, cmpSummary); diff != "" {
		t.Errorf("re-import summary (-want +got):\n%s", diff)
	}
	status, rejects := c.call("GET", "/v1/imports/"+loyalty.ID+"/rejects", testAPIKey, nil)
	wantRejects := "line,reason\n6,\"column \"\"E-mail\"\": \"\"not-an-email\"\" is not a valid email: not an e-mail address\"\n"
	if status != http.StatusOK || string(rejects) != wantRejects {
		t.Errorf("rejects: %d %q; want %q", status, rejects, wantRejects)
	}
	// The audit log says who imported what.
	var audit struct {
		Records []struct{ Action, Target, Detail, Actor string }
	}
	c.get("/v1/audit?action=import.run", &audit)
	if len(audit.Records) != 3 || !strings.Contains(audit.Records[2].Detail, "5 rows read: 3 imported") {
		t.Errorf("audit records %+v", audit.Records)
	}
}

var cmpSummary = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Took" }, cmp.Ignore())

// TestImportAPIErrors: bad input over the API gets a clear JSON error with
// status, field and reason, and writes nothing.
func TestImportAPIErrors(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	c.createSource("crm", "call_center")
	c.call("POST", "/v1/keys", testAPIKey, nil)
	status, body := c.call("POST", "/v1/keys", testAPIKey, map[string]any{"name": "reader", "scopes": []string{"profiles:read"}})
	var reader struct{ Secret string }
	if status != http.StatusCreated || json.Unmarshal(body, &reader) != nil {
		t.Fatalf("create key: %d %s", status, body)
	}
	ok := url.Values{"source": {"crm"}, "map": {"Phone=identifier:phone"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for k, v := range ok {
			q[k] = v
		}
		q.Set(k, v)
		return q
	}
	for _, tc := range []struct {
		name   string
		key    string
		body   string
		q      url.Values
		status int
		field  string
		want   string
	}{
		{"no key", "", crmExport, ok, 401, "", "an API key is required"},
		{"not admin", reader.Secret, crmExport, ok, 403, "", "admin"},
		{"no source", testAPIKey, crmExport, url.Values{"map": ok["map"]}, 400, "source", "name the source"},
		{"unknown source", testAPIKey, crmExport, with("source", "erp"), 400, "source", `no source is named "erp"`},
		{"bad map", testAPIKey, crmExport, with("map", "Phone=identifier:fax"), 400, "map[0]", `unknown identifier type "fax"`},
		{"no map", testAPIKey, crmExport, url.Values{"source": {"crm"}}, 400, "map", "no columns are mapped"},
		{"missing column", testAPIKey, crmExport, with("map", "Mobile=identifier:phone"), 400, "map[0]", `column "Mobile" is mapped but the header has no such column`},
		{"wrong delimiter", testAPIKey, loyaltyExport, url.Values{"source": {"crm"}, "map": loyaltyMap}, 400, "delimiter", `import it with the delimiter ';'`},
		{"utf-16", testAPIKey, "\xff\xfeP\x00h\x00", ok, 400, "file", "UTF-16"},
		{"latin-1", testAPIKey, "Phone,Name\n+14155550100,Jos\xe9\n", ok, 400, "file", "line 2 is not valid UTF-8"},
		{"bad delimiter", testAPIKey, crmExport, with("delimiter", "ab"), 400, "delimiter", "one character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postImport(t, m, tc.key, tc.body, tc.q)
			var e struct {
				Error struct{ Code, Field, Message string } `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%d %s: not a JSON error: %v", status, body, err)
			}
			if status != tc.status || e.Error.Field != tc.field || !strings.Contains(e.Error.Message, tc.want) {
				t.Errorf("%d %s; want %d, field %q, message containing %q", status, body, tc.status, tc.field, tc.want)
			}
		})
	}
	if n, _ := m.DB.CountEvents(context.Background()); n != 0 {
		t.Errorf("%d events in the log after refused imports", n)
	}
	status, body = c.call("GET", "/v1/imports/imp_nope", testAPIKey, nil)
	if status != http.StatusNotFound || !strings.Contains(string(body), `"code":"not_found"`) {
		t.Errorf("unknown job: %d %s", status, body)
	}

	// Multipart, as a browser form sends it.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("source", "crm")
	for _, s := range crmMap {
		mw.WriteField("map", s)
	}
	fw, _ := mw.CreateFormFile("file", "crm.csv")
	fw.Write([]byte(crmExport))
	mw.Close()
	req, _ := http.NewRequest("POST", m.URL()+"/v1/imports", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var job importJob
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &job) != nil || job.Source != "crm" {
		t.Fatalf("multipart import: %d %s", resp.StatusCode, b)
	}
}

// cliStore returns --data-dir or --store flags for a fresh store with a
// source named crm.
func cliStore(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	flags := []string{"--data-dir", cfg.DataDir}
	if onPostgres(t) {
		cfg.Store = postgresStore(t)
		flags = []string{"--store", cfg.Store}
	}
	db, _, err := openStore(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateSource(ctx, &kith.Source{ID: "src_crm", Name: "crm", Kind: kith.KindCallCenter, WriteKey: "crm-key", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return flags
}

func TestImportCommand(t *testing.T) { eachStore(t, testImportCommand) }

func testImportCommand(t *testing.T) {
	store := cliStore(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "crm.csv")
	os.WriteFile(file, []byte(crmExport), 0o600)
	args := append([]string{"import", file, "--source", "crm", "--quiet"}, store...)
	for _, s := range crmMap {
		args = append(args, "--map", s)
	}
	out, _, err := runKith(t, args...)
	if err != nil {
		t.Fatalf("kith import: %v\n%s", err, out)
	}
	for _, want := range []string{"rows read          5", "imported           3", "profiles created   3", "profiles merged    0",
		"rows rejected      2 (see " + filepath.Join(dir, "crm.rejects.csv") + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	rejects, _ := os.ReadFile(filepath.Join(dir, "crm.rejects.csv"))
	if want := "line,reason\n5,\"column \"\"Phone\"\": \"\"925-000\"\" is not a valid phone: not a valid phone number\"\n6,has 3 fields; the header has 5\n"; string(rejects) != want {
		t.Errorf("rejects file %q; want %q", rejects, want)
	}
	out, _, err = runKith(t, args...)
	if err != nil || !strings.Contains(out, "imported           0\nalready imported   3\nprofiles created   0\nprofiles linked    0") {
		t.Errorf("re-import: %v\n%s", err, out)
	}
}

// TestImportCommandFileErrors: a file that cannot be imported as a whole
// stops before anything is written, with a message naming the problem.
func TestImportCommandFileErrors(t *testing.T) { eachStore(t, testImportCommandFileErrors) }

func testImportCommandFileErrors(t *testing.T) {
	store := cliStore(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		maps       []string
		want       string
	}{
		{"utf-16", "\xff\xfeP\x00h\x00o\x00n\x00e\x00", []string{"Phone=identifier:phone"}, "the file is UTF-16 encoded"},
		{"latin-1", "Phone,Name\n+14155550100,Ann\n+14155550101,Jos\xe9\n", []string{"Phone=identifier:phone"}, "line 3 is not valid UTF-8"},
		{"missing column", crmExport, []string{"Mobile=identifier:phone"}, `column "Mobile" is mapped but the header has no such column; it has: Phone, Email, First name, Last name, Tier`},
		{"delimiter", loyaltyExport, loyaltyMap, `the header has one column, "Card;E-mail;Points;Phone", but 4 columns are mapped; the file looks delimited by ';', not ',': import it with the delimiter ';'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name+".csv")
			os.WriteFile(file, []byte(tc.file), 0o600)
			args := append([]string{"import", file, "--source", "crm", "--quiet"}, store...)
			for _, s := range tc.maps {
				args = append(args, "--map", s)
			}
			out, _, err := runKith(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want one containing %q (output %q)", err, tc.want, out)
			}
		})
	}
	cfg := DefaultConfig()
	if store[0] == "--store" {
		cfg.Store = store[1]
	} else {
		cfg.DataDir = store[1]
	}
	db, _, err := openStore(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, _ := db.CountEvents(context.Background()); n != 0 {
		t.Errorf("%d events written by refused imports", n)
	}
	_, _, err = runKith(t, append([]string{"import", filepath.Join(dir, "utf-16.csv"), "--source", "erp", "--map", "Phone=identifier:phone"}, store...)...)
	if err == nil || !strings.Contains(err.Error(), `no source is named "erp"`) {
		t.Errorf("unknown source: %v", err)
	}
}

// TestImportKilledHalfway kills `kith import` with SIGKILL half way through
// a large file and runs it again: every row ends in the log exactly once.
func TestImportKilledHalfway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kith and imports 50,000 rows twice")
	}
	bin := buildKith(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	file := filepath.Join(dir, "big.csv")
	const rows = 50_000
	if _, err := writeBenchCSV(file, rows, 7); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "sources", "create", "--name", "crm", "--kind", "call_center", "--data-dir", data).CombinedOutput(); err != nil {
		t.Fatalf("sources create: %v\n%s", err, out)
	}
	args := []string{"import", file, "--source", "crm", "--data-dir", data}
	for _, s := range benchMapping {
		args = append(args, "--map", s)
	}
	cmd := exec.Command(bin, args...)
	var progress syncBuffer
	cmd.Stderr = &progress
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a third of the rows are in the log.
	inLog := regexp.MustCompile(`(\d+) in the log`)
	appended := func() int {
		n := 0
		for _, m := range inLog.FindAllStringSubmatch(progress.String(), -1) {
			n, _ = strconv.Atoi(m[1])
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for appended() < rows/3 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no progress after 60s: %s", progress.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	ctx := context.Background()
	db, err := sqlite.Open(ctx, data, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	half, _ := db.CountEvents(ctx)
	db.Close()
	if half == 0 || half >= rows {
		t.Fatalf("%d events after the kill; want some, not all", half)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	t.Logf("killed after %d events; the second run said:\n%s", half, out)

	// What a clean import of the file appends, in a fresh store.
	clean, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	m, _ := importer.ParseMapping(benchMapping, identity.DefaultConfig())
	f, _ := os.Open(file)
	defer f.Close()
	want, err := importer.New(clean, identity.DefaultConfig(), nil, nil).Run(ctx, f, importer.Options{Source: &kith.Source{ID: "src_x", Name: "x"}, Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, data, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, _ := db.CountEvents(ctx)
	if got != int64(want.Appended) {
		t.Errorf("%d events after the kill and a second run; a clean import appends %d", got, want.Appended)
	}
	if line := fmt.Sprintf("imported           %d\n", int64(want.Appended)-half); !strings.Contains(string(out), line) {
		t.Errorf("the second run did not import only the rows missing after the kill (%q):\n%s", line, out)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
