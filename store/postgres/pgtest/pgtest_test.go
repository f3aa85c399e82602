package pgtest_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith/store/postgres/pgtest"
)

// TestStopKillRestart: the server answers; stopped or killed, it refuses
// connections and breaks the open ones; started again on the same port and
// data directory, it holds every committed row.
func TestStopKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs initdb and restarts a PostgreSQL server; skipped with -short")
	}
	s := pgtest.Start(t)
	ctx := context.Background()
	connect := func() (*pgx.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return pgx.Connect(ctx, s.URL())
	}
	exec := func(sql string) {
		t.Helper()
		conn, err := connect()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	count := func() int {
		t.Helper()
		conn, err := connect()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exec("CREATE TABLE t (n int)")
	exec("INSERT INTO t VALUES (1)")

	var fsync string
	conn, err := connect()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "on" {
		t.Errorf("fsync = %q (%v), want on", fsync, err)
	}

	s.Kill()
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a connection open across the kill still answers")
	}
	conn.Close(ctx)
	if conn, err := connect(); err == nil {
		conn.Close(ctx)
		t.Fatal("the killed server accepts connections")
	}
	s.Start()
	if n := count(); n != 1 {
		t.Errorf("after the kill: %d rows, want 1", n)
	}
	exec("INSERT INTO t VALUES (2)")

	s.Stop()
	if conn, err := connect(); err == nil {
		conn.Close(ctx)
		t.Fatal("the stopped server accepts connections")
	}
	s.Start()
	if n := count(); n != 2 {
		t.Errorf("after the stop: %d rows, want 2", n)
	}

	// Stopped by SIGSTOP, the server hangs; Stop still ends it.
	if err := s.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Start()
	if n := count(); n != 2 {
		t.Errorf("after SIGSTOP and stop: %d rows, want 2", n)
	}
}
