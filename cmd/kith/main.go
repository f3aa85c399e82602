// Command kith runs Kith, the customer data platform: `kith serve` starts the
// server; other subcommands manage sources and keys and measure speed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

const usage = `Kith is a customer data platform with a real-time decision hub.

Usage:
  kith <command> [flags]

Commands:
  serve      run the server: ingestion, API and console on one port
  sources    create, list and revoke sources (channels that send events)
  keys       create, list and revoke secret API keys
  users      add, list and change console users and their roles
  migrate    bring the store's schema up to date and exit
  import     import customer records from a CSV file (kith import FILE --source NAME --map …)
  bench      measure speed (kith bench ingest|lookup|console|import|offers)
  clv        fit churn and lifetime-value models to a purchases CSV
  match      find records of one person in CSV files: dedupe, link, eval
  offers     grant an offer to a list of people, with progress (kith offers grant CODE FILE)
  erase      forget a person who asked to be forgotten (kith erase PERSON --yes)
  version    print the version

Run 'kith <command> --help' for a command's flags.
`

func main() {
	if os.Getenv("GOGC") == "" {
		// Kith allocates briskly on ingestion and processing and machines
		// running it have memory to spare: collect less often (GOGC overrides).
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a graceful stop, a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kith:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "sources":
		return runSources(ctx, rest, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, os.Stdin, stdout, stderr)
	case "import":
		return runImport(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "clv":
		return runCLV(ctx, rest, stdout, stderr)
	case "match":
		return runMatch(ctx, rest, stdout, stderr)
	case "erase":
		return runErase(ctx, rest, stdout, stderr)
	case "offers":
		return runOffers(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "kith", versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}
