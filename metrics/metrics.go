// Package metrics registers every Prometheus metric Kith exports, in one
// place, on one registry served at /metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds Kith's collectors.
type Metrics struct {
	reg *prometheus.Registry

	IngestRequests   *prometheus.CounterVec   // by endpoint and status code
	IngestEvents     *prometheus.CounterVec   // by result: accepted, duplicate, rejected
	IngestRejections *prometheus.CounterVec   // rejected messages by error code
	IngestLatency    *prometheus.HistogramVec // request latency by endpoint kind (single, batch)
	CommitEvents     prometheus.Histogram     // events per group commit
	CommitSeconds    prometheus.Histogram     // duration of a group commit, fsync included
	Processed        prometheus.Counter       // events applied to profiles
	Merges           prometheus.Counter       // profiles absorbed by identity resolution
	ProcessSeconds   prometheus.Histogram     // duration of one processing batch
	StoreSeconds     *prometheus.HistogramVec // store statements by kind (PostgreSQL)
}

// New creates and registers Kith's metrics, and the Go runtime's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		IngestRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kith_ingest_requests_total", Help: "Ingestion requests by endpoint and HTTP status.",
		}, []string{"endpoint", "status"}),
		IngestEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kith_ingest_events_total", Help: "Ingested messages by result: accepted (new and durable), duplicate (messageId already stored), rejected.",
		}, []string{"result"}),
		IngestRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kith_ingest_rejections_total", Help: "Messages rejected inside otherwise accepted batches, by error code.",
		}, []string{"code"}),
		IngestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kith_ingest_request_seconds", Help: "Ingestion request latency, durable append included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"kind"}),
		CommitEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kith_log_commit_events", Help: "Events written per group commit of the event log.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kith_log_commit_seconds", Help: "Duration of one group commit of the event log, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		Processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kith_processed_events_total", Help: "Events applied to profiles (identity resolution and profile update).",
		}),
		Merges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kith_merges_total", Help: "Profiles absorbed into others by identity resolution (counted by the node that applied the event).",
		}),
		StoreSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kith_store_query_seconds", Help: "Latency of the store's statements and pipelined batches, by kind, network included (PostgreSQL).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"kind"}),
		ProcessSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kith_process_batch_seconds", Help: "Duration of one processing batch, commit included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	m.reg.MustRegister(m.Processed, m.ProcessSeconds, m.Merges, m.StoreSeconds)
	m.reg.MustRegister(m.IngestRequests, m.IngestEvents, m.IngestRejections, m.IngestLatency,
		m.CommitEvents, m.CommitSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveCommit records one group commit of the event log.
func (m *Metrics) ObserveCommit(events int, took time.Duration) {
	m.CommitEvents.Observe(float64(events))
	m.CommitSeconds.Observe(took.Seconds())
}

// ObserveStoreQuery records one statement or batch of the store.
func (m *Metrics) ObserveStoreQuery(kind string, took time.Duration) {
	m.StoreSeconds.WithLabelValues(kind).Observe(took.Seconds())
}

// ObserveBatch records one processing batch: its events, the merges it
// made and how long it took.
func (m *Metrics) ObserveBatch(events, merges int, took time.Duration) {
	m.Processed.Add(float64(events))
	m.Merges.Add(float64(merges))
	m.ProcessSeconds.Observe(took.Seconds())
}

// Lag is how far processing is behind, as exported: in all, and per
// partition when the log is partitioned.
type Lag struct {
	Events, Seconds float64 // not yet applied to profiles; age of the oldest of them
	Partitions      []PartitionLag
}

// PartitionLag is one partition's lag. LogPending counts the messages the
// event log (NATS) holds for the partition that are not yet in the store,
// -1 when the store is the log.
type PartitionLag struct {
	Partition       int
	Events, Seconds float64
	LogPending      float64
}

// RegisterLag exports processing lag, read once per scrape by read.
func (m *Metrics) RegisterLag(read func() (Lag, error)) {
	m.reg.MustRegister(&lagCollector{read: read})
}

var (
	lagEventsDesc = prometheus.NewDesc("kith_processing_lag_events",
		"Events in the store's log not yet applied to profiles.", nil, nil)
	lagSecondsDesc = prometheus.NewDesc("kith_processing_lag_seconds",
		"How long the oldest unprocessed event has waited.", nil, nil)
	partLagEventsDesc = prometheus.NewDesc("kith_partition_lag_events",
		"Events of a partition of the store's log not yet applied to profiles.", []string{"partition"}, nil)
	partLagSecondsDesc = prometheus.NewDesc("kith_partition_lag_seconds",
		"How long the oldest unprocessed event of a partition has waited.", []string{"partition"}, nil)
	logPendingDesc = prometheus.NewDesc("kith_log_pending_messages",
		"Messages of a partition of the event log (NATS) not yet drained into the store: delivered but unacknowledged ones included.",
		[]string{"partition"}, nil)
)

// lagCollector reads the lag at scrape time; a failed read exports nothing
// rather than a stale or made-up figure.
type lagCollector struct{ read func() (Lag, error) }

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lagEventsDesc, lagSecondsDesc, partLagEventsDesc, partLagSecondsDesc, logPendingDesc} {
		ch <- d
	}
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	lag, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(lagEventsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(lagEventsDesc, prometheus.GaugeValue, lag.Events)
	ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, lag.Seconds)
	for _, p := range lag.Partitions {
		label := strconv.Itoa(p.Partition)
		ch <- prometheus.MustNewConstMetric(partLagEventsDesc, prometheus.GaugeValue, p.Events, label)
		ch <- prometheus.MustNewConstMetric(partLagSecondsDesc, prometheus.GaugeValue, p.Seconds, label)
		if p.LogPending >= 0 {
			ch <- prometheus.MustNewConstMetric(logPendingDesc, prometheus.GaugeValue, p.LogPending, label)
		}
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry, for tests and for components that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
