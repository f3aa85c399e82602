package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/audience"
	"github.com/kithhq/kith/computed"
	"github.com/kithhq/kith/consent"
	"github.com/kithhq/kith/erasure"
	natslog "github.com/kithhq/kith/eventlog/nats"
	kithhttp "github.com/kithhq/kith/http"
	"github.com/kithhq/kith/importer"
	"github.com/kithhq/kith/ingest"
	"github.com/kithhq/kith/lifecycle"
	"github.com/kithhq/kith/matching"
	"github.com/kithhq/kith/metrics"
	"github.com/kithhq/kith/offer"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/web"
)

// Main is a running Kith server. Tests start it as `kith serve` would.
type Main struct {
	Config Config
	Logger *slog.Logger
	// Out receives what a person starting the server should read (the demo's
	// banner); Progress receives progress bars. Either may be nil.
	Out      io.Writer
	Progress io.Writer

	DB        Store
	Log       *natslog.Log // nil: ingestion appends to the store's own log
	Access    *access.Service
	Users     *access.Users
	Metrics   *metrics.Metrics
	Processor *profile.Processor
	Profiles  *profile.Service
	Imports   *importer.Jobs
	Lifecycle *lifecycle.Service
	Offers    *offer.Service
	Matching  *matching.Service // nil when disabled
	Audiences *audience.Engine
	Computed  *computed.Service
	Consent   *consent.Service
	Erasure   *erasure.Service

	stopProcessing context.CancelFunc
	unlock         func() // gives up the embedded store's processing lock
	processing     chan struct{}

	demo   demoRun        // the demo loader, when --demo
	chores sync.WaitGroup // periodic housekeeping, stopped with processing

	ln       net.Listener
	api      *kithhttp.Server
	srv      *http.Server
	serveErr chan error
}

// NewMain returns a Main with the default config.
func NewMain() *Main { return &Main{Config: DefaultConfig()} }

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("log level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("log format %q: use text or json", format)}
}

// Run opens the store, makes sure bootstrap credentials exist and starts
// serving in the background. It returns once the listener is open.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	m.Metrics = metrics.New()
	if m.unlock, err = lockProcessing(m.Config); err != nil {
		return err
	}
	var proc *profile.Processor
	var single bool
	m.DB, single, err = openStore(ctx, m.Config, func(n int, took time.Duration) {
		m.Metrics.ObserveCommit(n, took)
		proc.Notify()
	}, m.Metrics)
	if err != nil {
		m.unlock()
		return err
	}
	defer func() {
		if err != nil {
			defer m.unlock()
			if m.stopProcessing != nil {
				m.stopProcessing()
				<-m.processing
				m.chores.Wait()
			}
			m.DB.Close()
			if m.Log != nil {
				m.Log.Close()
			}
		}
	}()
	if m.Config.Log != "" {
		stream := m.Config.LogStream
		prefix := ""
		if stream != "" {
			prefix = "kith." + strings.ToLower(stream)
		}
		if m.Log, err = natslog.Open(ctx, m.Config.Log, natslog.Options{Stream: stream, SubjectPrefix: prefix,
			MonitorURL: m.Config.LogMonitor}); err != nil {
			return fmt.Errorf("event log %s: %w", redactURL(m.Config.Log), err)
		}
	}
	m.Access = access.New(m.DB, m.DB, time.Duration(m.Config.WriteKeyCacheTTL))
	m.Access.RecordTo(m.DB)
	m.Users = access.NewUsers(m.DB, m.DB, m.DB)
	if err := m.bootstrap(ctx); err != nil {
		return err
	}
	lifeSrc, err := internalSource(ctx, m.Access, lifecycleSource)
	if err != nil {
		return fmt.Errorf("lifecycle source: %w", err)
	}
	var life *lifecycle.Service
	pcfg := processorConfig(m.Config, single, lifeSrc.ID)
	pcfg.Node = m.nodeID()
	// Computed traits are folded from the first event the processor
	// applies: every saved definition is in force before it starts.
	pcfg.Computed = computed.NewSet()
	var matcher *matching.Service
	var audienceEngine *audience.Engine
	proc = profile.NewProcessor(m.DB, pcfg, m.Logger, func(b profile.BatchDone) {
		m.Metrics.ObserveBatch(b.Events, b.Merges, b.Took)
		life.Touched(b.Purchased)
		if matcher != nil {
			matcher.Described(b.Described)
		}
		if audienceEngine != nil {
			audienceEngine.Changed(audience.Batch{Changed: b.Changed, Touched: b.Touched, Profiles: b.Profiles})
		}
	})
	m.Processor = proc
	m.Computed = computed.NewService(m.DB, pcfg.Computed, proc, m.DB, m.DB, m.Logger)
	if err := m.Computed.Load(ctx); err != nil {
		return err
	}
	if !single {
		// Other nodes learn of a new definition within two seconds; its
		// backfill waits until all of them fold it.
		m.Computed.Settle = 5 * time.Second
	}
	lifeLog := kith.EventLog(m.DB)
	if m.Log != nil {
		lifeLog = m.Log
	}
	if life, err = lifecycle.New(m.DB, lifeLog, lifecycle.Config{Rules: m.Config.Lifecycle, Source: lifeSrc}, m.Logger); err != nil {
		return err
	}
	m.Lifecycle = life
	life.RecordTo(m.DB)
	m.Profiles = profile.NewService(m.DB, proc)
	m.Profiles.RecordTo(m.DB)
	offSrc, err := internalSource(ctx, m.Access, offersSource)
	if err != nil {
		return fmt.Errorf("offers source: %w", err)
	}
	m.Offers = offer.New(m.DB, offer.Config{People: m.Profiles, Log: lifeLog, Source: offSrc, Audit: m.DB, Logger: m.Logger})
	m.Consent = consent.New(m.DB, m.Profiles, m.DB, m.Config.Consent, m.Logger)
	m.Consent.UseIdentity(m.Config.Identity)
	audiences := audience.New(m.DB, pcfg.Intents.Strengths, func(p *kith.Profile) (string, string) {
		a := life.Assess(p)
		return a.Stage, a.Tier
	}, m.DB)
	audiences.SaveTo(m.DB)
	audiences.ReadComputed(pcfg.Computed)
	audSrc, err := internalSource(ctx, m.Access, audiencesSource)
	if err != nil {
		return fmt.Errorf("audiences source: %w", err)
	}
	audienceEngine = audience.NewEngine(audiences, m.DB, lifeLog, audSrc, m.Logger)
	if single {
		// Only this process writes the embedded store's memberships.
		audienceEngine.CacheMemberships(2_000_000)
		if db, ok := m.DB.(interface{ SyncMembershipsWithLog(bool) }); ok && m.Log == nil {
			db.SyncMembershipsWithLog(true) // their announcements' commit syncs them
		}
	}
	m.Audiences = audienceEngine
	m.Erasure = erasure.New(m.DB, proc, m.DB, logHead{m.DB, m.Log}, m.DB, erasure.Config{}, m.Logger)
	m.Erasure.Forgets(audienceEngine)
	if !m.Config.Matching.Disabled {
		matchSrc, err := internalSource(ctx, m.Access, matchingSource)
		if err != nil {
			return fmt.Errorf("matching source: %w", err)
		}
		if matcher, err = matching.New(m.DB, m.DB, lifeLog, m.DB, matching.Config{Source: matchSrc,
			Auto: m.Config.Matching.Auto, Review: m.Config.Matching.Review}, m.Logger); err != nil {
			return err
		}
		m.Matching = matcher
		m.Profiles.AfterUndo(matcher.Undone)
		m.Erasure.Forgets(matcher)
	}
	m.Metrics.RegisterLag(m.lag)
	pctx, cancel := context.WithCancel(context.Background())
	m.stopProcessing, m.processing = cancel, make(chan struct{})
	go func() {
		defer close(m.processing)
		proc.Run(pctx)
	}()
	// Every node fits and sweeps on its own; the stage changes they find
	// are the same events, kept once by the log.
	m.chores.Go(func() { life.Run(pctx) })
	// Grants, redemptions and voids reach the log (and the timeline)
	// through the ledger's outbox; any node may relay what any node queued.
	m.chores.Go(func() { m.Offers.Relay(pctx) })
	m.chores.Go(func() { audienceEngine.Run(pctx) })
	// Erasures left half-way are finished, and those made on other nodes
	// are forgotten by this one's caches.
	m.chores.Go(func() { m.Erasure.Run(pctx) })
	// Consent that events carry is recorded once the processor has applied
	// them; every node may follow, the decisions' ids keep each once.
	follower := consent.NewFollower(m.Consent, m.DB, proc.Applied, nil)
	m.chores.Go(func() {
		follower.Run(pctx, time.Second, func(err error) { m.Logger.Warn("consent from events", "err", err) })
	})
	if !single {
		m.chores.Go(func() { m.Computed.Reload(pctx, 2*time.Second) })
	}
	if matcher != nil {
		m.chores.Go(func() {
			if err := matcher.Start(pctx); err != nil {
				if pctx.Err() == nil {
					m.Logger.Error("matching index", "err", err)
				}
				return
			}
			matcher.Run(pctx)
		})
	}
	if m.Log != nil {
		// Every node drains every partition of the log into the store; the
		// server lets one node at a time have each partition, in order.
		for p := range m.Log.Partitions() {
			m.chores.Go(func() {
				m.Log.Drain(pctx, p, func(ctx context.Context, evs []kith.Event) error {
					_, err := m.DB.Append(ctx, evs)
					return err
				}, m.Logger)
			})
		}
	}
	m.chores.Go(func() {
		// Expired console sessions are refused anyway; this keeps the table small.
		tick := time.NewTicker(time.Hour)
		defer tick.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
				if n, err := m.Users.Sweep(pctx); err != nil {
					m.Logger.Warn("sweep expired sessions", "err", err)
				} else if n > 0 {
					m.Logger.Info("swept expired sessions", "sessions", n)
				}
			}
		}
	})

	var eventLog kith.EventLog = m.DB
	ready := m.DB.Ready
	if m.Log != nil {
		eventLog = m.Log
		ready = func(ctx context.Context) error {
			if err := m.Log.Ready(ctx); err != nil {
				return err
			}
			return m.DB.Ready(ctx)
		}
	}
	imports := importer.New(eventLog, m.Config.Identity, appliedBy{proc}, m.DB)
	imports.RecordTo(m.DB)
	m.Imports = importer.NewJobs(imports, "", maxImportUpload)
	console, err := web.New(web.Config{
		Access: m.Access, Users: m.Users, Profiles: m.Profiles, Audit: m.DB, Lifecycle: life, Offers: m.Offers, Matching: m.Matching,
		Audiences: audiences, Computed: m.Computed, Consent: m.Consent, Erasure: m.Erasure, Imports: m.Imports, Status: m.status, Logger: m.Logger, Version: versionString(), SecureCookies: m.Config.SecureCookies,
	})
	if err != nil {
		return err
	}
	handler := kithhttp.NewServer(kithhttp.Config{
		Imports:   m.Imports,
		Lifecycle: life,
		Offers:    m.Offers,
		Matching:  m.Matching,
		Audiences: audiences,
		Computed:  m.Computed,
		Consent:   m.Consent,
		Erasure:   m.Erasure,
		Ingest:    ingest.New(eventLog, m.Access),
		Access:    m.Access,
		Profiles:  m.Profiles,
		Audit:     m.DB,
		Console:   console,
		Metrics:   m.Metrics,
		Logger:    m.Logger,
		Version:   versionString(),
		Ready:     ready,
	})
	m.ln, err = net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	m.api = handler
	m.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.serveErr = make(chan error, 1)
	go func() { m.serveErr <- m.srv.Serve(m.ln) }()
	m.Logger.Info("kith serving", "addr", m.Addr(), "console", m.URL()+"/", "data_dir", m.Config.DataDir, "version", versionString())
	if m.Config.Demo.Enabled {
		if err := m.startDemo(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (m *Main) bootstrap(ctx context.Context) error {
	if wk := m.Config.BootstrapWriteKey; wk != "" {
		src, err := m.Access.EnsureSource(ctx, "default", string(kith.KindServer), wk)
		if err != nil {
			return fmt.Errorf("bootstrap write key: %w", err)
		}
		m.Logger.Info("bootstrap source ready", "source", src.Name, "id", src.ID)
	}
	if ak := m.Config.BootstrapAPIKey; ak != "" {
		k, err := m.Access.EnsureKey(ctx, "bootstrap-admin", ak, []string{string(kith.ScopeAdmin)})
		if err != nil {
			return fmt.Errorf("bootstrap api key: %w", err)
		}
		m.Logger.Info("bootstrap API key ready", "key", k.Name, "id", k.ID)
	}
	if pw := m.Config.BootstrapAdminPassword; pw != "" {
		_, created, err := m.Users.Ensure(ctx, "admin", string(kith.RoleAdmin), pw)
		if err != nil {
			return fmt.Errorf("bootstrap admin user: %w", err)
		}
		if created {
			m.Logger.Info("bootstrap console user ready", "user", "admin")
		} else {
			m.Logger.Info("console user admin exists; KITH_BOOTSTRAP_ADMIN_PASSWORD left it as it is")
		}
	}
	return nil
}

// nodeID is the configured node name, or host name and process id.
func (m *Main) nodeID() string {
	if m.Config.NodeID != "" {
		return m.Config.NodeID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "kith"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// lag reads processing lag for /metrics: the store's per partition, and
// the event log's backlog per partition when the log is NATS.
func (m *Main) lag() (metrics.Lag, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lag, err := m.Processor.Lag(ctx)
	if err != nil {
		return metrics.Lag{}, err
	}
	out := metrics.Lag{Events: float64(lag.Events), Seconds: lag.Age.Seconds()}
	parts := map[int]*metrics.PartitionLag{}
	part := func(p int) *metrics.PartitionLag {
		if parts[p] == nil {
			parts[p] = &metrics.PartitionLag{Partition: p, LogPending: -1}
		}
		return parts[p]
	}
	for _, pl := range lag.Partitions {
		part(pl.Partition).Events, part(pl.Partition).Seconds = float64(pl.Events), pl.Age.Seconds()
	}
	if m.Log != nil {
		for p := range m.Log.Partitions() {
			n, err := m.Log.Pending(ctx, p)
			if err != nil {
				return metrics.Lag{}, err
			}
			part(p).LogPending = float64(n)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		out.Partitions = append(out.Partitions, *parts[p])
	}
	return out, nil
}

// status is what the console shows about the running system.
func (m *Main) status(ctx context.Context) web.Status {
	var st web.Status
	if lag, err := m.Processor.Lag(ctx); err == nil {
		st.Events, st.LagEvents, st.LagSeconds = lag.LastSeq, lag.Events, lag.Age.Seconds()
	}
	st.Demo = m.demo.progress()
	return st
}

// Addr returns the address the server listens on.
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// URL returns the server's base URL.
func (m *Main) URL() string { return "http://" + m.Addr() }

// Done returns a channel that receives the error that ended serving.
func (m *Main) Done() <-chan error { return m.serveErr }

// Close shuts down gracefully: stop accepting, let in-flight requests finish
// (each waits for its durable append), flush the log and close the store.
func (m *Main) Close() error {
	var errs []error
	m.demo.stop()
	if m.api != nil {
		m.api.Drain()
	}
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(m.Config.ShutdownTimeout))
		if err := m.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown http: %w", err))
		}
		cancel()
	}
	if m.Imports != nil {
		m.Imports.Close() // a stopped import resumes when its file is posted again
	}
	if m.stopProcessing != nil {
		// The batch in progress commits or rolls back with its cursor.
		m.stopProcessing()
		<-m.processing
		m.chores.Wait()
	}
	if m.Log != nil {
		if err := m.Log.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close event log: %w", err))
		}
	}
	if m.DB != nil {
		if err := m.DB.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if m.unlock != nil {
		m.unlock()
		m.unlock = nil
	}
	return errors.Join(errs...)
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	resolve := configFlags(fs, true)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: kith serve [flags]

Runs Kith: Segment-compatible ingestion (/v1/track, /v1/batch, …), the REST API,
the console (/), /healthz, /readyz and /metrics on one port, with the embedded SQLite
store in --data-dir.

With --demo it also loads a demo history of a members' club through ingestion
(a progress bar shows how far), creates demo users (admin, agent, marketer,
analyst; password kith-demo-<role>) and prints the console's address and the
named customers to look up.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Examples:
  kith serve --demo
  KITH_BOOTSTRAP_WRITE_KEY=dev-write-key KITH_BOOTSTRAP_API_KEY=dev-admin-secret-123 \
  KITH_BOOTSTRAP_ADMIN_PASSWORD=change-me-please \
    kith serve --addr 127.0.0.1:8080 --data-dir ./kith-data
`)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", strings.Join(fs.Args(), " "))}
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Logger: logger, Out: stdout, Progress: stderr}
	if err := m.Run(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down: finishing in-flight requests")
	case err := <-m.serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Close()
			return fmt.Errorf("serve: %w", err)
		}
	}
	if err := m.Close(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// lifecycleSource names the source whose events record lifecycle stage
// changes. It is revoked as soon as it is made: Kith appends its events
// to the log itself, and nobody may send as it.
const lifecycleSource = "kith-lifecycle"

// offersSource names Kith's own source of the offer ledger's events.
const offersSource = "kith-offers"

// audiencesSource names Kith's own source of audience entry and exit events.
const audiencesSource = "kith-audiences"

// matchingSource names Kith's own source of the matcher's merge events.
const matchingSource = "kith-match"

// internalSource returns the source of Kith's own events named name,
// creating it (revoked, so no write key sends as it) on first start. Nodes
// starting at once may race to create it; the loser finds the winner's.
func internalSource(ctx context.Context, a *access.Service, name string) (*kith.Source, error) {
	for range 3 {
		srcs, err := a.Sources(ctx)
		if err != nil {
			return nil, err
		}
		for i := range srcs {
			if srcs[i].Name == name {
				return &srcs[i], nil
			}
		}
		src, err := a.CreateSource(ctx, name, string(kith.KindServer))
		if kith.IsCode(err, kith.ECONFLICT) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, err := a.RevokeSource(ctx, src.ID); err != nil {
			return nil, err
		}
		return src, nil
	}
	return nil, fmt.Errorf("source %s: could not create or find it", name)
}

// logHead is the newest position an erasure waits for the processor to
// reach: the store's log, once a NATS log has nothing left to drain into
// it (a person's events still in the stream would make them again).
type logHead struct {
	db  Store
	log *natslog.Log // nil: the store is the log
}

func (h logHead) LastSeq(ctx context.Context) (int64, error) {
	if h.log != nil {
		deadline := time.Now().Add(30 * time.Second)
		for p := 0; p < h.log.Partitions(); {
			n, err := h.log.Pending(ctx, p)
			if err != nil {
				return 0, err
			}
			if n == 0 {
				p++
				continue
			}
			if time.Now().After(deadline) {
				return 0, kith.Errorf(kith.EUNAVAILABLE, "partition %d of the event log has %d messages not yet in the store; erase again when it has drained", p, n)
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return h.db.LastSeq(ctx)
}
