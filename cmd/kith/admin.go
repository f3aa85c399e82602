package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/store/sqlite"
)

// openAccess opens the store in the configured data directory for a one-off
// command. SQLite's locking lets it run beside a serving kith.
func openAccess(ctx context.Context, cfg Config) (*access.Service, func() error, error) {
	db, err := sqlite.Open(ctx, cfg.DataDir, sqlite.Options{})
	if err != nil {
		return nil, nil, err
	}
	svc := access.New(db, db, 0)
	svc.RecordTo(db)
	return svc, db.Close, nil
}

// cliActor is who the audit log says acted for a command-line change.
func cliActor(ctx context.Context) context.Context {
	name := os.Getenv("USER")
	if name == "" {
		name = "operator"
	}
	return kith.WithActor(ctx, kith.Actor{Kind: kith.ActorSystem, Name: name, Via: "cli"})
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, strings.Split(v, ",")...); return nil }

func kindNames() string {
	names := make([]string, len(kith.Kinds))
	for i, k := range kith.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func runSources(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	help := `Usage:
  kith sources create --name NAME --kind KIND [--data-dir DIR]   create a source; prints its write key
  kith sources list [--json] [--data-dir DIR]                    list sources
  kith sources revoke ID|NAME [--data-dir DIR]                   stop a source's write key from sending

A source is a channel that sends events; its write key goes in the SDK's
configuration. Kinds: ` + kindNames() + `
`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, help)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return nil
	}
	sub := args[0]
	fs := flag.NewFlagSet("kith sources "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, help+"\nFlags:\n"); fs.PrintDefaults() }
	resolve := configFlags(fs, false)
	name := fs.String("name", "", "source name (create)")
	kind := fs.String("kind", "", "channel kind (create): "+kindNames())
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	ctx = cliActor(ctx)
	svc, closeDB, err := openAccess(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	if sub != "revoke" && len(pos) > 0 {
		return usageError{fmt.Sprintf("sources %s takes no arguments, got %q", sub, strings.Join(pos, " "))}
	}
	switch sub {
	case "create":
		if *name == "" || *kind == "" {
			return usageError{"sources create needs --name and --kind"}
		}
		src, err := svc.CreateSource(ctx, *name, *kind)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, src)
		}
		fmt.Fprintf(stdout, "created source %s (%s, kind %s)\nwrite key: %s\n", src.Name, src.ID, src.Kind, src.WriteKey)
		return nil
	case "list":
		srcs, err := svc.Sources(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, srcs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tKIND\tWRITE KEY\tCREATED\tSTATUS")
		for _, s := range srcs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Name, s.Kind, s.WriteKey, s.CreatedAt.Format(time.DateTime), status(s.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		if len(pos) != 1 {
			return usageError{"sources revoke takes one ID or NAME"}
		}
		src, err := svc.RevokeSource(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked source %s (%s); a running server stops taking its write key within %s\n",
			src.Name, src.ID, time.Duration(DefaultConfig().WriteKeyCacheTTL))
		return nil
	}
	return usageError{fmt.Sprintf("unknown sources command %q; use create, list or revoke", sub)}
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	scopes := make([]string, len(kith.Scopes))
	for i, s := range kith.Scopes {
		scopes[i] = string(s)
	}
	help := `Usage:
  kith keys create --name NAME --scope SCOPE [--scope SCOPE…] [--data-dir DIR]   create a secret API key
  kith keys list [--json] [--data-dir DIR]                                     list keys (secrets are not kept)
  kith keys revoke ID|NAME [--data-dir DIR]                                    revoke a key at once

API keys go in 'Authorization: Bearer KEY'. Scopes: ` + strings.Join(scopes, ", ") + ` (admin implies all).
`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, help)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return nil
	}
	sub := args[0]
	fs := flag.NewFlagSet("kith keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, help+"\nFlags:\n"); fs.PrintDefaults() }
	resolve := configFlags(fs, false)
	name := fs.String("name", "", "key name (create)")
	var scope multiFlag
	fs.Var(&scope, "scope", "scope to grant (create); repeat or separate with commas")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	ctx = cliActor(ctx)
	svc, closeDB, err := openAccess(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB()
	if sub != "revoke" && len(pos) > 0 {
		return usageError{fmt.Sprintf("keys %s takes no arguments, got %q", sub, strings.Join(pos, " "))}
	}
	switch sub {
	case "create":
		if *name == "" {
			return usageError{"keys create needs --name"}
		}
		secret, k, err := svc.CreateKey(ctx, *name, scope)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{"id": k.ID, "name": k.Name, "scopes": k.Scopes, "secret": secret})
		}
		fmt.Fprintf(stdout, "created API key %s (%s) with scopes %v\nsecret (shown once, keep it safe): %s\n", k.Name, k.ID, k.Scopes, secret)
		return nil
	case "list":
		keys, err := svc.Keys(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, keys)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tHINT\tCREATED\tSTATUS")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\n", k.ID, k.Name, k.Scopes, k.Hint, k.CreatedAt.Format(time.DateTime), status(k.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		if len(pos) != 1 {
			return usageError{"keys revoke takes one ID or NAME"}
		}
		k, err := svc.RevokeKey(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked API key %s (%s)\n", k.Name, k.ID)
		return nil
	}
	return usageError{fmt.Sprintf("unknown keys command %q; use create, list or revoke", sub)}
}

func status(revoked time.Time) string {
	if revoked.IsZero() {
		return "active"
	}
	return "revoked " + revoked.Format(time.DateTime)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseArgs parses flags wherever they stand among the arguments, so that
// `kith sources revoke web --data-dir d` works as well as the flags-first
// form, and returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
