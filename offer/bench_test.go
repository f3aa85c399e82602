package offer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/offer"
)

// BenchmarkGrantMany grants one offer to 10,000 profiles by id on the
// embedded store, with nothing else running: the ledger's own cost.
func BenchmarkGrantMany(b *testing.B) {
	const people = 10000
	t := &testing.T{}
	w := newWorld(t)
	ctx := context.Background()
	evs := make([]kith.Event, people)
	for i := range evs {
		evs[i] = kith.Event{MessageID: fmt.Sprint("m-", i), Type: kith.TypeIdentify, SourceID: "src_crm", Channel: kith.KindCallCenter,
			UserID: fmt.Sprint("u", i), Timestamp: t0, ReceivedAt: t0, Payload: []byte(fmt.Sprintf(`{"type":"identify","userId":"u%d","traits":{"email":"p%d@example.com"}}`, i, i))}
	}
	if _, err := w.db.Append(ctx, evs); err != nil {
		b.Fatal(err)
	}
	for {
		n, err := w.proc.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var targets []offer.Target
	for after := ""; ; {
		ps, err := w.db.ScanProfiles(ctx, after, 5000)
		if err != nil {
			b.Fatal(err)
		}
		if len(ps) == 0 {
			break
		}
		for _, p := range ps {
			targets = append(targets, offer.Target{Profile: p.ID})
		}
		after = ps[len(ps)-1].ID
	}
	b.ResetTimer()
	for i := range b.N {
		o := upgrade()
		o.Code = fmt.Sprint("BULK-", i)
		w.create(o)
		res, err := w.svc.GrantMany(ctx, offer.GrantRequest{Offer: o.Code, Channel: kith.KindEmail}, targets, nil)
		if err != nil || res.Granted != people {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(people*b.N)/b.Elapsed().Seconds(), "grants/s")
}
