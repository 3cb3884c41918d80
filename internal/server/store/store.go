// Package store keeps vidup serve's sessions, uploads and registered videos.
// The server talks to the Store interface only: SQLite is the embedded
// database of one instance, PostgreSQL the one several API instances share.
//
// A registration and a status change record their webhook event, and
// enqueue the job that delivers it, in the transaction that stores them
// (design decision 15): no crash between the two can lose the webhook.
package store

import (
	"context"
	"errors"
	"net/url"
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
	// ClosedAt is when the cleanup closed the session; zero while it is open.
	ClosedAt time.Time
}

// Upload is one file of a session and the key the server chose for it.
type Upload struct {
	ID          string
	SessionID   string
	Key         string
	Name        string
	Size        int64
	ContentType string
	// Package is the package of a package upload (contract v1.1 section
	// 1b), whose Key is the prefix of its files; nil for a single file.
	Package *Package
}

// Package is what a package session declared: its files' keys are the
// upload's Key (a prefix) + their paths.
type Package struct {
	Name  string                 `json:"name"`
	Kind  string                 `json:"kind"`
	Files []contract.PackageFile `json:"files"`
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

// RegisterResult is the outcome of one registration of RegisterVideos:
// Stored and Created as RegisterVideo returns them, or Err when it was not
// stored.
type RegisterResult struct {
	Stored  Registration
	Created bool
	Err     error
}

// ErrTransition is returned by SetStatus for a change the status cycle
// (registered, processing, ready or failed) does not allow.
var ErrTransition = errors.New("status change not allowed")

// NextStatusAllowed reports whether a video may go from one status to
// another: forward only, and ready and failed are final.
func NextStatusAllowed(from, to string) bool {
	switch from {
	case contract.StatusRegistered:
		return to == contract.StatusProcessing || to == contract.StatusReady || to == contract.StatusFailed
	case contract.StatusProcessing:
		return to == contract.StatusReady || to == contract.StatusFailed
	}
	return false
}

// Event is a webhook to send: its id is the webhook-id, Payload the body
// (a contract.WebhookEvent) as it was when the event happened.
type Event struct {
	ID        string
	VideoID   string
	Type      string
	Status    string
	Payload   []byte
	CreatedAt time.Time
}

// Delivery is the outcome of an attempt to deliver an event.
type Delivery struct {
	State     string // contract.Delivery*
	Attempts  int
	LastError string
	At        time.Time
}

// StaleSession is a session past its age with uploads never registered.
type StaleSession struct {
	Session Session
	Uploads []Upload
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
	// per upload. A created video has status registered and, when events
	// are on, its video.registered event and job in the same transaction.
	RegisterVideo(ctx context.Context, r Registration) (stored Registration, created bool, err error)
	// RegisterVideos stores each of rs as RegisterVideo would, in one
	// transaction with their events and jobs, and returns one result per
	// registration, in rs's order. A registration that fails on its own
	// (its Err) does not keep the others from being stored; err is for a
	// failure that stored none of them.
	RegisterVideos(ctx context.Context, rs []Registration) ([]RegisterResult, error)
	// SetStatus sets a video's status (errText with failed) and, when it
	// changed and events are on, records its video.status event and job in
	// the same transaction. Setting the status a video has is no change;
	// a change NextStatusAllowed refuses is ErrTransition, returned with
	// the video as it is.
	SetStatus(ctx context.Context, id, status, errText string, at time.Time) (v contract.Video, changed bool, err error)
	// Event returns a webhook event, or ErrNotFound.
	Event(ctx context.Context, id string) (Event, error)
	// MarkDelivery records the outcome of delivering an event.
	MarkDelivery(ctx context.Context, eventID string, d Delivery) error
	// Deliveries returns the webhooks of a video, oldest first.
	Deliveries(ctx context.Context, videoID string) ([]contract.WebhookDelivery, error)
	// StaleSessions returns at most limit open sessions created before
	// cutoff, each with its unregistered uploads.
	StaleSessions(ctx context.Context, cutoff time.Time, limit int) ([]StaleSession, error)
	// CloseSession marks a session closed: it is never refreshed again and
	// StaleSessions no longer returns it.
	CloseSession(ctx context.Context, id string, at time.Time) error
	// VideoByUpload returns the registration of an upload, or ErrNotFound.
	VideoByUpload(ctx context.Context, uploadID string) (Registration, error)
	// Video returns a video by its id, or ErrNotFound.
	Video(ctx context.Context, id string) (contract.Video, error)
	// ListVideos returns at most limit videos of principal (every
	// principal's when it is empty), newest first, starting after the
	// position before (zero: from the newest), and the position to pass to
	// get the next page (zero: no more). A package's objects are left out
	// of the list (Video has them).
	ListVideos(ctx context.Context, principal string, before int64, limit int) (videos []contract.Video, next int64, err error)
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// CheckWrite checks the database takes a durable write: a full disk or
	// a read-only file fails it while Ping still answers.
	CheckWrite(ctx context.Context) error
	Close() error
}

// Open opens the database that dsn names: a postgres:// or postgresql://
// URL is PostgreSQL, anything else a SQLite file.
func Open(ctx context.Context, dsn string) (Store, error) {
	if IsPostgresURL(dsn) {
		return OpenPostgres(ctx, dsn)
	}
	return OpenSQLite(ctx, dsn)
}

// Redact returns dsn without the password of a PostgreSQL URL, for logs.
func Redact(dsn string) string {
	if !IsPostgresURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
