package sqlite_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/sqlite"
)

// The store's floor for an import: what writing alone costs, with no
// resolving, folding or decoding, for what one new person of `kith bench
// import` leaves in the store: a profile of four traits, its three
// identifiers and one timeline row (BenchmarkFloorProfiles), and the event
// in the log (BenchmarkFloorLog). An import can go no faster than these
// on this machine; docs/import.md compares them with the whole.
//
//	go test ./store/sqlite -run '^$' -bench Floor -benchtime 1000000x -timeout 30m

func BenchmarkFloorProfiles(b *testing.B) {
	b.Run("ids=kith", func(b *testing.B) { floorProfiles(b, func() string { return profile.NewID("prf_") }) })
	// The ids before: ten random bytes, no time.
	b.Run("ids=random", func(b *testing.B) {
		floorProfiles(b, func() string {
			r := make([]byte, 10)
			rand.Read(r)
			return "prf_" + hex.EncodeToString(r)
		})
	})
}

func floorProfiles(b *testing.B, newID func() string) {
	ctx := context.Background()
	db := open(b, b.TempDir(), sqlite.Options{})
	const perTx = 20000 // the processor's batch
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	trait := func(v string, seq int64) kith.Trait {
		raw, _ := json.Marshal(v)
		return kith.Trait{Value: raw, SourceID: "src_crm", Channel: "crm", Time: at, Seq: seq}
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(perTx, b.N-done)
		err := db.Process(ctx, "floor", int64(done+n), func(tx kith.ProfileTx) error {
			for i := done; i < done+n; i++ {
				seq := int64(i + 1)
				p := &kith.Profile{ID: newID(), CreatedSeq: seq, CreatedAt: at, UpdatedAt: at, Events: 1,
					Traits: map[string]kith.Trait{"first_name": trait("Ann", seq), "last_name": trait(fmt.Sprintf("Lee%d", i), seq),
						"city": trait("Springfield", seq), "tier": trait("gold", seq)},
					Channels:   map[kith.Kind]*kith.ChannelSeen{"crm": {First: at, Last: at, Events: 1}},
					SearchKeys: []string{fmt.Sprintf("ann lee%d", i), fmt.Sprintf("lee%d ann", i)}}
				if err := tx.PutProfile(ctx, p); err != nil {
					return err
				}
				ev := &kith.Event{Seq: seq, MessageID: fmt.Sprintf("imp-%d", i), SourceID: "src_crm", Timestamp: at}
				for _, id := range []kith.Identifier{{Type: kith.IDEmail, Value: fmt.Sprintf("customer%d@example.com", i)},
					{Type: kith.IDPhone, Value: fmt.Sprintf("+1415%07d", i)}, {Type: "loyalty_id", Value: fmt.Sprintf("L%09d", i)}} {
					if err := tx.AddLink(ctx, kith.Link{Identifier: id, ProfileID: p.ID, Seq: seq, MessageID: ev.MessageID,
						SourceID: ev.SourceID, At: at}); err != nil {
						return err
					}
				}
				if err := tx.AddTimeline(ctx, p.ID, ev, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "people/s")
}

func BenchmarkFloorLog(b *testing.B) {
	// An import's messageIds are hashes of the rows (importing them again
	// adds nothing); ids in order show what their randomness costs.
	b.Run("ids=hashed", func(b *testing.B) {
		floorLog(b, func(i int) string { return fmt.Sprintf("imp-%032x", uint64(i)*0x9e3779b97f4a7c15) })
	})
	b.Run("ids=ordered", func(b *testing.B) { floorLog(b, func(i int) string { return fmt.Sprintf("imp-%032x", i) }) })
}

func floorLog(b *testing.B, messageID func(int) string) {
	ctx := context.Background()
	db := open(b, b.TempDir(), sqlite.Options{})
	const perAppend = 5000 // the importer's batch
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(perAppend, b.N-done)
		evs := make([]kith.Event, n)
		for j := range evs {
			i := done + j
			// An imported row's message: its identifiers and traits, ~330 bytes.
			payload := fmt.Appendf(nil, `{"type":"identify","messageId":"imp-%032x","timestamp":"2026-01-02T03:04:05Z",`+
				`"context":{"traits":{"email":"customer%d@example.com","phone":"+1415%07d","loyalty_id":"L%09d"},`+
				`"import":{"file":"crm.csv","line":%d}},"traits":{"first_name":"Ann","last_name":"Lee%d","city":"Springfield","tier":"gold"}}`,
				i*7919, i, i, i, i+2, i)
			evs[j] = kith.Event{SourceID: "src_crm", MessageID: messageID(i), Type: kith.TypeIdentify,
				Channel: "crm", Timestamp: at, ReceivedAt: at, Payload: payload}
		}
		if _, err := db.Append(ctx, evs); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
