package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// batch is one request body on its way to a source.
type batch struct {
	src  int
	n    int // messages
	body []byte
}

// Load sends every message to the server at baseURL (such as
// "http://127.0.0.1:8080") through its Segment-compatible batch endpoint,
// POST /v1/batch, each batch to one source with that source's write key as
// the Basic-auth user name. writeKeys maps each SourceSpec.Name of Sources
// to its write key. client may be nil for a default one; a client of the
// caller's should keep enough idle connections per host (MaxIdleConnsPerHost
// of its http.Transport, 2 by default) for every request in flight, 36, or
// connections are opened and closed all the time.
//
// Several requests per source are in flight at once. A request that fails
// on the network or is answered 5xx or 429 is retried with the same bytes,
// which the server deduplicates by messageId; any other answer but 200, and
// a 200 that rejects messages, stops the load with an error naming the
// source and quoting the server. progress, if not nil, is called after each
// acknowledged batch with the messages acknowledged so far and Events(),
// from one goroutine at a time. Cancelling ctx stops Load promptly.
func (d *Dataset) Load(ctx context.Context, baseURL string, writeKeys map[string]string, client *http.Client, progress func(sent, total int)) error {
	var keys [numSources]string
	for s, src := range sources {
		if keys[s] = writeKeys[src.Name]; keys[s] == "" {
			return fmt.Errorf("demo: no write key for source %q", src.Name)
		}
	}
	if client == nil {
		tr := &http.Transport{MaxIdleConns: numSources * d.inFlight, MaxIdleConnsPerHost: numSources * d.inFlight}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	endpoint := strings.TrimRight(baseURL, "/") + "/v1/batch"
	total := d.Events()

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards sent, firstErr and calls to progress
		sent     int
		firstErr error
		free     = make(chan []byte, numSources*(d.inFlight+2)) // request bodies to reuse
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	var queues [numSources]chan *batch
	for s := range queues {
		queues[s] = make(chan *batch, 1)
		for range d.inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for bt := range queues[s] {
					if ctx.Err() != nil {
						continue // drain
					}
					if err := d.post(ctx, client, endpoint, s, keys[s], bt.body); err != nil {
						if ctx.Err() == nil {
							fail(err)
						}
						continue
					}
					mu.Lock()
					sent += bt.n
					if progress != nil {
						progress(sent, total)
					}
					mu.Unlock()
					select {
					case free <- bt.body[:0]:
					default:
					}
				}
			}()
		}
	}

	d.produce(ctx, func(bt *batch) bool {
		select {
		case queues[bt.src] <- bt:
			return true
		case <-ctx.Done():
			return false
		}
	}, func() []byte {
		select {
		case b := <-free:
			return b
		default:
			return make([]byte, 0, d.batchBytes)
		}
	})
	for _, q := range queues {
		close(q)
	}
	wg.Wait()

	if err := parent.Err(); err != nil {
		return fmt.Errorf("demo: load stopped after %d of %d messages: %w", sent, total, err)
	}
	return firstErr
}

// produce renders every message into per-source batches and hands each full
// batch to send, which reports false when the load stops.
func (d *Dataset) produce(ctx context.Context, send func(*batch) bool, newBody func() []byte) {
	g := newGen(d)
	var open [numSources]*batch
	var buf []byte
	flush := func(s int) bool {
		bt := open[s]
		open[s] = nil
		bt.body = append(bt.body, "]}"...)
		return send(bt)
	}
	for p := range d.people() {
		if ctx.Err() != nil {
			return
		}
		msgs := g.plan(p)
		for j := range msgs {
			buf = g.render(buf[:0], &msgs[j], j)
			s := int(msgs[j].src)
			if bt := open[s]; bt != nil && (bt.n >= d.batchMessages || len(bt.body)+len(buf)+3 > d.batchBytes) {
				if !flush(s) {
					return
				}
			}
			bt := open[s]
			if bt == nil {
				bt = &batch{src: s, body: append(newBody(), `{"batch":[`...)}
				open[s] = bt
			} else {
				bt.body = append(bt.body, ',')
			}
			bt.body = append(bt.body, buf...)
			bt.n++
		}
	}
	for s := range open {
		if open[s] != nil && !flush(s) {
			return
		}
	}
}

// post sends one batch, retrying what may succeed later.
func (d *Dataset) post(ctx context.Context, client *http.Client, endpoint string, src int, key string, body []byte) error {
	name := sources[src].Name
	wait := d.backoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := d.try(ctx, client, endpoint, key, body)
		if err == nil {
			return nil
		}
		var hard *hardError
		if errors.As(err, &hard) {
			return fmt.Errorf("demo: source %q: %w", name, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= d.attempts {
			return fmt.Errorf("demo: source %q: giving up after %d attempts: %w", name, attempt, err)
		}
		w := min(max(wait, retryAfter), 30*time.Second)
		t := time.NewTimer(w)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		wait *= 2
	}
}

// hardError is an answer that retrying would not change.
type hardError struct{ msg string }

func (e *hardError) Error() string { return e.msg }

// try posts body once. It returns a *hardError for an answer that retrying
// would not change, another error for one worth retrying (with how long the
// server asked to wait, if it did).
func (d *Dataset) try(ctx context.Context, client *http.Client, endpoint, key string, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, &hardError{err.Error()}
	}
	req.SetBasicAuth(key, "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kith-demo/1")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	answer = bytes.TrimSpace(answer)
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code >= 500:
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return after, fmt.Errorf("POST %s: %s: %s", endpoint, resp.Status, answer)
	case code < 200 || code > 299:
		return 0, &hardError{fmt.Sprintf("POST %s: %s: %s", endpoint, resp.Status, answer)}
	case err != nil:
		return 0, fmt.Errorf("POST %s: read answer: %w", endpoint, err)
	}
	if bytes.Contains(answer, []byte(`"rejected"`)) {
		var r struct {
			Rejected []json.RawMessage `json:"rejected"`
		}
		if json.Unmarshal(answer, &r) == nil && len(r.Rejected) > 0 {
			return 0, &hardError{fmt.Sprintf("POST %s: the server rejected %d messages: %s", endpoint, len(r.Rejected), answer)}
		}
	}
	return 0, nil
}
