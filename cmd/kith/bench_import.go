package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/importer"
)

func runBenchImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith bench import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: kith bench import [flags]

Generates a seeded CRM export of --rows customers (e-mail, phone, loyalty id,
names, city, tier; about one row in ten names a person another row names
too, by e-mail or phone), imports it into a fresh store with
'kith import's code path, waits until the profile processor has applied
every row, and reports rows/s and peak memory.

Flags:
`)
		fs.PrintDefaults()
	}
	rows := fs.Int("rows", 1_000_000, "rows in the generated file")
	seed := fs.Uint64("seed", 1, "seed of the generator")
	dataDir := fs.String("data-dir", "", "data directory (default: a temporary one, removed after)")
	storeURL := fs.String("store", "", "a postgres:// URL to measure PostgreSQL (an empty database)")
	keep := fs.String("keep-csv", "", "write the generated file here and keep it")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the import to FILE")
	memprofile := fs.String("memprofile", "", "write a heap profile, taken when the import ends, to FILE")
	quiet := fs.Bool("quiet", false, "no progress bar")
	noCounts := fs.Bool("no-counts", false, "skip reading back the profiles created, linked and merged (still waits for processing)")
	logOnly := fs.Bool("log-only", false, "run no profile processor: measure reading, checking and appending to the log alone")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *rows < 1 {
		return usageError{"--rows must be at least 1"}
	}
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "kith-bench-import-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	path := *keep
	if path == "" {
		path = filepath.Join(dir, "bench-import.csv")
	}
	start := time.Now()
	size, err := writeBenchCSV(path, *rows, *seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "generated %d rows (%.1f MB) in %s: %s\n", *rows, float64(size)/1e6, time.Since(start).Round(time.Millisecond), path)

	cfg := DefaultConfig()
	cfg.DataDir, cfg.Store = dir, *storeURL
	run, err := startImporter(ctx, cfg, nil, !*logOnly)
	if err != nil {
		return err
	}
	defer run.close()
	now := time.Now()
	src := &kith.Source{ID: fmt.Sprintf("src_bench%d", now.UnixNano()), Name: fmt.Sprintf("bench-crm-%d", now.UnixNano()), Kind: kith.KindServer,
		WriteKey: fmt.Sprintf("bench-import-%d", now.UnixNano()), CreatedAt: now}
	if err := run.db.CreateSource(ctx, src); err != nil {
		return err
	}
	m, err := importer.ParseMapping(benchMapping, cfg.Identity)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	stop, err := startCPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	peak := sampleMemory()
	bar := newImportBar(stderr, *quiet)
	svc := run.svc
	if *noCounts || *logOnly {
		svc = importer.New(run.db, cfg.Identity, nil, nil)
	}
	began, cpuBefore := time.Now(), cpuTime()
	var logged time.Time // when the last row reached the log
	var inLog int
	progress := func(p importer.Progress) {
		if n := p.Appended + p.Duplicates; n > inLog {
			inLog, logged = n, time.Now()
		}
		bar.set(p)
	}
	sum, err := svc.Run(ctx, f, importer.Options{Source: src, Mapping: m, File: filepath.Base(path), Progress: progress})
	if err == nil && *noCounts && !*logOnly {
		err = waitProcessed(ctx, run.proc, nil)
		sum.Took = time.Since(began)
	}
	bar.finish()
	cpu := cpuTime() - cpuBefore
	stop()
	heap, rss := peak()
	if err != nil {
		return err
	}
	if *memprofile != "" {
		if err := writeHeapProfile(*memprofile); err != nil {
			return err
		}
	}
	until := "until every row was applied to its profile"
	if *logOnly {
		until = "into the log, with no profile processor running"
	}
	fmt.Fprintf(stdout, "imported %d rows in %s: %.0f rows/s, %s\n",
		sum.Rows, sum.Took.Round(time.Millisecond), float64(sum.Rows)/sum.Took.Seconds(), until)
	if !logged.IsZero() {
		took := logged.Sub(began)
		fmt.Fprintf(stdout, "  read, checked and appended to the log in %s: %.0f rows/s\n", took.Round(time.Millisecond), float64(inLog)/took.Seconds())
	}
	fmt.Fprintf(stdout, "  %s\n", sum)
	if cpu > 0 && sum.Rows > 0 {
		fmt.Fprintf(stdout, "  CPU %.1f s (user and system): %.0f µs a row, %.2f cores on average\n",
			cpu.Seconds(), float64(cpu.Microseconds())/float64(sum.Rows), cpu.Seconds()/sum.Took.Seconds())
	}
	fmt.Fprintf(stdout, "  peak Go heap %.0f MB, peak RSS %.0f MB (store %s)\n", float64(heap)/1e6, float64(rss)/1e6, storeName(cfg))
	return nil
}

func storeName(cfg Config) string {
	if cfg.Store != "" {
		return redactURL(cfg.Store)
	}
	return "embedded, " + cfg.DataDir
}

// benchMapping maps the generated file's columns.
var benchMapping = []string{"email=identifier:email", "phone=identifier:phone", "loyalty_id=identifier:loyalty_id",
	"first_name=trait:first_name", "last_name=trait:last_name", "city=trait:city", "tier=trait:tier"}

var (
	benchFirst = []string{"Ann", "Ben", "Chloe", "Dev", "Emma", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kai", "Lena", "Mo", "Nia", "Omar", "Pia"}
	benchLast  = []string{"Lee", "Okafor", "Park", "Ramirez", "Becker", "Smith", "Nguyen", "Kowalski", "Rossi", "Haddad", "Silva", "Tanaka"}
	benchCity  = []string{"Oakland", "Boston", "Austin", "Denver", "Seattle", "Chicago", "Miami", "Portland"}
	benchTier  = []string{"bronze", "silver", "gold", "platinum"}
	benchArea  = []string{"212", "310", "415", "617", "646", "702", "925", "312", "404", "512"}
)

// writeBenchCSV writes a seeded CRM export of n rows to path. Row i names
// person i; one row in ten names instead an earlier person again by
// e-mail or phone (with a new loyalty id half of the time), so imports
// link and merge as well as create.
func writeBenchCSV(path string, n int, seed uint64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w.Write([]string{"email", "phone", "loyalty_id", "first_name", "last_name", "city", "tier"})
	person := func(i int) (email, phone string) {
		email = "customer" + strconv.Itoa(i) + "@example.com"
		// A valid North American number per person: area, exchange 200-999, line.
		area := benchArea[i%len(benchArea)]
		x := i / len(benchArea)
		phone = fmt.Sprintf("+1 %s-%03d-%04d", area, 200+(x/10000)%800, x%10000)
		return email, phone
	}
	rec := make([]string, 7)
	for i := range n {
		p := i
		if i > 10 && r.IntN(10) == 0 {
			p = r.IntN(i) // someone already named
		}
		email, phone := person(p)
		loyalty := "L" + strconv.Itoa(p+1_000_000)
		if p != i {
			switch r.IntN(4) {
			case 0:
				phone = "" // known by e-mail
			case 1:
				email = "" // known by phone
			case 2:
				loyalty = "" // no card this time
			default:
				loyalty, email = "", strings.ToUpper(email) // another spelling
			}
		}
		rec[0], rec[1], rec[2] = email, phone, loyalty
		rec[3], rec[4] = benchFirst[r.IntN(len(benchFirst))], benchLast[r.IntN(len(benchLast))]
		rec[5], rec[6] = benchCity[r.IntN(len(benchCity))], benchTier[r.IntN(len(benchTier))]
		if err := w.Write(rec); err != nil {
			f.Close()
			return 0, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return fi.Size(), f.Close()
}

// sampleMemory samples the Go heap and the process's resident set every
// 100 ms until the returned function is called, which returns the peaks.
func sampleMemory() func() (heap, rss uint64) {
	done := make(chan struct{})
	result := make(chan [2]uint64, 1)
	go func() {
		var peakHeap, peakRSS uint64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapAlloc)
			peakRSS = max(peakRSS, residentSet())
			select {
			case <-tick.C:
			case <-done:
				result <- [2]uint64{peakHeap, peakRSS}
				return
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		r := <-result
		return r[0], r[1]
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// residentSet reads the process's resident set size on Linux (0 elsewhere).
func residentSet() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
