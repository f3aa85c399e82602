package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

func runErase(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	help := `Usage:
  kith erase PERSON [--reason TEXT] [--yes] [--url URL]

Forgets a person who asked to be: every profile that is them, their
identifiers, events, traits, consents, contact points, relationships,
audience memberships, match candidates and offers held, in the store and in
every node's memory. What stays is a record that it happened (kith.Erasure:
the profile ids, when, by whom, how much) and the audit trail, whose details
about them are redacted. It cannot be undone.

PERSON is a profile id (prf_…) or an identifier as type:value
(email:ann@example.com, phone:+14155550101, user_id:u-42).

Without --yes it only says whom it would erase. The API key comes from
KITH_API_KEY (admin scope).
`
	fs := flag.NewFlagSet("kith erase", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, help+"\nFlags:\n"); fs.PrintDefaults() }
	reason := fs.String("reason", "", "why, e.g. a ticket number (kept with the record; never personal data)")
	yes := fs.Bool("yes", false, "erase; without it, only say whom it would erase")
	base := fs.String("url", "http://127.0.0.1:8080", "the Kith server")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError{"kith erase needs one person: a profile id or type:value"}
	}
	key := os.Getenv("KITH_API_KEY")
	if key == "" {
		return usageError{"set KITH_API_KEY to an API key with the admin scope"}
	}
	c := &apiClient{base: strings.TrimRight(*base, "/"), key: key, hc: &http.Client{Timeout: 2 * time.Minute}}
	var who struct {
		ID          string            `json:"id"`
		Identifiers []json.RawMessage `json:"identifiers"`
	}
	person := pos[0]
	path := "/v1/profiles/" + url.PathEscape(person)
	if typ, value, ok := strings.Cut(person, ":"); ok && !strings.HasPrefix(person, "prf_") {
		path = "/v1/profiles/lookup?" + url.Values{typ: {value}}.Encode()
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &who); err != nil {
		return fmt.Errorf("find %s: %w", person, err)
	}
	if !*yes {
		fmt.Fprintf(stdout, "would erase %s (%d identifiers); run again with --yes to erase\n", who.ID, len(who.Identifiers))
		return nil
	}
	body, _ := json.Marshal(map[string]string{"reason": *reason})
	var e kith.Erasure
	if err := c.do(ctx, http.MethodPost, "/v1/profiles/"+url.PathEscape(who.ID)+"/erase", body, &e); err != nil {
		return fmt.Errorf("erase %s: %w", who.ID, err)
	}
	r := e.Removed
	fmt.Fprintf(stdout, "erased %s as %s: %d profiles, %d identifiers, %d events, %d consents, %d contact points, %d relationships, %d memberships, %d grants, %d audit details redacted\n",
		who.ID, e.ID, r.Profiles, r.Identifiers, r.Events, r.Consents, r.ContactPoints, r.Relationships, r.Memberships, r.Grants, r.AuditRedacted)
	return nil
}
