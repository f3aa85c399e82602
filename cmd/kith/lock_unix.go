//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockProcessing makes sure this process is the only one processing the
// embedded store in cfg.DataDir: the processor there keeps a cache and
// assumes it is the store's only writer, so kith serve and kith import
// must not process one data directory at once. It holds an exclusive flock
// on processor.lock until release is called or the process ends (the
// kernel drops it even after a crash). A PostgreSQL store needs no lock:
// its processors share it through leases and row locks.
func lockProcessing(cfg Config) (release func(), err error) {
	if cfg.Store != "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	path := filepath.Join(cfg.DataDir, "processor.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another Kith process (kith serve or kith import) is processing the data directory %s: "+
				"stop it first, or send the file to the running server (POST /v1/imports)", cfg.DataDir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
