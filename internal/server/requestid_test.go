package server_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/vidup/vidup/internal/contract"
)

// TestRequestIDs: every answer carries X-Request-Id, the caller's when it is
// valid, a new one otherwise, and every log line about the request has it.
func TestRequestIDs(t *testing.T) {
	h := newHarness(t)
	_, v := h.uploadAndRegister(testToken, []byte("a video"), 1)

	const id = "lb-7f3a.42:x_y"
	r := h.do("POST", contract.StatusPath(v.ID), pipelineToken, map[string]string{contract.RequestIDHeader: id},
		contract.StatusRequest{Status: contract.StatusProcessing})
	if r.status != http.StatusOK || r.header.Get(contract.RequestIDHeader) != id {
		t.Fatalf("status change: %d, X-Request-Id %q, want %q", r.status, r.header.Get(contract.RequestIDHeader), id)
	}
	// The handler's own line and the access log line both name the request.
	var lines []string
	for _, l := range strings.Split(h.log.String(), "\n") {
		if strings.Contains(l, "request_id="+id) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], `msg="video status"`) || !strings.Contains(lines[1], "msg=request") {
		t.Fatalf("log lines with request_id=%s: %q, want the status line and the access line\n%s", id, lines, h.log.String())
	}

	// Without an id, or with one that is not a plain token, the server
	// makes one; errors (here before authentication) carry it too.
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for _, in := range []string{"", "bad id with spaces", strings.Repeat("a", contract.MaxRequestIDLen+1), "ok;drop"} {
		var hdr map[string]string
		if in != "" {
			hdr = map[string]string{contract.RequestIDHeader: in}
		}
		r := h.do("GET", contract.PathVideos, "", hdr, nil)
		got := r.header.Get(contract.RequestIDHeader)
		if r.status != http.StatusUnauthorized || !uuidRE.MatchString(got) || seen[got] {
			t.Fatalf("incoming %q: %d with X-Request-Id %q, want a new uuid", in, r.status, got)
		}
		seen[got] = true
		if !strings.Contains(h.log.String(), "request_id="+got) {
			t.Fatalf("no log line has request_id=%s\n%s", got, h.log.String())
		}
	}
	// The metrics and health checks are answered with one as well.
	if r := h.do("GET", "/healthz", "", nil, nil); r.header.Get(contract.RequestIDHeader) == "" {
		t.Fatal("/healthz answered without X-Request-Id")
	}
}
