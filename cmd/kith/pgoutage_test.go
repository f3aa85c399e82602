package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith/store/postgres/pgtest"
)

// TestPostgresOutage: with the PostgreSQL store (which is then the event log
// too) on a server of the test's own, the server goes away three ways — shut
// down, killed, and killed while a request waits inside it. While it is
// away, ingestion answers 503 with an error naming the database rather than
// accepting what it cannot store, /readyz answers 503 saying why, and
// /healthz stays 200: the process is alive and needs no restart. When the
// server is back on the same port and data directory, the same Kith
// recovers by itself within seconds; every event acknowledged before,
// between and after the outages is stored once and in its profile, none
// answered 503 was stored, and those the client resends are stored once.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs initdb and stops, kills and restarts a PostgreSQL server; skipped with -short")
	}
	pg := pgtest.Start(t)
	o := &pgOutage{t: t, pg: pg, acked: map[string]string{}, refused: map[string]string{},
		hc: &http.Client{Timeout: 20 * time.Second}}
	// A long write key cache: the bootstrap key stays cached through the
	// outages, while each phase's cold key, first used during its outage,
	// needs the database to be authenticated.
	o.m = startMain(t, func(c *Config) {
		c.Store = pg.URL()
		c.WriteKeyCacheTTL = Duration(time.Hour)
	})
	if o.m.Log != nil {
		t.Fatal("the server uses a NATS log; the test wants the store's own")
	}
	o.c = newProfileClient(t, o.m)
	phases := []struct {
		name string
		down func()
	}{
		{"shutdown", func() { pg.Stop() }},
		{"kill", func() { pg.Kill() }},
		{"in-flight", o.killInFlight},
	}
	cold := map[string]string{}
	for _, p := range phases {
		_, cold[p.name] = o.c.createSource("cold-"+p.name, "web")
	}

	o.mustAck(testWriteKey, "before")
	o.c.waitProcessed()
	for _, p := range phases {
		start := time.Now()
		o.mustAck(testWriteKey, p.name+"-up")
		p.down()
		o.checkDown(p.name, cold[p.name])
		pg.Start()
		o.checkNothingHalfStored(p.name)
		took := o.recover(p.name)
		o.mustAck(cold[p.name], p.name+"-cold")
		o.resendRefused(p.name)
		t.Logf("%s: ingestion answered 200 again %v after the server accepted connections (phase took %v)",
			p.name, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
	o.mustAck(testWriteKey, "end")
	o.c.waitProcessed()
	o.checkStoredOnce()
	o.checkProfiles()
}

// pgOutage is the state of TestPostgresOutage: the servers, and what the
// client was told about each messageId.
type pgOutage struct {
	t  *testing.T
	pg *pgtest.Server
	m  *Main
	c  *profileClient
	hc *http.Client
	// acked maps each messageId answered 200 to its write key; refused
	// each answered 503 and not yet resent.
	acked, refused map[string]string
}

// send posts one track event, messageId id of user "u-"+id, as a batch.
func (o *pgOutage) send(writeKey, id string) (status int, body string, took time.Duration, err error) {
	b, _ := json.Marshal(map[string]any{"batch": []map[string]any{msg("track", id, time.Now(), map[string]any{
		"userId": "u-" + id, "event": "Call Started"})}})
	req, _ := http.NewRequest("POST", o.m.URL()+"/v1/batch", bytes.NewReader(b))
	req.SetBasicAuth(writeKey, "")
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := o.hc.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(rb), time.Since(start), err
}

// mustAck sends an event that must be acknowledged now.
func (o *pgOutage) mustAck(writeKey, id string) {
	o.t.Helper()
	status, body, _, err := o.send(writeKey, id)
	if err != nil || status != http.StatusOK {
		o.t.Fatalf("send %s: %d %s %v, want 200", id, status, strings.TrimSpace(body), err)
	}
	o.acked[id] = writeKey
}

// checkRefused checks the answer to an ingestion request while the
// database is away: 503, promptly, with a JSON error whose code is
// unavailable and whose message names the database.
func (o *pgOutage) checkRefused(what, id, writeKey string, status int, body string, took time.Duration, err error) {
	o.t.Helper()
	if err != nil {
		o.t.Errorf("%s: the request failed after %v: %v", what, took.Round(time.Millisecond), err)
		return
	}
	if status == http.StatusOK {
		// Acknowledged although the database is away: the event must be
		// stored after all, which checkNothingHalfStored will show.
		o.t.Errorf("%s: 200 %s, want 503: acknowledged what it cannot store", what, strings.TrimSpace(body))
		o.acked[id] = writeKey
		return
	}
	o.refused[id] = writeKey
	var e struct {
		Error struct{ Code, Message string }
	}
	jerr := json.Unmarshal([]byte(body), &e)
	msg := strings.ToLower(e.Error.Message)
	if status != http.StatusServiceUnavailable || jerr != nil || e.Error.Code != "unavailable" ||
		!(strings.Contains(msg, "database") || strings.Contains(msg, "postgres") || strings.Contains(msg, "store")) {
		o.t.Errorf("%s: %d %s, want 503 with error code unavailable and a message naming the database",
			what, status, strings.TrimSpace(body))
	}
	if took > 10*time.Second {
		o.t.Errorf("%s: answered after %v; a client should not wait that long to learn the database is away", what, took)
	}
}

// checkDown checks Kith while the database is away: ingestion with a cached
// and with a cold write key, /readyz and /healthz.
func (o *pgOutage) checkDown(phase, coldKey string) {
	o.t.Helper()
	// The first requests may meet the pool's broken connections, the later
	// ones a refused connect.
	for i := range 3 {
		id := fmt.Sprintf("%s-during-%d", phase, i)
		status, body, took, err := o.send(testWriteKey, id)
		o.checkRefused(fmt.Sprintf("%s: during the outage, request %d", phase, i), id, testWriteKey, status, body, took, err)
	}
	id := phase + "-during-cold"
	status, body, took, err := o.send(coldKey, id)
	o.checkRefused(phase+": during the outage, a write key not cached", id, coldKey, status, body, took, err)

	status, body, err = getStatus(o.t, o.m.URL()+"/readyz")
	if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) ||
		!strings.Contains(body, "store") {
		o.t.Errorf("%s: /readyz during the outage: %d %s %v, want 503 saying the store does not answer",
			phase, status, strings.TrimSpace(body), err)
	}
	status, body, err = getStatus(o.t, o.m.URL()+"/healthz")
	if err != nil || status != http.StatusOK {
		o.t.Errorf("%s: /healthz during the outage: %d %s %v, want 200: the process is alive, "+
			"restarting it would not bring the database back", phase, status, strings.TrimSpace(body), err)
	}
}

// killInFlight kills the server while an ingestion request waits inside
// it: another transaction holds the events table locked, so the append's
// INSERT waits for the lock on the server; once the server shows it
// waiting, the server is killed, and the request must be answered 503. Its
// transaction never committed, so its event must not be stored.
func (o *pgOutage) killInFlight() {
	o.t.Helper()
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, o.pg.URL())
	if err != nil {
		o.t.Fatal(err)
	}
	defer locker.Close(ctx)
	if _, err := locker.Exec(ctx, "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE"); err != nil {
		o.t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
		took   time.Duration
		err    error
	}
	const id = "in-flight-waiting"
	answered := make(chan answer, 1)
	go func() {
		var a answer
		a.status, a.body, a.took, a.err = o.send(testWriteKey, id)
		answered <- a
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := locker.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass AND NOT granted").Scan(&waiting)
		if err != nil {
			o.t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case a := <-answered:
			o.t.Fatalf("in-flight: answered %d %s %v before its append reached the locked table", a.status, a.body, a.err)
		default:
		}
		if time.Now().After(deadline) {
			o.t.Fatal("in-flight: after 10 s no append waits for the events table")
		}
		time.Sleep(10 * time.Millisecond)
	}
	killed := time.Now()
	o.pg.Kill()
	select {
	case a := <-answered:
		o.checkRefused("in-flight: the request waiting inside the killed server", id, testWriteKey, a.status, a.body, time.Since(killed), a.err)
	case <-time.After(15 * time.Second):
		o.t.Errorf("in-flight: no answer 15 s after the server was killed under the request; it hangs")
		o.refused[id] = testWriteKey
	}
}

// storedIDs returns how often the log holds each messageId, reading the
// events table directly.
func (o *pgOutage) storedIDs() map[string]int {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, o.pg.URL())
	if err != nil {
		o.t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT message_id FROM events")
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		o.t.Fatal(err)
	}
	n := map[string]int{}
	for _, id := range ids {
		n[id]++
	}
	return n
}

// checkNothingHalfStored checks, with the server back and before the client
// resends anything, that the log holds exactly the acknowledged events.
func (o *pgOutage) checkNothingHalfStored(phase string) {
	o.t.Helper()
	stored := o.storedIDs()
	for id := range o.refused {
		if stored[id] > 0 {
			o.t.Errorf("%s: %s was answered 503 but is stored", phase, id)
		}
	}
	for id := range o.acked {
		if stored[id] != 1 {
			o.t.Errorf("%s: %s was acknowledged before the outage but is stored %d times", phase, id, stored[id])
		}
	}
}

// recover waits until ingestion answers 200 again, without restarting
// Kith, and checks /readyz; it returns how long that took.
func (o *pgOutage) recover(phase string) time.Duration {
	o.t.Helper()
	back := time.Now()
	id := phase + "-after"
	var last string
	wrong := false
	for time.Since(back) < 15*time.Second {
		status, body, _, err := o.send(testWriteKey, id)
		if err == nil && status == http.StatusOK {
			o.acked[id] = testWriteKey
			delete(o.refused, id)
			took := time.Since(back)
			status, body, err := getStatus(o.t, o.m.URL()+"/readyz")
			if err != nil || status != http.StatusOK {
				o.t.Errorf("%s: /readyz once ingestion recovered: %d %s %v, want 200", phase, status, strings.TrimSpace(body), err)
			}
			return took
		}
		if err == nil && status != http.StatusServiceUnavailable && !wrong {
			wrong = true // once a phase is enough
			o.t.Errorf("%s: while recovering: %d %s, want 503 until ready, then 200", phase, status, strings.TrimSpace(body))
		}
		o.refused[id] = testWriteKey // the next try is the client's resend
		last = fmt.Sprintf("%d %s %v", status, strings.TrimSpace(body), err)
		time.Sleep(100 * time.Millisecond)
	}
	o.t.Fatalf("%s: ingestion still answers %s 15 s after the server returned", phase, last)
	return 0
}

// resendRefused resends, as a client would, every event answered 503.
func (o *pgOutage) resendRefused(phase string) {
	o.t.Helper()
	for _, id := range slices.Sorted(maps.Keys(o.refused)) {
		key := o.refused[id]
		status, body, _, err := o.send(key, id)
		if err != nil || status != http.StatusOK {
			o.t.Errorf("%s: resending %s after recovery: %d %s %v, want 200", phase, id, status, strings.TrimSpace(body), err)
			continue
		}
		o.acked[id] = key
		delete(o.refused, id)
	}
}

// checkStoredOnce checks that the log holds every acknowledged event once
// and nothing else.
func (o *pgOutage) checkStoredOnce() {
	o.t.Helper()
	stored := o.storedIDs()
	for _, id := range slices.Sorted(maps.Keys(o.acked)) {
		if stored[id] != 1 {
			o.t.Errorf("%s was acknowledged and is stored %d times, want once", id, stored[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(stored)) {
		if _, ok := o.acked[id]; !ok {
			o.t.Errorf("%s is stored but was never acknowledged", id)
		}
	}
	if len(o.refused) > 0 {
		o.t.Errorf("never acknowledged, although resent after recovery: %v", slices.Sorted(maps.Keys(o.refused)))
	}
}

// checkProfiles checks that every acknowledged event was processed into
// its user's profile, once.
func (o *pgOutage) checkProfiles() {
	o.t.Helper()
	for _, id := range slices.Sorted(maps.Keys(o.acked)) {
		p := o.c.lookup("user_id", "u-"+id)
		if p.Events != 1 {
			o.t.Errorf("the profile of u-%s counts %d events, want 1", id, p.Events)
		}
	}
}
