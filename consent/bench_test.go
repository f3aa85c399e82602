package consent_test

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/consent"
)

// BenchmarkCheck measures one gate check on the embedded store: a person
// with three decisions, two contact points and a guardian; p99 is the
// target (under 1 ms). Garbage is collected as kith serve does (GOGC=400).
//
//	go test ./consent -run '^$' -bench Check
func BenchmarkCheck(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		// As kith serve collects garbage.
		b.Cleanup(func(old int) func() { return func() { debug.SetGCPercent(old) } }(debug.SetGCPercent(400)))
	}
	w := newWorld(&testing.T{})
	ctx := context.Background()
	var people []string
	for i := range 200 {
		p := w.person(fmt.Sprint("u", i), map[string]any{"email": fmt.Sprintf("p%d@example.com", i)})
		people = append(people, p)
		for _, c := range []consent.Change{
			{Who: consent.Who{Profile: p}, Purpose: kith.PurposeMarketing, Channel: kith.ContactEmail, State: kith.ConsentOptedIn},
			{Who: consent.Who{Profile: p}, Purpose: kith.PurposeMarketing, Channel: kith.ContactSMS, State: kith.ConsentOptedOut},
			{Who: consent.Who{Profile: p}, Purpose: kith.PurposeService, Channel: kith.ContactEmail, State: kith.ConsentOptedIn},
		} {
			if _, err := w.svc.Record(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.svc.SetContactPoint(ctx, consent.Who{Profile: p}, kith.ContactPoint{Channel: kith.ContactEmail,
			Address: fmt.Sprintf("work%d@example.com", i), Status: kith.ContactVerified}); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		d, err := w.svc.Check(ctx, consent.Who{Profile: people[i%len(people)]}, kith.PurposeMarketing, kith.ContactEmail)
		lat = append(lat, time.Since(start))
		if err != nil || !d.Allowed {
			b.Fatalf("%+v, %v", d, err)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
}
