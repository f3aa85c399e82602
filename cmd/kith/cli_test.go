package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func runKith(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestSourcesAndKeysCLI(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runKith(t, "sources", "create", "--name", "store-pos", "--kind", "pos", "--data-dir", dir)
	if err != nil {
		t.Fatalf("sources create: %v", err)
	}
	wk := regexp.MustCompile(`write key: (\S+)`).FindStringSubmatch(out)
	if wk == nil || len(wk[1]) != 32 {
		t.Fatalf("sources create printed %q; want a 32-character write key", out)
	}
	out, _, err = runKith(t, "sources", "list", "--json", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []struct{ Name, Kind, WriteKey string }
	if err := json.Unmarshal([]byte(out), &srcs); err != nil || len(srcs) != 1 || srcs[0].WriteKey != wk[1] || srcs[0].Kind != "pos" {
		t.Fatalf("sources list --json = %s (%v)", out, err)
	}

	// Bad input names the problem and stores nothing.
	_, _, err = runKith(t, "sources", "create", "--name", "x", "--kind", "fax", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "unknown source kind") {
		t.Errorf("bad kind: %v", err)
	}
	_, _, err = runKith(t, "sources", "create", "--name", "store-pos", "--kind", "pos", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate name: %v", err)
	}
	_, _, err = runKith(t, "sources", "create", "--data-dir", dir)
	if err == nil || exitCode(err) != 2 {
		t.Errorf("missing flags: %v (exit %d), want a usage error", err, exitCode(err))
	}

	out, _, err = runKith(t, "keys", "create", "--name", "agents", "--scope", "profiles:read", "--data-dir", dir)
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	secret := regexp.MustCompile(`secret \(shown once, keep it safe\): (kith_\S+)`).FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("keys create printed %q", out)
	}
	out, _, err = runKith(t, "keys", "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "agents") || strings.Contains(out, secret[1]) {
		t.Errorf("keys list = %q, %v; want the key listed without its secret", out, err)
	}
	_, _, err = runKith(t, "keys", "create", "--name", "k", "--scope", "everything", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "unknown scope") {
		t.Errorf("bad scope: %v", err)
	}

	// A server on the same data directory sees what the CLI made, and what it revokes.
	m := startMain(t, func(c *Config) { c.DataDir = dir; c.WriteKeyCacheTTL = Duration(time.Millisecond) })
	post := func() int {
		req, _ := http.NewRequest("POST", m.URL()+"/v1/track", strings.NewReader(`{"userId":"u","event":"Sale"}`))
		req.SetBasicAuth(wk[1], "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(); got != 200 {
		t.Fatalf("ingest with CLI-made write key: %d", got)
	}
	if _, _, err := runKith(t, "sources", "revoke", "store-pos", "--data-dir", dir); err != nil {
		t.Fatalf("sources revoke: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for post() != 401 {
		if time.Now().After(deadline) {
			t.Fatal("revoked write key still accepted after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, _, err := runKith(t, "keys", "revoke", "agents", "--data-dir", dir); err != nil {
		t.Fatalf("keys revoke: %v", err)
	}
	if _, _, err := runKith(t, "keys", "revoke", "nobody", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("revoke unknown key: %v", err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	out, _, err := runKith(t, "version")
	if err != nil || !strings.HasPrefix(out, "kith ") {
		t.Errorf("version = %q, %v", out, err)
	}
	out, _, err = runKith(t, "--help")
	if err != nil || !strings.Contains(out, "serve") || !strings.Contains(out, "sources") {
		t.Errorf("--help = %q, %v", out, err)
	}
	_, errOut, err := runKith(t, "serve", "--help")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut, "--data-dir") && !strings.Contains(errOut, "-data-dir") {
		t.Errorf("serve --help: %v\n%s", err, errOut)
	}
	_, _, err = runKith(t, "frobnicate")
	if err == nil || exitCode(err) != 2 {
		t.Errorf("unknown command: %v", err)
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kith.json")
	os.WriteFile(file, []byte(`{"addr":"127.0.0.1:1111","data_dir":"from-file","log_level":"debug","shutdown_timeout":"5s"}`), 0o600)
	t.Setenv("KITH_CONFIG", file)
	t.Setenv("KITH_DATA_DIR", "from-env")
	t.Setenv("KITH_ADDR", "")
	os.Unsetenv("KITH_ADDR")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	resolve := configFlags(fs, true)
	if err := fs.Parse([]string{"--log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:1111" || cfg.DataDir != "from-env" || cfg.LogLevel != "warn" || cfg.ShutdownTimeout != Duration(5*time.Second) {
		t.Errorf("config = %+v; want addr from file, data dir from env, log level from flag, timeout from file", cfg)
	}
	os.WriteFile(file, []byte(`{"shutdown_timeout":"soon"}`), 0o600)
	if _, err := resolve(); err == nil || !strings.Contains(err.Error(), "kith.json") {
		t.Errorf("bad config file: %v; want an error naming the file", err)
	}
}

func TestConfigFileIdentityRules(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kith.json")
	os.WriteFile(file, []byte(`{"identity":{"default_region":"GB","rules":{"email":{"max":2,"priority":50}}},
		"intents":{"half_life":"24h","rules":[{"topic":"loans","path_prefix":"/loans"}]}}`), 0o600)
	t.Setenv("KITH_CONFIG", file)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	resolve := configFlags(fs, true)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Identity.DefaultRegion != "GB" || cfg.Identity.Rules["email"].Max != 2 || !cfg.Identity.Rules["user_id"].Unique {
		t.Errorf("identity = %+v; want region GB, email max 2, and user_id still unique", cfg.Identity)
	}
	if cfg.Intents.HalfLife != Duration(24*time.Hour) || len(cfg.Intents.Rules) != 1 || cfg.Intents.Rules[0].Topic != "loans" {
		t.Errorf("intents = %+v", cfg.Intents)
	}
	os.WriteFile(file, []byte(`{"identity":{"default_region":"Atlantis"}}`), 0o600)
	if _, err := resolve(); err == nil || !strings.Contains(err.Error(), "default_region") {
		t.Errorf("unknown region: %v; want an error naming identity.default_region", err)
	}
}
