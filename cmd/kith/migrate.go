package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: kith migrate [--store URL | --data-dir DIR]

Brings the store's schema up to this version of Kith and exits. 'kith serve'
does the same on start; run it alone to upgrade before starting several nodes,
or to check that a store is reachable. Migrations that already ran are skipped,
and nodes starting at once do not run one twice.

Flags:
`)
		fs.PrintDefaults()
	}
	resolve := configFlags(fs, false)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	s, _, err := openStore(ctx, cfg, nil, nil)
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	where := "embedded store in " + cfg.DataDir
	if cfg.Store != "" {
		where = redactURL(cfg.Store)
	}
	fmt.Fprintf(stdout, "migrated %s\n", where)
	return nil
}
