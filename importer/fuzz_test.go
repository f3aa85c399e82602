package importer

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// FuzzParseField: any spec either parses into a field that spells itself
// back the same, or is refused with a reason; never a panic.
func FuzzParseField(f *testing.F) {
	for _, s := range []string{"Phone=identifier:phone", "First name=trait:first_name", "a=b=trait:c", "x=identifier:", "=trait:x",
		"Mail=trait:email", "Card=identifier:loyalty_id", "é=trait:名前", "x=trait:" + strings.Repeat("n", 201)} {
		f.Add(s)
	}
	ids := identity.DefaultConfig()
	f.Fuzz(func(t *testing.T, spec string) {
		fl, err := ParseField(spec, ids)
		if err != nil {
			return
		}
		again, err := ParseField(fl.String(), ids)
		if err != nil || again != fl {
			t.Fatalf("%q parsed as %+v, which spells %q and parses as %+v, %v", spec, fl, fl.String(), again, err)
		}
		if fl.Identifier == "" && (fl.Trait == "" || ids.IsType(fl.Trait)) {
			t.Fatalf("%q parsed as %+v", spec, fl)
		}
	})
}

// FuzzConvert: any row either becomes an identify event with a valid JSON
// payload, the same message id every time, and an identifier to find its
// profile by, or is rejected with a reason.
func FuzzConvert(f *testing.F) {
	for _, row := range [][]string{
		{"+1 925-413-0182", "ann@example.com", "L-1", "Ann", "gold"},
		{"", "", "", "Nobody", ""},
		{"12", "x@y", "", "", ""},
		{"", "ANN@EXAMPLE.COM", "", "\x00\xff", "<script>"},
		{"00 44 20 7946 0958", "", " L-2 ", "Zoë", `"quoted"`},
	} {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Write(row)
		w.Flush()
		f.Add(b.String())
	}
	m, err := ParseMapping([]string{"phone=identifier:phone", "email=identifier:email", "card=identifier:loyalty_id", "name=trait:name", "tier=trait:tier"}, identity.DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	conv := &converter{ids: identity.DefaultConfig(), source: crm, fields: m, index: []int{0, 1, 2, 3, 4}, columns: 5,
		at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), file: "f.csv"}
	f.Fuzz(func(t *testing.T, line string) {
		r := csv.NewReader(strings.NewReader(line))
		r.FieldsPerRecord = -1
		rec, err := r.Read()
		if err != nil {
			return
		}
		rw, err := conv.convert(2, rec)
		if err != nil {
			if _, ok := err.(*rowError); !ok {
				t.Fatalf("%q: error %v is not a row rejection", line, err)
			}
			return
		}
		e := rw.event
		if e.Type != kith.TypeIdentify || e.SourceID != crm.ID || !strings.HasPrefix(e.MessageID, "imp-") || rw.key.Type == "" || rw.key.Value == "" {
			t.Fatalf("%q: event %+v key %v", line, e, rw.key)
		}
		if !json.Valid(e.Payload) || len(e.Payload) > MaxRowBytes {
			t.Fatalf("%q: payload %s", line, e.Payload)
		}
		again, err := conv.convert(9, append([]string(nil), rec...))
		if err != nil || again.event.MessageID != e.MessageID {
			t.Fatalf("%q: converted twice, ids %s and %s (%v)", line, e.MessageID, again.event.MessageID, err)
		}
		var p struct {
			Traits map[string]json.RawMessage `json:"traits"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		// The processor finds in the payload the identifier the outcome
		// is read back by.
		ids, _ := identity.DefaultConfig().Extract(identity.Signals{UserID: e.UserID, AnonymousID: e.AnonymousID, Traits: p.Traits})
		if len(ids) == 0 || ids[0] != rw.key {
			t.Fatalf("%q: the processor would extract %v; the importer reads back by %v", line, ids, rw.key)
		}
	})
}
