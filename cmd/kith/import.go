package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/importer"
	"github.com/kithhq/kith/profile"
)

const importHelp = `Usage: kith import FILE.csv --source NAME --map COLUMN=identifier:TYPE|trait:NAME … [flags]

Imports customer records from another system (a CRM, a loyalty programme,
a spreadsheet). Each row becomes an identify event of the source, so it
goes through the same identity resolution as live events and its traits
keep the source as their provenance. The file is streamed, however large.

--map is repeated, one column each:
  COLUMN=identifier:TYPE   an identifier (user_id, email, phone, loyalty_id, …)
  COLUMN=trait:NAME        a trait

A problem with the file as a whole (not UTF-8, a mapped column missing from
the header, the wrong delimiter) stops the import before anything is
written. A bad row (wrong number of fields, an invalid e-mail or phone) is
written to the rejects file with its line number and reason, and the rest
goes on. Importing the same rows again changes nothing, so an interrupted
import is safely run again.

It runs the profile processor itself and waits until every imported row is
in its profile: stop 'kith serve' on the same --data-dir first, or import
through a running server with POST /v1/imports. A PostgreSQL store may be
shared with running servers.

Flags:
`

// mapFlag collects --map specs one by one (column names may hold commas).
type mapFlag []string

func (m *mapFlag) String() string     { return strings.Join(*m, " ") }
func (m *mapFlag) Set(v string) error { *m = append(*m, v); return nil }

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, importHelp)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Example:
  kith import crm.csv --source crm \
    --map Phone=identifier:phone --map "First name=trait:first_name" --map Tier=trait:tier
`)
	}
	resolve := configFlags(fs, false)
	source := fs.String("source", "", "the source the records come from (create it with 'kith sources create')")
	var maps mapFlag
	fs.Var(&maps, "map", "COLUMN=identifier:TYPE or COLUMN=trait:NAME; repeat for each column")
	delim := fs.String("delimiter", ",", `field delimiter: one character, e.g. ";" or "\t"`)
	rejectsPath := fs.String("rejects", "", "where to write rejected rows (default FILE.rejects.csv beside the file)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError{"import needs one file"}
	}
	if *source == "" {
		return usageError{"import needs --source NAME"}
	}
	d, err := parseDelimiter(*delim)
	if err != nil {
		return err
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	m, err := importer.ParseMapping(maps, cfg.Identity)
	if err != nil {
		return usageError{"--map: " + kith.ErrorMessage(err)}
	}
	path := pos[0]
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx = cliActor(ctx)

	run, err := startImporter(ctx, cfg, nil, true)
	if err != nil {
		return err
	}
	defer run.close()
	src, err := sourceByName(ctx, run.db, *source)
	if err != nil {
		return err
	}
	if *rejectsPath == "" {
		*rejectsPath = strings.TrimSuffix(path, filepath.Ext(path)) + ".rejects.csv"
	}
	rf, err := os.Create(*rejectsPath)
	if err != nil {
		return err
	}
	bar := newImportBar(stderr, *quiet)
	sum, err := run.svc.Run(ctx, f, importer.Options{Source: src, Mapping: m, Delimiter: d, File: filepath.Base(path),
		Rejects: rf, Progress: bar.set})
	bar.finish()
	if cerr := rf.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if sum == nil || sum.Rejected == 0 {
		os.Remove(*rejectsPath)
	}
	if sum != nil {
		printSummary(stdout, sum, *rejectsPath)
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("import interrupted; run the same command again to finish it (rows already imported are skipped)")
	}
	return err
}

func printSummary(w io.Writer, s *importer.Summary, rejects string) {
	fmt.Fprintf(w, "rows read          %d\n", s.Rows)
	fmt.Fprintf(w, "imported           %d\n", s.Appended)
	fmt.Fprintf(w, "already imported   %d\n", s.Duplicates)
	if s.Counted {
		fmt.Fprintf(w, "profiles created   %d\n", s.Created)
		fmt.Fprintf(w, "profiles linked    %d\n", s.Linked)
		fmt.Fprintf(w, "profiles merged    %d\n", s.Merged)
	}
	fmt.Fprintf(w, "rows rejected      %d", s.Rejected)
	if s.Rejected > 0 {
		fmt.Fprintf(w, " (see %s)", rejects)
	}
	fmt.Fprintf(w, "\ntook               %s (%.0f rows/s)\n", s.Took.Round(time.Millisecond), float64(s.Rows)/max(s.Took.Seconds(), 1e-9))
}

func parseDelimiter(s string) (rune, error) {
	if s == `\t` || s == "tab" {
		return '\t', nil
	}
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || n != len(s) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
		return 0, usageError{fmt.Sprintf("--delimiter %q: use one character such as , ; | or \\t", s)}
	}
	return r, nil
}

// sourceByName finds an active source by name or id.
func sourceByName(ctx context.Context, db kith.SourceStore, name string) (*kith.Source, error) {
	srcs, err := db.Sources(ctx)
	if err != nil {
		return nil, err
	}
	for i := range srcs {
		if srcs[i].Name == name || srcs[i].ID == name {
			if srcs[i].Revoked() {
				return nil, kith.Invalid("source", "source %q is revoked", name)
			}
			return &srcs[i], nil
		}
	}
	return nil, kith.Invalid("source", "no source is named %q; create it with: kith sources create --name %s --kind KIND", name, name)
}

// importRun is a store, a profile processor and an importer, for an import
// from the command line or a benchmark.
type importRun struct {
	db    Store
	proc  *profile.Processor
	svc   *importer.Service
	close func()
}

// startImporter opens the store and, with process, runs a profile
// processor over it, so that an import can wait for its rows to become
// profiles.
func startImporter(ctx context.Context, cfg Config, logger *slog.Logger, process bool) (*importRun, error) {
	if os.Getenv("GOMEMLIMIT") == "" {
		// Collect before the heap passes importMemoryLimit rather than
		// at five times the live heap (GOGC 400): an import's heap is
		// mostly garbage, so its peak then stays where it is whatever
		// the file's size, and the run is faster for touching less fresh
		// memory. GOMEMLIMIT overrides.
		debug.SetMemoryLimit(importMemoryLimit)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	unlock := func() {}
	if process {
		var err error
		if unlock, err = lockProcessing(cfg); err != nil {
			return nil, err
		}
	}
	var proc *profile.Processor
	db, single, err := openStore(ctx, cfg, func(int, time.Duration) { proc.Notify() }, nil)
	if err != nil {
		unlock()
		return nil, err
	}
	// The same processor as kith serve's: it must heed the lifecycle
	// source's stage changes as serve's does.
	lifeSrc, err := internalSource(ctx, access.New(db, db, 0), lifecycleSource)
	if err != nil {
		db.Close()
		unlock()
		return nil, fmt.Errorf("lifecycle source: %w", err)
	}
	pcfg := processorConfig(cfg, single, lifeSrc.ID)
	// An import names most people once: a cache of every profile it makes
	// would grow with the file (and, at GOGC 400, five times over) and
	// serve few reads. The batch's identifiers are looked up in one query
	// whatever the cache holds.
	pcfg.CacheProfiles = importCacheProfiles
	proc = profile.NewProcessor(db, pcfg, logger, nil)
	pctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if process {
			proc.Run(pctx)
		}
	}()
	svc := importer.New(db, cfg.Identity, appliedBy{proc}, db)
	svc.RecordTo(db)
	return &importRun{db: db, proc: proc, svc: svc, close: func() {
		cancel()
		<-done
		db.Close()
		unlock()
	}}, nil
}

// importMemoryLimit is the Go heap an import collects garbage to stay
// under (a soft limit: the live heap of an import is a few hundred MB).
const importMemoryLimit = 1 << 30

// importCacheProfiles bounds the cache of the processor that kith import
// runs, so that its memory does not grow with the file.
const importCacheProfiles = 50_000

// processorConfig is the profile processor's configuration, the one that
// kith serve and kith import both run: a processor that folded events
// otherwise would build other profiles from the same log. single says the
// processor is the store's only writer (it may keep its cache);
// lifecycleSource is the id of the source whose stage changes it heeds.
func processorConfig(cfg Config, single bool, lifecycleSource string) profile.Config {
	in := cfg.Intents
	return profile.Config{
		Identity: cfg.Identity,
		Cache:    single,
		Intents: profile.IntentConfig{HalfLife: time.Duration(in.HalfLife), CategoryTopics: in.CategoryTopics,
			Rules: in.Rules, Top: in.Top},
		Purchases:       cfg.Purchases,
		LifecycleSource: lifecycleSource,
		Node:            cfg.NodeID,
	}
}

// appliedBy tells an import whether a processor has applied its events:
// each event's partition cursor (or the one cursor) has passed its Seq.
type appliedBy struct{ p *profile.Processor }

func (a appliedBy) Applied(ctx context.Context, evs []kith.Event) (bool, error) {
	lag, err := a.p.Lag(ctx)
	if err != nil {
		return false, err
	}
	if len(lag.Partitions) == 0 {
		for _, e := range evs {
			if e.Seq > lag.Cursor {
				return false, nil
			}
		}
		return true, nil
	}
	cursors := make(map[int]int64, len(lag.Partitions))
	for _, pl := range lag.Partitions {
		cursors[pl.Partition] = pl.Cursor
	}
	for _, e := range evs {
		if e.Seq > cursors[e.Partition(len(lag.Partitions))] {
			return false, nil
		}
	}
	return true, nil
}

// importBar draws an import's progress on stderr: a bar on a terminal, a
// line every tenth of the way otherwise.
type importBar struct {
	w        io.Writer
	terminal bool
	last     time.Time
	lastTen  int64 // the tenth of the file read, or of its rows in the log, last written
	start    time.Time
	drawn    bool
}

func newImportBar(w io.Writer, quiet bool) *importBar {
	if quiet {
		return &importBar{}
	}
	b := &importBar{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.terminal = true
		}
	}
	return b
}

func (b *importBar) set(p importer.Progress) {
	if b.w == nil || p.TotalBytes == 0 {
		return
	}
	pct := p.Bytes * 100 / p.TotalBytes
	rate := float64(p.Rows) / max(time.Since(b.start).Seconds(), 1e-9)
	if !b.terminal {
		tens := pct / 10
		if p.Rows > 0 {
			tens += int64(10 * (p.Appended + p.Duplicates) / p.Rows)
		}
		if tens > b.lastTen {
			b.lastTen = tens
			fmt.Fprintf(b.w, "import: %d%% read, %d rows (%d rejected), %d in the log, %d in profiles, %.0f rows/s\n",
				pct, p.Rows, p.Rejected, p.Appended+p.Duplicates, p.Processed, rate)
		}
		return
	}
	if time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last, b.drawn = time.Now(), true
	const width = 30
	fill := int(int64(width) * p.Bytes / p.TotalBytes)
	fmt.Fprintf(b.w, "\rimport [%s%s] %3d%%  %d rows, %d rejected, %d in profiles  %.0f rows/s ",
		strings.Repeat("█", fill), strings.Repeat("·", width-fill), pct, p.Rows, p.Rejected, p.Processed, rate)
}

func (b *importBar) finish() {
	if b.w != nil && b.terminal && b.drawn {
		fmt.Fprintln(b.w)
	}
}

// maxImportUpload bounds a file posted to /v1/imports; larger files are
// imported with 'kith import' on the server.
const maxImportUpload = 1 << 30
