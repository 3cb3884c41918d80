// Package progress renders the upload engine's events (transfer.Observer)
// for people and for scripts:
//
//   - bar: a progress bar for a terminal (bytes with IEC units, rate, ETA,
//     files done/total), with a line per file that finished (registered,
//     failed, interrupted, resumed) printed above it, and the retry the run
//     waits on in its description;
//   - plain: for logs (cron, CI): a line every few seconds when something
//     changed, one line per file event and a final line; never a carriage
//     return or an escape code;
//   - none: nothing;
//   - ndjson (NewNDJSON): one JSON object per event and per line, for
//     scripts. Its shape is described on NewNDJSON.
//
// No renderer ever writes colour codes, so NO_COLOR holds by construction.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
)

// Mode chooses how progress is shown.
type Mode string

// The modes of --progress.
const (
	ModeAuto  Mode = "auto" // bar on a terminal, plain otherwise
	ModeBar   Mode = "bar"
	ModePlain Mode = "plain"
	ModeNone  Mode = "none"
)

// ParseMode reads a --progress value; the empty string means auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeBar, ModePlain, ModeNone:
		return m, nil
	}
	return "", fmt.Errorf("unknown progress mode %q; use auto, bar, plain or none", s)
}

// Renderer shows a run's events. Close draws the final state and stops the
// renderer's timers; events after Close are ignored.
type Renderer interface {
	transfer.Observer
	Close()
}

type options struct {
	interval time.Duration
	verbose  bool
	throttle time.Duration
	// noFinalLine: the caller writes the run's one summary itself.
	noFinalLine bool
	// noResults: the bar does not print a line per registered file (the
	// caller prints its own result lines above the bar, through Println).
	noResults bool
	// tick is how often the bar redraws when nothing else moves it, so
	// that its elapsed time and a retry's countdown keep going.
	tick time.Duration
}

// Option configures a renderer.
type Option func(*options)

// WithInterval sets how often plain mode writes a progress line (default 5 s).
func WithInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.interval = d
		}
	}
}

// WithVerbose also shows part retries and credential refreshes in bar mode,
// and credential refreshes in plain mode.
func WithVerbose(v bool) Option {
	return func(o *options) { o.verbose = v }
}

// WithoutFinalLine leaves out the line Close writes to sum the run up: the
// caller writes the run's one summary.
func WithoutFinalLine() Option {
	return func(o *options) { o.noFinalLine = true }
}

// WithoutResultLines stops the bar printing a line per registered file:
// the caller prints its own result lines above it (Println).
func WithoutResultLines() Option {
	return func(o *options) { o.noResults = true }
}

// WithThrottle sets the least time between two redraws of the bar (default
// 100 ms): the engine reports progress far more often than a terminal
// needs to see it.
func WithThrottle(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.throttle = d
		}
	}
}

// New returns the renderer of mode writing to w (normally stderr). isTTY
// says whether w is a terminal; auto uses it to choose bar or plain.
func New(mode Mode, w io.Writer, isTTY bool, opts ...Option) Renderer {
	o := options{interval: 5 * time.Second, throttle: 100 * time.Millisecond, tick: time.Second}
	for _, f := range opts {
		f(&o)
	}
	if mode == ModeAuto || mode == "" {
		mode = ModePlain
		if isTTY {
			mode = ModeBar
		}
	}
	switch mode {
	case ModeBar:
		return newBar(w, o)
	case ModePlain:
		return newPlain(w, o)
	}
	return none{}
}

// Printer is what every renderer of New also is: it writes a line to w
// (stdout or stderr) so that it does not land inside the bar: the bar is
// cleared, the line written, the bar drawn again below it.
type Printer interface {
	Println(w io.Writer, line string)
}

type none struct{}

func (none) Event(transfer.Event)             {}
func (none) Progress(string, int64)           {}
func (none) Close()                           {}
func (none) Println(w io.Writer, line string) { fmt.Fprintln(w, line) }

// tally is what bar and plain both know of a run.
type tally struct {
	bytes atomic.Int64 // bytes acknowledged in this run, rollbacks included
	kept  atomic.Int64 // bytes on S3 from earlier runs (KeptOnS3)

	mu          sync.Mutex // guards the rest
	start       time.Time
	planned     bool
	total       int64 // -1 when unknown
	files       int
	done        int // registered or skipped
	failed      int
	interrupted int
	ended       map[string]bool // files counted in done, failed or interrupted
	// wait is the retry the run is waiting on, nil when none: shown in the
	// bar until the next attempt moves something.
	wait *waiting
}

// waiting is a failed attempt that will be tried again.
type waiting struct {
	what              string // "UploadPart", "open upload session"
	attempt, attempts int
	cause             string
	until             time.Time
}

// texts are the waiting state in a few words, longest first, for the
// space there is: "UploadPart: attempt 2 of 11 failed, next in 3.0s
// (connection refused)" down to "retry 2/11 in 3.0s"; once the wait is
// over, "retrying UploadPart (attempt 3 of 11)".
func (w *waiting) texts(now time.Time) []string {
	of := ""
	if w.attempts > 0 {
		of = fmt.Sprintf(" of %d", w.attempts)
	}
	left := w.until.Sub(now)
	if left <= 0 {
		return []string{
			fmt.Sprintf("retrying %s (attempt %d%s)", w.what, w.attempt+1, of),
			fmt.Sprintf("retrying (%d%s)", w.attempt+1, strings.Replace(of, " of ", "/", 1)),
		}
	}
	n := fmt.Sprintf("%d%s", w.attempt, strings.Replace(of, " of ", "/", 1))
	full := fmt.Sprintf("%s: attempt %d%s failed, next in %s", w.what, w.attempt, of, waitText(left))
	var out []string
	if w.cause != "" {
		out = append(out, full+" ("+shorten(w.cause, 48)+")")
	}
	return append(out, full,
		fmt.Sprintf("%s: %s failed, next in %s", w.what, n, waitText(left)),
		fmt.Sprintf("retry %s in %s: %s", n, waitText(left), w.what),
		fmt.Sprintf("retry %s in %s", n, waitText(left)))
}

// waitText is a wait as people read it: "0.4s" under ten seconds, else
// whole seconds ("12s", "1m05s").
func waitText(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return units.Duration(d)
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// retryWhat names what a retry event retries: the API call, or the S3
// operation (with its part).
func retryWhat(e transfer.Event) string {
	what := e.Op
	if what == "" {
		what = "S3 request"
	}
	if e.Kind == transfer.PartRetried && e.Part > 0 {
		what += fmt.Sprintf(" part %d", e.Part)
	}
	return what
}

func newTally() *tally {
	return &tally{start: time.Now(), total: -1, ended: map[string]bool{}}
}

// event counts e and reports whether the file counts changed.
func (t *tally) event(e transfer.Event) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Kind {
	case transfer.Planned:
		t.planned, t.total, t.files = true, e.Size, e.Files
		return true
	case transfer.PartRetried, transfer.APIRetried:
		t.wait = &waiting{what: retryWhat(e), attempt: e.Attempt, attempts: e.Attempts, cause: e.Reason, until: e.Time.Add(e.Wait)}
		if e.Time.IsZero() {
			t.wait.until = time.Now().Add(e.Wait)
		}
		return true
	case transfer.KeptOnS3:
		t.kept.Add(e.Bytes)
		return true
	case transfer.FileStarted, transfer.FileUploaded:
		t.wait = nil
		return true
	case transfer.FileRegistered, transfer.FileSkipped, transfer.FileFailed, transfer.FileInterrupted:
		t.wait = nil
		if t.ended[e.Path] {
			return true
		}
		t.ended[e.Path] = true
		switch e.Kind {
		case transfer.FileFailed:
			t.failed++
		case transfer.FileInterrupted:
			t.interrupted++
		default:
			t.done++
		}
		return true
	}
	return false
}

// progress counts delta bytes of this run; bytes moving end a wait.
func (t *tally) progress(delta int64) {
	t.bytes.Add(delta)
	if delta > 0 {
		t.mu.Lock()
		t.wait = nil
		t.mu.Unlock()
	}
}

type snapshot struct {
	// bytes were sent in this run; kept were on S3 before it; total is
	// the planned size of the run (-1 when unknown).
	bytes, kept, total               int64
	files, done, failed, interrupted int
	planned, allFinished             bool
	elapsed                          time.Duration
	// wait is the waiting state, longest text first; nil when none.
	wait []string
}

func (t *tally) snapshot() snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	s := snapshot{
		bytes: t.bytes.Load(), kept: t.kept.Load(), total: t.total, files: t.files, done: t.done, failed: t.failed,
		interrupted: t.interrupted, planned: t.planned, elapsed: now.Sub(t.start),
	}
	if t.wait != nil {
		s.wait = t.wait.texts(now)
	}
	s.kept = clamp(s.kept, s.total)
	s.allFinished = t.planned && t.failed == 0 && t.interrupted == 0 && t.done >= t.files
	s.bytes = clamp(s.bytes, s.sendable())
	if s.allFinished && s.total >= 0 {
		// Every file succeeded: the run moved exactly the planned bytes
		// that were not on S3 already, whatever the engine's reports added
		// up to.
		s.bytes = s.sendable()
	}
	return s
}

// sendable is what this run has to send: the total less what was on S3
// already (-1 when unknown).
func (s snapshot) sendable() int64 {
	if s.total < 0 {
		return -1
	}
	return max(s.total-s.kept, 0)
}

// clamp keeps acknowledged bytes within [0, total] (total -1: no ceiling):
// a rollback never shows less than nothing, a double count never more
// than everything.
func clamp(n, total int64) int64 {
	if n < 0 {
		return 0
	}
	if total >= 0 && n > total {
		return total
	}
	return n
}

func (s snapshot) filesText() string {
	var b strings.Builder
	if s.planned {
		fmt.Fprintf(&b, "%d/%d files", s.done, s.files)
	} else {
		fmt.Fprintf(&b, "%d files", s.done)
	}
	if s.failed > 0 {
		fmt.Fprintf(&b, ", %d failed", s.failed)
	}
	if s.interrupted > 0 {
		fmt.Fprintf(&b, ", %d interrupted", s.interrupted)
	}
	return b.String()
}

// bytesText is "1.2 GiB / 4.0 GiB (30%)", or "1.2 GiB" when the total is
// unknown; the bytes on S3 from an earlier run count as done, and are
// named: "1.2 GiB / 4.0 GiB (30%, 512 MiB of it already on S3)".
func (s snapshot) bytesText() string {
	if s.total < 0 {
		return units.Bytes(s.bytes)
	}
	done := min(s.bytes+s.kept, s.total)
	if s.kept > 0 {
		return fmt.Sprintf("%s / %s (%d%%, %s of it already on S3)", units.Bytes(done), units.Bytes(s.total), percent(done, s.total), units.Bytes(s.kept))
	}
	return fmt.Sprintf("%s / %s (%d%%)", units.Bytes(done), units.Bytes(s.total), percent(done, s.total))
}

func percent(n, total int64) int64 {
	if total <= 0 {
		return 100
	}
	return min(100, n*100/total)
}

// printable makes message text safe for a terminal or a log line: control
// characters and invalid UTF-8 are shown escaped instead of being
// interpreted. Paths go through units.Path, which quotes them.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	q := fmt.Sprintf("%+q", s)
	return q[1 : len(q)-1]
}

// fileLine is the line a file event prints in plain mode (and above the
// bar), or "" when the event has none.
func fileLine(e transfer.Event, verbose bool) string {
	p := units.Path(e.Path)
	switch e.Kind {
	case transfer.FileUploaded:
		line := fmt.Sprintf("vidup: %s: uploaded", p)
		if e.Size >= 0 {
			line += " (" + units.Bytes(e.Size) + ")"
		}
		if e.Checksum != "" {
			line += ", " + printable(e.Checksum)
		}
		return line
	case transfer.FileRegistered:
		return fmt.Sprintf("vidup: %s: registered as video %s", p, printable(e.VideoID))
	case transfer.FileResumed, transfer.FileRestarted:
		return fmt.Sprintf("vidup: %s: %s", p, printable(e.Reason))
	case transfer.KeptOnS3:
		if verbose {
			return fmt.Sprintf("vidup: %s: resumed: %s already on S3", p, units.Bytes(e.Bytes))
		}
	case transfer.FileInterrupted:
		return fmt.Sprintf("vidup: %s: interrupted; S3 keeps what it has, and the next run continues it", p)
	case transfer.FileSkipped:
		if e.Reason == "" {
			return fmt.Sprintf("vidup: %s: skipped", p)
		}
		return fmt.Sprintf("vidup: %s: skipped: %s", p, printable(e.Reason))
	case transfer.FileFailed:
		msg := "failed"
		if e.Err != nil {
			msg = e.Err.Error()
		} else if e.Reason != "" {
			msg = e.Reason
		}
		if strings.HasPrefix(msg, p+" ") || strings.HasPrefix(msg, p+":") {
			// A problem found before the upload is a sentence that
			// names the file already ("x.mp4 does not exist; ...").
			return "vidup: " + printable(msg)
		}
		return fmt.Sprintf("vidup: %s: %s", p, printable(msg))
	case transfer.PartRetried, transfer.APIRetried:
		// What is retried, attempt n of m, why in a few words, and when
		// the next attempt starts.
		who := "vidup: "
		if e.Kind == transfer.PartRetried {
			who += p + ": "
		}
		line := fmt.Sprintf("%s%s: attempt %d", who, printable(retryWhat(e)), e.Attempt)
		if e.Attempts > 0 {
			line += fmt.Sprintf(" of %d", e.Attempts)
		}
		line += " failed"
		if cause := e.Reason; cause != "" {
			line += ": " + printable(cause)
		} else if e.Err != nil {
			line += ": " + printable(e.Err.Error())
		}
		return line + "; retrying in " + waitText(e.Wait)
	case transfer.CredentialsRefreshed:
		if verbose {
			return "vidup: temporary credentials refreshed"
		}
	}
	return ""
}
