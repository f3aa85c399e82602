// Package natstest starts nats-server processes of a test's own, which the
// test may kill and restart on the same ports and store: for the tests of
// the NATS event log and of Kith running on it.
package natstest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Server is a nats-server process of the test's own, which it may stop and
// restart on the same ports and store.
type Server struct {
	t       *testing.T
	bin     string
	conf    string
	URL     string // nats://127.0.0.1:PORT
	Monitor string // http://127.0.0.1:PORT, the monitoring endpoint
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

// Start starts the nats-server binary that scripts/nats-server.sh installs
// ($GOPATH/bin/nats-server) on free ports, with sync_interval: always when
// syncAlways is set, and kills it when the test ends. Without the binary the
// test is skipped, or fails when KITH_TEST_REQUIRE names nats.
func Start(t *testing.T, syncAlways bool) *Server {
	t.Helper()
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
	s := &Server{t: t, bin: bin, conf: conf, logFile: logFile,
		URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Monitor: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	s.Start()
	t.Cleanup(func() {
		s.Stop()
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

// Start starts the server again after Stop, on the same ports and store,
// and waits until JetStream answers.
func (s *Server) Start() {
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
		resp, err := http.Get(s.Monitor + "/healthz?js-enabled-only=true")
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

// Stop kills the server (SIGKILL: a crash, not a shutdown) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Signal sends sig to the running server, e.g. SIGSTOP to make it hang with
// its connections open.
func (s *Server) Signal(sig os.Signal) error {
	if s.cmd == nil {
		return fmt.Errorf("nats-server is not running")
	}
	return s.cmd.Process.Signal(sig)
}
