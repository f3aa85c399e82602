package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestTwoNodesKill runs two `kith serve` processes on one PostgreSQL schema
// and one NATS stream, sends events about overlapping people to both, and
// SIGKILLs one of them midway and starts it again. Every acknowledged event
// must be stored and processed exactly once, each person must be one
// profile, and both nodes must answer lookups alike.
func TestTwoNodesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds kith and runs two nodes")
	}
	store := postgresStore(t)
	var logCfg Config
	natsLog(t)(&logCfg)
	bin := buildKith(t)
	env := []string{"KITH_STORE=" + store, "KITH_LOG=" + logCfg.Log, "KITH_LOG_MONITOR=" + logCfg.LogMonitor,
		"KITH_LOG_STREAM=" + logCfg.LogStream, "KITH_BOOTSTRAP_API_KEY=" + testAPIKey}
	a := startKith(t, bin, t.TempDir(), env...)
	waitHealthy(t, a)
	b := startKith(t, bin, t.TempDir(), env...)
	waitHealthy(t, b)

	const people = 40
	var mu sync.Mutex
	acked := map[string]bool{}
	nodes := []*kithProc{a, b}
	send := func(ctx context.Context, worker, n int) {
		hc := &http.Client{Timeout: 5 * time.Second}
		node := nodes[worker%2]
		mu.Lock()
		base := node.url()
		mu.Unlock()
		var ids []string
		var msgs []map[string]any
		for i := range 20 {
			id := fmt.Sprintf("w%d-n%d-%d", worker, n, i)
			ids = append(ids, id)
			person := (worker*7 + n*3 + i) % people
			msgs = append(msgs, msg("track", id, time.Now(), map[string]any{
				"userId": fmt.Sprint("person-", person), "anonymousId": fmt.Sprintf("device-%d-%d", person, worker%2),
				"event": "Page Read", "context": map[string]any{"traits": map[string]any{"email": fmt.Sprintf("p%d@example.com", person)}}}))
		}
		body, _ := json.Marshal(map[string]any{"batch": msgs})
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/batch", bytes.NewReader(body))
		req.SetBasicAuth(testWriteKey, "")
		resp, err := hc.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		var ack struct{ Success bool }
		if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&ack) == nil && ack.Success {
			mu.Lock()
			for _, id := range ids {
				acked[id] = true
			}
			mu.Unlock()
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				send(ctx, w, n)
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	a.kill(t)
	time.Sleep(1500 * time.Millisecond)
	a2 := startKith(t, bin, t.TempDir(), env...)
	mu.Lock()
	nodes[0] = a2
	mu.Unlock()
	waitHealthy(t, a2)
	time.Sleep(1500 * time.Millisecond)
	stop()
	wg.Wait()
	if len(acked) < 200 {
		t.Fatalf("only %d events acknowledged; the test needs traffic", len(acked))
	}

	// Wait until every acknowledged event is stored and processed. A count
	// is not enough: events in flight at the kill may be stored without
	// having been acknowledged, while acknowledged ones the dead node had
	// fetched come back only after the consumer's AckWait.
	conn, err := pgx.Connect(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	c := &profileClient{t: t, base: b.url(), hc: &http.Client{Timeout: 10 * time.Second}}
	storedIDs := func() map[string]int {
		rows, err := conn.Query(context.Background(), "SELECT message_id, count(*) FROM events GROUP BY message_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		stored := map[string]int{}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			stored[id] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return stored
	}
	missing := func(stored map[string]int) int {
		n := 0
		for id := range acked {
			if stored[id] == 0 {
				n++
			}
		}
		return n
	}
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	var stored map[string]int
	for {
		stored = storedIDs()
		m := missing(stored)
		lag := c.processing().LagEvents
		if m == 0 && lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s %d of %d acknowledged events are not stored, processing lag %d", m, len(acked), lag)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("every acknowledged event stored and processed %.1f s after the traffic stopped", time.Since(start).Seconds())
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged event %s stored %d times, want once", id, stored[id])
		}
	}
	total := 0
	for id, n := range stored {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
		total += n
	}

	// One profile per person, the same on both nodes, holding every event
	// of that person once.
	ca := &profileClient{t: t, base: a2.url(), hc: c.hc}
	events := 0
	for p := range people {
		q := "/v1/profiles/lookup?user_id=" + url.QueryEscape(fmt.Sprint("person-", p))
		var pa, pb apiProfile
		status, body := c.call("GET", q, testAPIKey, nil)
		if status == http.StatusNotFound {
			continue // nobody sent about this person
		}
		if status != http.StatusOK || json.Unmarshal(body, &pb) != nil {
			t.Errorf("node b lookup person-%d: %d %s", p, status, body)
			continue
		}
		status, body = ca.call("GET", q, testAPIKey, nil)
		if status != http.StatusOK || json.Unmarshal(body, &pa) != nil || pa.ID != pb.ID || pa.Events != pb.Events {
			t.Errorf("person-%d: node a answers %d %s, node b profile %s with %d events", p, status, body, pb.ID, pb.Events)
		}
		events += pb.Events
	}
	if events != total {
		t.Errorf("profiles hold %d events, the store %d: each event must be processed exactly once", events, total)
	}
	t.Logf("%d events acknowledged, %d stored (the rest in flight at the kill), one profile per person on both nodes", len(acked), total)
}
