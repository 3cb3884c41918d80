package faultproxy

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"
)

type actionKind int

const (
	actPass actionKind = iota
	actCut
	actRespond
	actDelay
	actHoldAnswer
	actModify
)

// Action is what the proxy does with one request. The zero Action is Pass.
type Action struct {
	kind     actionKind
	cutAfter int64
	status   int
	body     []byte
	header   http.Header
	delay    time.Duration
	then     *Action
	modify   func(*http.Response) error
}

// Modify forwards the request, then lets f change the target's answer
// (headers, status, body) before the client sees it: a store that
// answers differently from the one behind the proxy.
func Modify(f func(*http.Response) error) Action { return Action{kind: actModify, modify: f} }

// Pass forwards the request to the target and streams the answer back.
func Pass() Action { return Action{kind: actPass} }

// HoldAnswer forwards the request, so the target acts on it, then holds the
// target's answer for d before the client sees it (or until the client
// leaves): the moment "the server did it, the client does not know yet".
func HoldAnswer(d time.Duration) Action { return Action{kind: actHoldAnswer, delay: d} }

// CutAfter reads n bytes of the request body (fewer if the body is
// shorter), forwards nothing, and resets the client's connection (TCP RST,
// through SO_LINGER 0) without answering: what a client sees when a flaky
// link dies in the middle of a part.
func CutAfter(n int64) Action { return Action{kind: actCut, cutAfter: max(n, 0)} }

// Respond answers status, header and body itself, without forwarding. It
// reads the whole request body first (counted as received), as S3 does
// before it fails a request, so that the client reliably sees the answer
// rather than a write error and the connection stays usable.
func Respond(status int, body string, header http.Header) Action {
	return Action{kind: actRespond, status: status, body: []byte(body), header: header.Clone()}
}

// SlowDown is S3's throttling answer: 503 with the SlowDown error code.
func SlowDown() Action {
	return Respond(http.StatusServiceUnavailable, s3Error("SlowDown", "Please reduce your request rate."),
		http.Header{"Content-Type": {"application/xml"}})
}

// S3Error answers like S3 with an error document of code and message, e.g.
// S3Error(500, "InternalError", "We encountered an internal error. Please try again.")
// or S3Error(400, "ExpiredToken", "The provided token has expired.").
func S3Error(status int, code, message string) Action {
	return Respond(status, s3Error(code, message), http.Header{"Content-Type": {"application/xml"}})
}

// DelayThen waits d (or until the client goes away), then does a.
func DelayThen(d time.Duration, a Action) Action {
	return Action{kind: actDelay, delay: d, then: &a}
}

// String names the action, for test failure messages.
func (a Action) String() string {
	switch a.kind {
	case actCut:
		return fmt.Sprintf("CutAfter(%d)", a.cutAfter)
	case actRespond:
		return fmt.Sprintf("Respond(%d)", a.status)
	case actDelay:
		return fmt.Sprintf("DelayThen(%v, %v)", a.delay, *a.then)
	default:
		return "Pass"
	}
}

func s3Error(code, message string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>")
	xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	xml.EscapeText(&b, []byte(message))
	b.WriteString("</Message></Error>")
	return b.String()
}
