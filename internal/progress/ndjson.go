package progress

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/transfer"
)

// NDJSON writes one JSON object per event and per line. Byte progress is
// not written: scripts get the events that matter, not a stream of counters.
type NDJSON struct {
	mu     sync.Mutex
	enc    *json.Encoder
	closed bool // events after Close are dropped
}

// NewNDJSON returns a renderer of events as newline-delimited JSON. Every
// line has "type" (the transfer.EventKind) and "time" (RFC 3339 with
// nanoseconds); the other fields appear only when they apply and are not
// empty:
//
//	planned:               files, size (-1 when some size is unknown)
//	file_started:          path, name, size, session_id, upload_id, key
//	part_retried:          the file's fields, op, part, attempt, attempts,
//	                       wait_seconds, reason, error
//	api_retried:           op, attempt, attempts, wait_seconds, reason, error
//	credentials_refreshed: session_id
//	file_uploaded:         the file's fields, etag, checksum ("CRC32C:base64…")
//	file_registered:       the file's fields, video_id, media
//	file_skipped:          the file's fields, reason
//	file_failed:           the file's fields, error, media (a file the
//	                       completeness gate refused)
//	file_interrupted:      the file's fields, error (the run was stopped)
//
// Bytes an earlier run left on S3 (kept_on_s3) are byte counts and are not
// written, like progress; file_resumed's reason says how much S3 holds.
//
// A path that is not valid UTF-8 cannot travel intact in a JSON string: its
// exact bytes are also given, base64-encoded, in path_b64. The run's
// summary is the CLI's to write, with WriteSummary.
func NewNDJSON(w io.Writer) Renderer {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &NDJSON{enc: enc}
}

type ndjsonEvent struct {
	Type        string   `json:"type"`
	Time        string   `json:"time"`
	Path        string   `json:"path,omitempty"`
	PathB64     string   `json:"path_b64,omitempty"`
	Name        string   `json:"name,omitempty"`
	Size        *int64   `json:"size,omitempty"`
	Files       *int     `json:"files,omitempty"`
	SessionID   string   `json:"session_id,omitempty"`
	UploadID    string   `json:"upload_id,omitempty"`
	Key         string   `json:"key,omitempty"`
	Op          string   `json:"op,omitempty"`
	Part        int      `json:"part,omitempty"`
	Attempt     int      `json:"attempt,omitempty"`
	Attempts    int      `json:"attempts,omitempty"`
	WaitSeconds *float64 `json:"wait_seconds,omitempty"`
	ETag        string   `json:"etag,omitempty"`
	Checksum    string   `json:"checksum,omitempty"`
	VideoID     string   `json:"video_id,omitempty"`
	// Media is the registration's media object (contract v1.1 section 3).
	Media *contract.Media `json:"media,omitempty"`
	// A package's kind, object count and entry key (contract v1.1 1b).
	Package string `json:"package,omitempty"`
	Objects int    `json:"objects,omitempty"`
	Entry   string `json:"entry,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Event implements transfer.Observer.
func (r *NDJSON) Event(e transfer.Event) {
	if e.Kind == transfer.KeptOnS3 {
		return
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	out := ndjsonEvent{
		Type: string(e.Kind), Time: t.UTC().Format(time.RFC3339Nano),
		Path: e.Path, Name: e.Name,
		SessionID: e.SessionID, UploadID: e.UploadID, Key: e.Key,
		ETag: e.ETag, Checksum: e.Checksum, VideoID: e.VideoID, Media: e.Media, Reason: e.Reason,
		Package: e.Package, Objects: e.Objects, Entry: e.Entry,
	}
	if !utf8.ValidString(e.Path) {
		out.PathB64 = base64.StdEncoding.EncodeToString([]byte(e.Path))
	}
	if e.Err != nil {
		out.Error = e.Err.Error()
	}
	switch e.Kind {
	case transfer.Planned:
		size, files := e.Size, e.Files
		out.Size, out.Files = &size, &files
	case transfer.CredentialsRefreshed:
		// About the session, not a file.
	case transfer.APIRetried:
		out.Op, out.Attempt, out.Attempts = e.Op, e.Attempt, e.Attempts
		wait := e.Wait.Seconds()
		out.WaitSeconds = &wait
	case transfer.PartRetried:
		out.Op, out.Part, out.Attempt, out.Attempts = e.Op, e.Part, e.Attempt, e.Attempts
		wait := e.Wait.Seconds()
		out.WaitSeconds = &wait
		fallthrough
	default:
		// A file's size is meaningful even when 0 (an empty file) or -1
		// (stdin, not known yet).
		if e.Path != "" {
			size := e.Size
			out.Size = &size
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.enc.Encode(out)
	}
}

// Progress implements transfer.Observer; byte progress is not written.
func (r *NDJSON) Progress(string, int64) {}

// WriteSummary writes v as one more line (the CLI's summary of the run).
// It works after Close, since the CLI writes the summary once the engine
// is done.
func (r *NDJSON) WriteSummary(v any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.enc.Encode(v)
}

// Close implements Renderer. Every line is written as it happens, so there
// is nothing left to draw; later events are dropped.
func (r *NDJSON) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
}
