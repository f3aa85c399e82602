package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kithhq/kith"
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
	profile.Store
	profile.Reader
	// CountEvents counts the events in the log.
	CountEvents(ctx context.Context) (int64, error)
	// Ready reports whether the store can serve requests.
	Ready(ctx context.Context) error
	Close() error
}

// openStore opens the configured store and runs its migrations. onCommit
// (may be nil) is called after each durable append by this process. single
// reports whether this process is the store's only writer, which lets the
// processor keep its cache.
func openStore(ctx context.Context, cfg Config, onCommit func(events int, took time.Duration)) (s Store, single bool, err error) {
	if cfg.Store != "" {
		// Several nodes may write: the processor keeps no cache and relies
		// on the database's transactions.
		db, err := postgres.Open(ctx, cfg.Store, postgres.Options{OnCommit: onCommit})
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
