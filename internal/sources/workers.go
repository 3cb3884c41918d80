package sources

import (
	"runtime"

	"github.com/vidup/vidup/internal/asset"
)

// Files are opened and inspected by a few workers while the walk goes on,
// so that probing thousands of small files does not keep the first upload
// waiting; the result keeps the walk's order (see settle).

// candidate is a file the walk or a named path reached, and what a worker
// found when it opened it.
type candidate struct {
	path, rel, from string
	explicit        bool
	at              int // the argument it comes from
	n               int // its place among the events

	opened     bool // fail is nil and id is set
	fail       error
	abs        string
	id         fileID
	tooRecent  *TooRecentError
	inspectErr error
	item       *asset.Item
}

// event is one thing met, in order: a file, stdin, a skip or a problem.
type event struct {
	file    *candidate
	stdin   *asset.Item
	skip    *Skip
	problem *Problem
}

// DefaultWorkers is a good Options.Workers: enough files at once to hide
// the latency of opening and reading them, not so many that they compete
// for the processors probing them.
func DefaultWorkers() int {
	return min(8, 2*runtime.GOMAXPROCS(0))
}

// testWorkerStart, when set by a test, runs first in each worker.
var testWorkerStart func()

// start starts the workers that open the candidates sent to e.work.
func (e *expander) start() {
	n := max(1, e.opts.Workers)
	e.work = make(chan *candidate, 4*n)
	e.done.Add(n)
	for range n {
		go func() {
			defer e.done.Done()
			if testWorkerStart != nil {
				testWorkerStart()
			}
			for c := range e.work {
				e.open(c)
			}
		}()
	}
}

// finish waits for the workers and adds the events to the result in order.
func (e *expander) finish() {
	close(e.work)
	e.done.Wait()
	for _, ev := range e.events {
		switch {
		case ev.file != nil:
			e.settle(ev.file)
		case ev.stdin != nil:
			e.res.Files = append(e.res.Files, ev.stdin)
		case ev.skip != nil:
			e.res.Skipped = append(e.res.Skipped, *ev.skip)
		case ev.problem != nil:
			e.res.Problems = append(e.res.Problems, *ev.problem)
		}
	}
	e.events = nil
}
