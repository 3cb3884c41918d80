package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
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
//
// The bar counts only the bytes sent in this run, against what this run has
// to send: bytes an earlier run left on S3 are named in the description,
// never added to the bar, so that its rate is the rate of this run. A
// ticker redraws it every second when nothing else does, so that its
// elapsed time and the countdown of a retry keep moving.
type bar struct {
	w           io.Writer
	verbose     bool
	noResults   bool
	noFinalLine bool
	throttle    int64 // nanoseconds
	t           *tally

	lastDraw atomic.Int64 // unix nanoseconds of the last throttled draw

	mu     sync.Mutex // guards pb, max, closed and writes to w
	pb     *progressbar.ProgressBar
	max    int64 // the bar's max, as last set
	closed bool

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newBar(w io.Writer, o options) *bar {
	b := &bar{w: w, verbose: o.verbose, noResults: o.noResults, noFinalLine: o.noFinalLine,
		throttle: int64(o.throttle), t: newTally(), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop(o.tick)
	return b
}

// loop redraws the bar every tick until Close.
func (b *bar) loop(tick time.Duration) {
	defer close(b.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.mu.Lock()
			if b.pb != nil && !b.closed {
				b.redraw()
			}
			b.mu.Unlock()
		}
	}
}

// redraw sets the bar to the tally and draws it. Called with b.mu held.
func (b *bar) redraw() {
	s := b.t.snapshot()
	// The max follows what is left to send. When an earlier run left all of
	// it on S3 there is nothing: the bar shows bytes and rate without a
	// percentage, as for an unknown size, rather than 0% of the file.
	switch m := s.sendable(); {
	case m > 0 && m != b.max:
		b.max = m
		b.pb.ChangeMax64(m)
	case m == 0 && b.max > 0:
		b.max = -1
		b.pb.ChangeMax64(-1)
	}
	b.pb.Describe(b.description(s))
	b.pb.Set64(s.bytes)
}

// barMax is the bar's max: what this run has to send, -1 when unknown.
func barMax(s snapshot) int64 {
	if m := s.sendable(); m > 0 {
		return m
	}
	return -1
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

// description is what the bar shows before itself: the files, what was on
// S3 already, and the retry the run is waiting on.
func (b *bar) description(s snapshot) string {
	d := s.filesText()
	if s.kept > 0 {
		d += ", resumed: " + units.Bytes(s.kept) + " already on S3"
	}
	// The bar, its counts and times need about 40 columns; a description
	// that does not leave them wraps, and every redraw then adds a line.
	room := 1 << 20
	if w := b.width(); w > 0 {
		room = max(w-42, 20)
	}
	for i, wt := range s.wait {
		if t := d + "; " + printable(wt); utf8.RuneCountInString(t) <= room || i == len(s.wait)-1 {
			d = t
			break
		}
	}
	return shorten(d, room) + " "
}

// width is the terminal's width in columns, 0 when unknown.
func (b *bar) width() int {
	if f, ok := b.w.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			return w
		}
	}
	return 0
}

// ensure creates the bar when it does not exist yet. Called with b.mu held.
func (b *bar) ensure() {
	if b.pb != nil || b.closed {
		return
	}
	s := b.t.snapshot()
	b.max = barMax(s)
	b.pb = b.newProgressBar(b.max, b.description(s))
	if s.bytes > 0 {
		b.pb.Set64(s.bytes)
	}
}

// Event implements transfer.Observer.
func (b *bar) Event(e transfer.Event) {
	changed := b.t.event(e)
	line := ""
	switch e.Kind {
	case transfer.FileFailed, transfer.FileInterrupted, transfer.FileResumed, transfer.FileRestarted:
		line = fileLine(e, true)
	case transfer.FileRegistered:
		if !b.noResults || b.verbose {
			line = fileLine(e, true)
		}
	case transfer.PartRetried, transfer.APIRetried, transfer.CredentialsRefreshed, transfer.FileUploaded, transfer.FileSkipped, transfer.KeptOnS3:
		// The bar's description shows the retry waited on; the lines are
		// for -v.
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
		b.redraw()
	}
}

// Println implements Printer: line goes to w (stdout or stderr) above the
// bar, never inside it.
func (b *bar) Println(w io.Writer, line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.pb == nil || b.closed:
		fmt.Fprintln(w, line)
	case w == b.w:
		b.printAbove(line)
	default:
		// Another stream, on the same terminal maybe: clear the bar, write
		// the line, draw the bar again.
		b.pb.Clear()
		fmt.Fprintln(w, line)
		b.redraw()
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
	b.t.progress(delta)
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
	b.redraw()
}

// Close implements Renderer: it draws the final state (exactly the total
// when every file succeeded) and ends the line.
func (b *bar) Close() {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	s := b.t.snapshot()
	s.wait = nil
	if b.pb == nil && !s.planned && s.bytes == 0 && s.done == 0 && s.failed == 0 {
		b.closed = true
		return
	}
	b.ensure()
	b.closed = true
	b.pb.Describe(b.description(s))
	if b.max > 0 {
		b.pb.Set64(s.bytes)
	} else {
		// Finish stops the spinner's goroutine; the bytes stay as counted.
		b.pb.Set64(s.bytes)
		b.pb.Finish()
	}
	b.pb.Exit()
	fmt.Fprintln(b.w)
	if !s.allFinished && !b.noFinalLine {
		fmt.Fprintln(b.w, finalLine(s))
	}
}
