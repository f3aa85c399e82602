package consent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
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

// BenchmarkCheckList measures checking one message against a list of
// 100,000 people (KITH_BENCH_PROFILES to change it) on the embedded store:
// each with an e-mail address, a third with a decision, one in fifty a
// minor; the target is under 2 seconds.
//
//	go test ./consent -run '^$' -bench CheckList -benchtime 3x -timeout 20m
func BenchmarkCheckList(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		b.Cleanup(func(old int) func() { return func() { debug.SetGCPercent(old) } }(debug.SetGCPercent(400)))
	}
	n := 100_000
	if v := os.Getenv("KITH_BENCH_PROFILES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	w := newWorld(&testing.T{})
	ctx := context.Background()
	var evs []kith.Event
	for i := range n {
		traits := map[string]any{"email": fmt.Sprintf("p%d@example.com", i)}
		if i%50 == 0 {
			traits["birthday"] = "2012-05-01"
		}
		body, _ := json.Marshal(map[string]any{"type": "identify", "userId": fmt.Sprint("u", i), "traits": traits})
		evs = append(evs, kith.Event{MessageID: fmt.Sprint("m-", i), Type: kith.TypeIdentify, SourceID: "src_crm", Channel: kith.KindWeb,
			UserID: fmt.Sprint("u", i), Timestamp: now, ReceivedAt: now, Payload: body})
	}
	for i := 0; i < len(evs); i += 5000 {
		if _, err := w.db.Append(ctx, evs[i:min(len(evs), i+5000)]); err != nil {
			b.Fatal(err)
		}
	}
	for {
		k, err := w.proc.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	var ids []string
	for after := ""; ; {
		page, err := w.db.ScanStoredProfiles(ctx, after, 5000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			ids = append(ids, p.ID)
		}
		after = page[len(page)-1].ID
	}
	var recs []kith.ConsentRecord
	for i := 0; i < len(ids); i += 3 {
		recs = append(recs, kith.ConsentRecord{ID: fmt.Sprint("cns_", i), ProfileID: ids[i], Purpose: kith.PurposeMarketing,
			Channel: kith.ContactEmail, State: kith.ConsentOptedIn, DecidedAt: now, RecordedAt: now, Via: "import"})
	}
	if err := w.db.AppendConsents(ctx, recs...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var allowed int
	for range b.N {
		ds, err := w.svc.CheckList(ctx, ids, kith.PurposeMarketing, kith.ContactEmail)
		if err != nil {
			b.Fatal(err)
		}
		allowed = 0
		for _, d := range ds {
			if d.Allowed {
				allowed++
			}
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/list")
	b.ReportMetric(float64(allowed), "allowed")
	b.ReportMetric(float64(len(ids)), "people")
}
