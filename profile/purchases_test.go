package profile

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

// Orders become purchases on the profile, in time order, each order id
// once, whatever the amount field; other events and unreadable amounts do
// not; two profiles merging keep every purchase once; only the lifecycle
// source moves a stage, the newest change winning.
func TestPurchasesAndStages(t *testing.T) {
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			db := openStore(t)
			cfg := testConfig(cache, 3)
			cfg.LifecycleSource = "src-server"
			p := NewProcessor(db, cfg, quietLog(), nil)
			order := func(anon string, at time.Duration, props string) spec {
				return spec{kith.TypeTrack, kith.KindWeb, "", anon, at, `{"event":"Order Completed","properties":` + props + `}`}
			}
			stage := func(user string, ch kith.Kind, at time.Duration, from, to string) spec {
				return spec{kith.TypeTrack, ch, user, "", at, fmt.Sprintf(`{"event":%q,"properties":{"from":%q,"to":%q}}`, StageChangedEvent, from, to)}
			}
			appendEvents(t, db, events(1,
				order("laptop", 3*time.Hour, `{"order_id":"o-2","revenue":20.5,"currency":"EUR"}`),
				order("laptop", 1*time.Hour, `{"order_id":"o-1","total":"10.25"}`), // string amounts, from total
				order("laptop", 4*time.Hour, `{"order_id":"o-2","revenue":20.5}`),  // the same order resent
				order("laptop", 5*time.Hour, `{"order_id":"o-3"}`),                 // no amount: not a purchase
				order("laptop", 5*time.Hour, `{"order_id":"o-4","revenue":"a lot"}`),
				spec{kith.TypeTrack, kith.KindWeb, "", "laptop", 6 * time.Hour, `{"event":"Product Viewed","properties":{"revenue":99}}`},
				order("phone", 2*time.Hour, `{"orderId":"o-9","revenue":7}`),
				stage("", kith.KindServer, 0, "", ""), // no user: ignored by identity anyway
			))
			drain(t, p)
			laptop := holder(t, db, kith.IDAnonymousID, "laptop")
			var got []string
			for _, pu := range laptop.Purchases {
				got = append(got, fmt.Sprintf("%s %.2f %s", pu.OrderID, pu.Amount, pu.Currency))
			}
			if diff := cmp.Diff([]string{"o-1 10.25 ", "o-2 20.50 EUR"}, got); diff != "" {
				t.Errorf("laptop purchases (-want +got):\n%s", diff)
			}

			// The two devices log in as one person: purchases merge.
			appendEvents(t, db, events(20,
				spec{kith.TypeIdentify, kith.KindWeb, "buyer", "laptop", 7 * time.Hour, `{}`},
				spec{kith.TypeIdentify, kith.KindApp, "buyer", "phone", 8 * time.Hour, `{}`},
				stage("buyer", kith.KindServer, 9*time.Hour, kith.StageProspect, kith.StageNew),
				stage("buyer", kith.KindWeb, 10*time.Hour, kith.StageNew, kith.StageLapsed), // not the lifecycle source
				stage("buyer", kith.KindServer, 8*time.Hour, "", kith.StageProspect),        // older: loses
			))
			drain(t, p)
			buyer := holder(t, db, kith.IDUserID, "buyer")
			got = got[:0]
			for _, pu := range buyer.Purchases {
				got = append(got, pu.OrderID)
			}
			if diff := cmp.Diff([]string{"o-1", "o-9", "o-2"}, got); diff != "" {
				t.Errorf("merged purchases (-want +got):\n%s", diff)
			}
			if l := buyer.Lifecycle; l.Stage != kith.StageNew || l.Previous != kith.StageProspect || !l.Since.Equal(t0.Add(9*time.Hour)) {
				t.Errorf("stage %+v, want new since 9h, previously prospect", l)
			}
		})
	}
}
