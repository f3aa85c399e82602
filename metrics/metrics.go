// Package metrics registers every Prometheus metric Kith exports, in one
// place, on one registry served at /metrics.
package metrics

import (
	"net/http"
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
	ProcessSeconds   prometheus.Histogram     // duration of one processing batch
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
		ProcessSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kith_process_batch_seconds", Help: "Duration of one processing batch, commit included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	m.reg.MustRegister(m.Processed, m.ProcessSeconds)
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

// ObserveBatch records one processing batch.
func (m *Metrics) ObserveBatch(events int, took time.Duration) {
	m.Processed.Add(float64(events))
	m.ProcessSeconds.Observe(took.Seconds())
}

// RegisterLag exports processing lag, measured by lag at scrape time.
func (m *Metrics) RegisterLag(lag func() (events, seconds float64)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kith_processing_lag_events", Help: "Events in the log not yet applied to profiles.",
		}, func() float64 { e, _ := lag(); return e }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kith_processing_lag_seconds", Help: "How long the oldest unprocessed event has waited.",
		}, func() float64 { _, s := lag(); return s }),
	)
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry, for tests and for components that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
