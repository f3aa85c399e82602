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
  kith bench ingest [flags]   measure durable ingestion: events/s acknowledged, p50/p99 latency

Without --url it starts a Kith server on a fresh data directory in this process
and measures it; with --url and --write-key it measures any Segment-compatible
server on this machine (loopback only).
`
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
	quiet := fs.Bool("quiet", false, "no progress lines")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process (server and load generator) to FILE")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *count > 0 {
		*dur = 0
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	url, key := *u, *wk
	var proc *profile.Processor
	if url == "" {
		dir := *dataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "kith-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		m := NewMain()
		m.Config.DataDir = dir
		m.Config.Addr = "127.0.0.1:0"
		m.Config.BootstrapWriteKey = "bench-write-key"
		m.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if err := m.Run(ctx); err != nil {
			return err
		}
		defer m.Close()
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
