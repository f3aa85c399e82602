package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kithhq/kith/store/sqlite"
)

// These tests run the real binary, because what they check — an
// acknowledged event survives SIGKILL; SIGTERM drains in-flight requests and
// exits 0 — happens only in a separate process.

const eventsPerBatch = 50

// TestKillDuringIngestLosesNothing kills `kith serve` with SIGKILL while
// clients are posting batches, restarts it on the same data directory,
// and does that several times. Then it opens the store directly: every
// messageId that was acknowledged with 200 must be stored exactly once, and
// no messageId may be stored twice, although clients resend acknowledged
// messageIds across restarts.
//
// A killed process leaves its writes in the page cache, so this test cannot
// tell a commit that was fsync'd from one that was not; it asserts the
// store's synchronous setting instead.
func TestKillDuringIngestLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the kith binary; skipped with -short")
	}
	const (
		rounds  = 5
		clients = 16
	)
	bin := buildKith(t)
	dataDir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	l := newLedger()
	start := time.Now()

	for round := range rounds {
		p := startKith(t, bin, dataDir)
		waitHealthy(t, p)

		ctx, cancel := context.WithCancel(t.Context())
		var killed atomic.Bool
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 20 * time.Second}
		before := l.snapshot()
		var wg sync.WaitGroup
		for c := range clients {
			crng := rand.New(rand.NewPCG(seed, uint64(round*clients+c+1)))
			wg.Go(func() {
				for n := 0; ctx.Err() == nil; n++ {
					// Every fourth request resends 25 acknowledged messageIds
					// (most from earlier rounds, so from before a kill); every
					// eighth resends a whole acknowledged batch's worth.
					var ids []string
					switch {
					case n%8 == 7:
						ids = l.sample(crng, eventsPerBatch)
					case n%4 == 3:
						ids = l.sample(crng, eventsPerBatch/2)
					}
					resend := len(ids) > 0
					for i := 0; len(ids) < eventsPerBatch; i++ {
						ids = append(ids, fmt.Sprintf("r%d-c%02d-n%05d-%02d", round, c, n, i))
					}
					l.send(ids, resend)
					status, body, err := postBatch(ctx, hc, p.url(), ids)
					switch {
					case status == http.StatusOK:
						// The server writes 200 only after the commit, so the
						// status alone is the acknowledgement, even if the
						// kill cut the body short.
						l.ack(ids, resend)
						if err == nil {
							if err := checkAck(body); err != nil {
								l.problem("round %d: 200 with %v", round, err)
							}
						}
					case err != nil:
						l.fail()
						if !killed.Load() {
							l.problem("round %d: request failed before the kill: %v", round, err)
						}
						return
					default:
						l.problem("round %d: status %d: %s", round, status, bytes.TrimSpace(body))
					}
				}
			})
		}

		delay := time.Duration(100+rng.IntN(501)) * time.Millisecond
		select {
		case <-time.After(delay):
		case <-p.done:
			t.Fatalf("round %d: kith exited on its own under load: %v", round, p.err)
		}
		killed.Store(true)
		p.kill(t)
		cancel()
		wg.Wait()
		hc.CloseIdleConnections()

		got := l.snapshot()
		t.Logf("round %d: killed after %v: %d requests, %d acknowledged (%d resends), %d cut off by the kill",
			round, delay, got.requests-before.requests, got.ackedRequests-before.ackedRequests,
			got.ackedResends-before.ackedResends, got.failedRequests-before.failedRequests)
	}
	l.reportProblems(t)

	db := openDataDir(t, dataDir)
	stored := storedMessageIDs(t, db)
	unackedStored := checkStored(t, l, stored)
	mode, err := db.Synchronous(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := "FULL"; mode != want {
		t.Errorf("PRAGMA synchronous = %s, want %s: without it an acknowledged event may not survive a power loss", mode, want)
	}

	s := l.snapshot()
	t.Logf("%d rounds in %v: %d requests (%d resends), %d acknowledged (%d resends); %d messageIds acknowledged, %d stored, %d stored without acknowledgement (committed, then killed before answering)",
		rounds, time.Since(start).Round(time.Millisecond), s.requests, s.resendRequests, s.ackedRequests, s.ackedResends,
		len(l.acked), len(stored), unackedStored)
	if len(l.acked) == 0 {
		t.Fatal("no request was acknowledged in any round; the test proved nothing")
	}
	if s.ackedResends == 0 {
		t.Error("no resend was acknowledged; dedupe across restarts was not exercised")
	}
}

// TestGracefulShutdownFinishesInFlight sends SIGTERM to `kith serve` while
// clients are posting batches. The server must stop accepting, answer the
// requests it has read, flush and exit 0: each request gets 200 with its
// events stored, or fails at the connection level without being stored.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals the kith binary; skipped with -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM cannot be sent on Windows")
	}
	const clients = 24
	bin := buildKith(t)
	dataDir := t.TempDir()
	p := startKith(t, bin, dataDir)
	waitHealthy(t, p)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 20 * time.Second}
	defer hc.CloseIdleConnections()
	l := newLedger()
	var signalled atomic.Int64 // when SIGTERM was sent, in Unix nanoseconds; 0 before
	var inFlight atomic.Int64  // requests sent before SIGTERM and answered 200 after it
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				ids := make([]string, eventsPerBatch)
				for i := range ids {
					ids[i] = fmt.Sprintf("g-c%02d-n%05d-%02d", c, n, i)
				}
				l.send(ids, false)
				sent := time.Now().UnixNano()
				status, body, err := postBatch(ctx, hc, p.url(), ids)
				answered := time.Now().UnixNano()
				switch {
				case err != nil && status == 0:
					l.fail()
					if signalled.Load() == 0 {
						l.problem("request failed before SIGTERM: %v", err)
					}
					return // the server stopped accepting
				case err != nil:
					l.problem("status %d, then the body was cut off: %v", status, err)
					return
				case status != http.StatusOK:
					l.problem("status %d: %s", status, bytes.TrimSpace(body))
				default:
					l.ack(ids, false)
					if err := checkAck(body); err != nil {
						l.problem("200 with %v", err)
					}
					if sig := signalled.Load(); sig != 0 && sent < sig && sig < answered {
						inFlight.Add(1)
					}
				}
			}
		})
	}

	// Signal once the load is flowing, so that requests are in flight.
	deadline := time.Now().Add(10 * time.Second)
	for l.snapshot().ackedRequests < 2*clients {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests acknowledged within 10s", l.snapshot().ackedRequests)
		}
		time.Sleep(5 * time.Millisecond)
	}
	signalled.Store(time.Now().UnixNano())
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("kith did not exit within 20s of SIGTERM")
	}
	var exitErr *exec.ExitError
	switch {
	case p.err == nil:
	case errors.As(p.err, &exitErr):
		t.Errorf("kith exited with code %d after SIGTERM, want 0", exitErr.ExitCode())
	default:
		t.Errorf("wait for kith: %v", p.err)
	}
	for _, msg := range []string{"shutting down: finishing in-flight requests", "stopped"} {
		if !slices.Contains(p.log.messages(), msg) {
			t.Errorf("log has no %q line", msg)
		}
	}
	wg.Wait()
	l.reportProblems(t)

	db := openDataDir(t, dataDir)
	stored := storedMessageIDs(t, db)
	unackedStored := checkStored(t, l, stored)
	if unackedStored != 0 {
		t.Errorf("%d messageIds stored without a 200: a request was committed, then its answer was dropped", unackedStored)
	}
	s := l.snapshot()
	t.Logf("%d requests: %d acknowledged (%d of them sent before SIGTERM and answered after), %d refused at the connection level; %d messageIds acknowledged, %d stored",
		s.requests, s.ackedRequests, inFlight.Load(), s.failedRequests, len(l.acked), len(stored))
	if inFlight.Load() == 0 {
		t.Error("no request was in flight at SIGTERM; the test proved nothing")
	}
}

// buildKith builds the kith binary from this package's directory.
func buildKith(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found (go test puts it on PATH): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "kith")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built kith in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// kithProc is a running `kith serve`.
type kithProc struct {
	cmd  *exec.Cmd
	log  *procLog
	addr string
	done chan struct{} // closed when the process has exited
	err  error         // what Wait returned; read after done
}

// startKith starts `kith serve` on a free port with dataDir and the extra
// environment, and kills it when the test ends if it is still running.
func startKith(t *testing.T, bin, dataDir string, env ...string) *kithProc {
	t.Helper()
	p := &kithProc{log: &procLog{addr: make(chan string, 1)}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-format", "json")
	p.cmd.Env = append(childEnv(), env...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start kith: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("kith (pid %d) output:\n%s", p.cmd.Process.Pid, p.log)
		}
	})
	select {
	case p.addr = <-p.log.addr:
	case <-p.done:
		t.Fatalf("kith exited before serving: %v\n%s", p.err, p.log)
	case <-time.After(15 * time.Second):
		t.Fatalf("kith did not log its address within 15s\n%s", p.log)
	}
	return p
}

func (p *kithProc) url() string { return "http://" + p.addr }

// kill sends SIGKILL and waits for the process to be gone.
func (p *kithProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill kith: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("kith still running 10s after SIGKILL")
	}
}

// childEnv is this process's environment without KITH_* settings that could
// change how the child runs, plus the bootstrap write key.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KITH_") {
			env = append(env, kv)
		}
	}
	return append(env, "KITH_BOOTSTRAP_WRITE_KEY="+testWriteKey)
}

// waitHealthy polls /healthz until it answers 200.
func waitHealthy(t *testing.T, p *kithProc) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	for {
		resp, err := hc.Get(p.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("kith exited while starting: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not 200 within 15s (last: %v)", statusOrErr(resp, err))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statusOrErr(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// procLog collects a child's output and reads its JSON log lines.
type procLog struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	msgs    []string
	addr    chan string // receives the address of the "kith serving" line
}

func (l *procLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(b)
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(l.partial[:i], &rec) == nil {
			l.msgs = append(l.msgs, rec.Msg)
			if rec.Msg == "kith serving" {
				select {
				case l.addr <- rec.Addr:
				default:
				}
			}
		}
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

func (l *procLog) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}

func (l *procLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// trackMessage is one message of a batch, as Segment's SDKs send it.
type trackMessage struct {
	Type       string         `json:"type"`
	MessageID  string         `json:"messageId"`
	UserID     string         `json:"userId"`
	Event      string         `json:"event"`
	Properties map[string]int `json:"properties"`
}

// postBatch posts one /v1/batch of track messages with the given
// messageIds. status is 0 when the request failed before an answer came;
// err may be set with a status when the body was cut off.
func postBatch(ctx context.Context, hc *http.Client, base string, ids []string) (status int, body []byte, err error) {
	msgs := make([]trackMessage, len(ids))
	for i, id := range ids {
		msgs[i] = trackMessage{Type: "track", MessageID: id, UserID: "durability-user",
			Event: "Durability Checked", Properties: map[string]int{"index": i}}
	}
	b, err := json.Marshal(map[string]any{"batch": msgs})
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/batch", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(testWriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// checkAck checks a 200 body says every message was accepted.
func checkAck(body []byte) error {
	var r struct {
		Success  bool              `json:"success"`
		Rejected []json.RawMessage `json:"rejected"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("body %q: %v", body, err)
	}
	if !r.Success || len(r.Rejected) > 0 {
		return fmt.Errorf("body %s, want success and nothing rejected", bytes.TrimSpace(body))
	}
	return nil
}

// ledger records, across clients, what was sent and what was acknowledged.
type ledger struct {
	mu       sync.Mutex
	sent     map[string]bool
	acked    map[string]bool
	ackedIDs []string // acked's keys, in the order acknowledged, to resend
	problems []string // outcomes that must not happen
	counts   ledgerCounts
}

type ledgerCounts struct {
	requests, resendRequests, ackedRequests, ackedResends, failedRequests int
}

func newLedger() *ledger {
	return &ledger{sent: map[string]bool{}, acked: map[string]bool{}}
}

func (l *ledger) send(ids []string, resend bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts.requests++
	if resend {
		l.counts.resendRequests++
	}
	for _, id := range ids {
		l.sent[id] = true
	}
}

func (l *ledger) ack(ids []string, resend bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts.ackedRequests++
	if resend {
		l.counts.ackedResends++
	}
	for _, id := range ids {
		if !l.acked[id] {
			l.acked[id] = true
			l.ackedIDs = append(l.ackedIDs, id)
		}
	}
}

func (l *ledger) fail() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts.failedRequests++
}

func (l *ledger) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// sample returns up to n distinct acknowledged messageIds, chosen at random.
func (l *ledger) sample(rng *rand.Rand, n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ackedIDs) < n {
		return nil
	}
	seen := map[int]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		i := rng.IntN(len(l.ackedIDs))
		if !seen[i] {
			seen[i] = true
			out = append(out, l.ackedIDs[i])
		}
	}
	return out
}

func (l *ledger) snapshot() ledgerCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts
}

func (l *ledger) reportProblems(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range l.problems {
		if i == 10 {
			t.Errorf("… and %d more", len(l.problems)-i)
			break
		}
		t.Error(p)
	}
}

// openDataDir opens the data directory's store, as a restarted kith would.
func openDataDir(t *testing.T, dataDir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), dataDir, sqlite.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return db
}

// storedMessageIDs reads the whole event log and counts each messageId.
func storedMessageIDs(t *testing.T, db *sqlite.DB) map[string]int {
	t.Helper()
	ctx := t.Context()
	counts := map[string]int{}
	var after int64
	total := 0
	for {
		evs, err := db.ReadEvents(ctx, after, 1000)
		if err != nil {
			t.Fatalf("read events after %d: %v", after, err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			counts[e.MessageID]++
			after = e.Seq
		}
		total += len(evs)
	}
	n, err := db.CountEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := total, int(n); got != want {
		t.Errorf("paging ReadEvents returned %d events, CountEvents says %d", got, want)
	}
	return counts
}

// checkStored reports acknowledged messageIds that are not stored exactly
// once, any messageId stored more than once, and stored messageIds nobody
// sent. It returns how many stored messageIds were never acknowledged.
func checkStored(t *testing.T, l *ledger, stored map[string]int) (unackedStored int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var lost, dup, phantom []string
	for id := range l.acked {
		if stored[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id, n := range stored {
		if n != 1 {
			dup = append(dup, fmt.Sprintf("%s×%d", id, n))
		}
		if !l.sent[id] {
			phantom = append(phantom, id)
		}
		if !l.acked[id] {
			unackedStored++
		}
	}
	for _, f := range []struct {
		what string
		ids  []string
	}{
		{"acknowledged but not stored", lost},
		{"stored more than once", dup},
		{"stored but never sent", phantom},
	} {
		if len(f.ids) > 0 {
			slices.Sort(f.ids)
			t.Errorf("%d messageIds %s, e.g. %v", len(f.ids), f.what, f.ids[:min(len(f.ids), 10)])
		}
	}
	return unackedStored
}
