package main

import (
	"encoding/json"
	"net/url"
	"strings"

	"flag"
	"fmt"
	"github.com/kithhq/kith/consent"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/lifecycle"
	"github.com/kithhq/kith/profile"
	"os"
	"time"
)

// Config is everything `kith serve` can be told. Resolution order:
// defaults < config file (--config, KITH_CONFIG) < KITH_* environment < flags.
type Config struct {
	Addr    string `json:"addr"`
	DataDir string `json:"data_dir"`
	// Store is where Kith keeps everything: empty for the embedded SQLite
	// store in DataDir, or a postgres:// URL.
	Store string `json:"store"`
	// Log is where ingestion appends: empty for the store's own log, or a
	// nats:// URL of a JetStream server (≥ 2.10, sync_interval: always).
	Log string `json:"log"`
	// LogMonitor is that server's HTTP monitoring URL, from which Kith reads
	// back that acknowledged events are fsync'd.
	LogMonitor string `json:"log_monitor"`
	// LogStream names the JetStream stream (default KITH_EVENTS).
	LogStream string `json:"log_stream"`
	// NodeID names this node among those sharing a PostgreSQL store's
	// partitions (default: host name and process id).
	NodeID            string `json:"node_id"`
	BootstrapWriteKey string `json:"bootstrap_write_key"`
	BootstrapAPIKey   string `json:"bootstrap_api_key"`
	// BootstrapAdminPassword makes sure a console user "admin" exists,
	// created with this password if not. Environment or file only: a flag
	// would show it in the process list.
	BootstrapAdminPassword string `json:"bootstrap_admin_password"`
	// SecureCookies marks console cookies Secure: set it behind HTTPS.
	SecureCookies bool `json:"secure_cookies"`
	// Demo loads the demo history through ingestion at start.
	Demo             DemoConfig      `json:"demo"`
	LogLevel         string          `json:"log_level"`  // debug, info, warn, error
	LogFormat        string          `json:"log_format"` // text or json
	ShutdownTimeout  Duration        `json:"shutdown_timeout"`
	WriteKeyCacheTTL Duration        `json:"write_key_cache_ttl"`
	Identity         identity.Config `json:"identity"`
	Intents          IntentsConfig   `json:"intents"`
	// Purchases says which events are completed orders; Lifecycle the
	// stage, value tier and model rules (zero fields take defaults).
	Purchases profile.PurchaseConfig `json:"purchases"`
	Lifecycle lifecycle.Rules        `json:"lifecycle"`
	// Matching configures the live probabilistic matcher.
	Matching MatchingConfig `json:"matching"`
	// Consent configures the gate: the age under which a person is a
	// minor, and the traits that say so.
	Consent consent.Config `json:"consent"`
}

// MatchingConfig configures the live probabilistic matcher.
type MatchingConfig struct {
	// Disabled turns it off: profiles then merge only on shared identifiers.
	Disabled bool `json:"disabled"`
	// Auto and Review are the match probabilities from which two profiles
	// are merged, and queued for a data steward (defaults 0.95 and 0.5).
	Auto   float64 `json:"auto"`
	Review float64 `json:"review"`
}

// DemoConfig configures `kith serve --demo`.
type DemoConfig struct {
	Enabled     bool `json:"enabled"`
	People      int  `json:"people"`
	HeavyEvents int  `json:"heavy_events"`
}

// IntentsConfig configures intent inference (see profile.IntentConfig).
type IntentsConfig struct {
	HalfLife       Duration             `json:"half_life"`
	CategoryTopics bool                 `json:"category_topics"`
	Rules          []profile.IntentRule `json:"rules"`
	Top            int                  `json:"top"`
}

// Duration is a time.Duration that reads "30s" from JSON.
type Duration time.Duration

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig returns the embedded defaults.
func DefaultConfig() Config {
	return Config{
		Addr:             "127.0.0.1:8080",
		DataDir:          "kith-data",
		LogLevel:         "info",
		LogFormat:        "text",
		ShutdownTimeout:  Duration(30 * time.Second),
		WriteKeyCacheTTL: Duration(10 * time.Second),
		Demo:             DemoConfig{People: 3000, HeavyEvents: 10000},
		Identity:         identity.DefaultConfig(),
		Purchases:        profile.DefaultPurchaseConfig(),
		Lifecycle:        lifecycle.DefaultRules(),
		Intents: IntentsConfig{HalfLife: Duration(72 * time.Hour), CategoryTopics: true, Top: 5,
			Rules: []profile.IntentRule{
				{Topic: "car insurance", PathPrefix: "/insurance/car"},
				{Topic: "home insurance", PathPrefix: "/insurance/home"},
				{Topic: "mortgage refinancing", PathPrefix: "/mortgages/refinanc"},
				{Topic: "basketball hoop", PathPrefix: "/sports/basketball/hoop"},
			}},
	}
}

// configFlags registers the flags every command that opens the store shares,
// and returns a function that resolves the final Config after parsing.
func configFlags(fs *flag.FlagSet, withServe bool) func() (Config, error) {
	def := DefaultConfig()
	configPath := fs.String("config", "", "JSON config file (env KITH_CONFIG)")
	dataDir := fs.String("data-dir", def.DataDir, "directory for the embedded store (env KITH_DATA_DIR)")
	logURL := fs.String("log", "", "event log URL: nats://… for NATS JetStream; empty for the store's own log (env KITH_LOG)")
	logMonitor := fs.String("log-monitor", "", "the NATS server's monitoring URL, e.g. http://127.0.0.1:8222 (env KITH_LOG_MONITOR)")
	storeURL := fs.String("store", "", "store URL: postgres://… for PostgreSQL; empty for the embedded store in --data-dir (env KITH_STORE)")
	var addr, wk, ak, level, format, nodeID *string
	var shutdown *time.Duration
	var demo, secure *bool
	var demoPeople, demoHeavy *int
	if withServe {
		addr = fs.String("addr", def.Addr, "address to listen on, HOST:PORT (env KITH_ADDR)")
		nodeID = fs.String("node-id", "", "this node's name among nodes sharing a PostgreSQL store; default host name and process id (env KITH_NODE_ID)")
		wk = fs.String("bootstrap-write-key", "", "make sure a source named 'default' with this write key exists (env KITH_BOOTSTRAP_WRITE_KEY)")
		ak = fs.String("bootstrap-api-key", "", "make sure an admin API key with this secret exists (env KITH_BOOTSTRAP_API_KEY)")
		level = fs.String("log-level", def.LogLevel, "log level: debug, info, warn or error (env KITH_LOG_LEVEL)")
		format = fs.String("log-format", def.LogFormat, "log format: text or json (env KITH_LOG_FORMAT)")
		shutdown = fs.Duration("shutdown-timeout", time.Duration(def.ShutdownTimeout), "how long to let in-flight requests finish on shutdown")
		secure = fs.Bool("secure-cookies", false, "mark console cookies Secure, for serving behind HTTPS (env KITH_SECURE_COOKIES=1)")
		demo = fs.Bool("demo", false, "load a demo multi-channel history through ingestion, with demo users (data dir defaults to "+demoDataDir+")")
		demoPeople = fs.Int("demo-people", def.Demo.People, "people in the demo history")
		demoHeavy = fs.Int("demo-heavy-events", def.Demo.HeavyEvents, "events of the demo's heaviest customer")
	}
	return func() (Config, error) {
		cfg := DefaultConfig() // fresh: unmarshalling fills its maps in place
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

		path := os.Getenv("KITH_CONFIG")
		if set["config"] {
			path = *configPath
		}
		if path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return cfg, fmt.Errorf("read config: %w", err)
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				return cfg, fmt.Errorf("config %s: %w", path, err)
			}
		}
		env := func(name string, dst *string) {
			if v, ok := os.LookupEnv(name); ok {
				*dst = v
			}
		}
		env("KITH_DATA_DIR", &cfg.DataDir)
		env("KITH_STORE", &cfg.Store)
		env("KITH_LOG", &cfg.Log)
		env("KITH_LOG_MONITOR", &cfg.LogMonitor)
		env("KITH_LOG_STREAM", &cfg.LogStream)
		env("KITH_ADDR", &cfg.Addr)
		env("KITH_NODE_ID", &cfg.NodeID)
		env("KITH_BOOTSTRAP_WRITE_KEY", &cfg.BootstrapWriteKey)
		env("KITH_BOOTSTRAP_API_KEY", &cfg.BootstrapAPIKey)
		env("KITH_LOG_LEVEL", &cfg.LogLevel)
		env("KITH_LOG_FORMAT", &cfg.LogFormat)
		env("KITH_DEFAULT_REGION", &cfg.Identity.DefaultRegion)
		env("KITH_BOOTSTRAP_ADMIN_PASSWORD", &cfg.BootstrapAdminPassword)
		if v, ok := os.LookupEnv("KITH_SECURE_COOKIES"); ok {
			cfg.SecureCookies = v == "1" || v == "true"
		}

		flagStr := func(name string, p *string, dst *string) {
			if set[name] && p != nil {
				*dst = *p
			}
		}
		flagStr("data-dir", dataDir, &cfg.DataDir)
		flagStr("store", storeURL, &cfg.Store)
		flagStr("log", logURL, &cfg.Log)
		flagStr("log-monitor", logMonitor, &cfg.LogMonitor)
		flagStr("addr", addr, &cfg.Addr)
		flagStr("node-id", nodeID, &cfg.NodeID)
		flagStr("bootstrap-write-key", wk, &cfg.BootstrapWriteKey)
		flagStr("bootstrap-api-key", ak, &cfg.BootstrapAPIKey)
		flagStr("log-level", level, &cfg.LogLevel)
		flagStr("log-format", format, &cfg.LogFormat)
		if set["shutdown-timeout"] {
			cfg.ShutdownTimeout = Duration(*shutdown)
		}
		if set["secure-cookies"] {
			cfg.SecureCookies = *secure
		}
		if set["demo"] {
			cfg.Demo.Enabled = *demo
		}
		if set["demo-people"] {
			cfg.Demo.People = *demoPeople
		}
		if set["demo-heavy-events"] {
			cfg.Demo.HeavyEvents = *demoHeavy
		}
		if cfg.Demo.Enabled && !set["data-dir"] && os.Getenv("KITH_DATA_DIR") == "" && cfg.DataDir == DefaultConfig().DataDir {
			// The demo keeps its made-up customers apart from real data.
			cfg.DataDir = demoDataDir
		}
		if cfg.Demo.People < 0 || cfg.Demo.HeavyEvents < 0 {
			return cfg, usageError{"--demo-people and --demo-heavy-events may not be negative"}
		}
		if err := cfg.Identity.Validate(); err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if cfg.Consent.MinorAge < 0 || cfg.Consent.MinorAge > 30 {
			return cfg, usageError{fmt.Sprintf("consent.minor_age %d: the age under which people are minors, 0 for 18", cfg.Consent.MinorAge)}
		}
		if err := consent.CheckCategories(cfg.Consent.Categories); err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if cfg.Store != "" && !strings.HasPrefix(cfg.Store, "postgres://") && !strings.HasPrefix(cfg.Store, "postgresql://") {
			return cfg, usageError{fmt.Sprintf("store %q: use a postgres:// URL, or nothing for the embedded store", redactURL(cfg.Store))}
		}
		if cfg.Log != "" && !strings.HasPrefix(cfg.Log, "nats://") && !strings.HasPrefix(cfg.Log, "tls://") {
			return cfg, usageError{fmt.Sprintf("log %q: use a nats:// URL, or nothing for the store's own log", redactURL(cfg.Log))}
		}
		if cfg.Log != "" && cfg.LogMonitor == "" {
			return cfg, usageError{"--log needs --log-monitor (KITH_LOG_MONITOR): Kith reads back from it that the server fsyncs what it acknowledges"}
		}
		if cfg.DataDir == "" {
			return cfg, usageError{"a data directory is required (--data-dir or KITH_DATA_DIR)"}
		}
		return cfg, nil
	}
}

// redactURL hides a URL's password, for messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
