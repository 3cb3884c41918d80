// Package store keeps vidup serve's sessions, uploads and registered videos.
// The server talks to the Store interface only, so that a database shared by
// several API instances (PostgreSQL) can be added beside the embedded SQLite
// one without touching the handlers.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/vidup/vidup/internal/contract"
)

// ErrNotFound is returned when the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// Session is one upload session: one batch of files, one credential scope.
type Session struct {
	ID        string
	CreatedAt time.Time
}

// Upload is one file of a session and the key the server chose for it.
type Upload struct {
	ID          string
	SessionID   string
	Key         string
	Name        string
	Size        int64
	ContentType string
}

// Store is what the server needs from a database.
type Store interface {
	// CreateSession stores a session and its uploads atomically.
	CreateSession(ctx context.Context, s Session, uploads []Upload) error
	// Session returns a session, or ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// Upload returns an upload, or ErrNotFound.
	Upload(ctx context.Context, id string) (Upload, error)
	// RegisterVideo stores v unless a video with the same UploadID exists;
	// either way it returns the stored video, and created tells which case
	// happened. The database, not a prior lookup, guarantees one video per
	// upload.
	RegisterVideo(ctx context.Context, v contract.Video) (stored contract.Video, created bool, err error)
	// VideoByUpload returns the video registered for an upload, or ErrNotFound.
	VideoByUpload(ctx context.Context, uploadID string) (contract.Video, error)
	// Video returns a video by its id, or ErrNotFound.
	Video(ctx context.Context, id string) (contract.Video, error)
	// ListVideos returns at most limit videos, newest first, starting after
	// the position before (zero: from the newest), and the position to pass
	// to get the next page (zero: no more).
	ListVideos(ctx context.Context, before int64, limit int) (videos []contract.Video, next int64, err error)
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	Close() error
}
