package progress

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
)

// plain writes lines for logs: what changed every interval, one line per
// file event, a final line at Close.
type plain struct {
	w           io.Writer
	verbose     bool
	noFinalLine bool
	t           *tally

	mu     sync.Mutex // guards w, last and closed
	last   sample
	closed bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// sample is what the previous progress line showed.
type sample struct {
	at           time.Time
	bytes        int64
	done, failed int
}

func newPlain(w io.Writer, o options) *plain {
	p := &plain{w: w, verbose: o.verbose, noFinalLine: o.noFinalLine, t: newTally(), stop: make(chan struct{}), done: make(chan struct{})}
	p.last.at = p.t.start
	go p.loop(o.interval)
	return p
}

func (p *plain) loop(interval time.Duration) {
	defer close(p.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			p.tick(now)
		}
	}
}

// Event implements transfer.Observer.
func (p *plain) Event(e transfer.Event) {
	p.t.event(e)
	var line string
	if e.Kind == transfer.Planned {
		files := "files"
		if e.Files == 1 {
			files = "file"
		}
		if e.Size >= 0 {
			line = fmt.Sprintf("vidup: %d %s, %s to upload", e.Files, files, units.Bytes(e.Size))
		} else {
			line = fmt.Sprintf("vidup: %d %s, size unknown (stdin)", e.Files, files)
		}
	} else {
		line = fileLine(e, p.verbose)
	}
	if line == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		fmt.Fprintln(p.w, line)
	}
}

// Progress implements transfer.Observer.
func (p *plain) Progress(_ string, delta int64) { p.t.progress(delta) }

// Println implements Printer.
func (p *plain) Println(w io.Writer, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(w, line)
}

// tick writes a progress line when something changed since the last one.
func (p *plain) tick(now time.Time) {
	s := p.t.snapshot()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || (s.bytes == p.last.bytes && s.done == p.last.done && s.failed == p.last.failed) {
		return
	}
	line := "vidup: " + s.bytesText()
	var rate float64
	if dt := now.Sub(p.last.at).Seconds(); dt > 0 && s.bytes > p.last.bytes {
		rate = float64(s.bytes-p.last.bytes) / dt
	}
	line += fmt.Sprintf(", %s/s, %s", units.Bytes(int64(rate)), s.filesText())
	if s.total >= 0 && rate > 0 && s.bytes < s.total {
		line += ", eta " + units.Duration(time.Duration(float64(s.total-s.bytes)/rate*float64(time.Second)))
	}
	fmt.Fprintln(p.w, line)
	p.last = sample{at: now, bytes: s.bytes, done: s.done, failed: s.failed}
}

// Close implements Renderer: it stops the timer and writes the final line.
func (p *plain) Close() {
	p.closeOnce.Do(p.close)
}

func (p *plain) close() {
	close(p.stop)
	<-p.done
	s := p.t.snapshot()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.noFinalLine || !s.planned && s.bytes == 0 && s.done == 0 && s.failed == 0 {
		return
	}
	fmt.Fprintln(p.w, finalLine(s))
}

// finalLine sums a run up: "vidup: done: 4.0 GiB / 4.0 GiB (100%), 7/7
// files in 1m02s, 65 MiB/s".
func finalLine(s snapshot) string {
	word := "done"
	if !s.allFinished {
		word = "incomplete"
	}
	line := fmt.Sprintf("vidup: %s: %s, %s in %s", word, s.bytesText(), s.filesText(), units.Duration(s.elapsed))
	// The rate is of the bytes sent in this run only.
	if secs := s.elapsed.Seconds(); secs > 0 && s.bytes > 0 {
		line += ", " + units.Bytes(int64(float64(s.bytes)/secs)) + "/s"
	}
	return line
}
