package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/contract"
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

// uploadObserver shows the run's progress on stderr.
type uploadObserver interface {
	transfer.Observer
	// finish draws the last state and ends the display.
	finish()
}

type nopUploadObserver struct{ transfer.NopObserver }

func (nopUploadObserver) finish() {}

// newUploadObserver picks the display from --progress and --quiet: a bar
// redrawn in place only when stderr is a terminal, else a plain line every
// few seconds (never a carriage return in a log).
func newUploadObserver(o *UploadOptions) uploadObserver {
	mode := o.Progress
	if o.Quiet {
		mode = "none"
	}
	if mode == "auto" {
		mode = "plain"
		if o.IO.StderrTTY {
			mode = "bar"
		}
	}
	if mode == "bar" && !o.IO.StderrTTY {
		mode = "plain"
	}
	switch mode {
	case "bar":
		return newLineProgress(o.IO.ErrOut, true, 200*time.Millisecond)
	case "plain":
		return newLineProgress(o.IO.ErrOut, false, 5*time.Second)
	}
	return nopUploadObserver{}
}

// lineProgress is a one-line display of the whole run: redrawn in place on
// a terminal, printed as a new line every few seconds otherwise.
type lineProgress struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu       sync.Mutex
	start    time.Time
	last     time.Time
	total    int64
	done     int64
	files    int
	finished int
	drawn    bool
}

func newLineProgress(w io.Writer, tty bool, every time.Duration) *lineProgress {
	now := time.Now()
	return &lineProgress{w: w, tty: tty, every: every, start: now, last: now}
}

func (p *lineProgress) Event(e transfer.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case transfer.Planned:
		p.total, p.files = e.Size, e.Files
	case transfer.FileRegistered, transfer.FileFailed, transfer.FileSkipped:
		p.finished++
	case transfer.PartRetried:
		what := "the upload"
		if e.Part > 0 {
			what = fmt.Sprintf("part %d", e.Part)
		}
		p.message(fmt.Sprintf("vidup: %s: retrying %s in %s (%s)", e.Path, what, e.Wait.Round(time.Millisecond), e.Reason))
	case transfer.CredentialsRefreshed:
		p.message("vidup: refreshed the S3 credentials of session " + e.SessionID)
	}
}

// message prints a line above the bar (or between plain lines).
func (p *lineProgress) message(s string) {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
	fmt.Fprintln(p.w, s)
}

func (p *lineProgress) Progress(_ string, delta int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += delta
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.draw(now)
	}
}

func (p *lineProgress) draw(now time.Time) {
	pct := 100.0
	if p.total > 0 {
		pct = math.Min(100, 100*float64(p.done)/float64(p.total))
	}
	rate := ""
	if s := now.Sub(p.start).Seconds(); s > 0.2 {
		rate = fmt.Sprintf("  %s/s", humanBytes(int64(float64(p.done)/s)))
	}
	line := fmt.Sprintf("%5.1f%%  %s of %s  %d/%d files%s", pct, humanBytes(p.done), humanBytes(p.total), p.finished, p.files, rate)
	if p.tty {
		const width = 30
		n := int(pct / 100 * width)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		fmt.Fprintf(p.w, "\r\x1b[K[%s] %s", bar, line)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.w, "vidup: %s\n", line)
}

func (p *lineProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(time.Now())
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
