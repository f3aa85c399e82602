package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/lifecycle"
	"github.com/kithhq/kith/metrics"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/postgres"
	"github.com/kithhq/kith/store/sqlite"
)

// Store is everything Kith keeps, whichever engine keeps it.
type Store interface {
	kith.EventLog
	kith.EventReader
	kith.SourceStore
	kith.KeyStore
	kith.UserStore
	kith.SessionStore
	kith.AuditLog
	kith.OfferStore
	kith.MatchStore
	kith.AudienceStore
	kith.ComputedStore
	kith.ConsentStore
	kith.ErasureStore
	profile.Store
	profile.Reader
	lifecycle.Store
	// ScanProfiles returns up to limit current profiles with ids after
	// after, in id order.
	ScanProfiles(ctx context.Context, after string, limit int) ([]kith.Profile, error)
	// ScanStoredProfiles is ScanProfiles with the documents undecoded.
	ScanStoredProfiles(ctx context.Context, after string, limit int) ([]kith.StoredProfile, error)
	// CountProfiles counts the current profiles.
	CountProfiles(ctx context.Context) (int64, error)
	// CountEvents counts the events in the log.
	CountEvents(ctx context.Context) (int64, error)
	// Ready reports whether the store can serve requests.
	Ready(ctx context.Context) error
	Close() error
}

// openStore opens the configured store and runs its migrations. onCommit
// (may be nil) is called after each durable append by this process; m
// (may be nil) receives the store's query latencies. single
// reports whether this process is the store's only writer, which lets the
// processor keep its cache.
func openStore(ctx context.Context, cfg Config, onCommit func(events int, took time.Duration), m *metrics.Metrics) (s Store, single bool, err error) {
	if cfg.Store != "" {
		// Several nodes may write: the processor keeps no cache and relies
		// on the database's transactions.
		opt := postgres.Options{OnCommit: onCommit}
		if m != nil {
			opt.OnQuery = m.ObserveStoreQuery
		}
		db, err := postgres.Open(ctx, cfg.Store, opt)
		if err != nil {
			return nil, false, fmt.Errorf("store %s: %w", redactURL(cfg.Store), err)
		}
		return db, false, nil
	}
	db, err := sqlite.Open(ctx, cfg.DataDir, sqlite.Options{OnCommit: onCommit})
	if err != nil {
		return nil, false, err
	}
	return db, true, nil
}
