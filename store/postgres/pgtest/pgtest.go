// Package pgtest starts PostgreSQL servers of a test's own, which the test
// may stop, kill and restart on the same port and data directory: for tests
// of how Kith behaves while its database is down. The shared server named
// by KITH_TEST_POSTGRES serves every other test and cannot be stopped.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL server of the test's own: a postmaster on a free
// port of 127.0.0.1 over a fresh data directory, with fsync and synchronous
// commits on, trusting every local connection.
type Server struct {
	t       testing.TB
	bindir  string
	dir     string // owned by the OS user the server runs as
	data    string // the data directory, in dir
	port    int
	cred    *syscall.Credential // nil: run as ourselves
	logFile *os.File

	cmd    *exec.Cmd // the running postmaster; nil while stopped
	exited chan struct{}
}

// Start creates a data directory with initdb and starts a server on it,
// and stops the server and removes the directory when the test ends.
//
// Without PostgreSQL's server binaries (initdb, postgres) the test is
// skipped, or fails when KITH_TEST_REQUIRE names postgres. PostgreSQL
// refuses to run as root: as root, Start runs the server as the OS user
// postgres, which the distributions' packages create.
func Start(t testing.TB) *Server {
	t.Helper()
	if runtime.GOOS == "windows" {
		skipOrFail(t, "a private PostgreSQL server is started only on Unix")
	}
	bindir, err := findBindir()
	if err != nil {
		skipOrFail(t, err.Error())
	}
	s := &Server{t: t, bindir: bindir}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresUser(); err != nil {
			skipOrFail(t, err.Error())
		}
	}
	// Not t.TempDir: its parent is private to us, so another user could
	// not reach the data directory.
	if s.dir, err = os.MkdirTemp("", "kith-pgtest-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(s.dir) })
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	s.data = filepath.Join(s.dir, "data")
	if s.logFile, err = os.Create(filepath.Join(s.dir, "server.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.logFile.Close() })

	// --no-sync: initdb's own files need not survive a power loss here;
	// the server's writes are fsync'd (fsync=on below).
	initdb := s.command("initdb", "-D", s.data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.port = freePort(t)
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// skipOrFail skips the test, or fails it when CI required PostgreSQL
// (KITH_TEST_REQUIRE=postgres,…).
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	for _, w := range strings.Split(os.Getenv("KITH_TEST_REQUIRE"), ",") {
		if strings.TrimSpace(w) == "postgres" {
			t.Fatalf("postgres required by KITH_TEST_REQUIRE but a private server cannot start: %s", why)
		}
	}
	t.Skipf("a private PostgreSQL server cannot start: %s", why)
}

// findBindir returns the directory of PostgreSQL's server binaries: where
// pg_config says, else the newest /usr/lib/postgresql/*/bin (Debian and
// Ubuntu put them there, off PATH), else the directory on PATH holding
// both initdb and postgres.
func findBindir() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL's server binaries (initdb, postgres) are not installed; " +
		"install them (Debian/Ubuntu: apt-get install postgresql) or put pg_config on PATH")
}

// version is the major version in /usr/lib/postgresql/VERSION/bin.
func version(bindir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return n
}

// postgresUser returns the credential of the OS user postgres, for running
// the server when we are root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to; no OS user postgres to run it as (%v): "+
			"create one (useradd --system postgres) or run the tests as another user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("OS user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// command returns a command running one of the server's binaries as the
// user the server runs as, writing to the server's log unless the caller
// collects the output.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bindir, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// URL returns the URL of the server's database postgres, as user postgres
// without a password.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// logText returns what the server has logged so far, for a failing test's
// message.
func (s *Server) logText() string {
	b, _ := os.ReadFile(s.logFile.Name())
	return string(b)
}

// Start starts the server, again after Stop or Kill, on the same port and
// data directory, and waits until it accepts connections (after Kill, once
// its crash recovery is done).
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("pgtest: Start: the server is running")
	}
	// No Unix socket: its path would have to be short, and Kith connects
	// over TCP anyway. fsync and synchronous_commit are the defaults, set
	// here so that no postgresql.conf can turn them off: Kith refuses a
	// server that acknowledges commits before they are on disk.
	cmd := s.command("postgres", "-D", s.data, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=on", "-c", "synchronous_commit=on")
	cmd.Stdout, cmd.Stderr = s.logFile, s.logFile
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("pgtest: start postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("pgtest: postgres exited at start: %v\n%s", cmd.ProcessState, s.logText())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pgtest: postgres does not accept connections after 30 s: %v\n%s", err, s.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the server down as an administrator would (SIGINT, "fast
// shutdown": open transactions are rolled back and every connection is
// closed) and waits until it has exited. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.Signal(syscall.SIGCONT) // in case the test left it stopped
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		// It did not shut down; do not leave it behind.
		s.Kill()
		return
	}
	s.cmd = nil
}

// Kill kills the server as a crash would: SIGKILL to the postmaster and to
// every process it started (each backend, the checkpointer, the WAL
// writer…), so that every connection breaks at once and nothing is
// flushed; the next Start runs crash recovery. A postmaster killed alone
// would leave its backends serving their connections for a while, and
// holding the shared memory a restarted server needs.
//
// The postmaster's children are found through /proc (Linux), since each
// makes itself a session leader, out of the postmaster's process group.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	// Stopped, the postmaster starts no more children while we kill them.
	syscall.Kill(pid, syscall.SIGSTOP)
	kids := children(pid)
	for _, child := range kids {
		syscall.Kill(child, syscall.SIGKILL)
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
	// Wait until every child has died, so that none holds a connection,
	// the port or the shared memory when the test goes on.
	deadline := time.Now().Add(10 * time.Second)
	for _, child := range kids {
		for alive(child) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// alive reports whether process pid exists and has not exited (a zombie
// has exited).
func alive(pid int) bool {
	_, state, ok := stat(pid)
	return ok && state != "Z" && state != "X"
}

// Signal sends sig to the postmaster and every process it started: SIGSTOP
// makes the whole server hang with its connections open, SIGCONT resumes
// it.
func (s *Server) Signal(sig syscall.Signal) error {
	if s.cmd == nil {
		return errors.New("pgtest: the server is not running")
	}
	pid := s.cmd.Process.Pid
	err := syscall.Kill(pid, sig)
	for _, child := range children(pid) {
		err = errors.Join(err, syscall.Kill(child, sig))
	}
	return err
}

// children returns the pids of the processes whose parent is pid.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := stat(child); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// stat returns a process's parent and state from /proc/PID/stat.
func stat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", false
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}
