package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/store"
)

// PathMetrics serves the metrics in Prometheus' text format, without a
// token (like PathHealth): expose it to the monitoring network only.
const PathMetrics = "/metrics"

// PathReady answers 200 when the database takes writes and S3 answers.
const PathReady = "/readyz"

// Metrics are vidup serve's Prometheus metrics. Each instance counts its
// own work; Prometheus sums the instances.
type Metrics struct {
	Registry      *prometheus.Registry
	sessions      prometheus.Counter
	registrations *prometheus.CounterVec
	verification  prometheus.Histogram
	stsErrors     prometheus.Counter
	storeSeconds  *prometheus.HistogramVec
	webhooks      *prometheus.CounterVec
	statuses      *prometheus.CounterVec
	cleaned       prometheus.Counter
}

// NewMetrics registers the metrics on a registry of their own, with the Go
// runtime's and the process's.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidup_sessions_opened_total", Help: "Upload sessions opened."}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidup_registrations_total",
			Help: "Registration requests by outcome: created, replayed, conflict (409), mismatch (422), unknown (404), refused (other 4xx), error (5xx)."},
			[]string{"outcome"}),
		verification: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vidup_verification_seconds", Help: "Time to verify, seal and store one registration (HEAD, copy, HEAD, insert).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}),
		stsErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidup_sts_errors_total", Help: "Failed calls to STS for session credentials."}),
		storeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vidup_store_seconds", Help: "Latency of database operations by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"op"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidup_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: delivered, failed (will be retried), given_up."},
			[]string{"outcome"}),
		statuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidup_status_changes_total", Help: "Video status changes by new status."}, []string{"status"}),
		cleaned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidup_sessions_cleaned_total", Help: "Stale sessions closed by the cleanup."}),
	}
	r.MustRegister(m.sessions, m.registrations, m.verification, m.stsErrors, m.storeSeconds, m.webhooks, m.statuses, m.cleaned)
	return m
}

// WebhookDelivery counts one delivery attempt (jobs.Config.OnDelivery).
func (m *Metrics) WebhookDelivery(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }

// SessionCleaned counts one session closed by the cleanup.
func (m *Metrics) SessionCleaned() { m.cleaned.Inc() }

func (m *Metrics) registration(status int, created bool) {
	outcome := "error"
	switch {
	case status == http.StatusOK && created:
		outcome = "created"
	case status == http.StatusOK:
		outcome = "replayed"
	case status == http.StatusConflict:
		outcome = "conflict"
	case status == http.StatusUnprocessableEntity:
		outcome = "mismatch"
	case status == http.StatusNotFound:
		outcome = "unknown"
	case status < 500:
		outcome = "refused"
	}
	m.registrations.WithLabelValues(outcome).Inc()
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// InstrumentStore returns st timing every operation into
// vidup_store_seconds.
func (m *Metrics) InstrumentStore(st store.Store) store.Store { return &timedStore{st, m.storeSeconds} }

type timedStore struct {
	store.Store
	h *prometheus.HistogramVec
}

func (t *timedStore) since(op string, start time.Time) {
	t.h.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (t *timedStore) CreateSession(ctx context.Context, s store.Session, u []store.Upload) error {
	defer t.since("create_session", time.Now())
	return t.Store.CreateSession(ctx, s, u)
}

func (t *timedStore) Session(ctx context.Context, id string) (store.Session, error) {
	defer t.since("session", time.Now())
	return t.Store.Session(ctx, id)
}

func (t *timedStore) Upload(ctx context.Context, id string) (store.Upload, error) {
	defer t.since("upload", time.Now())
	return t.Store.Upload(ctx, id)
}

func (t *timedStore) UnregisteredUploads(ctx context.Context, id string) ([]store.Upload, error) {
	defer t.since("unregistered_uploads", time.Now())
	return t.Store.UnregisteredUploads(ctx, id)
}

func (t *timedStore) RegisterVideo(ctx context.Context, r store.Registration) (store.Registration, bool, error) {
	defer t.since("register_video", time.Now())
	return t.Store.RegisterVideo(ctx, r)
}

func (t *timedStore) RegisterVideos(ctx context.Context, rs []store.Registration) ([]store.RegisterResult, error) {
	defer t.since("register_videos", time.Now())
	return t.Store.RegisterVideos(ctx, rs)
}

func (t *timedStore) SetStatus(ctx context.Context, id, status, errText string, at time.Time) (contract.Video, bool, error) {
	defer t.since("set_status", time.Now())
	return t.Store.SetStatus(ctx, id, status, errText, at)
}

func (t *timedStore) VideoByUpload(ctx context.Context, id string) (store.Registration, error) {
	defer t.since("video_by_upload", time.Now())
	return t.Store.VideoByUpload(ctx, id)
}

func (t *timedStore) Video(ctx context.Context, id string) (contract.Video, error) {
	defer t.since("video", time.Now())
	return t.Store.Video(ctx, id)
}

func (t *timedStore) ListVideos(ctx context.Context, p string, before int64, limit int) ([]contract.Video, int64, error) {
	defer t.since("list_videos", time.Now())
	return t.Store.ListVideos(ctx, p, before, limit)
}

func (t *timedStore) Deliveries(ctx context.Context, id string) ([]contract.WebhookDelivery, error) {
	defer t.since("deliveries", time.Now())
	return t.Store.Deliveries(ctx, id)
}

func (t *timedStore) CheckWrite(ctx context.Context) error {
	defer t.since("check_write", time.Now())
	return t.Store.CheckWrite(ctx)
}
