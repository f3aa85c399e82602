package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latencies is what an open-loop run measured.
type Latencies struct {
	Requests, Errors int64
	FirstError       string
	Elapsed          time.Duration
	P50, P99, Max    time.Duration
}

// Summary says what was measured, naming the requests as what.
func (r *Latencies) Summary(what string) string {
	s := fmt.Sprintf("%d %s in %s: %.0f/s; latency p50 %s  p99 %s  max %s",
		r.Requests, what, r.Elapsed.Round(time.Millisecond), float64(r.Requests)/r.Elapsed.Seconds(),
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
	if r.Errors > 0 {
		s += fmt.Sprintf("\n%d failed; first: %s", r.Errors, r.FirstError)
	}
	return s
}

// OpenLoop calls do at a fixed arrival rate for d, from conc workers each
// keeping its own schedule, and measures the latency of the calls that
// succeed. Arrivals do not wait for answers: a slow answer delays only its
// worker's next call, so with enough workers the rate holds and queueing
// shows in the latencies (an open loop). i numbers the calls from 0.
func OpenLoop(ctx context.Context, rate float64, d time.Duration, conc int, do func(ctx context.Context, i int64) error) (Latencies, error) {
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		n, errs  atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		firstErr sync.Once
		errMsg   string
		wg       sync.WaitGroup
	)
	every := time.Duration(float64(time.Second) * float64(conc) / rate)
	start := time.Now()
	for c := range conc {
		wg.Go(func() {
			next := start.Add(every * time.Duration(c) / time.Duration(conc))
			var mine []time.Duration
			for {
				if d := time.Until(next); d > 0 {
					select {
					case <-time.After(d):
					case <-runCtx.Done():
					}
				}
				if runCtx.Err() != nil {
					break
				}
				next = next.Add(every)
				i := n.Add(1) - 1
				t0 := time.Now()
				err := do(ctx, i)
				took := time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.Do(func() { errMsg = err.Error() })
					continue
				}
				mine = append(mine, took)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := Latencies{Requests: n.Load(), Errors: errs.Load(), FirstError: errMsg, Elapsed: time.Since(start)}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50, r.P99, r.Max = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]
	}
	return r, ctx.Err()
}
