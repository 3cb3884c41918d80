package transfer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/vidup/vidup/internal/retry"
)

// Retry settles how often and how long a failed S3 request is tried again.
// It is retry.Policy under the engine's name: convert freely between them.
type Retry retry.Policy

// DefaultRetry is what every command uses without flags (retry.Default).
var DefaultRetry = Retry(retry.Default())

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
	// An endpoint that does not speak TLS, or whose certificate this
	// machine does not trust, answers the same way every time.
	if notTLS(err) {
		return permanent
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

// notTLS reports a TLS handshake that cannot succeed: the server is not a
// TLS server (an https:// URL of an http:// endpoint), or its certificate
// is not one this machine trusts.
func notTLS(err error) bool {
	var rh tls.RecordHeaderError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var vf *tls.CertificateVerificationError
	return errors.As(err, &rh) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &vf) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// keyRefused reports whether S3 refused the request's credentials: what
// MinIO and S3 answer for a key that expired (InvalidAccessKeyId,
// ExpiredToken, AccessDenied, a signature of a key it no longer knows) as
// well as for one that was never good. Which of the two it is, classify
// cannot know; the session's Expiry hook (retryHooks.expiring) can.
func keyRefused(err error) bool {
	switch errorCode(err) {
	case "InvalidAccessKeyId", "AccessDenied", "Forbidden", "ExpiredToken", "ExpiredTokenException",
		"SignatureDoesNotMatch", "InvalidToken", "TokenRefreshRequired":
		return true
	}
	return false
}

// expiringKeyError is a refusal of credentials that were near or past
// their expiry, which refreshing did not cure within the retries: the
// upload is kept for a later run (Resumable), never aborted.
type expiringKeyError struct{ error }

func (e *expiringKeyError) Error() string {
	return e.error.Error() + " (the session's credentials were near or past their expiry)"
}
func (e *expiringKeyError) Unwrap() error { return e.error }

// retryAfter is the wait S3 (or a proxy) asked for, if any.
func retryAfter(err error) time.Duration {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0
	}
	return retry.ParseAfter(re.Response.Header.Get("Retry-After"), time.Now())
}

// afterError carries S3's Retry-After to the policy.
type afterError struct {
	error
	after time.Duration
}

func (e afterError) RetryDelay() time.Duration { return e.after }
func (e afterError) Unwrap() error             { return e.error }

// retryHooks lets do report what it does.
type retryHooks struct {
	// refresh invalidates the credentials after ExpiredToken.
	refresh func()
	// expiring is the classifier's second opinion on a refused key
	// (keyRefused), kept apart from classify: it reports whether the
	// credentials of a request sent at sent may have expired (near or past
	// their Expiration, allowing for clock skew, or replaced since). Then
	// the refusal means refresh and retry, and at worst keep the upload;
	// never abort it. Nil: no such knowledge (static keys, tests).
	expiring func(sent time.Time) bool
	// onRetry is called before each wait.
	onRetry func(attempt int, wait time.Duration, err error)
}

// do runs op under the policy until it succeeds, fails permanently, or the
// count or the time budget is spent. It returns the last error as op
// returned it.
func (r Retry) do(ctx context.Context, h retryHooks, op func(ctx context.Context) error) error {
	refreshed := 0
	var sent time.Time
	expiredKey := false
	classifier := retry.ClassifierFunc(func(err error) retry.Class {
		c := classify(err)
		if keyRefused(err) && h.expiring != nil && h.expiring(sent) {
			c, expiredKey = refreshCredentials, true
		}
		switch c {
		case transient:
			return retry.Transient
		case refreshCredentials:
			// A refresh that does not help twice in a row is not transient.
			refreshed++
			if refreshed > 2 || h.refresh == nil {
				return retry.Permanent
			}
			h.refresh()
			return retry.Immediate
		}
		return retry.Permanent
	})
	err := retry.Policy(r).Do(ctx, classifier, h.onRetry, func(ctx context.Context) error {
		sent = time.Now()
		err := op(ctx)
		if ra := retryAfter(err); ra > 0 {
			return afterError{err, ra}
		}
		return err
	})
	// The engine's messages name the failure, not the policy: unwrap what
	// the policy added.
	var ex *retry.ExhaustedError
	if errors.As(err, &ex) {
		err = ex.Err
	}
	var ae afterError
	if errors.As(err, &ae) {
		err = ae.error
	}
	if err != nil && expiredKey && keyRefused(err) {
		err = &expiringKeyError{err}
	}
	return err
}
