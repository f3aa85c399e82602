package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kithhq/kith"
)

// LoadFixtures appends events for people persons straight to the log, in
// large batches: person i first identifies (user id, e-mail, phone), then
// browses and acts. Events are spread over the 90 days before now.
func LoadFixtures(ctx context.Context, log kith.EventLog, sourceID string, people, events int, progress func(done int)) error {
	const batch = 5000
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]kith.Event, 0, batch)
	for k := 0; k < events; {
		buf = buf[:0]
		for ; k < events && len(buf) < batch; k++ {
			i := k % people
			ts := now.Add(-time.Duration(rng.Int64N(int64(90 * 24 * time.Hour))))
			e := kith.Event{MessageID: "fx-" + strconv.Itoa(k), SourceID: sourceID, Channel: kith.KindWeb,
				AnonymousID: "fx-anon-" + strconv.Itoa(i), UserID: "fx-user-" + strconv.Itoa(i), Timestamp: ts, ReceivedAt: now}
			pg := pages[k%len(pages)]
			switch {
			case k < people:
				e.Type = kith.TypeIdentify
				e.Timestamp = now.Add(-91 * 24 * time.Hour)
				e.Payload = fmt.Appendf(nil, `{"type":"identify","userId":%q,"anonymousId":%q,"traits":{"email":"fx%d@example.com","phone":%q,"first_name":"Fix","last_name":"Ture%d"},"context":{"library":{"name":"fixtures"}}}`,
					e.UserID, e.AnonymousID, i, Phone(i), i)
			case k%2 == 0:
				e.Type = kith.TypePage
				e.Payload = fmt.Appendf(nil, `{"type":"page","userId":%q,"anonymousId":%q,"name":%q,"properties":{"path":%q,"url":"https://www.example.com%s","title":%q},"context":{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36","locale":"en-US"}}`,
					e.UserID, e.AnonymousID, pg.title, pg.path, pg.path, pg.title)
			default:
				e.Type = kith.TypeTrack
				e.Payload = fmt.Appendf(nil, `{"type":"track","userId":%q,"anonymousId":%q,"event":%q,"properties":{"category":%q,"sku":"SKU-%d","price":%d,"currency":"USD"},"context":{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"}}`,
					e.UserID, e.AnonymousID, trackEvents[k%len(trackEvents)], pg.category, rng.IntN(5000), 10+rng.IntN(990))
			}
			buf = append(buf, e)
		}
		if _, err := log.Append(ctx, buf); err != nil {
			return fmt.Errorf("load fixtures: %w", err)
		}
		if progress != nil {
			progress(k)
		}
	}
	return nil
}

// LookupOptions describe a lookup run against a loaded server.
type LookupOptions struct {
	URL         string
	APIKey      string
	People      int // phones of person 0..People-1 are looked up
	Rate        float64
	Duration    time.Duration
	Concurrency int
}

// LookupReport is what a lookup run measured.
type LookupReport struct {
	Lookups, Errors int64
	FirstError      string
	Elapsed         time.Duration
	P50, P99, Max   time.Duration
}

func (r *LookupReport) String() string {
	s := fmt.Sprintf("%d lookups by phone in %s: %.0f/s; latency p50 %s  p99 %s  max %s",
		r.Lookups, r.Elapsed.Round(time.Millisecond), float64(r.Lookups)/r.Elapsed.Seconds(),
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
	if r.Errors > 0 {
		s += fmt.Sprintf("\n%d failed; first: %s", r.Errors, r.FirstError)
	}
	return s
}

// Lookup looks profiles up by phone at a steady rate and measures latency.
func Lookup(ctx context.Context, o LookupOptions) (*LookupReport, error) {
	if err := CheckLoopback(o.URL); err != nil {
		return nil, err
	}
	if o.Rate <= 0 || o.Concurrency < 1 || o.People < 1 || o.Duration <= 0 {
		return nil, fmt.Errorf("rate, concurrency, people and duration must be positive")
	}
	tr := &http.Transport{MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var (
		n, errs  atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		firstErr sync.Once
		errMsg   string
		wg       sync.WaitGroup
	)
	every := time.Duration(float64(time.Second) * float64(o.Concurrency) / o.Rate)
	start := time.Now()
	for c := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			next := start.Add(every * time.Duration(c) / time.Duration(o.Concurrency))
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
				u := o.URL + "/v1/profiles/lookup?phone=" + url.QueryEscape(Phone(rng.IntN(o.People)))
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				req.Header.Set("Authorization", "Bearer "+o.APIKey)
				t0 := time.Now()
				resp, err := client.Do(req)
				d := time.Since(t0)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				n.Add(1)
				if err != nil {
					errs.Add(1)
					firstErr.Do(func() { errMsg = err.Error() })
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := &LookupReport{Lookups: n.Load(), Errors: errs.Load(), FirstError: errMsg, Elapsed: time.Since(start)}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50, r.P99, r.Max = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]
	}
	return r, ctx.Err()
}
