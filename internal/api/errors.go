package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/retry"
)

// ErrNoToken means the client was built without a token.
var ErrNoToken = errors.New("no API token")

// URLError is an API URL the client cannot use: not an absolute http(s)
// URL, or one with a query or fragment (it must be the API's base URL).
type URLError struct {
	URL             string // as given, without password when it parsed
	QueryOrFragment bool
}

func (e *URLError) Error() string {
	if e.QueryOrFragment {
		return fmt.Sprintf("the API URL %s has a query or fragment", e.URL)
	}
	return fmt.Sprintf("the API URL %q is not an absolute http(s) URL", e.URL)
}

// StatusError is an answer outside 2xx.
type StatusError struct {
	Op         string        // what the client was doing, e.g. OpRegisterVideo
	URL        string        // the API's base URL (without password)
	Status     int           // the HTTP status
	Message    string        // the server's `error` text, or a description of the body
	RetryAfter time.Duration // from the Retry-After header; 0 when absent
	HTML       bool          // the body was an HTML page: likely not the API at all
	// S3Code is set when the answer was S3's XML error document (its
	// Code): the URL points at an S3 endpoint, not at the API.
	S3Code string
	// Redirect: a 3xx, which the client does not follow (contract section
	// 4); Location is where it pointed, made printable ("" when absent).
	Redirect bool
	Location string
	// RequestID is the answer's X-Request-Id, the key to the server's log
	// lines about the request; "" when the server sent none.
	RequestID string
}

// Error is the text, with the request id when the server gave one, so that
// the API's operator can find the request in its log.
func (e *StatusError) Error() string {
	if e.RequestID != "" {
		return e.text() + " (request id " + e.RequestID + ")"
	}
	return e.text()
}

func (e *StatusError) text() string {
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	switch {
	case e.S3Code != "":
		return fmt.Sprintf("%s: %s answered %d %s with S3's XML error %s, not the API's JSON: it is an S3 endpoint, not the upload API", e.Op, e.URL, e.Status, http.StatusText(e.Status), e.Message)
	case e.Redirect && e.Location != "":
		return fmt.Sprintf("%s: the API at %s answered %d %s, a redirect to %s, which vidup does not follow (the token goes to the API URL only)", e.Op, e.URL, e.Status, http.StatusText(e.Status), e.Location)
	case e.Redirect:
		return fmt.Sprintf("%s: the API at %s answered %d %s, a redirect without Location, which vidup does not follow", e.Op, e.URL, e.Status, http.StatusText(e.Status))
	case e.Status == http.StatusUnauthorized:
		return fmt.Sprintf("%s: the API refused the token (401)%s", e.Op, msg)
	case e.Status == http.StatusForbidden:
		return fmt.Sprintf("%s: the API denied this token access (403)%s", e.Op, msg)
	case e.HTML:
		return fmt.Sprintf("%s: the API at %s answered %d %s with an HTML page, not the API's JSON", e.Op, e.URL, e.Status, http.StatusText(e.Status))

	case e.Status == http.StatusNotFound && e.Op == OpRefreshCredentials:
		return fmt.Sprintf("%s: the API at %s no longer knows this upload session (404)%s; it cannot resume: run the upload again to start it over", e.Op, e.URL, msg)
	case e.Status == http.StatusNotFound:
		return fmt.Sprintf("%s: the API at %s answered 404 Not Found%s", e.Op, e.URL, msg)
	}
	return fmt.Sprintf("%s: the API at %s answered %d %s%s", e.Op, e.URL, e.Status, http.StatusText(e.Status), msg)
}

// StatusCode is the HTTP status of the answer.
func (e *StatusError) StatusCode() int { return e.Status }

// AuthFailure reports whether the API refused the token (401 or 403). S3
// refusing an unsigned request is not the API refusing the token.
func (e *StatusError) AuthFailure() bool {
	return e.S3Code == "" && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// WrongURL reports whether the answer suggests the URL points at something
// other than the API's base URL: an HTML page, a redirect, or a 404 outside
// refresh.
func (e *StatusError) WrongURL() bool {
	return e.HTML || e.Redirect || e.S3Code != "" || e.Status == http.StatusNotFound && e.Op != OpRefreshCredentials
}

// Is makes a 404 on refresh match contract.ErrSessionGone.
func (e *StatusError) Is(target error) bool {
	return target == contract.ErrSessionGone && e.Status == http.StatusNotFound && e.Op == OpRefreshCredentials
}

// BadAnswerError is a 2xx answer the client cannot use: not JSON, invalid
// JSON, missing fields, expired credentials. Retrying does not help.
type BadAnswerError struct {
	Op      string
	URL     string
	Problem string // completes "answered with …"
	// Clock is set when the answer is fine but for its time: the
	// credentials expired before they arrived, so the clocks disagree.
	Clock bool
}

func (e *BadAnswerError) Error() string {
	return fmt.Sprintf("%s: the API at %s answered with %s", e.Op, e.URL, e.Problem)
}

// NetworkError is a failure to reach the API (Reading false) or to read
// its answer (Reading true).
type NetworkError struct {
	Op, URL string
	Reading bool
	Err     error
}

func (e *NetworkError) Error() string {
	if e.Reading {
		return fmt.Sprintf("%s: the connection to the API at %s broke while reading its answer: %v", e.Op, e.URL, e.Err)
	}
	if e.PlainHTTP() {
		return fmt.Sprintf("%s: the API at %s does not answer in TLS (%v)", e.Op, e.URL, e.Err)
	}
	if e.NotTLS() {
		return fmt.Sprintf("%s: the API at %s has a certificate this machine does not trust: %v", e.Op, e.URL, e.Err)
	}
	return fmt.Sprintf("%s: the API at %s is not answering: %v", e.Op, e.URL, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// NotTLS reports a TLS handshake that cannot succeed: the server does not
// speak TLS (an https:// URL of an http:// API: "first record does not
// look like a TLS handshake"), or its certificate is not trusted here.
// Retrying gets the same answer.
func (e *NetworkError) NotTLS() bool {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var vf *tls.CertificateVerificationError
	return e.PlainHTTP() || errors.As(e.Err, &ua) || errors.As(e.Err, &he) || errors.As(e.Err, &ci) || errors.As(e.Err, &vf)
}

// PlainHTTP reports an https:// URL of a server that answers plain HTTP.
// net/http reports it in words of its own, which it does not wrap.
func (e *NetworkError) PlainHTTP() bool {
	var rh tls.RecordHeaderError
	return errors.As(e.Err, &rh) || strings.Contains(e.Err.Error(), "server gave HTTP response to HTTPS client")
}

// Refused reports a connection refused, or a host name that does not
// resolve: nothing answers at the URL (yet). Transient, since an API may
// be restarting, but more retries rarely cure a wrong URL.
func (e *NetworkError) Refused() bool {
	var dns *net.DNSError
	return errors.Is(e.Err, syscall.ECONNREFUSED) || errors.As(e.Err, &dns) && dns.IsNotFound
}

// Retryable reports whether err is transient: a network error or a 408,
// 429, 500, 502, 503 or 504 answer. An error that already went through the
// retry policy is not: retrying it again would multiply the retries.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var gu *retry.ExhaustedError
	if errors.As(err, &gu) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		if se.S3Code != "" {
			return false
		}
		switch se.Status {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ne *NetworkError
	if errors.As(err, &ne) {
		// The caller's own cancellation is checked before this; anything
		// else that broke the connection (timeouts included) is transient,
		// but for a TLS handshake that cannot succeed.
		return !ne.NotTLS()
	}
	var ba *BadAnswerError
	if errors.As(err, &ba) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// RetryDelay is the wait the server asked for (Retry-After), which the
// retry policy honours.
func (e *StatusError) RetryDelay() time.Duration { return e.RetryAfter }

// classifier is the client's one retry decision.
var classifier = retry.ClassifierFunc(func(err error) retry.Class {
	if Retryable(err) {
		return retry.Transient
	}
	return retry.Permanent
})
