package progress

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/vidup/vidup/internal/transfer"
)

// bar draws a progress bar for a terminal.
//
// Progress arrives from many workers and may go down (a failed attempt is
// rolled back), which progressbar does not model: the renderer keeps its
// own counter (the tally) and sets the bar to it, clamped to [0, total].
//
// Redraws are throttled here rather than with progressbar's OptionThrottle,
// because that option also drops the draws the renderer must make at once:
// the lines above the bar and the final state at Close.
type bar struct {
	w        io.Writer
	verbose  bool
	throttle int64 // nanoseconds
	t        *tally

	lastDraw atomic.Int64 // unix nanoseconds of the last throttled draw

	mu     sync.Mutex // guards pb, closed and writes to w
	pb     *progressbar.ProgressBar
	closed bool
}

func newBar(w io.Writer, o options) *bar {
	return &bar{w: w, verbose: o.verbose, throttle: int64(o.throttle), t: newTally()}
}

// newProgressBar builds the bar; total -1 (or 0) gives a spinner that shows
// bytes and rate without a percentage.
func (b *bar) newProgressBar(total int64, desc string) *progressbar.ProgressBar {
	if total <= 0 {
		total = -1
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionShowCount(),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionEnableColorCodes(false),
		// Drawn at once, before progressbar's spinner goroutine starts, so
		// that goroutine never reads an unset start time.
		progressbar.OptionSetRenderBlankState(true),
	)
}

func (b *bar) description(s snapshot) string { return s.filesText() + " " }

// ensure creates the bar when it does not exist yet. Called with b.mu held.
func (b *bar) ensure() {
	if b.pb != nil || b.closed {
		return
	}
	s := b.t.snapshot()
	b.pb = b.newProgressBar(s.total, b.description(s))
	if s.bytes > 0 {
		b.pb.Set64(s.bytes)
	}
}

// Event implements transfer.Observer.
func (b *bar) Event(e transfer.Event) {
	changed := b.t.event(e)
	line := ""
	switch e.Kind {
	case transfer.FileFailed:
		line = fileLine(e, true)
	case transfer.PartRetried, transfer.CredentialsRefreshed, transfer.FileUploaded, transfer.FileRegistered, transfer.FileSkipped:
		if b.verbose {
			line = fileLine(e, true)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if e.Kind == transfer.Planned {
		b.ensure()
	}
	if line != "" {
		b.printAbove(line)
	}
	if changed && b.pb != nil {
		b.pb.Describe(b.description(b.t.snapshot()))
	}
}

// printAbove prints line above the bar: the bar is cleared, the line
// printed, the bar drawn again below it. Called with b.mu held.
func (b *bar) printAbove(line string) {
	switch {
	case b.pb == nil:
		fmt.Fprintln(b.w, line)
	case b.pb.IsFinished():
		// A finished bar no longer buffers lines: clear it by hand, and
		// Describe draws it again.
		b.pb.Clear()
		fmt.Fprintln(b.w, line)
		b.pb.Describe(b.description(b.t.snapshot()))
	default:
		// Bprintln queues the line under the bar's own lock (its spinner
		// goroutine draws concurrently); the next draw clears the bar,
		// writes the line and redraws.
		progressbar.Bprintln(b.pb, line)
		b.pb.Add64(0)
	}
}

// Progress implements transfer.Observer.
func (b *bar) Progress(_ string, delta int64) {
	b.t.bytes.Add(delta)
	now := time.Now().UnixNano()
	last := b.lastDraw.Load()
	if now-last < b.throttle || !b.lastDraw.CompareAndSwap(last, now) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.ensure()
	b.pb.Set64(b.t.snapshot().bytes)
}

// Close implements Renderer: it draws the final state (exactly the total
// when every file succeeded) and ends the line.
func (b *bar) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	s := b.t.snapshot()
	if b.pb == nil && !s.planned && s.bytes == 0 && s.done == 0 && s.failed == 0 {
		b.closed = true
		return
	}
	b.ensure()
	b.closed = true
	b.pb.Describe(b.description(s))
	if s.total > 0 {
		b.pb.Set64(s.bytes)
	} else {
		// Finish stops the spinner's goroutine; the bytes stay as counted.
		b.pb.Set64(s.bytes)
		b.pb.Finish()
	}
	b.pb.Exit()
	fmt.Fprintln(b.w)
	if !s.allFinished {
		fmt.Fprintln(b.w, finalLine(s))
	}
}
