package matching_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kithhq/kith/match"
)

// BenchmarkCheck1M scores new profiles, each the duplicate of a record in
// an index of 1,000,000 generated person records (Febrl 2's kinds of
// error), the way the live matcher does when a profile changes: read the
// profile, score it against its candidates, record the pair. It reports
// the p50 and p99 of one Check:
//
//	go test ./matching -run '^$' -bench Check1M -benchtime 1000x
func BenchmarkCheck1M(b *testing.B) {
	records, _ := match.Generate(7, 800000, match.GenerateOptions{Duplicates: 200000})
	w := newWorld(&testing.T{})
	w.svc.Load(records)
	ctx := context.Background()
	names := func(r match.Record) map[string]any {
		v := r.Values
		return map[string]any{"first_name": v[match.GivenName], "last_name": v[match.Surname], "street_number": v[match.StreetNumber],
			"address":  map[string]any{"street": v[match.Address1], "city": v[match.Suburb], "postalCode": v[match.Postcode], "state": v[match.State]},
			"birthday": v[match.DateOfBirth]}
	}
	// New people: copies of indexed records with a typo in the given name.
	var ids []string
	for i := range 1000 {
		r := records[i*97]
		t := names(r)
		if g, _ := t["first_name"].(string); len(g) > 2 {
			t["first_name"] = g[:1] + g[2:]
		}
		w.identifyOnly(map[string]string{"anonymousId": fmt.Sprint("bench-", i)}, t)
	}
	for i := range 1000 {
		ids = append(ids, w.profileOf("anonymous_id", fmt.Sprint("bench-", i)))
	}
	if b.N > len(ids) {
		b.Fatalf("run it with -benchtime %dx at most: a profile scored again unchanged is not scored", len(ids))
	}
	b.ResetTimer()
	var lat []time.Duration
	for i := range b.N {
		t0 := time.Now()
		if _, err := w.svc.Check(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
