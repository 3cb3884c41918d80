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
	// APIRetried: a call to the API failed and will be tried again. The
	// engine does not send it (the API client retries on its own); the
	// CLI reports its client's retries with it: Op (the call), Attempt,
	// Attempts, Wait, Reason, Err as for PartRetried.
	APIRetried EventKind = "api_retried"
	// KeptOnS3: Bytes of the file are on S3 already, sent by an earlier
	// run (parts kept on resume, or an object only its registration
	// missed). They are not progress of this run: Progress never counts
	// them, so that rates count only bytes sent now.
	KeptOnS3 EventKind = "kept_on_s3"
	// ChecksumFallback: the store refused the session's checksum mode;
	// Reason says which and what the session uses from then on.
	ChecksumFallback     EventKind = "checksum_fallback"
	CredentialsRefreshed EventKind = "credentials_refreshed"
	FileUploaded         EventKind = "file_uploaded" // completed and verified on S3
	FileRegistered       EventKind = "file_registered"
	FileSkipped          EventKind = "file_skipped"
	FileFailed           EventKind = "file_failed"
	// FileInterrupted: the run was stopped (Ctrl-C, SIGTERM) before the
	// file ended; what S3 holds of it is kept for the next run.
	FileInterrupted EventKind = "file_interrupted"
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

	// PartRetried: the S3 operation (Op, one of the Op constants), the
	// part, the attempt that failed (1-based) of at most Attempts, the
	// wait before the next one, and why (Reason: a few words; Err).
	Op       string
	Part     int
	Attempt  int
	Attempts int
	Wait     time.Duration

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
	// KeptOnS3: how many bytes of the file S3 holds from an earlier run.
	Bytes int64
}

// Observer receives a run's events and its byte progress. It must be safe
// for concurrent use and must not block: the engine calls it from its
// workers.
type Observer interface {
	Event(Event)
	// Progress reports bytes of path S3 acknowledged in this run; delta is
	// negative when an attempt that failed is rolled back. Bytes an earlier
	// run sent are reported once as a KeptOnS3 event, never here. The sum
	// over a run plus the KeptOnS3 bytes never exceeds the planned size and
	// ends at it when every file succeeds.
	Progress(path string, delta int64)
}

// NopObserver ignores everything.
type NopObserver struct{}

// Event implements Observer.
func (NopObserver) Event(Event) {}

// Progress implements Observer.
func (NopObserver) Progress(string, int64) {}
