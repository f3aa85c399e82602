package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
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
