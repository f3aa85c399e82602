package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// memLog is an in-memory event log with the store's (source, messageId)
// dedupe and sequence numbers.
type memLog struct {
	mu     sync.Mutex
	events []kith.Event
	seen   map[[2]string]bool
	fail   error
}

func (l *memLog) Append(ctx context.Context, evs []kith.Event) (kith.AppendResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return kith.AppendResult{}, l.fail
	}
	if l.seen == nil {
		l.seen = map[[2]string]bool{}
	}
	var r kith.AppendResult
	for i := range evs {
		k := [2]string{evs[i].SourceID, evs[i].MessageID}
		if l.seen[k] {
			r.Duplicates++
			evs[i].Seq = 0
			continue
		}
		l.seen[k] = true
		evs[i].Seq = int64(len(l.events) + 1)
		l.events = append(l.events, evs[i])
		r.Appended++
	}
	return r, nil
}

var crm = &kith.Source{ID: "src_crm", Name: "crm", Kind: kith.KindCallCenter}

func mapping(t testing.TB, specs ...string) Mapping {
	t.Helper()
	m, err := ParseMapping(specs, identity.DefaultConfig())
	if err != nil {
		t.Fatalf("ParseMapping(%q): %v", specs, err)
	}
	return m
}

func run(t *testing.T, log *memLog, file string, m Mapping) (*Summary, string, error) {
	t.Helper()
	var rejects bytes.Buffer
	svc := New(log, identity.DefaultConfig(), nil, nil)
	sum, err := svc.Run(context.Background(), strings.NewReader(file), Options{Source: crm, Mapping: m, File: "crm.csv", Rejects: &rejects, BatchSize: 2})
	return sum, rejects.String(), err
}

func TestParseMapping(t *testing.T) {
	ids := identity.DefaultConfig()
	for _, tc := range []struct {
		specs []string
		field string // of the error; "" when valid
		want  string // in the message
	}{
		{specs: []string{"Phone=identifier:phone", "First name=trait:first_name"}},
		{specs: []string{"a=b=identifier:email"}},
		{specs: []string{"Card=identifier:loyalty_id", "Mail=identifier:email"}},
		{specs: []string{"Phone"}, field: "map[0]", want: "COLUMN=identifier:TYPE"},
		{specs: []string{"Phone=phone"}, field: "map[0]", want: "COLUMN=identifier:TYPE"},
		{specs: []string{"=identifier:email"}, field: "map[0]", want: "column name is empty"},
		{specs: []string{"x=identifier:fax"}, field: "map[0]", want: `unknown identifier type "fax"`},
		{specs: []string{"x=trait:"}, field: "map[0]", want: "trait name is empty"},
		{specs: []string{"Mail=trait:email"}, field: "map[0]", want: "map it as Mail=identifier:email"},
		{specs: []string{"e=identifier:email", "e=trait:x"}, field: "map[1]", want: `column "e" is mapped twice`},
		{specs: []string{"a=identifier:email", "b=identifier:email"}, field: "map[1]", want: "identifier:email is mapped twice"},
		{specs: []string{"n=trait:name"}, field: "map", want: "no column is mapped to an identifier"},
		{specs: []string{"d=identifier:device_id"}, field: "map", want: "no column is mapped to an identifier that links"},
		{specs: nil, field: "map", want: "no columns are mapped"},
	} {
		_, err := ParseMapping(tc.specs, ids)
		if tc.field == "" {
			if err != nil {
				t.Errorf("ParseMapping(%q): %v", tc.specs, err)
			}
			continue
		}
		if !kith.IsCode(err, kith.EINVALID) || kith.ErrorField(err) != tc.field || !strings.Contains(kith.ErrorMessage(err), tc.want) {
			t.Errorf("ParseMapping(%q) = %v; want invalid %s containing %q", tc.specs, err, tc.field, tc.want)
		}
	}
}

// TestFileErrors: a file that cannot be imported as a whole is refused
// with a clear message before anything is written.
func TestFileErrors(t *testing.T) {
	m := mapping(t, "phone=identifier:phone", "email=identifier:email", "name=trait:name")
	for _, tc := range []struct {
		name, file, field, want string
	}{
		{"utf16", "\xff\xfep\x00h\x00o\x00n\x00e\x00\n\x00", "file", "UTF-16"},
		{"latin1", "phone,email,name\n+14155550100,a@example.com,Ann\n+14155550101,b@example.com,Jos\xe9\n", "file", "line 3 is not valid UTF-8"},
		{"nul", "phone,email,name\n\x00\n", "file", "line 2 holds a NUL byte"},
		{"empty", "", "file", "the file is empty"},
		{"missing column", "phone,mail,name\n", "map[1]", `column "email" is mapped but the header has no such column; it has: phone, mail, name`},
		{"semicolons", "phone;email;name\n1;2;3\n", "delimiter", `the header has one column, "phone;email;name", but 3 columns are mapped; the file looks delimited by ';', not ',': import it with the delimiter ';'`},
		{"duplicate column", "phone,email,email,name\n", "map[1]", `column "email" appears more than once`},
		{"bad header quote", "phone,\"email,name\n", "file", "line 1: cannot read the header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &memLog{}
			_, _, err := run(t, log, tc.file, m)
			if !kith.IsCode(err, kith.EINVALID) || kith.ErrorField(err) != tc.field || !strings.Contains(kith.ErrorMessage(err), tc.want) {
				t.Fatalf("err = %v; want invalid %s containing %q", err, tc.field, tc.want)
			}
			if len(log.events) != 0 {
				t.Errorf("%d events written for a refused file", len(log.events))
			}
		})
	}
}

func TestUTF8BOMAndCRLF(t *testing.T) {
	log := &memLog{}
	sum, _, err := run(t, log, "\xef\xbb\xbfPhone,Name\r\n925 413 0182,Daniel\r\n", mapping(t, "Phone=identifier:phone", "Name=trait:name"))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 1 || sum.Appended != 1 {
		t.Fatalf("summary %+v; want 1 row appended", sum)
	}
}

// TestRejectedRows: bad rows go to the rejects file with their line and
// reason; their good neighbours are imported.
func TestRejectedRows(t *testing.T) {
	file := "phone,email,name\n" + // line 1
		"+1 925-413-0182,daniel@example.com,Daniel\n" + // 2 ok
		"+1 925-413-7745,linda@example,Linda\n" + // 3 bad e-mail
		"12,,Short\n" + // 4 bad phone
		"+1 925-413-2876,sofia@example.com\n" + // 5 too few fields
		",,Nobody\n" + // 6 no identifier
		"+1 925-413-6631,tom@example.org,\"Tom\n\"\"the heavy\"\" Becker\"\n" + // 7-8 ok, multi-line
		"+1 925-413-1111,x\"y@example.com,Q\n" + // 9 bare quote
		"+1 925-413-2222,z@example.com,Zed,extra\n" // 10 too many fields
	log := &memLog{}
	sum, rejects, err := run(t, log, file, mapping(t, "phone=identifier:phone", "email=identifier:email", "name=trait:name"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Summary{Rows: 8, Appended: 2, Rejected: 6}
	if diff := cmp.Diff(want, sum, cmpSummary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	wantRejects := `line,reason
3,"column ""email"": ""linda@example"" is not a valid email: not an e-mail address"
4,"column ""phone"": ""12"" is not a valid phone: not a valid phone number"
5,has 2 fields; the header has 3
6,no identifier: the columns mapped to identifiers that link profiles are all empty
9,"a quote ("") appears inside a field that is not quoted; quote the field and double the quote ("""")"
10,has 4 fields; the header has 3
`
	if diff := cmp.Diff(wantRejects, rejects); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
	var p struct {
		Traits  map[string]string `json:"traits"`
		Context struct {
			Import struct{ Line int } `json:"import"`
		} `json:"context"`
	}
	if err := json.Unmarshal(log.events[1].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Traits["name"] != "Tom\n\"the heavy\" Becker" || p.Context.Import.Line != 7 || p.Traits["phone"] != "+19254136631" {
		t.Errorf("second event %s", log.events[1].Payload)
	}
}

var cmpSummary = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Took" }, cmp.Ignore())

// TestReimportChangesNothing: the same rows, from the same file or a
// re-export in another order and spelling, are the same events.
func TestReimportChangesNothing(t *testing.T) {
	m := mapping(t, "phone=identifier:phone", "email=identifier:email", "name=trait:name")
	log := &memLog{}
	file := "phone,email,name\n+1 925-413-0182,daniel@example.com,Daniel\n925 413 7745,linda@example.net,Linda\n"
	if _, _, err := run(t, log, file, m); err != nil {
		t.Fatal(err)
	}
	first := len(log.events)
	again, _, err := run(t, log, file, m)
	if err != nil {
		t.Fatal(err)
	}
	reexport := "name,email,phone\nLinda,Linda@Example.net,(925) 413-7745\nDaniel,daniel@example.com,+19254130182\n"
	third, _, err := run(t, log, reexport, mapping(t, "phone=identifier:phone", "email=identifier:email", "name=trait:name"))
	if err != nil {
		t.Fatal(err)
	}
	if len(log.events) != first || again.Duplicates != 2 || again.Appended != 0 || third.Duplicates != 2 {
		t.Errorf("re-import appended: %d events after %d; second %+v; third %+v", len(log.events), first, again, third)
	}
	// Another trait mapped: the rows say more, so they are new events.
	if sum, _, _ := run(t, log, file, mapping(t, "phone=identifier:phone", "email=identifier:email", "name=trait:full_name")); sum.Appended != 2 {
		t.Errorf("a changed mapping appended %d events; want 2", sum.Appended)
	}
}

func TestEventShape(t *testing.T) {
	log := &memLog{}
	m := mapping(t, "uid=identifier:user_id", "card=identifier:loyalty_id", "dev=identifier:device_id", "tier=trait:tier")
	if _, _, err := run(t, log, "uid,card,dev,tier\nmember-42, L-9 ,tablet-1,gold\n", m); err != nil {
		t.Fatal(err)
	}
	e := log.events[0]
	if e.Type != kith.TypeIdentify || e.UserID != "member-42" || e.SourceID != crm.ID || e.Channel != crm.Kind || !strings.HasPrefix(e.MessageID, "imp-") {
		t.Fatalf("event %+v", e)
	}
	// The processor reads identifiers where ingestion's events carry them.
	var p map[string]any
	json.Unmarshal(e.Payload, &p)
	want := map[string]any{"loyalty_id": "L-9", "tier": "gold"}
	if diff := cmp.Diff(want, p["traits"]); diff != "" {
		t.Errorf("traits (-want +got):\n%s", diff)
	}
	if dev := p["context"].(map[string]any)["device"].(map[string]any)["id"]; dev != "tablet-1" {
		t.Errorf("context.device.id = %v", dev)
	}
}

func TestAppendFailureStops(t *testing.T) {
	log := &memLog{fail: kith.Errorf(kith.EUNAVAILABLE, "the store is closing")}
	_, _, err := run(t, log, "email\na@example.com\nb@example.com\nc@example.com\n", mapping(t, "email=identifier:email"))
	if !kith.IsCode(err, kith.EUNAVAILABLE) {
		t.Fatalf("err = %v; want unavailable", err)
	}
}

// fakeProfiles answers outcome reads from a fixed picture of profiles.
type fakeProfiles struct {
	holders  map[kith.Identifier][]string
	profiles map[string]*kith.Profile
	merges   map[string][]kith.Merge
}

func (f *fakeProfiles) Applied(ctx context.Context, evs []kith.Event) (bool, error) { return true, nil }
func (f *fakeProfiles) ProfileIDsFor(ctx context.Context, id kith.Identifier) ([]string, error) {
	return f.holders[id], nil
}
func (f *fakeProfiles) Profile(ctx context.Context, id string) (*kith.Profile, error) {
	return f.profiles[id], nil
}
func (f *fakeProfiles) Merges(ctx context.Context, root string) ([]kith.Merge, error) {
	return f.merges[root], nil
}

// TestOutcomes: created, linked and merged are read back per row.
func TestOutcomes(t *testing.T) {
	log := &memLog{}
	// Events 1-3: Ann's row created prf_a; Bob's row joined the older
	// prf_old; Cy's row merged prf_x into prf_old.
	fp := &fakeProfiles{
		holders: map[kith.Identifier][]string{
			{Type: "email", Value: "ann@example.com"}: {"prf_a"},
			{Type: "email", Value: "bob@example.com"}: {"prf_old"},
			{Type: "email", Value: "cy@example.com"}:  {"prf_old"},
		},
		profiles: map[string]*kith.Profile{"prf_a": {ID: "prf_a", CreatedSeq: 1}, "prf_old": {ID: "prf_old", CreatedSeq: -5}},
		merges:   map[string][]kith.Merge{"prf_old": {{Survivor: "prf_old", Absorbed: "prf_x", Seq: 3}, {Seq: 99}}},
	}
	svc := New(log, identity.DefaultConfig(), fp, fp)
	sum, err := svc.Run(context.Background(), strings.NewReader("email\nann@example.com\nbob@example.com\ncy@example.com\n"),
		Options{Source: crm, Mapping: mapping(t, "email=identifier:email")})
	if err != nil {
		t.Fatal(err)
	}
	want := &Summary{Rows: 3, Appended: 3, Counted: true, Created: 1, Linked: 2, Merged: 1}
	if diff := cmp.Diff(want, sum, cmpSummary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}
