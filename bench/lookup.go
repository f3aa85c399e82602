package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
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
type LookupReport struct{ Latencies }

func (r *LookupReport) String() string { return r.Summary("lookups by phone") }

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
	lat, err := OpenLoop(ctx, o.Rate, o.Duration, o.Concurrency, func(ctx context.Context, i int64) error {
		// A fixed scatter of people: every run asks for the same ones.
		person := int((uint64(i) * 2654435761) % uint64(o.People))
		u := o.URL + "/v1/profiles/lookup?phone=" + url.QueryEscape(Phone(person))
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+o.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
	return &LookupReport{lat}, err
}
