package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/kithhq/kith/bench"
	"github.com/kithhq/kith/profile"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	help := `Usage:
  kith bench ingest [flags]   measure durable ingestion and processing: events/s, p50/p99 latency, lag
  kith bench lookup [flags]   measure profile lookup by phone on a large store
  kith bench console [flags]  measure the demo's start and the customer page's drawing time
  kith bench import [flags]   measure importing a generated CSV file until its rows are profiles
  kith bench offers [flags]   measure granting an offer to a list and redeeming grants at a fixed rate

Without --url it starts a Kith server on a fresh data directory in this process
and measures it; with --url and --write-key it measures any Segment-compatible
server on this machine (loopback only).
`
	if len(args) > 0 && args[0] == "lookup" {
		return runBenchLookup(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "import" {
		return runBenchImport(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "offers" {
		return runBenchOffers(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "console" {
		return runBenchConsole(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "ingest" {
		fmt.Fprint(stderr, help)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return usageError{"bench needs a workload: ingest"}
	}
	fs := flag.NewFlagSet("kith bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, help+"\nFlags:\n"); fs.PrintDefaults() }
	u := fs.String("url", "", "server to measure (default: start one in-process)")
	wk := fs.String("write-key", "", "write key for --url")
	count := fs.Int("count", 0, "events to send (default: run for --duration)")
	dur := fs.Duration("duration", 20*time.Second, "how long to run when --count is not given")
	conc := fs.Int("concurrency", 32, "concurrent clients")
	batch := fs.Int("batch", 100, "events per request; 1 sends single events to /v1/track, /v1/page, /v1/identify")
	people := fs.Int("people", 10000, "distinct people in the workload")
	rate := fs.Float64("rate", 0, "events/s to offer in all (default: as fast as the server acknowledges)")
	dataDir := fs.String("data-dir", "", "data directory for the in-process server (default: a temporary one, removed after)")
	storeURL := fs.String("store", "", "store of the in-process server: a postgres:// URL (default: the embedded store in --data-dir)")
	logURL := fs.String("log", "", "event log of the in-process server: a nats:// URL (default: the store's own log)")
	logMonitor := fs.String("log-monitor", "", "the NATS server's monitoring URL, with --log")
	quiet := fs.Bool("quiet", false, "no progress lines")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process (server and load generator) to FILE")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *count > 0 {
		*dur = 0
	}
	stop, err := startCPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	url, key := *u, *wk
	var proc *profile.Processor
	if url == "" {
		m, done, err := startBenchServer(ctx, *dataDir, *storeURL, stderr, func(c *Config) {
			c.Log, c.LogMonitor = *logURL, *logMonitor
			if c.Log != "" {
				c.LogStream = fmt.Sprintf("KITH_BENCH_%d", time.Now().Unix())
			}
		})
		if err != nil {
			return err
		}
		defer done()
		dir := m.Config.DataDir
		if *storeURL != "" {
			dir = redactURL(*storeURL)
		}
		if *logURL != "" {
			dir += ", log " + redactURL(*logURL) + " stream " + m.Config.LogStream
		}
		url, key, proc = m.URL(), m.Config.BootstrapWriteKey, m.Processor
		fmt.Fprintf(stderr, "measuring an in-process kith at %s (data in %s)\n", url, dir)
	} else if key == "" {
		return usageError{"--url needs --write-key"}
	}
	opts := bench.IngestOptions{URL: url, WriteKey: key, Count: *count, Duration: *dur, Concurrency: *conc,
		BatchSize: *batch, People: *people, Rate: *rate, Seed: uint64(time.Now().UnixNano())}
	if proc != nil {
		opts.Lag = func(ctx context.Context) (bench.Lag, error) {
			l, err := proc.Lag(ctx)
			return bench.Lag{Events: l.Events, Age: l.Age}, err
		}
	}
	if !*quiet {
		opts.Progress = func(acked int64, el time.Duration, lag bench.Lag) {
			fmt.Fprintf(stderr, "  %5.1fs  %10d events  %8.0f events/s  lag %d events, %s\n",
				el.Seconds(), acked, float64(acked)/el.Seconds(), lag.Events, lag.Age.Round(time.Millisecond))
		}
	}
	rep, err := bench.Ingest(ctx, opts)
	if rep != nil {
		fmt.Fprintln(stdout, rep)
	}
	return err
}

func runBenchLookup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith bench lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: kith bench lookup [flags]

Loads --profiles people with --events events in all straight into the log
of an in-process Kith (skipped when --data-dir already holds them), waits
until they are processed into profiles, then looks profiles up by phone
through GET /v1/profiles/lookup at --rate per second and reports latency.

Flags:
`)
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", "", "data directory (default: a temporary one, removed after); reuse one to skip loading")
	storeURL := fs.String("store", "", "a postgres:// URL to measure PostgreSQL (an empty database, or one this command loaded before)")
	people := fs.Int("profiles", 100000, "people in the fixtures")
	events := fs.Int("events", 5000000, "events in the fixtures")
	rate := fs.Float64("rate", 2000, "lookups per second")
	dur := fs.Duration("duration", 20*time.Second, "how long to look up")
	conc := fs.Int("concurrency", 32, "concurrent clients")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process (loading, processing, lookups) to FILE")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	stop, err := startCPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	if *people < 1 || *events < *people {
		return usageError{"--events must be at least --profiles (each person identifies first)"}
	}
	m, done, err := startBenchServer(ctx, *dataDir, *storeURL, stderr)
	if err != nil {
		return err
	}
	defer done()
	dir := m.Config.DataDir
	if *storeURL != "" {
		dir = redactURL(*storeURL)
	}
	have, err := m.DB.CountEvents(ctx)
	if err != nil {
		return err
	}
	if have < int64(*events) {
		if have > 0 {
			return fmt.Errorf("%s holds %d events, fewer than --events %d: use an empty or fully loaded data directory", dir, have, *events)
		}
		src, err := m.Access.SourceForWriteKey(ctx, m.Config.BootstrapWriteKey)
		if err != nil {
			return err
		}
		start := time.Now()
		err = bench.LoadFixtures(ctx, m.DB, src.ID, *people, *events, func(n int) {
			if n%250000 < 5000 || n == *events {
				fmt.Fprintf(stderr, "  loading: %d/%d events (%.0f/s)\n", n, *events, float64(n)/time.Since(start).Seconds())
			}
		})
		if err != nil {
			return err
		}
	}
	start := time.Now()
	if err := waitProcessed(ctx, m.Processor, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "store ready: %d profiles, %d events (processing waited %s)\n", *people, *events, time.Since(start).Round(time.Second))
	rep, err := bench.Lookup(ctx, bench.LookupOptions{URL: m.URL(), APIKey: m.Config.BootstrapAPIKey, People: *people,
		Rate: *rate, Duration: *dur, Concurrency: *conc})
	if rep != nil {
		fmt.Fprintln(stdout, rep)
	}
	return err
}

// startCPUProfile profiles this process into path until stop is called; a
// no-op without a path.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// startBenchServer starts an in-process Kith for a benchmark on dir, or on a
// temporary directory removed by done when dir is empty.
func startBenchServer(ctx context.Context, dir, store string, stderr io.Writer, edit ...func(*Config)) (m *Main, done func(), err error) {
	remove := func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "kith-bench-")
		if err != nil {
			return nil, nil, err
		}
		dir, remove = tmp, func() { os.RemoveAll(tmp) }
	}
	m = NewMain()
	m.Config.DataDir, m.Config.Addr, m.Config.Store = dir, "127.0.0.1:0", store
	m.Config.BootstrapWriteKey, m.Config.BootstrapAPIKey = "bench-write-key", "bench-admin-key-0001"
	for _, e := range edit {
		e(&m.Config)
	}
	m.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := m.Run(ctx); err != nil {
		remove()
		return nil, nil, err
	}
	return m, func() { m.Close(); remove() }, nil
}
