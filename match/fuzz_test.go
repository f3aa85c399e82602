package match

import (
	"strings"
	"testing"
)

// FuzzReadCSV feeds ReadCSV arbitrary files: it must return records or an
// error, never panic, and every record it returns has an id.
func FuzzReadCSV(f *testing.F) {
	f.Add("id,given_name,surname\n1,ann,lee\n2,bob,\n")
	f.Add("id,x\n1,\"a\nb\"\n")
	f.Add("\ufeffID,Surname\n1,o'brien\n")
	f.Add("id\n\n")
	f.Fuzz(func(t *testing.T, body string) {
		recs, err := ReadCSV(strings.NewReader(body), "fuzz.csv", CSVOptions{})
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.ID == "" {
				t.Fatalf("record without id from %q", body)
			}
			Normalize(r)
		}
	})
}
