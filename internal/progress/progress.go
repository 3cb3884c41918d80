// Package progress renders the upload engine's events (transfer.Observer)
// for people and for scripts:
//
//   - bar: a progress bar for a terminal (bytes with IEC units, rate, ETA,
//     files done/total), with per-file failure lines printed above it;
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
	o := options{interval: 5 * time.Second, throttle: 100 * time.Millisecond}
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

type none struct{}

func (none) Event(transfer.Event)   {}
func (none) Progress(string, int64) {}
func (none) Close()                 {}

// tally is what bar and plain both know of a run.
type tally struct {
	bytes atomic.Int64 // acknowledged bytes, rollbacks included

	mu      sync.Mutex // guards the rest
	start   time.Time
	planned bool
	total   int64 // -1 when unknown
	files   int
	done    int // registered or skipped
	failed  int
	ended   map[string]bool // files counted in done or failed
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
	case transfer.FileRegistered, transfer.FileSkipped, transfer.FileFailed:
		if t.ended[e.Path] {
			return false
		}
		t.ended[e.Path] = true
		if e.Kind == transfer.FileFailed {
			t.failed++
		} else {
			t.done++
		}
		return true
	}
	return false
}

type snapshot struct {
	bytes, total         int64
	files, done, failed  int
	planned, allFinished bool
	elapsed              time.Duration
}

func (t *tally) snapshot() snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := snapshot{
		bytes: t.bytes.Load(), total: t.total, files: t.files, done: t.done, failed: t.failed,
		planned: t.planned, elapsed: time.Since(t.start),
	}
	s.allFinished = t.planned && t.failed == 0 && t.done >= t.files
	s.bytes = clamp(s.bytes, s.total)
	if s.allFinished && s.total >= 0 {
		// Every file succeeded: the run moved exactly the planned bytes,
		// whatever the engine's reports added up to.
		s.bytes = s.total
	}
	return s
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
	return b.String()
}

// bytesText is "1.2 GiB / 4.0 GiB (30%)", or "1.2 GiB" when the total is
// unknown.
func (s snapshot) bytesText() string {
	if s.total < 0 {
		return units.Bytes(s.bytes)
	}
	return fmt.Sprintf("%s / %s (%d%%)", units.Bytes(s.bytes), units.Bytes(s.total), percent(s.bytes, s.total))
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
		return fmt.Sprintf("vidup: %s: %s", p, printable(msg))
	case transfer.PartRetried:
		msg := ""
		if e.Err != nil {
			msg = ": " + e.Err.Error()
		}
		return fmt.Sprintf("vidup: %s: part %d, attempt %d failed%s; retrying in %s", p, e.Part, e.Attempt, printable(msg), e.Wait.Round(time.Millisecond))
	case transfer.CredentialsRefreshed:
		if verbose {
			return "vidup: temporary credentials refreshed"
		}
	}
	return ""
}
