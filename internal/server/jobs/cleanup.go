package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/vidup/vidup/internal/server/store"
)

// Defaults of CleanupConfig.
const DefaultCleanupEvery = 10 * time.Minute

// Uploads aborts the multipart uploads of a key (server.S3Objects).
type Uploads interface {
	AbortUploads(ctx context.Context, bucket, key string) (int, error)
}

// CleanupConfig is the periodic cleanup of sessions past their age: their
// unregistered uploads' multipart uploads are aborted and the session is
// closed (never refreshed again).
type CleanupConfig struct {
	// MaxAge: sessions older than this are stale. vidup serve gives
	// --session-max-age plus --credentials-ttl: the credentials of a
	// session's last refresh may write until they expire.
	MaxAge  time.Duration
	Every   time.Duration // 0: DefaultCleanupEvery
	Bucket  string
	Uploads Uploads
}

// CleanupArgs is the periodic cleanup job; the leader instance enqueues it,
// so one instance of many runs it at a time.
type CleanupArgs struct{}

// Kind names the job in River's table.
func (CleanupArgs) Kind() string { return "vidup_session_cleanup" }

type cleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	st        store.Store
	cfg       CleanupConfig
	log       *slog.Logger
	now       func() time.Time
	onCleaned func()
}

func (w *cleanupWorker) Timeout(*river.Job[CleanupArgs]) time.Duration { return 10 * time.Minute }

// Work closes stale sessions a batch at a time. A session whose uploads
// cannot be aborted stays open and is tried again at the next run.
func (w *cleanupWorker) Work(ctx context.Context, _ *river.Job[CleanupArgs]) error {
	return cleanup(ctx, w.st, w.cfg, w.log, w.now(), w.onCleaned)
}

// Cleanup closes the sessions opened before now - cfg.MaxAge, aborting the
// multipart uploads of their unregistered uploads first.
func Cleanup(ctx context.Context, st store.Store, cfg CleanupConfig, log *slog.Logger, now time.Time) error {
	return cleanup(ctx, st, cfg, log, now, func() {})
}

func cleanup(ctx context.Context, st store.Store, cfg CleanupConfig, log *slog.Logger, now time.Time, onCleaned func()) error {
	cutoff := now.Add(-cfg.MaxAge)
	for {
		stale, err := st.StaleSessions(ctx, cutoff, 100)
		if err != nil {
			return err
		}
		if len(stale) == 0 {
			return nil
		}
		for _, s := range stale {
			aborted := 0
			for _, u := range s.Uploads {
				n, err := cfg.Uploads.AbortUploads(ctx, cfg.Bucket, u.Key)
				aborted += n
				if err != nil {
					return fmt.Errorf("clean up session %s: %w", s.Session.ID, err)
				}
			}
			if err := st.CloseSession(ctx, s.Session.ID, now); err != nil {
				return err
			}
			onCleaned()
			log.Info("stale session closed", "session_id", s.Session.ID, "principal", s.Session.Principal,
				"opened", s.Session.CreatedAt, "unregistered_uploads", len(s.Uploads), "multipart_uploads_aborted", aborted)
		}
	}
}
