package transfer

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Retry settles how often and how long a failed S3 request is tried again.
type Retry struct {
	// Attempts after the first; 0 means none.
	Retries int
	// Budget bounds the time one request may spend retrying.
	Budget time.Duration
	// BaseDelay is the first wait; each next one doubles up to MaxDelay,
	// with full jitter. Tests shorten them; production uses the defaults.
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

// DefaultRetry is what vidup upload uses without flags.
var DefaultRetry = Retry{Retries: 10, Budget: 10 * time.Minute, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second}

// class is what a failed request calls for.
type class int

const (
	permanent class = iota
	transient
	// refreshCredentials: S3 found the temporary credentials expired; fetch
	// new ones and try again.
	refreshCredentials
)

// classify is the one place that decides whether an S3 error is worth
// another attempt. The SDK's own retryer is off for every S3 call (see
// newS3Client), so attempts never multiply.
func classify(err error) class {
	if err == nil {
		return permanent
	}
	if errors.Is(err, errFileChanged) || errors.Is(err, context.Canceled) {
		return permanent
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ExpiredToken", "TokenRefreshRequired", "ExpiredTokenException":
			return refreshCredentials
		case "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError",
			"ServiceUnavailable", "Throttling", "ThrottlingException", "RequestThrottled",
			"BadDigest", "XAmzContentChecksumMismatch", "IncompleteBody", "OperationAborted":
			return transient
		}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusNotImplemented:
			// 501: the store does not implement the request (a checksum
			// mode, an operation); another attempt gets the same answer.
			return permanent
		case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
			return transient
		default:
			return permanent
		}
	}
	// No answer from S3: the connection failed, was cut, or timed out.
	var se *smithyhttp.RequestSendError
	var ne net.Error
	switch {
	case errors.As(err, &se), errors.As(err, &ne),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, errStalled):
		return transient
	}
	return permanent
}

// retryAfter is the wait S3 (or a proxy) asked for, if any.
func retryAfter(err error) time.Duration {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0
	}
	s := re.Response.Header.Get("Retry-After")
	if s == "" {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(s); err == nil {
		return time.Until(t)
	}
	return 0
}

// backoff is the wait before retry number attempt (1-based): exponential
// with full jitter, never shorter than what the server asked for.
func (r Retry) backoff(attempt int, err error) time.Duration {
	d := r.BaseDelay
	for i := 1; i < attempt && d < r.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, r.MaxDelay)
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	if ra := retryAfter(err); ra > d {
		d = min(ra, max(r.MaxDelay, time.Second))
	}
	return d
}

// retryHooks lets do report what it does.
type retryHooks struct {
	// refresh invalidates the credentials after ExpiredToken.
	refresh func()
	// onRetry is called before each wait.
	onRetry func(attempt int, wait time.Duration, err error)
}

// do runs op until it succeeds, fails permanently, or the count or the time
// budget is spent. It returns the last error.
func (r Retry) do(ctx context.Context, h retryHooks, op func(ctx context.Context) error) error {
	start := time.Now()
	refreshed := 0
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		c := classify(err)
		if c == permanent {
			return err
		}
		if c == refreshCredentials {
			// A refresh that does not help twice in a row is not transient.
			refreshed++
			if refreshed > 2 || h.refresh == nil {
				return err
			}
			h.refresh()
		}
		if attempt > r.Retries {
			return err
		}
		wait := r.backoff(attempt, err)
		if c == refreshCredentials {
			wait = 0
		}
		if r.Budget > 0 && time.Since(start)+wait > r.Budget {
			return err
		}
		if h.onRetry != nil {
			h.onRetry(attempt, wait, err)
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
