package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// request is one request the fake server received.
type request struct {
	method, path, user, pass string
	basic                    bool
	body                     []byte
	status                   int
}

// fakeServer records what Load sends; answer decides each answer (nil: 200).
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []request
	inFlight map[string]int
	most     map[string]int
	answer   func(n int, r request) (status int, body string)
}

func newFakeServer(t *testing.T, answer func(n int, r request) (int, string)) *fakeServer {
	t.Helper()
	f := &fakeServer{inFlight: map[string]int{}, most: map[string]int{}, answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	user, pass, ok := r.BasicAuth()
	req := request{method: r.Method, path: r.URL.Path, user: user, pass: pass, basic: ok, body: body}
	f.mu.Lock()
	n := len(f.reqs)
	f.inFlight[user]++
	f.most[user] = max(f.most[user], f.inFlight[user])
	f.mu.Unlock()
	status, answer := http.StatusOK, `{"success":true}`
	if f.answer != nil {
		status, answer = f.answer(n, req)
	}
	time.Sleep(time.Millisecond) // let requests overlap
	// Record before answering: Load may return as soon as it has the answer.
	req.status = status
	f.mu.Lock()
	f.inFlight[user]--
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if status == -1 { // drop the connection
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, answer+"\n")
}

func (f *fakeServer) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

func testKeys() map[string]string {
	keys := map[string]string{}
	for _, s := range Sources() {
		keys[s.Name] = "wk-" + s.Name
	}
	return keys
}

// tiny is a dataset that loads in a moment.
func tiny() *Dataset {
	d := New(Config{People: 40, HeavyEvents: 400, Seed: 11, Now: testNow})
	d.backoff = time.Millisecond
	return d
}

// messageSources maps each messageId of d to the source it belongs to.
func messageSources(d *Dataset) map[string]string {
	out := map[string]string{}
	for src, b := range d.Messages() {
		var m struct {
			MessageID string `json:"messageId"`
		}
		json.Unmarshal(b, &m)
		out[m.MessageID] = src.Name
	}
	return out
}

// batchIDs returns the messageIds in a request body.
func batchIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var b struct {
		Batch []struct {
			MessageID string `json:"messageId"`
		} `json:"batch"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("request body is not a batch: %v", err)
	}
	ids := make([]string, len(b.Batch))
	for i, m := range b.Batch {
		ids[i] = m.MessageID
	}
	return ids
}

func TestLoad(t *testing.T) {
	d := tiny()
	srv := newFakeServer(t, nil)
	keys := testKeys()
	var calls [][2]int
	err := d.Load(context.Background(), srv.URL+"/", keys, srv.Client(), func(sent, total int) {
		calls = append(calls, [2]int{sent, total}) // one goroutine at a time, says Load
	})
	if err != nil {
		t.Fatal(err)
	}
	want := messageSources(d)
	got := map[string]bool{}
	for _, r := range srv.requests() {
		if r.method != http.MethodPost || r.path != "/v1/batch" || !r.basic || r.pass != "" {
			t.Fatalf("request %s %s, basic auth %v (%q, %q)", r.method, r.path, r.basic, r.user, r.pass)
		}
		ids := batchIDs(t, r.body)
		if len(ids) == 0 || len(ids) > 250 || len(r.body) >= 500<<10 {
			t.Errorf("batch of %d messages, %d bytes", len(ids), len(r.body))
		}
		for _, id := range ids {
			if src, ok := want[id]; !ok || keys[src] != r.user {
				t.Errorf("%s (source %q) sent with key %q", id, src, r.user)
			}
			if got[id] {
				t.Errorf("%s sent twice", id)
			}
			got[id] = true
		}
	}
	if len(got) != d.Events() {
		t.Errorf("server received %d messages, Events() is %d", len(got), d.Events())
	}
	for i, c := range calls {
		if c[1] != d.Events() || i > 0 && c[0] <= calls[i-1][0] {
			t.Fatalf("progress call %d: %v after %v", i, c, calls[max(0, i-1)])
		}
	}
	if len(calls) == 0 || calls[len(calls)-1][0] != d.Events() {
		t.Errorf("progress ended at %v; want %d", calls[len(calls)-1], d.Events())
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for key, n := range srv.most {
		if n > d.inFlight {
			t.Errorf("%d requests in flight with key %s; at most %d", n, key, d.inFlight)
		}
	}
}

// TestLoadRetries checks that a request the server could not take is sent
// again, byte for byte, so the server can deduplicate it.
func TestLoadRetries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
	}{{"503", http.StatusServiceUnavailable}, {"429", http.StatusTooManyRequests}, {"dropped connection", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			d := tiny()
			srv := newFakeServer(t, func(n int, r request) (int, string) {
				if n == 0 {
					return tc.status, `{"error":{"code":"unavailable","message":"busy"}}`
				}
				return http.StatusOK, `{"success":true}`
			})
			if err := d.Load(context.Background(), srv.URL, testKeys(), nil, nil); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			var failed request
			for _, r := range reqs {
				if r.status == tc.status {
					failed = r
				}
			}
			resent, received := 0, map[string]bool{}
			for _, r := range reqs {
				if r.status == http.StatusOK {
					if r.user == failed.user && bytes.Equal(r.body, failed.body) {
						resent++
					}
					for _, id := range batchIDs(t, r.body) {
						received[id] = true
					}
				}
			}
			if failed.body == nil || resent != 1 {
				t.Errorf("the failed batch was resent identically %d times; want once", resent)
			}
			if len(received) != d.Events() {
				t.Errorf("%d messages acknowledged, want %d", len(received), d.Events())
			}
		})
	}
}

func TestLoadGivesUp(t *testing.T) {
	d := tiny()
	srv := newFakeServer(t, func(int, request) (int, string) { return http.StatusBadGateway, "bad gateway" })
	err := d.Load(context.Background(), srv.URL, testKeys(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "giving up after 5 attempts") || !strings.Contains(err.Error(), "502") {
		t.Fatalf("Load: %v", err)
	}
}

func TestLoadStopsOnClientError(t *testing.T) {
	const answer = `{"error":{"code":"invalid","field":"batch[3].userId","message":"userId or anonymousId is required"}}`
	keys := testKeys()
	for _, tc := range []struct {
		name, answer, want string
		status             int
	}{
		{"400", answer, `400 Bad Request: ` + answer, http.StatusBadRequest},
		{"401", `{"error":{"code":"unauthorized","message":"unknown write key"}}`, "unknown write key", http.StatusUnauthorized},
		{"rejected", `{"success":true,"rejected":[{"index":0,"code":"invalid","message":"nope"}]}`, "rejected 1 messages", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tiny()
			srv := newFakeServer(t, func(n int, r request) (int, string) {
				if r.user == keys["demo-email"] {
					return tc.status, tc.answer
				}
				return http.StatusOK, `{"success":true}`
			})
			err := d.Load(context.Background(), srv.URL, keys, nil, nil)
			if err == nil || !strings.Contains(err.Error(), `source "demo-email"`) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v; want an error naming the source and quoting %q", err, tc.want)
			}
			seen := map[string]bool{}
			for _, r := range srv.requests() {
				if r.user == keys["demo-email"] {
					if seen[string(r.body)] {
						t.Error("a batch refused with a client error was sent again")
					}
					seen[string(r.body)] = true
				}
			}
		})
	}
}

func TestLoadCancel(t *testing.T) {
	d := New(Config{People: 500, HeavyEvents: 1000, Seed: 2, Now: testNow})
	arrived := make(chan struct{}, 1)
	srv := newFakeServer(t, func(n int, r request) (int, string) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		time.Sleep(20 * time.Millisecond)
		return http.StatusOK, `{"success":true}`
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Load(ctx, srv.URL, testKeys(), nil, nil) }()
	<-arrived
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Load after cancel: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Load did not stop after its context was cancelled")
	}
	if n := len(srv.requests()); n >= d.Events()/d.batchMessages {
		t.Errorf("%d requests after cancelling; want few", n)
	}
}

func TestLoadNeedsEveryKey(t *testing.T) {
	srv := newFakeServer(t, nil)
	keys := testKeys()
	delete(keys, "demo-stores")
	err := tiny().Load(context.Background(), srv.URL, keys, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"demo-stores"`) {
		t.Errorf("Load without a key: %v", err)
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
