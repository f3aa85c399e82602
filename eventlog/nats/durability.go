package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kithhq/kith"
)

// ErrNotDurable is returned (wrapped) by Open when the server or the stream
// may acknowledge an event before it is on disk.
var ErrNotDurable = errors.New("the event log (NATS) does not make acknowledged events durable")

// Durability is what the server and the stream say about when an
// acknowledged message is on disk.
//
// JetStream acknowledges before it fsyncs by default (nats-server issue
// #7564): with one replica an acknowledged event is durable only when the
// server runs with `jetstream { sync_interval: always }` and the stream's
// persist mode is not async. In production the alternative is a replicated
// stream (Replicas: 3), where an acknowledgement means a quorum of servers
// holds the message; this check does not accept R3 in place of
// sync_always, so a cluster without it needs AllowUnsynced (or, better,
// sync_interval: always as well).
type Durability struct {
	// SyncAlways is the server's jetstream.config.sync_always from /varz.
	SyncAlways bool
	// PersistMode is the stream's persist mode: "default" or "async".
	PersistMode string
	// Storage is the stream's storage: "file" or "memory".
	Storage string
	// Replicas is the stream's replica count.
	Replicas int
	// ServerVersion is the server's version from /varz.
	ServerVersion string
}

// Durable reports whether an acknowledged event survives a crash of the
// server: sync_always on, persist mode not async, file storage.
func (d Durability) Durable() bool { return d.Problem() == "" }

// Problem says what to change to make the log durable, or "" if nothing.
func (d Durability) Problem() string {
	var p []string
	if !d.SyncAlways {
		p = append(p, "the server does not fsync before acknowledging: set `jetstream { sync_interval: always }` in the nats-server configuration (needs nats-server >= 2.10; it reports "+
			fmt.Sprintf("%q", d.ServerVersion)+")")
	}
	if d.PersistMode != "default" {
		p = append(p, "the stream's persist_mode is "+d.PersistMode+": set it back to default (nats stream edit, or recreate the stream)")
	}
	if d.Storage != "file" {
		p = append(p, "the stream's storage is "+d.Storage+": it must be file")
	}
	return strings.Join(p, "; ")
}

// varz is the part of the server's /varz that the check reads.
type varz struct {
	Version   string `json:"version"`
	JetStream struct {
		Config struct {
			SyncAlways bool `json:"sync_always"`
		} `json:"config"`
	} `json:"jetstream"`
}

// CheckDurability reads the server's sync_always setting from
// <MonitorURL>/varz and the stream's persist mode and storage from its
// info. It returns an error only when it cannot find out; whether the answer
// is good is Durability.Durable. Kith runs it at start (Open) and on /readyz.
func (l *Log) CheckDurability(ctx context.Context) (Durability, error) {
	var d Durability
	// A fresh Stream per call: the Stream's cached info is not meant to be
	// shared between concurrent checks (/readyz may run several).
	s, err := l.js.Stream(ctx, l.opt.Stream)
	if err != nil {
		if isUnreachable(err) {
			return d, unreachable(err)
		}
		return d, fmt.Errorf("check event log durability: stream %s: %w", l.opt.Stream, err)
	}
	info := s.CachedInfo()
	d.PersistMode = persistModeName(info.Config.PersistMode)
	d.Storage = storageName(info.Config.Storage)
	d.Replicas = info.Config.Replicas

	if l.opt.MonitorURL == "" {
		return d, fmt.Errorf("check event log durability: no monitoring URL: set the NATS monitoring URL (the server's http_port) so Kith can read sync_always from /varz")
	}
	u := strings.TrimSuffix(l.opt.MonitorURL, "/") + "/varz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return d, fmt.Errorf("check event log durability: %w", err)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return d, kith.Errorf(kith.EUNAVAILABLE, "the event log (NATS) monitoring endpoint is unreachable: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, kith.Errorf(kith.EUNAVAILABLE, "the event log (NATS) monitoring endpoint %s answered %s", u, resp.Status)
	}
	var v varz
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return d, fmt.Errorf("check event log durability: read %s: %w", u, err)
	}
	d.SyncAlways = v.JetStream.Config.SyncAlways
	d.ServerVersion = v.Version
	return d, nil
}

// persistModeName and storageName spell the settings as the server's
// configuration and JSON do.
func persistModeName(m jetstream.PersistModeType) string {
	switch m {
	case jetstream.DefaultPersistMode:
		return "default"
	case jetstream.AsyncPersistMode:
		return "async"
	}
	return fmt.Sprintf("unknown (%d)", int(m))
}

func storageName(s jetstream.StorageType) string {
	switch s {
	case jetstream.FileStorage:
		return "file"
	case jetstream.MemoryStorage:
		return "memory"
	}
	return fmt.Sprintf("unknown (%d)", int(s))
}
