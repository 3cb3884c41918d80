package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/vidup/vidup/internal/retry"
)

// ErrSessionGone means the API no longer knows an upload session (404 on
// refresh): its uploads cannot resume and must start over.
var ErrSessionGone = errors.New("the upload session is gone from the API")

const urlHint = "check --api-url / VIDUP_API_URL"

// StatusError is an answer outside 2xx.
type StatusError struct {
	Op         string        // what the client was doing, e.g. OpRegisterVideo
	URL        string        // the API's base URL (without password)
	Status     int           // the HTTP status
	Message    string        // the server's `error` text, or a description of the body
	RetryAfter time.Duration // from the Retry-After header; 0 when absent
	HTML       bool          // the body was an HTML page: likely not the API at all
}

func (e *StatusError) Error() string {
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		return fmt.Sprintf("%s: the API refused the token (401)%s; set VIDUP_API_TOKEN or --token-file", e.Op, msg)
	case e.Status == http.StatusForbidden:
		return fmt.Sprintf("%s: the API denied this token access (403)%s; ask for a token that may upload, and set VIDUP_API_TOKEN or --token-file", e.Op, msg)
	case e.HTML:
		return fmt.Sprintf("%s: the API at %s answered %d %s with an HTML page, not the API's JSON; %s", e.Op, e.URL, e.Status, http.StatusText(e.Status), urlHint)
	case e.Status == http.StatusNotFound && e.Op == OpRefreshCredentials:
		return fmt.Sprintf("%s: the API at %s no longer knows this upload session (404)%s; it cannot resume: run the upload again to start it over", e.Op, e.URL, msg)
	case e.Status == http.StatusNotFound:
		return fmt.Sprintf("%s: the API at %s answered 404 Not Found%s; %s (it must be the API's base URL)", e.Op, e.URL, msg, urlHint)
	}
	return fmt.Sprintf("%s: the API at %s answered %d %s%s", e.Op, e.URL, e.Status, http.StatusText(e.Status), msg)
}

// AuthFailure reports whether the API refused the token (401 or 403).
func (e *StatusError) AuthFailure() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// Is makes a 404 on refresh match ErrSessionGone.
func (e *StatusError) Is(target error) bool {
	return target == ErrSessionGone && e.Status == http.StatusNotFound && e.Op == OpRefreshCredentials
}

// BadAnswerError is a 2xx answer the client cannot use: not JSON, invalid
// JSON, missing fields, expired credentials. Retrying does not help.
type BadAnswerError struct {
	Op      string
	URL     string
	Problem string // completes "answered with …"
	Hint    string // what to do; a default when empty
}

func (e *BadAnswerError) Error() string {
	hint := e.Hint
	if hint == "" {
		hint = urlHint + " (it must point at a server that follows the vidup upload contract)"
	}
	return fmt.Sprintf("%s: the API at %s answered with %s; %s", e.Op, e.URL, e.Problem, hint)
}

// networkError is a failure to reach the API or to read its answer.
type networkError struct {
	op, url string
	reading bool
	err     error
}

func (e *networkError) Error() string {
	if e.reading {
		return fmt.Sprintf("%s: the connection to the API at %s broke while reading its answer: %v", e.op, e.url, e.err)
	}
	return fmt.Sprintf("%s: the API at %s is not answering: %v; %s", e.op, e.url, e.err, urlHint)
}

func (e *networkError) Unwrap() error { return e.err }

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
		switch se.Status {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ne *networkError
	if errors.As(err, &ne) {
		// The caller's own cancellation is checked before this; anything
		// else that broke the connection (timeouts included) is transient.
		return true
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
