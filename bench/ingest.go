// Package bench holds Kith's load generators: bounded, loopback-only
// workloads that measure a Segment-compatible server, Kith or another.
package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// IngestOptions describe an ingestion run.
type IngestOptions struct {
	URL         string        // base URL of the server, e.g. http://127.0.0.1:8080
	WriteKey    string        // sent as Basic auth
	Count       int           // events to send; 0 means run for Duration
	Duration    time.Duration // how long to send when Count is 0
	Concurrency int           // concurrent clients
	BatchSize   int           // events per request: 1 posts to /v1/track etc., more to /v1/batch
	People      int           // distinct people in the workload
	Rate        float64       // events/s to offer in all (0: as fast as acknowledged)
	Seed        uint64
	// Progress, when set, is called about once a second with the events
	// acknowledged so far and the latest lag sample.
	Progress func(acked int64, elapsed time.Duration, lag Lag)
	// Lag, when set, measures processing lag: sampled every second during
	// the run, and after it until processing has caught up.
	Lag func(ctx context.Context) (Lag, error)
}

// Lag is how far processing is behind ingestion.
type Lag struct {
	Events int64         // events not yet processed
	Age    time.Duration // how long the oldest of them has waited
}

// IngestReport is what a run measured.
type IngestReport struct {
	Events     int64 // events acknowledged with 200
	Requests   int64
	Errors     int64 // requests that failed or got a non-200 status
	FirstError string
	Elapsed    time.Duration
	P50, P99   time.Duration // request latency
	Max        time.Duration
	BatchSize  int
	Clients    int

	// With a Lag function:
	MaxLag     time.Duration // the largest lag age sampled during the run
	CatchUp    time.Duration // from the end of the run until no event was unprocessed
	LagAtEnd   int64         // events unprocessed when the run ended
	LagSampled bool
}

// EventsPerSecond returns acknowledged events per second.
func (r *IngestReport) EventsPerSecond() float64 {
	return float64(r.Events) / r.Elapsed.Seconds()
}

// String formats the report as a few lines for a terminal.
func (r *IngestReport) String() string {
	s := fmt.Sprintf("%d events acknowledged in %s (%d requests of %d, %d clients): %.0f events/s, %.0f requests/s\nlatency per request: p50 %s  p99 %s  max %s",
		r.Events, r.Elapsed.Round(time.Millisecond), r.Requests, r.BatchSize, r.Clients, r.EventsPerSecond(),
		float64(r.Requests)/r.Elapsed.Seconds(), r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond))
	if r.LagSampled {
		s += fmt.Sprintf("\nprocessing: max lag %s during the run; caught up %s after it; %.0f events/s acknowledged and processed",
			r.MaxLag.Round(time.Millisecond), r.CatchUp.Round(time.Millisecond), float64(r.Events)/(r.Elapsed+r.CatchUp).Seconds())
		if r.CatchUp > time.Second {
			s += fmt.Sprintf("\nprocessing alone, after the run: %.0f events/s", float64(r.LagAtEnd)/r.CatchUp.Seconds())
		}
	}
	if r.Errors > 0 {
		s += fmt.Sprintf("\n%d requests failed; first: %s", r.Errors, r.FirstError)
	}
	return s
}

// CheckLoopback refuses a URL whose host is not a loopback address: the
// generator is for measuring one's own machine, not for loading others.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("url %q: want http://HOST:PORT", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("url %q: the load generator only targets loopback addresses (127.0.0.1, ::1, localhost)", raw)
	}
	return nil
}

// Ingest runs the workload and reports what it measured.
func Ingest(ctx context.Context, o IngestOptions) (*IngestReport, error) {
	if err := CheckLoopback(o.URL); err != nil {
		return nil, err
	}
	if o.Concurrency < 1 || o.BatchSize < 1 || o.People < 1 {
		return nil, errors.New("concurrency, batch size and people must be at least 1")
	}
	if o.Count <= 0 && o.Duration <= 0 {
		return nil, errors.New("give a count or a duration")
	}
	if o.BatchSize > 500 {
		return nil, errors.New("batch size above 500 would exceed the 500 KB batch limit")
	}
	runCtx := ctx
	if o.Count <= 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	tr := &http.Transport{MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(o.WriteKey+":"))
	w := newWorkload(o.People, o.Seed)

	var (
		acked, reqs, errs atomic.Int64
		remaining         atomic.Int64
		firstErr          sync.Once
		firstErrMsg       string
		mu                sync.Mutex
		lat               []time.Duration
		wg                sync.WaitGroup
	)
	remaining.Store(int64(o.Count))
	start := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	var maxLag time.Duration
	go func() {
		defer close(progressDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				var l Lag
				if o.Lag != nil {
					if got, err := o.Lag(ctx); err == nil {
						l = got
						maxLag = max(maxLag, l.Age)
					}
				}
				if o.Progress != nil {
					o.Progress(acked.Load(), time.Since(start), l)
				}
			case <-stopProgress:
				return
			}
		}
	}()
	for c := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.Seed, uint64(c)))
			gen := &generator{w: w, rng: rng, client: c}
			var mine []time.Duration
			var buf bytes.Buffer
			// With a rate, each client sends on its own schedule: one
			// request every concurrency×batch/rate seconds, staggered.
			var every time.Duration
			next := time.Now()
			if o.Rate > 0 {
				every = time.Duration(float64(time.Second) * float64(o.Concurrency*o.BatchSize) / o.Rate)
				next = next.Add(every * time.Duration(c) / time.Duration(o.Concurrency))
			}
			for runCtx.Err() == nil {
				if every > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-runCtx.Done():
							continue
						}
					}
					next = next.Add(every)
				}
				n := o.BatchSize
				if o.Count > 0 {
					left := remaining.Add(-int64(n))
					if left < 0 {
						n += int(left)
						if n <= 0 {
							break
						}
					}
				}
				buf.Reset()
				path := gen.body(&buf, n, time.Now())
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.URL+path, bytes.NewReader(buf.Bytes()))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", auth)
				t0 := time.Now()
				resp, err := client.Do(req)
				d := time.Since(t0)
				reqs.Add(1)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					if ctx.Err() != nil || runCtx.Err() != nil && o.Count <= 0 {
						break
					}
					errs.Add(1)
					firstErr.Do(func() { firstErrMsg = err.Error() })
					continue
				}
				acked.Add(int64(n))
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopProgress)
	<-progressDone
	r := &IngestReport{Events: acked.Load(), Requests: reqs.Load(), Errors: errs.Load(), FirstError: firstErrMsg,
		Elapsed: time.Since(start), BatchSize: o.BatchSize, Clients: o.Concurrency}
	if o.Lag != nil {
		r.LagSampled, r.MaxLag = true, maxLag
		end := time.Now()
		for first := true; ctx.Err() == nil; first = false {
			l, err := o.Lag(ctx)
			if err != nil {
				return r, fmt.Errorf("measure lag: %w", err)
			}
			if first {
				r.LagAtEnd = l.Events
			}
			if l.Events == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.CatchUp = time.Since(end)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50 = lat[len(lat)/2]
		r.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		r.Max = lat[len(lat)-1]
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, nil
}

// workload is the population of people the generator speaks for.
type workload struct {
	people []person
}

type person struct {
	mu         sync.Mutex
	anonID     string
	userID     string
	email      string
	phone      string
	identified bool
}

func newWorkload(n int, seed uint64) *workload {
	w := &workload{people: make([]person, n)}
	for i := range w.people {
		p := &w.people[i]
		p.anonID = fmt.Sprintf("anon-%d-%08x", i, seed^uint64(i)*2654435761)
		p.userID = "user-" + strconv.Itoa(i)
		p.email = "person" + strconv.Itoa(i) + "@example.com"
		p.phone = Phone(i)
	}
	return w
}

type generator struct {
	w      *workload
	rng    *rand.Rand
	client int
	seq    uint64
}

var pages = []struct{ path, title, category string }{
	{"/insurance/car", "Car insurance quotes", "car insurance"},
	{"/insurance/home", "Home insurance", "home insurance"},
	{"/mortgages/refinance", "Refinance your mortgage", "mortgage refinancing"},
	{"/sports/basketball/hoops", "Basketball hoops", "basketball hoop"},
	{"/phones/upgrade", "Upgrade your phone", "phone upgrade"},
	{"/help/contact", "Contact us", "support"},
}

var trackEvents = []string{"Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Quote Requested", "Video Played"}

// body writes n events to buf and returns the path to post them to.
func (g *generator) body(buf *bytes.Buffer, n int, now time.Time) string {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	if n == 1 {
		typ := g.message(buf, ts, false)
		return "/v1/" + typ
	}
	buf.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		g.message(buf, ts, true)
	}
	buf.WriteString(`],"sentAt":"`)
	buf.WriteString(ts)
	buf.WriteString(`"}`)
	return "/v1/batch"
}

// message writes one realistic event of about 500 bytes: a page view, a
// track call or, for a visitor not yet known, sometimes the identify that
// links their anonymous id to a user id.
func (g *generator) message(buf *bytes.Buffer, ts string, withType bool) string {
	p := &g.w.people[g.rng.IntN(len(g.w.people))]
	p.mu.Lock()
	identified := p.identified
	typ := "page"
	switch r := g.rng.IntN(100); {
	case r < 10 && !identified || r < 2:
		typ = "identify"
		p.identified = true
	case r < 55:
		typ = "track"
	}
	p.mu.Unlock()
	g.seq++
	pg := pages[g.rng.IntN(len(pages))]

	buf.WriteString(`{`)
	if withType {
		buf.WriteString(`"type":"` + typ + `",`)
	}
	buf.WriteString(`"messageId":"bench-`)
	buf.WriteString(strconv.Itoa(g.client))
	buf.WriteByte('-')
	buf.WriteString(strconv.FormatUint(g.seq, 10))
	buf.WriteString(`-`)
	buf.WriteString(strconv.FormatUint(g.rng.Uint64(), 36))
	buf.WriteString(`","anonymousId":"` + p.anonID + `",`)
	if identified || typ == "identify" {
		buf.WriteString(`"userId":"` + p.userID + `",`)
	}
	buf.WriteString(`"timestamp":"` + ts + `",`)
	switch typ {
	case "identify":
		buf.WriteString(`"traits":{"email":"` + p.email + `","phone":"` + p.phone + `","first_name":"Alex","last_name":"Doe","plan":"premium"},`)
	case "track":
		ev := trackEvents[g.rng.IntN(len(trackEvents))]
		buf.WriteString(`"event":"` + ev + `","properties":{"category":"` + pg.category + `","sku":"SKU-` +
			strconv.Itoa(g.rng.IntN(5000)) + `","price":` + strconv.Itoa(10+g.rng.IntN(990)) + `,"currency":"USD"},`)
	default:
		buf.WriteString(`"name":"` + pg.title + `","properties":{"path":"` + pg.path + `","url":"https://www.example.com` + pg.path +
			`","title":"` + pg.title + `","referrer":"https://www.google.com/"},`)
	}
	buf.WriteString(`"context":{"ip":"203.0.113.` + strconv.Itoa(g.rng.IntN(250)) +
		`","userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36","locale":"en-US",` +
		`"library":{"name":"analytics.js","version":"next-1.84.3"},"page":{"path":"` + pg.path + `","url":"https://www.example.com` + pg.path + `"}}`)
	buf.WriteString(`}`)
	return typ
}

// Phone returns the workload's phone number of person i: valid North
// American numbers (+1 415 2xx xxxx), unique up to 1,000,000 people.
func Phone(i int) string { return fmt.Sprintf("+1415%07d", 2000000+i) }
