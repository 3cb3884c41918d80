package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/progress"
	"github.com/vidup/vidup/internal/transfer"
)

// uploadDocument is what `vidup upload --output json` prints on stdout: one
// document at the end. Every key is always present, so scripts need not
// test for absence.
type uploadDocument struct {
	Files   []uploadFileJSON `json:"files"`
	Summary uploadSummary    `json:"summary"`
}

type uploadFileJSON struct {
	Path      string             `json:"path"`
	Status    string             `json:"status"`
	Key       string             `json:"key"`
	UploadID  string             `json:"upload_id"`
	SessionID string             `json:"session_id"`
	Size      int64              `json:"size"`
	ETag      string             `json:"etag"`
	Checksum  *contract.Checksum `json:"checksum"`
	VideoID   string             `json:"video_id"`
	Error     string             `json:"error"`
}

type uploadSummary struct {
	Files    int `json:"files"`
	Uploaded int `json:"uploaded"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	// Bytes of the files uploaded in this run.
	Bytes           int64   `json:"bytes"`
	DurationSeconds float64 `json:"duration_seconds"`
	RateBytesPerSec float64 `json:"rate_bytes_per_second"`
}

func newUploadDocument(results []transfer.Result, elapsed time.Duration) uploadDocument {
	doc := uploadDocument{Files: make([]uploadFileJSON, 0, len(results))}
	for _, r := range results {
		f := uploadFileJSON{
			Path: r.Path, Status: string(r.Status), Key: r.Key, UploadID: r.UploadID, SessionID: r.SessionID,
			Size: r.Size, ETag: r.ETag, Checksum: r.Checksum, VideoID: r.VideoID,
		}
		if r.Err != nil {
			f.Error = r.Err.Error()
		}
		switch r.Status {
		case transfer.StatusUploaded:
			doc.Summary.Uploaded++
			doc.Summary.Bytes += r.Size
		case transfer.StatusSkipped:
			doc.Summary.Skipped++
		default:
			doc.Summary.Failed++
		}
		doc.Files = append(doc.Files, f)
	}
	doc.Summary.Files = len(results)
	doc.Summary.DurationSeconds = math.Round(elapsed.Seconds()*1000) / 1000
	if s := elapsed.Seconds(); s > 0 {
		doc.Summary.RateBytesPerSec = math.Round(float64(doc.Summary.Bytes) / s)
	}
	return doc
}

func writeJSONDocument(w io.Writer, doc uploadDocument) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// writeTextResults prints one line per uploaded file on stdout: the data a
// script may want (path, video id, where it went). Failures go to stderr.
func writeTextResults(w io.Writer, results []transfer.Result) {
	for _, r := range results {
		if r.Status == transfer.StatusUploaded {
			fmt.Fprintf(w, "%s\t%s\tvideo %s\t%s\n", r.Status, r.Path, r.VideoID, r.Key)
		}
	}
}

func (s uploadSummary) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %d uploaded", s.Files, plural(s.Files, "file", "files"), s.Uploaded)
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", s.Skipped)
	}
	if s.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", s.Failed)
	}
	fmt.Fprintf(&b, "; %s in %s", humanBytes(s.Bytes), time.Duration(s.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
	if s.RateBytesPerSec > 0 {
		fmt.Fprintf(&b, " (%s/s)", humanBytes(int64(s.RateBytesPerSec)))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	for f /= unit; f >= unit && i < len(units)-1; i++ {
		f /= unit
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// newUploadObserver picks the display from --progress and --quiet: a bar
// redrawn in place only when stderr is a terminal, else a plain line every
// few seconds (never a carriage return in a log).
func newUploadObserver(o *UploadOptions) progress.Renderer {
	mode := progress.Mode(o.Progress)
	if o.Quiet {
		mode = progress.ModeNone
	}
	if mode == progress.ModeBar && !o.IO.StderrTTY {
		mode = progress.ModePlain
	}
	return progress.New(mode, o.IO.ErrOut, o.IO.StderrTTY)
}
