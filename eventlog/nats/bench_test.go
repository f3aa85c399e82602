package nats

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// BenchmarkAppend measures durable appends of 100-event requests (~500-byte
// events, 20 people, so about 8 messages per request) from 1 and 32
// concurrent callers, as ingestion would make them:
//
//	eval "$(scripts/nats-server.sh)"; export KITH_TEST_NATS KITH_TEST_NATS_MONITOR
//	go test ./eventlog/nats -run '^$' -bench Append -benchtime 5s
func BenchmarkAppend(b *testing.B) {
	for _, callers := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			l, _ := openTest(b)
			const size = 100
			// Each request has its own message ids, so none is a
			// duplicate; only the ids are made while the clock runs.
			template := makeEvents("b", size, 20)
			reqs := make(chan int, b.N)
			for i := range b.N {
				reqs <- i
			}
			close(reqs)
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range callers {
				wg.Go(func() {
					for i := range reqs {
						events := append([]kith.Event(nil), template...)
						for j := range events {
							events[j].MessageID = fmt.Sprintf("b%d-%d", i, j)
						}
						if _, err := l.Append(context.Background(), events); err != nil {
							failed.Add(1)
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*size)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(elapsed.Microseconds())/1000*float64(callers)/float64(b.N), "ms/append")
		})
	}
}
