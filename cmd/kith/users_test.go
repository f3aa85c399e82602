package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/store/sqlite"
)

func runUsersCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runUsers(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func TestUsersCLI(t *testing.T) {
	dir := t.TempDir()
	out, err := runUsersCLI(t, "", "add", "ann", "--role", "agent", "--data-dir", dir)
	if err != nil {
		t.Fatalf("users add: %v", err)
	}
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if pw == nil || len(pw[1]) != 20 {
		t.Fatalf("users add printed %q; want a made-up password", out)
	}
	if _, err := runUsersCLI(t, "bo-password-1\n", "add", "bo", "--role", "analyst", "--password-stdin", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}

	// Bad input names the problem and stores nothing.
	for _, c := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"add", "cy", "--role", "boss"}, "unknown role", 1},
		{[]string{"add", "cy"}, "needs --role", 2},
		{[]string{"add", "ann", "--role", "agent"}, "already exists", 1},
		{[]string{"role", "ann"}, "takes 2 argument", 2},
		{[]string{"fly"}, "unknown users command", 2},
	} {
		_, err := runUsersCLI(t, "", append(c.args, "--data-dir", dir)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || exitCode(err) != c.code {
			t.Errorf("users %v: %v (exit %d), want %q and exit %d", c.args, err, exitCode(err), c.want, c.code)
		}
	}
	if _, err := runUsersCLI(t, "short\n", "add", "cy", "--role", "agent", "--password-stdin", "--data-dir", dir); err == nil ||
		!strings.Contains(err.Error(), "at least 10 characters") {
		t.Errorf("short password: %v", err)
	}

	if _, err := runUsersCLI(t, "", "role", "ann", "marketer", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := runUsersCLI(t, "", "disable", "bo", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	out, err = runUsersCLI(t, "", "list", "--json", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Name       string
		Role       string
		DisabledAt *string
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 || list[0].Role != "marketer" || list[1].DisabledAt == nil {
		t.Fatalf("users list --json = %s (%v)", out, err)
	}

	// The made-up password signs ann in; every change was audited as the operator.
	db, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, _, err := access.NewUsers(db, db, db).SignIn(context.Background(), "ann", pw[1], "127.0.0.1:1", "test"); err != nil {
		t.Errorf("sign in with the printed password: %v", err)
	}
	recs, err := db.Audit(context.Background(), kith.AuditFilter{Action: "user."})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Errorf("%d user.* audit records, want 4 (two adds, a role change, a disable): %+v", len(recs), recs)
	}
	for _, r := range recs {
		if r.Actor.Kind != kith.ActorSystem || r.Actor.Via != "cli" {
			t.Errorf("record %+v: want the operator at the command line", r)
		}
	}
}
