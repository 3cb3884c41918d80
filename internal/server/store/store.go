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
	ID string
	// Principal opened the session; only it may refresh, register or read
	// what the session holds.
	Principal string
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

// Registration is a stored video with what the server keeps beside it.
type Registration struct {
	// Video.Key is where the server sealed the object; Video.Principal owns it.
	Video contract.Video
	// SourceKey is the key the client uploaded to.
	SourceKey string
	// RequestDigest identifies the first registration request, so that a
	// replay with another body is told apart; empty for rows stored before
	// it was kept.
	RequestDigest string
}

// Store is what the server needs from a database.
type Store interface {
	// CreateSession stores a session and its uploads atomically.
	CreateSession(ctx context.Context, s Session, uploads []Upload) error
	// Session returns a session, or ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// Upload returns an upload, or ErrNotFound.
	Upload(ctx context.Context, id string) (Upload, error)
	// UnregisteredUploads returns the uploads of a session that have no
	// video yet, in the session's order.
	UnregisteredUploads(ctx context.Context, sessionID string) ([]Upload, error)
	// RegisterVideo stores r unless a video with the same upload exists;
	// either way it returns the stored registration, and created tells which
	// case happened. The database, not a prior lookup, guarantees one video
	// per upload.
	RegisterVideo(ctx context.Context, r Registration) (stored Registration, created bool, err error)
	// VideoByUpload returns the registration of an upload, or ErrNotFound.
	VideoByUpload(ctx context.Context, uploadID string) (Registration, error)
	// Video returns a video by its id, or ErrNotFound.
	Video(ctx context.Context, id string) (contract.Video, error)
	// ListVideos returns at most limit videos of principal (every
	// principal's when it is empty), newest first, starting after the
	// position before (zero: from the newest), and the position to pass to
	// get the next page (zero: no more).
	ListVideos(ctx context.Context, principal string, before int64, limit int) (videos []contract.Video, next int64, err error)
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// CheckWrite checks the database takes a durable write: a full disk or
	// a read-only file fails it while Ping still answers.
	CheckWrite(ctx context.Context) error
	Close() error
}
