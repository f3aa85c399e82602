package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	testWriteKey = "test-write-key-0001"
	testAPIKey   = "test-admin-secret-0001"
)

// startMain starts a Kith server as `kith serve` would, on a free port and a
// fresh data directory unless the config names one, and closes it when the
// test ends.
func startMain(t *testing.T, edit func(*Config)) *Main {
	t.Helper()
	m := NewMain()
	m.Config.Addr = "127.0.0.1:0"
	m.Config.DataDir = t.TempDir()
	m.Config.BootstrapWriteKey = testWriteKey
	m.Config.BootstrapAPIKey = testAPIKey
	if onPostgres(t) {
		m.Config.Store = postgresStore(t)
	}
	if edit != nil {
		edit(&m.Config)
	}
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		m.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("start kith: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close kith: %v", err)
		}
	})
	return m
}

// required reports whether CI asked for a dependency (KITH_TEST_REQUIRE),
// in which case its absence fails the test instead of skipping it.
func required(what string) bool {
	for _, w := range strings.Split(os.Getenv("KITH_TEST_REQUIRE"), ",") {
		if strings.TrimSpace(w) == what {
			return true
		}
	}
	return false
}

// skipOrFail skips a test whose dependency is missing, unless CI required it.
func skipOrFail(t *testing.T, what, why string) {
	t.Helper()
	if required(what) {
		t.Fatalf("%s required by KITH_TEST_REQUIRE but unavailable: %s", what, why)
	}
	t.Skipf("%s unavailable (%s); set it up or run .ci/run", what, why)
}

// eachStore runs a test on the embedded store and, as subtest "postgres", on
// a fresh schema of the PostgreSQL server named by KITH_TEST_POSTGRES: the
// same behaviour end to end, whichever store keeps the data.
func eachStore(t *testing.T, test func(t *testing.T)) {
	t.Run("sqlite", test)
	t.Run("postgres", test)
}

// onPostgres reports whether t runs under eachStore's postgres subtest.
func onPostgres(t *testing.T) bool {
	return strings.Contains(t.Name()+"/", "/postgres/")
}

// postgresStore returns the URL of a new, empty schema on the test server,
// dropped when the test ends, or skips the test without a server.
func postgresStore(t *testing.T) string {
	t.Helper()
	base := os.Getenv("KITH_TEST_POSTGRES")
	if base == "" {
		skipOrFail(t, "postgres", "KITH_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		skipOrFail(t, "postgres", err.Error())
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("kith_e2e_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
