package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kithhq/kith"
)

// Defaults for the zero fields of Options.
const (
	DefaultStream        = "KITH_EVENTS"
	DefaultSubjectPrefix = "kith.events"
	DefaultPartitions    = 8
	DefaultReplicas      = 1
	DefaultDuplicates    = 2 * time.Minute
	DefaultAckTimeout    = 10 * time.Second
)

// partitionsKey is the stream metadata key that records the partition count.
// Consumers read it; Open refuses a count that differs from it, because
// changing the count would move people to other partitions and break the
// order of their events.
const partitionsKey = "kith.partitions"

// Options configures Open. The zero value of each field means its default.
type Options struct {
	// Stream is the JetStream stream name (default KITH_EVENTS).
	Stream string
	// SubjectPrefix is the prefix of the partition subjects: partition p is
	// "<SubjectPrefix>.<p>" (default kith.events). Two streams may not share
	// subjects, so a second log on one server needs its own prefix.
	SubjectPrefix string
	// Partitions is the number of partitions (default 8). It is recorded in
	// the stream's metadata and cannot change once the stream exists.
	Partitions int
	// Replicas is the stream's replica count (default 1; 3 in production).
	Replicas int
	// Duplicates is the window in which a retried Append is recognised by
	// its message ids (default 2 minutes).
	Duplicates time.Duration
	// AckTimeout bounds the wait for a PubAck when the caller's context has
	// no earlier deadline (default 10 s).
	AckTimeout time.Duration
	// MonitorURL is the base URL of the server's HTTP monitoring endpoint,
	// e.g. http://127.0.0.1:8222, from which the durability check reads
	// /varz.
	MonitorURL string
	// AllowUnsynced lets Open start although the durability check fails:
	// acknowledged events may then be lost if the server crashes. For
	// development only.
	AllowUnsynced bool
	// Name is the client connection name shown by the server (default "kith").
	Name string
}

func (o Options) withDefaults() Options {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = DefaultSubjectPrefix
	}
	if o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.Duplicates == 0 {
		o.Duplicates = DefaultDuplicates
	}
	if o.AckTimeout == 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.Name == "" {
		o.Name = "kith"
	}
	return o
}

// Log is the NATS JetStream event log. It is safe for concurrent use.
type Log struct {
	opt    Options
	nc     *natsgo.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	http   *http.Client
	// maxMsg is the largest message body Append sends: the smaller of the
	// server's max_payload and the stream's max_msg_size, less room for
	// headers.
	maxMsg int
}

// Log implements kith.EventLog.
var _ kith.EventLog = (*Log)(nil)

// headerRoom is kept free in every message for the headers (Nats-Msg-Id),
// which count towards the server's max_payload.
const headerRoom = 1024

// Open connects to the NATS server at url, creates the stream or brings an
// existing one to the options (keeping settings it does not own, such as
// limits and persist mode), and checks that acknowledged events are durable
// (see CheckDurability). It refuses an existing stream that records another
// partition count, and a server or stream that is not durable unless
// opt.AllowUnsynced is set.
func Open(ctx context.Context, url string, opt Options) (*Log, error) {
	opt = opt.withDefaults()
	if opt.Partitions < 1 {
		return nil, fmt.Errorf("open event log: partitions must be at least 1, not %d", opt.Partitions)
	}
	nc, err := natsgo.Connect(url,
		natsgo.Name(opt.Name),
		// While the server is away, publishes fail at once instead of
		// queueing in memory, so ingestion answers 503 rather than acking
		// what it may lose; the connection comes back by itself.
		natsgo.ReconnectBufSize(-1),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250*time.Millisecond),
		natsgo.Timeout(2*time.Second),
	)
	if err != nil {
		return nil, unreachable(err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(8192),
		// A message whose ack never comes (the server died with it in
		// flight) is forgotten after this, so pending acks cannot pile up.
		jetstream.WithPublishAsyncTimeout(opt.AckTimeout),
	)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open event log: %w", err)
	}
	l := &Log{opt: opt, nc: nc, js: js, http: &http.Client{Timeout: 5 * time.Second}}
	if err := l.ensureStream(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	d, err := l.CheckDurability(ctx)
	if err != nil && !opt.AllowUnsynced {
		nc.Close()
		return nil, err
	}
	if err == nil && !d.Durable() && !opt.AllowUnsynced {
		nc.Close()
		return nil, fmt.Errorf("open event log: %w: %s", ErrNotDurable, d.Problem())
	}
	return l, nil
}

// ensureStream creates the stream, or updates the settings Kith owns on an
// existing one. A failure the server reports as its own (an API error of
// code 500 and up: "error creating store for stream" was seen under load)
// is tried twice more, 200 and 400 ms later, before Open gives up.
func (l *Log) ensureStream(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := l.ensureStreamOnce(ctx)
		var apiErr *jetstream.APIError
		if err == nil || attempt == 3 || !errors.As(err, &apiErr) || apiErr.Code < 500 {
			return err
		}
		select {
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

func (l *Log) ensureStreamOnce(ctx context.Context) error {
	want := strconv.Itoa(l.opt.Partitions)
	subjects := []string{l.opt.SubjectPrefix + ".>"}
	s, err := l.js.Stream(ctx, l.opt.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		s, err = l.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        l.opt.Stream,
			Description: "Kith events, partitioned by person",
			Subjects:    subjects,
			Storage:     jetstream.FileStorage,
			Replicas:    l.opt.Replicas,
			Duplicates:  l.opt.Duplicates,
			Metadata:    map[string]string{partitionsKey: want},
		})
		if err != nil {
			return l.streamErr(err)
		}
	case err != nil:
		return l.streamErr(err)
	default:
		cfg := s.CachedInfo().Config
		if got, ok := cfg.Metadata[partitionsKey]; ok && got != want {
			return kith.Errorf(kith.ECONFLICT,
				"the event log stream %s has %s partitions and Kith is configured with %d: set the partition count back to %s (changing it would reorder people's events)",
				l.opt.Stream, got, l.opt.Partitions, got)
		}
		// Keep what Kith does not own (limits, persist mode, placement):
		// the durability check then reports a stream an operator relaxed
		// rather than silently changing it back.
		cfg.Subjects = subjects
		cfg.Replicas = l.opt.Replicas
		cfg.Duplicates = l.opt.Duplicates
		if cfg.Metadata == nil {
			cfg.Metadata = map[string]string{}
		}
		cfg.Metadata[partitionsKey] = want
		if s, err = l.js.UpdateStream(ctx, cfg); err != nil {
			return l.streamErr(err)
		}
	}
	l.stream = s
	l.maxMsg = int(l.nc.MaxPayload())
	if m := int(s.CachedInfo().Config.MaxMsgSize); m > 0 && m < l.maxMsg {
		l.maxMsg = m
	}
	l.maxMsg -= headerRoom
	if l.maxMsg < 1024 {
		return fmt.Errorf("open event log: the server allows messages of only %d bytes", l.maxMsg+headerRoom)
	}
	return nil
}

func (l *Log) streamErr(err error) error {
	if isUnreachable(err) {
		return unreachable(err)
	}
	return fmt.Errorf("open event log: stream %s: %w", l.opt.Stream, err)
}

// Partitions returns the number of partitions.
func (l *Log) Partitions() int { return l.opt.Partitions }

// Subject returns the subject of partition p.
func (l *Log) Subject(p int) string { return l.opt.SubjectPrefix + "." + strconv.Itoa(p) }

// Stream returns the name of the stream.
func (l *Log) Stream() string { return l.opt.Stream }

// Close waits briefly for acknowledgements still in flight (an Append whose
// context ended early may have left some) and closes the connection.
func (l *Log) Close() error {
	select {
	case <-l.js.PublishAsyncComplete():
	case <-time.After(time.Second):
	}
	l.nc.Close()
	return nil
}

// unreachable classifies a failure to reach the server or to hear back from it.
func unreachable(err error) error {
	if errors.Is(err, natsgo.ErrReconnectBufExceeded) {
		// What nats.go says when it may not buffer while reconnecting.
		return kith.Errorf(kith.EUNAVAILABLE, "the event log (NATS) is unreachable: the connection is down and reconnecting (%v)", err)
	}
	return kith.Errorf(kith.EUNAVAILABLE, "the event log (NATS) is unreachable: %v", err)
}

// isUnreachable reports whether err means the server cannot be reached or
// did not answer, rather than that it refused the request.
func isUnreachable(err error) bool {
	for _, e := range []error{
		natsgo.ErrReconnectBufExceeded, natsgo.ErrConnectionClosed, natsgo.ErrConnectionReconnecting,
		natsgo.ErrDisconnected, natsgo.ErrNoServers, natsgo.ErrTimeout, natsgo.ErrNoResponders,
		natsgo.ErrConnectionDraining, jetstream.ErrNoStreamResponse, jetstream.ErrAsyncPublishTimeout,
		jetstream.ErrTooManyStalledMsgs, jetstream.ErrJetStreamNotEnabled, context.DeadlineExceeded,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne)
}
