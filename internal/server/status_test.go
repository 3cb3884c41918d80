package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
)

func TestStatusSetByThePipeline(t *testing.T) {
	h := newHarness(t)
	_, v := h.uploadAndRegister(testToken, []byte("a video"), 1)
	if v.Status != contract.StatusRegistered || v.StatusAt == nil {
		t.Fatalf("a registered video is %q at %v", v.Status, v.StatusAt)
	}
	path := contract.StatusPath(v.ID)
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		want   string // in the error text, or the video's status
	}{
		{"uploader", testToken, contract.StatusRequest{Status: contract.StatusReady}, http.StatusForbidden, "pipeline role"},
		{"no token", "", contract.StatusRequest{Status: contract.StatusReady}, http.StatusUnauthorized, ""},
		{"unknown status", pipelineToken, contract.StatusRequest{Status: "done"}, http.StatusBadRequest, "processing, ready or failed"},
		{"back to registered", pipelineToken, contract.StatusRequest{Status: contract.StatusRegistered}, http.StatusBadRequest, "processing"},
		{"not JSON", pipelineToken, "status=ready", http.StatusBadRequest, "JSON"},
		{"processing", pipelineToken, contract.StatusRequest{Status: contract.StatusProcessing}, http.StatusOK, contract.StatusProcessing},
		{"processing again", pipelineToken, contract.StatusRequest{Status: contract.StatusProcessing}, http.StatusOK, contract.StatusProcessing},
		{"ready", pipelineToken, contract.StatusRequest{Status: contract.StatusReady}, http.StatusOK, contract.StatusReady},
		{"failed after ready", pipelineToken, contract.StatusRequest{Status: contract.StatusFailed, Error: "x"}, http.StatusConflict, "is ready already"},
	}
	for _, tt := range tests {
		r := h.do("POST", path, tt.token, nil, tt.body)
		if r.status != tt.status {
			t.Fatalf("%s: %d %s, want %d", tt.name, r.status, r.body, tt.status)
		}
		if tt.status == http.StatusOK {
			var got contract.Video
			r.decode(t, &got)
			if got.Status != tt.want || got.ID != v.ID {
				t.Fatalf("%s: video %s is %q, want %q", tt.name, got.ID, got.Status, tt.want)
			}
		} else if tt.want != "" {
			if e := r.errorText(t); !strings.Contains(e, tt.want) {
				t.Fatalf("%s: error %q does not say %q", tt.name, e, tt.want)
			}
		}
	}
	if r := h.do("POST", contract.StatusPath("nope"), pipelineToken, nil, contract.StatusRequest{Status: contract.StatusReady}); r.status != http.StatusNotFound {
		t.Fatalf("unknown video: %d %s", r.status, r.body)
	}
	// The owner sees the status.
	var got contract.Video
	r := h.do("GET", contract.PathVideos+"/"+v.ID, testToken, nil, nil)
	r.decode(t, &got)
	if got.Status != contract.StatusReady || got.StatusAt == nil || got.StatusAt.Before(*v.StatusAt) {
		t.Fatalf("owner reads %q at %v", got.Status, got.StatusAt)
	}
	if len(got.Webhooks) != 0 {
		t.Fatalf("webhooks listed without a webhook queue: %+v", got.Webhooks)
	}
}

// A session the cleanup closed is never refreshed again.
func TestClosedSessionIsNotRefreshed(t *testing.T) {
	h := newHarness(t)
	s := h.openSession(contract.FileRequest{Name: "a.mp4", Size: 3})
	if r := h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil); r.status != http.StatusOK {
		t.Fatalf("refresh of an open session: %d %s", r.status, r.body)
	}
	if err := h.store.CloseSession(context.Background(), s.SessionID, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.errorText(t), "closed") {
		t.Fatalf("refresh of a closed session: %d %s", r.status, r.body)
	}
}
