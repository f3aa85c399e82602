package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kithhq/kith/eventlog/nats/natstest"
)

// natsLog configures the test's server to append to a stream of its own on
// the NATS server named by KITH_TEST_NATS, deleted when the test ends.
func natsLog(t *testing.T) func(*Config) {
	t.Helper()
	url, monitor := os.Getenv("KITH_TEST_NATS"), os.Getenv("KITH_TEST_NATS_MONITOR")
	if url == "" || monitor == "" {
		skipOrFail(t, "nats", "KITH_TEST_NATS and KITH_TEST_NATS_MONITOR are not set; run: eval \"$(scripts/nats-server.sh)\"")
	}
	stream := fmt.Sprintf("KITH_E2E_%d_%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		nc, err := natsgo.Connect(url)
		if err != nil {
			t.Errorf("delete stream %s: %v", stream, err)
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if err := js.DeleteStream(context.Background(), stream); err != nil {
			t.Errorf("delete stream %s: %v", stream, err)
		}
	})
	return func(c *Config) { c.Log, c.LogMonitor, c.LogStream = url, monitor, stream }
}

// TestNATSLog: with --log nats://…, ingestion is acknowledged once JetStream
// has the events, every node drains the partitions into the store, and the
// profiles come out as they do with the store's own log; a retried request
// is stored once.
func TestNATSLog(t *testing.T) { eachStore(t, testNATSLog) }

func testNATSLog(t *testing.T) {
	withLog := natsLog(t)
	m := startMain(t, withLog)
	if m.Log == nil {
		t.Fatal("the server does not use the NATS log")
	}
	c := newProfileClient(t, m)
	_, ccKey := c.createSource("call-center", "call_center")
	_, webKey := c.createSource("website", "web")
	t0 := time.Now().Add(-time.Hour).UTC()
	call := msg("track", "call-1", t0, map[string]any{"anonymousId": "caller-1", "event": "Call Started",
		"context": map[string]any{"traits": map[string]any{"phone": "+1 415 555 0199"}}})
	c.send(ccKey, call)
	c.send(ccKey, call) // a client's retry
	var batch []map[string]any
	for i := range 50 {
		batch = append(batch, msg("page", fmt.Sprint("web-", i), t0.Add(time.Duration(i)*time.Second), map[string]any{
			"anonymousId": fmt.Sprint("visitor-", i%7), "properties": map[string]any{"path": "/insurance/car"}}))
	}
	batch = append(batch, msg("identify", "web-id", t0.Add(time.Minute), map[string]any{"anonymousId": "visitor-3",
		"traits": map[string]any{"email": "mia@example.com", "phone": "(415) 555-0199"}}))
	c.send(webKey, batch...)

	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := m.DB.CountEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 52 {
			break
		}
		if n > 52 || time.Now().After(deadline) {
			t.Fatalf("the store holds %d events, want 52 (51 web, 1 call)", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.waitProcessed()
	p := c.lookup("phone", "+14155550199")
	if !p.has("anonymous_id", "caller-1") || !p.has("anonymous_id", "visitor-3") || !p.has("email", "mia@example.com") {
		t.Errorf("the caller and the web visitor are not one profile: %v", p.Identifiers)
	}
	if p.Channels["call_center"].Events != 1 {
		t.Errorf("call center events %d, want 1 (the retry is a duplicate)", p.Channels["call_center"].Events)
	}

	// The events went through the stream.
	nc, err := natsgo.Connect(m.Config.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, m.Config.LogStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		t.Errorf("stream %s holds %v messages (%v)", m.Config.LogStream, info.State.Msgs, err)
	}

	// Lag per partition, the log's backlog included, on /metrics; on
	// PostgreSQL every partition is processed by this node.
	st := c.processing()
	if onPostgres(t) {
		if len(st.Partitions) != 8 {
			t.Errorf("/v1/processing lists %d partitions, want 8", len(st.Partitions))
		}
		for _, p := range st.Partitions {
			if p.Node == "" || p.LagEvents != 0 {
				t.Errorf("partition %d: node %q, lag %d; want this node, none", p.Partition, p.Node, p.LagEvents)
			}
		}
	}
	resp, err := http.Get(m.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := []string{"kith_processing_lag_events 0", "kith_merges_total ", "kith_processed_events_total 52"}
	if onPostgres(t) {
		want = append(want, `kith_store_query_seconds_count{kind="select"}`)
	}
	for p := range 8 {
		want = append(want, fmt.Sprintf(`kith_log_pending_messages{partition="%d"} 0`, p))
		if onPostgres(t) {
			want = append(want, fmt.Sprintf(`kith_partition_lag_events{partition="%d"} 0`, p))
		}
	}
	for _, w := range want {
		if !strings.Contains(string(body), w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}

// TestNATSLogOutage: with the event log's server down, ingestion answers 503
// with a reason rather than accepting what it cannot store, and recovers by
// itself when the server returns; every acknowledged event is stored once.
func TestNATSLogOutage(t *testing.T) {
	srv := natstest.Start(t, true)
	m := startMain(t, func(c *Config) { c.Log, c.LogMonitor = srv.URL, srv.Monitor })
	c := newProfileClient(t, m)
	send := func(id string) (int, string) {
		b, _ := json.Marshal(map[string]any{"batch": []map[string]any{msg("track", id, time.Now(), map[string]any{
			"userId": "u-" + id, "event": "Call Started"})}})
		req, _ := http.NewRequest("POST", m.URL()+"/v1/batch", bytes.NewReader(b))
		req.SetBasicAuth(testWriteKey, "")
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := send("before"); status != http.StatusOK {
		t.Fatalf("before the outage: %d %s", status, body)
	}

	srv.Stop()
	status, body := send("during")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) || !strings.Contains(body, "event log (NATS) is unreachable") {
		t.Errorf("during the outage: %d %s, want 503 naming the event log", status, body)
	}
	if status, body, _ := getStatus(t, m.URL()+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "NATS") {
		t.Errorf("/readyz during the outage: %d %s", status, body)
	}

	srv.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := send("after")
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d %s 15 s after the server returned", status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		n, err := m.DB.CountEvents(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if n > 2 || time.Now().After(deadline) {
			t.Fatalf("the store holds %d events, want the 2 acknowledged ones", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getStatus(t *testing.T, url string) (int, string, error) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
