package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/units"
)

// defaultWaitTimeout bounds --wait: encoding a long recording takes a while,
// an hour is generous, and a pipeline that never answers must not hold a
// cron slot forever.
const defaultWaitTimeout = time.Hour

// waitPoll is how often --wait asks the API: first after first, then each
// wait grows by half, up to max. Tests shorten it.
type waitPoll struct{ first, max time.Duration }

var defaultWaitPoll = waitPoll{first: time.Second, max: 15 * time.Second}

// videoGetter reads a video's status: *api.Client, or a fake in tests.
type videoGetter interface {
	GetVideo(ctx context.Context, videoID string) (*contract.Video, error)
}

// waitTarget is one video --wait follows, with what the API said last.
type waitTarget struct {
	entry   *runEntry
	videoID string
	status  string // "" until the first answer
	err     string // the pipeline's error text, with failed
}

func (t *waitTarget) done() bool {
	return t.status == contract.StatusReady || t.status == contract.StatusFailed
}

// waitOutcome is how --wait ended.
type waitOutcome struct {
	// unreported: the API does not report processing status (a plain v1
	// server), so nothing was waited for.
	unreported bool
	ready      int
	failed     int
	// pending are the videos neither ready nor failed when the time ran
	// out; timedOut says it did.
	pending  []*waitTarget
	timedOut bool
}

// waitForVideos polls each target until it is ready or failed, calling
// show on every change of state, and stops at timeout. An error is the
// API's (after the one retry policy) or the interruption of ctx.
func waitForVideos(ctx context.Context, g videoGetter, targets []*waitTarget, timeout time.Duration, poll waitPoll, show func(*waitTarget)) (waitOutcome, error) {
	var out waitOutcome
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	interval := poll.first
poll:
	for {
		pending := 0
		for _, t := range targets {
			if t.done() {
				continue
			}
			v, err := g.GetVideo(wctx, t.videoID)
			if err != nil {
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				if wctx.Err() != nil {
					pending++
					continue
				}
				if notReported(err) {
					return waitOutcome{unreported: true}, nil
				}
				return out, fmt.Errorf("%s: %w", units.Path(t.entry.item.Path), err)
			}
			if v.Status == "" {
				return waitOutcome{unreported: true}, nil
			}
			if v.Status != t.status || v.Error != t.err {
				t.status, t.err = v.Status, v.Error
				show(t)
			}
			if !t.done() {
				pending++
			}
		}
		if pending == 0 {
			break poll
		}
		timer := time.NewTimer(interval)
		select {
		case <-timer.C:
		case <-wctx.Done():
			timer.Stop()
		}
		if wctx.Err() != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			out.timedOut = true
			break poll
		}
		interval = min(interval+interval/2, poll.max)
	}
	for _, t := range targets {
		switch t.status {
		case contract.StatusReady:
			out.ready++
		case contract.StatusFailed:
			out.failed++
		default:
			out.pending = append(out.pending, t)
		}
	}
	return out, nil
}

// notReported is an answer of a server without GET of one video (a plain
// v1 server, contract sections 1-3 only): 404 for a video the run just
// registered, 405 or 501.
func notReported(err error) bool {
	var se *api.StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

// waitLine is the plain line --wait shows on a change of state.
func waitLine(t *waitTarget) string {
	path := units.Path(t.entry.item.Path)
	id := units.Text(t.videoID)
	if t.status == contract.StatusFailed {
		reason := "the pipeline gave no reason"
		if t.err != "" {
			reason = units.Text(t.err)
		}
		return fmt.Sprintf("vidup: %s: video %s failed processing: %s", path, id, reason)
	}
	return fmt.Sprintf("vidup: %s: video %s is %s", path, id, units.Text(t.status))
}

// waitTargets are the videos this run registered.
func waitTargets(entries []*runEntry) []*waitTarget {
	var ts []*waitTarget
	for _, e := range entries {
		if e.result != nil && e.result.Err == nil && e.result.VideoID != "" && e.skip == "" && e.problem == nil {
			ts = append(ts, &waitTarget{entry: e, videoID: e.result.VideoID})
		}
	}
	return ts
}

// waitError is the exit of a wait that did not end with every video ready:
// ExitProcessingFailed when the pipeline failed one, else ExitWaitTimeout
// when time ran out.
func waitError(out waitOutcome, timeout time.Duration) error {
	total := out.ready + out.failed + len(out.pending)
	switch {
	case out.failed > 0:
		return &exitError{code: ExitProcessingFailed, err: fmt.Errorf("%d of %d %s failed processing", out.failed, total, plural(total, "video", "videos"))}
	case out.timedOut && len(out.pending) > 0:
		var names []string
		for i, t := range out.pending {
			if i == 3 {
				names = append(names, fmt.Sprintf("and %d more", len(out.pending)-3))
				break
			}
			state := t.status
			if state == "" {
				state = "no answer"
			}
			names = append(names, fmt.Sprintf("%s: %s", units.Path(t.entry.item.Path), units.Text(state)))
		}
		return &exitError{code: ExitWaitTimeout, err: fmt.Errorf("--wait-timeout %s: %d of %d %s not processed yet (%s); they stay registered and processing goes on, raise --wait-timeout to wait longer",
			timeout, len(out.pending), total, plural(total, "video", "videos"), strings.Join(names, ", "))}
	}
	return nil
}
