package transfer

import (
	"time"

	"github.com/vidup/vidup/internal/contract"
)

// EventKind names what happened. The names are the `type` of the ndjson
// events of `vidup upload --output ndjson`.
type EventKind string

// The events of an upload run, in the order a file usually sees them.
const (
	// Planned is sent once, before any upload, with the totals of the run
	// (Files, Size; Size is -1 when some source has an unknown size).
	Planned     EventKind = "planned"
	FileStarted EventKind = "file_started"
	// FileResumed: the file continues an upload an earlier run left open;
	// Reason says how much S3 holds already.
	FileResumed EventKind = "file_resumed"
	// FileRestarted: an earlier upload of the file cannot continue (the
	// file changed, the session or the multipart upload is gone) and the
	// file starts over; Reason says why.
	FileRestarted EventKind = "file_restarted"
	PartRetried   EventKind = "part_retried"
	// ChecksumFallback: the store refused the session's checksum mode;
	// Reason says which and what the session uses from then on.
	ChecksumFallback     EventKind = "checksum_fallback"
	CredentialsRefreshed EventKind = "credentials_refreshed"
	FileUploaded         EventKind = "file_uploaded" // completed and verified on S3
	FileRegistered       EventKind = "file_registered"
	FileSkipped          EventKind = "file_skipped"
	FileFailed           EventKind = "file_failed"
)

// Event is one thing that happened during a run. Fields that do not apply to
// a kind are zero.
type Event struct {
	Kind EventKind
	Time time.Time

	// The file.
	Path string // local path, "-" for stdin
	Name string // the name sent to the API
	Size int64  // -1 while unknown

	// Where it goes.
	SessionID string
	UploadID  string
	Key       string

	// PartRetried: the part, the attempt that failed (1-based), the wait
	// before the next one, and why.
	Part    int
	Attempt int
	Wait    time.Duration

	// FileUploaded / FileRegistered.
	ETag     string
	Checksum string // "CRC64NVME:base64…", or "unverified" when the store confirmed none
	VideoID  string
	// FileRegistered, and FileFailed when the completeness gate refused
	// the file: what the probe read of its container (nil for a file not
	// recognised as media).
	Media *contract.Media
	// A package's (contract v1.1 1b) kind, object count and entry point's
	// key, on its FileStarted, FileResumed and FileRegistered; zero for a
	// file.
	Package string
	Objects int
	Entry   string

	// FileSkipped, FileResumed, FileRestarted: why. FileFailed: the error.
	Reason string
	Err    error

	// Planned: how many files the run covers.
	Files int
}

// Observer receives a run's events and its byte progress. It must be safe
// for concurrent use and must not block: the engine calls it from its
// workers.
type Observer interface {
	Event(Event)
	// Progress reports bytes of path acknowledged by S3; delta is negative
	// when an attempt that failed is rolled back. The sum over a run never
	// exceeds the planned size and ends at it when every file succeeds.
	Progress(path string, delta int64)
}

// NopObserver ignores everything.
type NopObserver struct{}

// Event implements Observer.
func (NopObserver) Event(Event) {}

// Progress implements Observer.
func (NopObserver) Progress(string, int64) {}
