package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// natsServer is a nats-server process of the test's own, which it may stop
// and restart on the same ports and store.
type natsServer struct {
	t       *testing.T
	bin     string
	conf    string
	url     string
	monitor string
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

// startOwnServer starts the nats-server binary that scripts/nats-server.sh
// installs ($GOPATH/bin/nats-server) on free ports, with sync_interval:
// always when syncAlways is set.
func startOwnServer(t *testing.T, syncAlways bool) *natsServer {
	t.Helper()
	testServer(t) // same gate as the other integration tests
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env GOPATH: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(out)), "bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		msg := bin + " is missing: run scripts/nats-server.sh, which installs it"
		if strings.Contains(os.Getenv("KITH_TEST_REQUIRE"), "nats") {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	port, httpPort := freePort(t), freePort(t)
	sync := ""
	if syncAlways {
		sync = "sync_interval: always"
	}
	conf := filepath.Join(dir, "nats-server.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n  %s\n}\n",
		port, httpPort, filepath.Join(dir, "store"), sync)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "nats-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &natsServer{t: t, bin: bin, conf: conf, logFile: logFile,
		url: fmt.Sprintf("nats://127.0.0.1:%d", port), monitor: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	s.start()
	t.Cleanup(func() {
		s.stop()
		logFile.Close()
	})
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "-c", s.conf)
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(s.cmd, s.exited)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.monitor + "/healthz?js-enabled-only=true")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.logFile.Name())
			s.t.Fatalf("nats-server not ready after 10 s: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the server (SIGKILL: a crash, not a shutdown) and waits for it.
func (s *natsServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func TestOpenRefusesUnsyncedServer(t *testing.T) {
	srv := startOwnServer(t, false)
	_, err := Open(context.Background(), srv.url, Options{MonitorURL: srv.monitor})
	if !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "sync_interval: always") {
		t.Fatalf("Open on a server without sync_interval: always: %v, want ErrNotDurable naming the setting", err)
	}
	t.Logf("Open refused: %v", err)
	l, err := Open(context.Background(), srv.url, Options{MonitorURL: srv.monitor, AllowUnsynced: true})
	if err != nil {
		t.Fatalf("Open with AllowUnsynced: %v", err)
	}
	l.Close()
}

func TestAppendOutage(t *testing.T) {
	srv := startOwnServer(t, true)
	ctx := context.Background()
	l, err := Open(ctx, srv.url, Options{MonitorURL: srv.monitor, AckTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before := makeEvents("before", 100, 10)
	if _, err := l.Append(ctx, before); err != nil {
		t.Fatalf("Append before the outage: %v", err)
	}

	// A server that takes the messages but never answers (stopped, not
	// dead: the connection stays up): Append gives up when ctx ends.
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err = l.Append(actx, makeEvents("hung", 100, 10))
	cancel()
	took := time.Since(start)
	srv.cmd.Process.Signal(syscall.SIGCONT)
	if !kith.IsCode(err, kith.EUNAVAILABLE) || took > time.Second {
		t.Fatalf("Append to a hung server: %v after %v, want %s when ctx ends (300 ms)", err, took, kith.EUNAVAILABLE)
	}
	t.Logf("Append to a hung server: %v after %v", err, took.Round(time.Millisecond))

	srv.stop()
	for i := range 5 {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		_, err := l.Append(actx, makeEvents(fmt.Sprint("down", i), 100, 10))
		cancel()
		took := time.Since(start)
		if !kith.IsCode(err, kith.EUNAVAILABLE) || !strings.Contains(err.Error(), "the event log (NATS) is unreachable") {
			t.Fatalf("Append %d while the server is down: %v, want %s", i, err, kith.EUNAVAILABLE)
		}
		if took > time.Second {
			t.Errorf("Append %d while the server is down took %v, want it to fail at once", i, took)
		}
		if i == 0 {
			t.Logf("Append while down: %v after %v", err, took)
		}
	}
	if _, err := Open(ctx, srv.url, Options{MonitorURL: srv.monitor}); !kith.IsCode(err, kith.EUNAVAILABLE) {
		t.Errorf("Open while the server is down: %v, want %s", err, kith.EUNAVAILABLE)
	}

	srv.start()
	restarted := time.Now()
	after := makeEvents("after", 100, 10)
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		res, err := l.Append(actx, after)
		cancel()
		if err == nil {
			if res.Appended+res.Duplicates != len(after) {
				t.Errorf("Append after the restart = %+v", res)
			}
			t.Logf("Append succeeded %v after the restart", time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Since(restarted) > 15*time.Second {
			t.Fatalf("Append still fails 15 s after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// What was acknowledged before the crash survived it.
	// The "hung" request's messages may or may not have been stored.
	if got, want := streamMsgs(t, l), uint64(3*l.Partitions()); got < uint64(l.Partitions()) || got > want {
		t.Errorf("stream holds %d messages after the crash, want %d to %d", got, l.Partitions(), want)
	}
	res, err := l.Append(ctx, before)
	if err != nil || res.Duplicates != len(before) {
		t.Errorf("retry of the pre-crash request = %+v, %v; want all duplicates (the dedupe window survives a restart)", res, err)
	}
}
