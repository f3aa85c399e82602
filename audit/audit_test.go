package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// memLog is an in-memory kith.AuditLog that filters by target only.
type memLog struct{ recs []kith.AuditRecord }

func (m *memLog) AppendAudit(_ context.Context, recs ...kith.AuditRecord) error {
	for _, r := range recs {
		r.ID = int64(len(m.recs) + 1)
		m.recs = append(m.recs, r)
	}
	return nil
}

func (m *memLog) Audit(_ context.Context, f kith.AuditFilter) ([]kith.AuditRecord, error) {
	var out []kith.AuditRecord
	for i := len(m.recs) - 1; i >= 0 && len(out) < f.Limit; i-- {
		r := m.recs[i]
		if (f.Before == 0 || r.ID < f.Before) && (f.Target == "" || r.Target == f.Target) {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestParseFilter(t *testing.T) {
	f, err := ParseFilter(url.Values{"actor": {" user:ann "}, "action": {"profile."}, "target": {"prf_1"},
		"from": {"2026-11-01"}, "to": {"2026-11-02T10:30"}, "before": {"99"}, "limit": {"10"}})
	if err != nil {
		t.Fatal(err)
	}
	want := kith.AuditFilter{Actor: "user:ann", Action: "profile.", Target: "prf_1", From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		To: time.Date(2026, 11, 2, 10, 30, 0, 0, time.UTC), Before: 99, Limit: 10}
	if f != want {
		t.Errorf("ParseFilter = %+v, want %+v", f, want)
	}
	for _, c := range []struct {
		q     url.Values
		field string
	}{
		{url.Values{"from": {"yesterday"}}, "from"},
		{url.Values{"to": {"2026-13-01"}}, "to"},
		{url.Values{"from": {"2026-11-02"}, "to": {"2026-11-01"}}, "to"},
		{url.Values{"before": {"-1"}}, "before"},
		{url.Values{"limit": {"5000"}}, "limit"},
		{url.Values{"limit": {"x"}}, "limit"},
	} {
		if _, err := ParseFilter(c.q); !kith.IsCode(err, kith.EINVALID) || kith.ErrorField(err) != c.field {
			t.Errorf("ParseFilter(%v) = %v, want EINVALID on %s", c.q, err, c.field)
		}
	}
}

func TestExportPagesThroughEverything(t *testing.T) {
	log := &memLog{}
	for i := range 2500 {
		target := "prf_a"
		if i%2 == 1 {
			target = "prf_b"
		}
		log.AppendAudit(context.Background(), kith.AuditRecord{Time: time.Unix(int64(i), 0), Actor: kith.Actor{Kind: kith.ActorKey, Name: "crm"},
			Action: kith.AuditProfileRead, Target: target, Detail: fmt.Sprint("=cmd|", i)})
	}
	var buf bytes.Buffer
	n, err := Export(context.Background(), log, kith.AuditFilter{Target: "prf_a"}, "csv", &buf)
	if err != nil || n != 1250 {
		t.Fatalf("Export = %d, %v; want 1250 records", n, err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1251 || rows[1][0] != "2499" || rows[1250][0] != "1" {
		t.Errorf("%d rows from id %s to %s, want a header and 1250 newest first", len(rows), rows[1][0], rows[len(rows)-1][0])
	}
	// A cell that a spreadsheet would run as a formula is quoted.
	if got := rows[1][10]; !strings.HasPrefix(got, "'=") {
		t.Errorf("detail exported as %q, want it defused with a leading quote", got)
	}

	buf.Reset()
	n, err = Export(context.Background(), log, kith.AuditFilter{}, "jsonl", &buf)
	if err != nil || n != 2500 {
		t.Fatalf("jsonl Export = %d, %v", n, err)
	}
	var first Record
	if err := json.Unmarshal([]byte(strings.SplitN(buf.String(), "\n", 2)[0]), &first); err != nil || first.ID != 2500 || first.Actor != "key:crm" {
		t.Errorf("first JSON line %+v (%v)", first, err)
	}
	if _, err := Export(context.Background(), log, kith.AuditFilter{}, "xml", &buf); !kith.IsCode(err, kith.EINVALID) {
		t.Errorf("Export as xml: %v, want EINVALID", err)
	}
}
