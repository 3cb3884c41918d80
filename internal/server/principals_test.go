package server_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
	"github.com/vidup/vidup/internal/server/store"
)

// uploadAndRegister opens a session of token with n files, uploads and
// registers the first one, and returns the session and its video.
func (h *harness) uploadAndRegister(token string, data []byte, n int) (contract.Session, contract.Video) {
	h.t.Helper()
	var files []contract.FileRequest
	for range n {
		files = append(files, contract.FileRequest{Name: "clip.mp4", Size: int64(len(data))})
	}
	s := h.openSessionAs(token, files...)
	if err := putObject(h.t, sessionClient(s, s.Credentials), h.bucket, s.Uploads[0].Key, data); err != nil {
		h.t.Fatal(err)
	}
	req := registration(s, 0, int64(len(data)), &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)})
	r := h.do("POST", contract.PathVideos, token, map[string]string{contract.IdempotencyKeyHeader: req.UploadID}, req)
	if r.status != http.StatusCreated {
		h.t.Fatalf("register: %d %s", r.status, r.body)
	}
	var v contract.Video
	r.decode(h.t, &v)
	return s, v
}

// Finding 1 of issue 10, first half: a token of another principal neither
// sees nor extends nor registers what it does not own.
func TestPrincipalsSeeOnlyTheirOwn(t *testing.T) {
	h := newHarness(t)
	data := []byte("principal A's video")
	sa, va := h.uploadAndRegister(testToken, data, 2)
	_, vb := h.uploadAndRegister(otherToken, []byte("B's"), 1)

	list := func(token string) []string {
		t.Helper()
		r := h.do("GET", contract.PathVideos, token, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		var l contract.VideoList
		r.decode(t, &l)
		var ids []string
		for _, v := range l.Videos {
			ids = append(ids, v.ID)
		}
		return ids
	}
	if got := list(otherToken); len(got) != 1 || got[0] != vb.ID {
		t.Fatalf("B lists %v, want only its own %s", got, vb.ID)
	}
	if got := list(rotatedToken); len(got) != 1 || got[0] != va.ID {
		t.Fatalf("A's second token lists %v, want A's %s", got, va.ID)
	}
	if got := list(pipelineToken); len(got) != 2 {
		t.Fatalf("the pipeline lists %v, want both videos", got)
	}

	// B gets 404 for everything of A's, with the text of an unknown id.
	if r := h.do("GET", contract.PathVideos+"/"+va.ID, otherToken, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("B gets A's video: %d, want 404", r.status)
	}
	if r := h.do("POST", contract.CredentialsPath(sa.SessionID), otherToken, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("B refreshes A's session: %d %s, want 404", r.status, r.body)
	}
	req := registration(sa, 1, int64(len(data)), nil)
	if r := h.do("POST", contract.PathVideos, otherToken, map[string]string{contract.IdempotencyKeyHeader: req.UploadID}, req); r.status != http.StatusNotFound {
		t.Errorf("B registers A's upload: %d %s, want 404", r.status, r.body)
	}
	// A replay of A's registered upload by B learns nothing either.
	first := registration(sa, 0, int64(len(data)), &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)})
	if r := h.do("POST", contract.PathVideos, otherToken, map[string]string{contract.IdempotencyKeyHeader: first.UploadID}, first); r.status != http.StatusNotFound {
		t.Errorf("B replays A's registration: %d %s, want 404", r.status, r.body)
	}

	// A, through either token, and the pipeline read A's video.
	for _, tok := range []string{testToken, rotatedToken, pipelineToken} {
		r := h.do("GET", contract.PathVideos+"/"+va.ID, tok, nil, nil)
		var v contract.Video
		if r.status == http.StatusOK {
			r.decode(t, &v)
		}
		if r.status != http.StatusOK || v.Principal != "cam-1" {
			t.Errorf("get A's video: %d %s", r.status, r.body)
		}
	}
	if r := h.do("POST", contract.CredentialsPath(sa.SessionID), rotatedToken, nil, nil); r.status != http.StatusOK {
		t.Errorf("A's second token refreshes A's session: %d %s", r.status, r.body)
	}
	// The pipeline uploads nothing.
	if r := h.do("POST", contract.PathUploads, pipelineToken, nil, contract.SessionRequest{Files: []contract.FileRequest{{Name: "a", Size: 1}}}); r.status != http.StatusForbidden {
		t.Errorf("the pipeline opens a session: %d, want 403", r.status)
	}
	if r := h.do("POST", contract.PathVideos, pipelineToken, map[string]string{contract.IdempotencyKeyHeader: req.UploadID}, req); r.status != http.StatusForbidden {
		t.Errorf("the pipeline registers: %d, want 403", r.status)
	}
	if !strings.Contains(h.log.String(), "principal=cam-2") {
		t.Error("the access log does not name the principal")
	}
}

// Finding 1 of issue 10, second half, on real MinIO: with credentials minted
// before the registration and still valid, writing over the uploaded key
// afterwards does not change the registered bytes as the pipeline reads
// them, the sealed key cannot be written, refreshed credentials no longer
// name registered keys, and a fully registered session is not refreshed.
func TestRegisteredObjectIsSealed(t *testing.T) {
	h := newHarness(t)
	data := []byte(strings.Repeat("the original recording ", 1000))
	s, v := h.uploadAndRegister(testToken, data, 2)
	want := sha256.Sum256(data)
	if !strings.HasPrefix(v.Key, server.SealedPrefix) || v.Key == s.Uploads[0].Key {
		t.Fatalf("registered key %q is not sealed", v.Key)
	}

	early := sessionClient(s, s.Credentials) // minted before the registration
	attack := []byte("22 bytes of something")
	// The session's policy still names the uploaded key: the write itself
	// may succeed. What matters is that it reaches nothing registered.
	_ = putObject(t, early, h.bucket, s.Uploads[0].Key, attack)
	if err := putObject(t, early, h.bucket, v.Key, attack); httpStatus(err) != http.StatusForbidden {
		t.Fatalf("write over the sealed key with the session's credentials: err = %v, want 403", err)
	}
	if got := sha256Of(t, h, v.Key); got != want {
		t.Fatal("the registered object changed after the registration")
	}
	r := h.do("GET", contract.PathVideos+"/"+v.ID, pipelineToken, nil, nil)
	var seen contract.Video
	r.decode(t, &seen)
	if seen.Key != v.Key || seen.Size != int64(len(data)) || seen.ETag != v.ETag {
		t.Fatalf("the pipeline sees %+v, registered was %+v", seen, v)
	}

	// Refreshed credentials name only the upload still open.
	r = h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("refresh with one upload left: %d %s", r.status, r.body)
	}
	var cr contract.CredentialsResponse
	r.decode(t, &cr)
	late := sessionClient(s, cr.Credentials)
	if err := putObject(t, late, h.bucket, s.Uploads[0].Key, attack); httpStatus(err) != http.StatusForbidden {
		t.Fatalf("refreshed credentials write a registered upload's key: err = %v, want 403", err)
	}
	if err := putObject(t, late, h.bucket, s.Uploads[1].Key, data); err != nil {
		t.Fatalf("refreshed credentials write the open upload's key: %v", err)
	}
	req := registration(s, 1, int64(len(data)), nil)
	if r := h.register(req); r.status != http.StatusCreated {
		t.Fatalf("register the second upload: %d %s", r.status, r.body)
	}
	r = h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.errorText(t), "registered") {
		t.Fatalf("refresh of a fully registered session: %d %s, want 404", r.status, r.body)
	}
}

func TestRefreshRefusedAfterMaxAge(t *testing.T) {
	h := newHarness(t, func(c *server.Config) { c.SessionMaxAge = 48 * time.Hour })
	s := h.openSession(contract.FileRequest{Name: "a.mp4", Size: 1})
	h.clock.advance(47 * time.Hour)
	if r := h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil); r.status != http.StatusOK {
		t.Fatalf("refresh within the max age: %d %s", r.status, r.body)
	}
	h.clock.advance(2 * time.Hour)
	r := h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.errorText(t), "48h") {
		t.Fatalf("refresh past the max age: %d %s, want 404 naming the bound", r.status, r.body)
	}
}

// Finding 10 of issue 10: a replay with another body is a 409, even an
// invalid one; the same body stays a 200.
func TestReplayWithAnotherBodyConflicts(t *testing.T) {
	h := newHarness(t)
	data := []byte("replayed")
	s, v := h.uploadAndRegister(testToken, data, 1)
	same := registration(s, 0, int64(len(data)), &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)})
	if r := h.register(same); r.status != http.StatusOK {
		t.Fatalf("same body: %d %s, want 200", r.status, r.body)
	}
	bigger := same
	bigger.Size++
	invalid := same
	invalid.Size = -5
	other := same
	other.Metadata = map[string]string{"camera": "cam-9"}
	for name, req := range map[string]contract.VideoRequest{"another size": bigger, "an invalid size": invalid, "other metadata": other} {
		r := h.register(req)
		if r.status != http.StatusConflict {
			t.Errorf("%s: %d %s, want 409", name, r.status, r.body)
			continue
		}
		if msg := r.errorText(t); !strings.Contains(msg, "another request") {
			t.Errorf("%s: error %q", name, msg)
		}
	}
	if n := h.countVideos(v.UploadID); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// Finding 11 of issue 10: JSON bodies are one document and nothing else.
func TestStrictJSON(t *testing.T) {
	h := newHarness(t)
	for _, body := range []string{
		`{"files":[{"name":"a.mp4","size":1}]}garbage`,
		`{"files":[{"name":"a.mp4","size":1}]}{"files":[]}`,
		`{"files":[{"name":"a.mp4","size":1}]} ]`,
	} {
		r := h.do("POST", contract.PathUploads, testToken, nil, body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", body, r.status)
			continue
		}
		r.errorText(t)
	}
	if r := h.do("POST", contract.PathUploads, testToken, nil, `{"files":[{"name":"a.mp4","size":1}]}`+"\n\t "); r.status != http.StatusCreated {
		t.Fatalf("trailing white space: %d %s", r.status, r.body)
	}
	s := h.openSession(contract.FileRequest{Name: "a.mp4", Size: 1})
	r := h.do("POST", contract.PathVideos, testToken, map[string]string{contract.IdempotencyKeyHeader: s.Uploads[0].UploadID},
		`{"upload_id":"`+s.Uploads[0].UploadID+`","session_id":"`+s.SessionID+`","key":"`+s.Uploads[0].Key+`","size":1}x`)
	if r.status != http.StatusBadRequest {
		t.Fatalf("registration with trailing data: %d %s, want 400", r.status, r.body)
	}
}

// Finding 11 of issue 10: opening sessions is rate limited per principal.
func TestSessionRateLimitPerPrincipal(t *testing.T) {
	h := newHarness(t, func(c *server.Config) { c.SessionRate = rate.Every(time.Minute); c.SessionBurst = 2 })
	body := contract.SessionRequest{Files: []contract.FileRequest{{Name: "a.mp4", Size: 1}}}
	for i := range 2 {
		if r := h.do("POST", contract.PathUploads, testToken, nil, body); r.status != http.StatusCreated {
			t.Fatalf("session %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	// The rotated token is the same principal: same bucket.
	r := h.do("POST", contract.PathUploads, rotatedToken, nil, body)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("third session: %d %s, want 429", r.status, r.body)
	}
	r.errorText(t)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After %q, want 1 to 60 seconds", r.header.Get("Retry-After"))
	}
	if r := h.do("POST", contract.PathUploads, otherToken, nil, body); r.status != http.StatusCreated {
		t.Fatalf("another principal is limited too: %d %s", r.status, r.body)
	}
	h.clock.advance(time.Minute)
	if r := h.do("POST", contract.PathUploads, testToken, nil, body); r.status != http.StatusCreated {
		t.Fatalf("after a minute: %d %s", r.status, r.body)
	}
}

// Finding 8 of issue 10, the server's half: a session id is one path
// segment, escaped once; the server unescapes it once and no more.
func TestSessionIDPathSegment(t *testing.T) {
	h := newHarness(t)
	for id, want := range map[string]string{"a b": `"a b"`, "a%20b": `"a%20b"`, "a/b": `"a/b"`} {
		r := h.do("POST", contract.PathUploads+"/"+url.PathEscape(id)+"/credentials", testToken, nil, nil)
		if r.status != http.StatusNotFound {
			t.Errorf("id %q: %d %s, want 404", id, r.status, r.body)
			continue
		}
		if msg := r.errorText(t); !strings.Contains(msg, "session "+want) {
			t.Errorf("id %q was looked up as something else: %q", id, msg)
		}
	}
}

// failingWrites is a store that answers but takes no write, as a full disk.
type failingWrites struct{ store.Store }

func (failingWrites) CheckWrite(context.Context) error { return errors.New("database or disk is full") }

// Finding 11 of issue 10: /healthz reports a store that cannot write.
func TestHealthReportsAStoreThatCannotWrite(t *testing.T) {
	h := newHarness(t)
	if r := h.do("GET", server.PathHealth, "", nil, nil); r.status != http.StatusOK {
		t.Fatalf("healthy: %d %s", r.status, r.body)
	}
	h2 := newHarness(t, func(c *server.Config) { c.Store = failingWrites{c.Store} })
	r := h2.do("GET", server.PathHealth, "", nil, nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.errorText(t), "write") {
		t.Fatalf("a store that cannot write: %d %s, want 503", r.status, r.body)
	}
}
