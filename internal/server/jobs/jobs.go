// Package jobs is the work that follows a registration or a status change:
// the webhooks to the encoding step; and the periodic cleanup of stale
// sessions. Each is a River job inserted in the
// transaction that stores the change (design decision 15), so a crash can
// delay a webhook but never forget it; any instance on the database works
// it, and a job left running by an instance that died is taken back by
// another after RescueAfter.
//
// On PostgreSQL it uses River's pgx driver; on SQLite River's SQLite driver
// over the same pure Go database/sql pool as the store.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/store"
)

// Defaults of Config.
const (
	DefaultRetryFor    = 24 * time.Hour
	DefaultMinBackoff  = 5 * time.Second
	DefaultMaxBackoff  = 15 * time.Minute
	DefaultTimeout     = 30 * time.Second
	DefaultRescueAfter = 5 * time.Minute
	DefaultWorkers     = 10
)

// riverMigrationLock is the PostgreSQL advisory lock of River's migrations.
const riverMigrationLock int64 = 0x76696475705f726a // "vidup_rj"

// webhookQueue is the River queue of the webhooks.
const webhookQueue = "webhooks"

// WebhookArgs is the job that delivers one event: the event row holds the
// body, so the job stays small and its retries send the same bytes.
type WebhookArgs struct {
	EventID string `json:"event_id"`
}

// Kind names the job in River's table.
func (WebhookArgs) Kind() string { return "vidup_webhook" }

// Config is the webhook delivery and the cleanup.
type Config struct {
	// URL receives every event; Key signs them (ParseSecret). Empty:
	// no webhooks, no events recorded.
	URL string
	Key []byte
	// Cleanup, when set, closes stale sessions periodically.
	Cleanup *CleanupConfig
	// RetryFor bounds how long an event is retried before it is given up
	// (marked failed and logged); 0: DefaultRetryFor.
	RetryFor time.Duration
	// MinBackoff and MaxBackoff bound the exponential wait between
	// attempts; 0: the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one attempt; RescueAfter is how long a job may stay
	// running before another instance takes it back (it must be longer
	// than Timeout); 0: the defaults.
	Timeout, RescueAfter time.Duration
	// Workers is how many webhooks one instance sends at once.
	Workers int
	// InsertOnly: this instance enqueues the jobs of its changes, and other
	// instances work them.
	InsertOnly bool
	// PollInterval is how often an instance looks for jobs others
	// inserted (SQLite has no notifications); 0: River's default.
	PollInterval time.Duration
	Client       *http.Client // nil: no redirects, Timeout
	Logger       *slog.Logger
	Now          func() time.Time
	// OnDelivery, when set, is told each attempt's outcome: delivered,
	// failed (to be retried) or given_up; OnSessionCleaned each session
	// the cleanup closed. For metrics.
	OnDelivery       func(outcome string)
	OnSessionCleaned func()

	// pollOnly: River looks for jobs every PollInterval instead of
	// waiting on notifications (set for SQLite, see Start).
	pollOnly bool
}

// sqlitePollInterval is how often an instance on SQLite looks for jobs:
// a webhook leaves at most this long after its registration.
const sqlitePollInterval = time.Second

func (c *Config) defaults() error {
	if c.URL == "" && c.Cleanup == nil {
		return errors.New("jobs: neither a webhook URL nor a cleanup")
	}
	if c.URL != "" && len(c.Key) == 0 {
		return errors.New("jobs: no webhook signing key")
	}
	if c.Cleanup != nil {
		if c.Cleanup.MaxAge <= 0 || c.Cleanup.Uploads == nil || c.Cleanup.Bucket == "" {
			return errors.New("jobs: the cleanup needs a session age, a bucket and the uploads to abort")
		}
		if c.Cleanup.Every <= 0 {
			c.Cleanup.Every = DefaultCleanupEvery
		}
	}
	if c.RetryFor <= 0 {
		c.RetryFor = DefaultRetryFor
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = DefaultRescueAfter
	}
	if c.RescueAfter <= c.Timeout {
		return fmt.Errorf("jobs: RescueAfter %s must be longer than the attempt timeout %s", c.RescueAfter, c.Timeout)
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Client == nil {
		c.Client = &http.Client{
			Timeout: c.Timeout,
			// A redirect is an answer like any other non-2xx: a
			// signed body is never sent where it was not addressed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.OnDelivery == nil {
		c.OnDelivery = func(string) {}
	}
	if c.OnSessionCleaned == nil {
		c.OnSessionCleaned = func() {}
	}
	return nil
}

// Queue works the jobs of one instance.
type Queue struct {
	stop func(ctx context.Context) error
}

// Start creates River's tables when they are missing (instances starting
// at once take turns), turns the store's events on, and starts working
// jobs. Stop it before closing the store.
func Start(ctx context.Context, st store.Store, cfg Config) (*Queue, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	switch s := st.(type) {
	case *store.Postgres:
		driver := riverpgxv5.New(s.Pool())
		migrate := func(ctx context.Context) error {
			// River's migrations are serialised by an advisory lock held
			// on a connection of their own: two instances starting at
			// once. (They cannot run in one transaction: a version adds
			// an enum value the next one uses.)
			conn, err := s.Pool().Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, riverMigrationLock); err != nil {
				return err
			}
			defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, riverMigrationLock)
			m, err := rivermigrate.New(driver, nil)
			if err != nil {
				return fmt.Errorf("jobs: %w", err)
			}
			if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
				return fmt.Errorf("jobs: create River's tables: %w", err)
			}
			return nil
		}
		return start(ctx, driver, migrate, st, cfg, func(insert func(context.Context, pgx.Tx, store.Event) error) {
			s.SetEnqueuer(insert)
		})
	case *store.SQLite:
		// SQLite has no notifications: River's SQLite listener polls a
		// table every 50 ms, which kept an idle server at 1.7 % of a
		// core. Looking for jobs once a second instead costs a third of
		// that, and delays a webhook by at most a second.
		cfg.pollOnly = true
		if cfg.PollInterval == 0 {
			cfg.PollInterval = sqlitePollInterval
		}
		driver := riversqlite.New(s.DB())
		migrate := func(ctx context.Context) error {
			// The store's SQLite transactions take the write lock at
			// BEGIN: instances on one file migrate one after the other.
			tx, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if err := migrateTx(ctx, driver, tx); err != nil {
				return err
			}
			return tx.Commit()
		}
		return start(ctx, driver, migrate, st, cfg, func(insert func(context.Context, *sql.Tx, store.Event) error) {
			s.SetEnqueuer(insert)
		})
	}
	return nil, fmt.Errorf("jobs: no job queue for a %T store", st)
}

// migrateTx runs River's SQLite migrations in one transaction, which holds
// SQLite's write lock: instances starting on one file take turns (SQLite has
// no advisory lock). River deprecates it because some PostgreSQL migrations
// cannot share a transaction; PostgreSQL uses Migrate under a lock instead.
func migrateTx[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], tx TTx) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	//lint:ignore SA1019 SQLite's migrations share one transaction; see above.
	if _, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: create River's tables: %w", err)
	}
	return nil
}

func start[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], migrate func(context.Context) error,
	st store.Store, cfg Config, setEnqueuer func(func(context.Context, TTx, store.Event) error)) (*Queue, error) {
	if err := migrate(ctx); err != nil {
		return nil, err
	}
	var (
		workers *river.Workers
		queues  map[string]river.QueueConfig
	)
	var periodic []*river.PeriodicJob
	if !cfg.InsertOnly {
		workers = river.NewWorkers()
		river.AddWorker(workers, &webhookWorker{st: st, cfg: cfg})
		queues = map[string]river.QueueConfig{webhookQueue: {MaxWorkers: cfg.Workers}}
		if c := cfg.Cleanup; c != nil {
			river.AddWorker(workers, &cleanupWorker{st: st, cfg: *c, log: cfg.Logger, now: cfg.Now, onCleaned: cfg.OnSessionCleaned})
			queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: 1}
			periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(c.Every),
				func() (river.JobArgs, *river.InsertOpts) {
					return CleanupArgs{}, &river.InsertOpts{MaxAttempts: 3}
				}, &river.PeriodicJobOpts{RunOnStart: true}))
		}
	}
	client, err := river.NewClient(driver, &river.Config{
		Queues:               queues,
		Workers:              workers,
		PeriodicJobs:         periodic,
		JobTimeout:           cfg.Timeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		RetryPolicy:          &retryPolicy{cfg: cfg},
		// Time bounds the retries (RetryFor), not a count.
		MaxAttempts:       1 << 20,
		FetchPollInterval: cfg.PollInterval,
		PollOnly:          cfg.pollOnly,
		Logger:            cfg.Logger.With("component", "river"),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if cfg.URL != "" {
		setEnqueuer(func(ctx context.Context, tx TTx, ev store.Event) error {
			_, err := client.InsertTx(ctx, tx, WebhookArgs{EventID: ev.ID}, &river.InsertOpts{Queue: webhookQueue})
			return err
		})
	}
	if cfg.InsertOnly {
		return &Queue{stop: func(context.Context) error { return nil }}, nil
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("jobs: start: %w", err)
	}
	return &Queue{stop: client.Stop}, nil
}

// Stop waits for the webhooks in flight and stops working jobs; those not
// started stay in the database for the next instance.
func (q *Queue) Stop(ctx context.Context) error { return q.stop(ctx) }

// retryPolicy waits MinBackoff, doubling to MaxBackoff, with jitter, and
// never past the job's last chance (RetryFor after it was inserted).
type retryPolicy struct{ cfg Config }

func (p *retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := p.cfg.MinBackoff
	for i := 1; i < job.Attempt && d < p.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.cfg.MaxBackoff)
	d += time.Duration(rand.Int64N(int64(d)/5 + 1)) // up to 20% more: instances do not retry in step
	now := p.cfg.Now()
	next := now.Add(d)
	if last := job.CreatedAt.Add(p.cfg.RetryFor); next.After(last) {
		next = last
	}
	// An attempt that began before the last chance and failed after it
	// retries now, and that attempt gives up. A time in the past would make
	// River fall back to its own policy, attempt⁴ seconds away: a webhook
	// retried for hours past RetryFor, shown as failing all the while.
	if next.Before(now) {
		return now
	}
	return next
}

type webhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	st  store.Store
	cfg Config
}

func (w *webhookWorker) Timeout(*river.Job[WebhookArgs]) time.Duration { return w.cfg.Timeout }

// Work sends one event and records how it went on the event, where the API
// shows it. It is given up once RetryFor has passed since the event.
func (w *webhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	ev, err := w.st.Event(ctx, job.Args.EventID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("event %s is not in the database", job.Args.EventID))
	}
	if err != nil {
		return err
	}
	log := w.cfg.Logger.With("webhook_id", ev.ID, "type", ev.Type, "video_id", ev.VideoID, "attempt", job.Attempt)
	sendErr := deliver(ctx, w.cfg.Client, w.cfg.URL, w.cfg.Key, ev.ID, ev.Payload, w.cfg.Now())
	now := w.cfg.Now()
	d := store.Delivery{State: contract.DeliveryDelivered, Attempts: job.Attempt, At: now}
	if sendErr == nil {
		w.cfg.OnDelivery("delivered")
		log.Info("webhook delivered")
		return w.mark(ctx, ev.ID, d)
	}
	d.LastError = sendErr.Error()
	if now.Sub(job.CreatedAt) >= w.cfg.RetryFor {
		d.State = contract.DeliveryFailed
		w.cfg.OnDelivery("given_up")
		log.Error("webhook given up: the receiver did not take it in time", "retried_for", w.cfg.RetryFor, "err", sendErr)
		if err := w.mark(ctx, ev.ID, d); err != nil {
			return err
		}
		return river.JobCancel(sendErr)
	}
	d.State = contract.DeliveryFailing
	w.cfg.OnDelivery("failed")
	log.Warn("webhook not delivered; it will be retried", "err", sendErr)
	if err := w.mark(ctx, ev.ID, d); err != nil {
		return err
	}
	return sendErr
}

// mark records a delivery even when the attempt's context ran out.
func (w *webhookWorker) mark(ctx context.Context, id string, d store.Delivery) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return w.st.MarkDelivery(ctx, id, d)
}
