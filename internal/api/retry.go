package api

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the retries of one call. Zero fields take the defaults.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, the first included (default 6)
	MaxElapsed  time.Duration // no new attempt would start after this (default 2 min)
	BaseDelay   time.Duration // the backoff's first ceiling (default 500 ms)
	MaxDelay    time.Duration // the backoff's largest ceiling (default 20 s)
}

// DefaultRetryPolicy is the policy of a client built without WithRetry.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 6, MaxElapsed: 2 * time.Minute, BaseDelay: 500 * time.Millisecond, MaxDelay: 20 * time.Second}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p
}

// next returns the wait before the attempt after `attempts` failed ones, or
// false when the policy is spent. The wait is exponential backoff with full
// jitter (so that many clients that failed together do not come back
// together), but never shorter than the server's Retry-After.
func (p RetryPolicy) next(attempts int, elapsed, retryAfter time.Duration) (time.Duration, bool) {
	if attempts >= p.MaxAttempts {
		return 0, false
	}
	ceiling := p.MaxDelay
	if shift := attempts - 1; shift < 32 {
		if d := p.BaseDelay << shift; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	wait := time.Duration(rand.Int64N(int64(ceiling))) + 1
	if retryAfter > wait {
		wait = retryAfter
	}
	if elapsed+wait > p.MaxElapsed {
		return 0, false
	}
	return wait, true
}

// maxRetryAfter keeps an absurd header from overflowing arithmetic; any
// value this large exceeds every sensible MaxElapsed anyway.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 {
			return 0
		}
		return min(d, maxRetryAfter)
	}
	return 0
}
