// Package retry is vidup's one retry policy: how often and how long a failed
// call is tried again, how long to wait between attempts (exponential
// backoff with full jitter, never shorter than the server's Retry-After),
// and a hook that shows each wait. What is worth retrying is not decided
// here: each caller passes a Classifier that knows its errors.
package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy bounds the retries of one call. It is a plain comparable value, so
// that a zero Policy can stand for "the default".
type Policy struct {
	// Retries is the number of attempts after the first; 0 means none.
	Retries int
	// Budget bounds the time one call may spend retrying: no wait starts
	// that would end after it. 0 means no bound.
	Budget time.Duration
	// BaseDelay is the first backoff ceiling; each next one doubles up to
	// MaxDelay. Tests shorten them (see Fast); production keeps Default's.
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

// Defaults of every command; the flags --retries and --retry-budget change
// the first two.
const (
	DefaultRetries   = 10
	DefaultBudget    = 10 * time.Minute
	DefaultBaseDelay = 500 * time.Millisecond
	DefaultMaxDelay  = 30 * time.Second
)

// Default is the policy of every command without flags: 11 attempts in all
// within 10 minutes.
func Default() Policy {
	return Policy{Retries: DefaultRetries, Budget: DefaultBudget, BaseDelay: DefaultBaseDelay, MaxDelay: DefaultMaxDelay}
}

// WithDelays returns p with other backoff delays: tests use it to keep real
// retries short; production never calls it.
func (p Policy) WithDelays(base, maxDelay time.Duration) Policy {
	p.BaseDelay, p.MaxDelay = base, maxDelay
	return p
}

// Class is what a failed attempt calls for.
type Class int

const (
	// Permanent errors are returned at once.
	Permanent Class = iota
	// Transient errors are tried again after a backoff.
	Transient
	// Immediate errors are tried again without waiting: the classifier
	// already fixed their cause (say, it refreshed expired credentials).
	// They count as attempts.
	Immediate
)

// Classifier decides what a failed attempt calls for. It is the one place a
// caller decides which of its errors are worth another attempt.
type Classifier interface {
	Classify(err error) Class
}

// ClassifierFunc adapts a function to Classifier.
type ClassifierFunc func(error) Class

// Classify calls f.
func (f ClassifierFunc) Classify(err error) Class { return f(err) }

// Waiter is an error that carries the wait its server asked for
// (Retry-After). Do finds it anywhere in the error's chain.
type Waiter interface {
	RetryDelay() time.Duration
}

// OnRetry is called before each wait: attempt is the number of the attempt
// that failed (1-based), wait how long Do sleeps before the next one.
type OnRetry func(attempt int, wait time.Duration, err error)

// ExhaustedError is a transient failure that outlasted the policy.
type ExhaustedError struct {
	Attempts int
	Elapsed  time.Duration
	Err      error // the last attempt's error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts in %s)", e.Err, e.Attempts, e.Elapsed)
}

func (e *ExhaustedError) Unwrap() error { return e.Err }

// Do runs op until it succeeds, fails permanently, the policy is spent or
// ctx ends. It returns nil; a permanent error as op returned it; an
// *ExhaustedError wrapping the last error when the attempts or the budget
// ran out; or, when ctx ended, the last error (ctx.Err() tells why).
func (p Policy) Do(ctx context.Context, c Classifier, onRetry OnRetry, op func(ctx context.Context) error) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		class := c.Classify(err)
		if class == Permanent {
			return err
		}
		elapsed := time.Since(start)
		var wait time.Duration
		if class == Transient {
			wait = p.Backoff(attempt, After(err))
		}
		if attempt > p.Retries || (p.Budget > 0 && elapsed+wait > p.Budget) {
			return &ExhaustedError{Attempts: attempt, Elapsed: elapsed.Round(time.Millisecond), Err: err}
		}
		if onRetry != nil {
			onRetry(attempt, wait, err)
		}
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Backoff is the wait after failed attempt number attempt (1-based):
// exponential backoff with full jitter, a uniform draw in (0, ceiling] where
// the ceiling doubles from BaseDelay up to MaxDelay, so that clients that
// failed together do not come back together. It is never shorter than
// retryAfter, the server's own request.
func (p Policy) Backoff(attempt int, retryAfter time.Duration) time.Duration {
	ceiling := max(p.BaseDelay, 0)
	for i := 1; i < attempt && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	if p.MaxDelay > 0 {
		ceiling = min(ceiling, p.MaxDelay)
	}
	var wait time.Duration
	if ceiling > 0 {
		wait = rand.N(ceiling) + 1
	}
	return max(wait, retryAfter)
}

// After is the wait err's server asked for, or 0.
func After(err error) time.Duration {
	for err != nil {
		if w, ok := err.(Waiter); ok {
			if d := w.RetryDelay(); d > 0 {
				return d
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if d := After(e); d > 0 {
					return d
				}
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}

// MaxAfter keeps an absurd Retry-After from overflowing arithmetic; a wait
// this long exceeds every sensible budget anyway.
const MaxAfter = 24 * time.Hour

// ParseAfter reads a Retry-After header, delay-seconds or an HTTP date, as a
// wait from now. Absent, past or unreadable values are 0.
func ParseAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(MaxAfter/time.Second) {
			return MaxAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxAfter)
	}
	return 0
}
