package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/retry"
)

const testToken = "tok-s3cr3t-value"

// fastRetry keeps retries real but short.
var fastRetry = retry.Policy{Retries: 3, Budget: 10 * time.Second}.WithDelays(time.Millisecond, 5*time.Millisecond)

type recorded struct {
	method, path, auth, contentType, userAgent, idempotencyKey string
	body                                                       []byte
}

// server answers with the handlers in turn (the last one repeats) and
// records every request.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newServer(t *testing.T, handlers ...http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"),
			r.Header.Get("User-Agent"), r.Header.Get(contract.IdempotencyKeyHeader), body})
		s.mu.Unlock()
		handlers[min(n, len(handlers)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func reply(status int, body string) http.HandlerFunc {
	return replyType(status, "application/json", body)
}

func replyType(status int, ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func replyHeader(status int, key, value, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(key, value)
		reply(status, body)(w, r)
	}
}

func future() time.Time { return time.Now().Add(time.Hour).UTC().Truncate(time.Second) }

func credsJSON(exp time.Time) string {
	return fmt.Sprintf(`{"AccessKeyId":"AK","SecretAccessKey":"SK","SessionToken":"ST","Expiration":%q}`, exp.Format(time.RFC3339))
}

func sessionJSON(uploads int) string {
	var ups []string
	for i := range uploads {
		ups = append(ups, fmt.Sprintf(`{"upload_id":"u%d","key":"uploads/s1/u%d/f%d.mp4"}`, i, i, i))
	}
	return fmt.Sprintf(`{"session_id":"s1","bucket":"videos","region":"us-east-1","endpoint":"http://127.0.0.1:9000","path_style":true,"credentials":%s,"uploads":[%s]}`,
		credsJSON(future()), strings.Join(ups, ","))
}

var oneFile = contract.SessionRequest{Files: []contract.FileRequest{{Name: "clip.mp4", Size: 42, ContentType: "video/mp4"}}}

func newClient(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	c, err := New(url, testToken, append([]Option{WithRetry(fastRetry)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidatesBaseURL(t *testing.T) {
	for _, u := range []string{"", "api.example.com", "/api", "ftp://example.com", "http://", "http://example.com/?x=1", "http://example.com/#frag", "://bad"} {
		if _, err := New(u, testToken); err == nil {
			t.Errorf("New(%q) accepted a bad URL", u)
		} else if ue := (*URLError)(nil); !errors.As(err, &ue) {
			t.Errorf("New(%q): error %T %q is not a *URLError", u, err, err)
		}
	}
	if _, err := New("http://example.com", ""); !errors.Is(err, ErrNoToken) {
		t.Errorf("New without token: %v", err)
	}
	c, err := New("https://user:pw@example.com/video-api/", testToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.endpoint(contract.PathUploads); got != "https://user:pw@example.com/video-api/api/v1/uploads" {
		t.Errorf("endpoint = %q", got)
	}
	if strings.Contains(c.BaseURL(), "pw") {
		t.Errorf("BaseURL %q shows the password", c.BaseURL())
	}
}

func TestCreateSession(t *testing.T) {
	s := newServer(t, reply(201, sessionJSON(2)))
	c := newClient(t, s.URL+"/prefix/", WithUserAgent("vidup/test"))
	req := contract.SessionRequest{Files: []contract.FileRequest{{Name: "a.mp4", Size: 1}, {Name: "b.mp4", Size: -1}}}
	sess, err := c.CreateSession(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if sess.SessionID != "s1" || sess.Bucket != "videos" || !sess.PathStyle || len(sess.Uploads) != 2 || sess.Uploads[1].Key != "uploads/s1/u1/f1.mp4" {
		t.Errorf("session = %+v", sess)
	}
	if sess.Credentials.SessionToken != "ST" || !sess.Credentials.Expiration.After(time.Now()) {
		t.Errorf("credentials = %+v", sess.Credentials)
	}
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/prefix/api/v1/uploads" || r.auth != "Bearer "+testToken ||
		r.contentType != "application/json" || r.userAgent != "vidup/test" {
		t.Errorf("request = %+v", r)
	}
	var sent contract.SessionRequest
	if err := json.Unmarshal(r.body, &sent); err != nil || len(sent.Files) != 2 || sent.Files[1].Size != -1 {
		t.Errorf("body %s: %v", r.body, err)
	}
}

// (v1.1) A store without STS: static keys, no SessionToken nor Expiration,
// and the session's checksum mode, are taken as they are.
func TestCreateSessionWithStaticKeysAndChecksum(t *testing.T) {
	body := `{"session_id":"s1","bucket":"videos","region":"auto","endpoint":"https://r2.example.com",` +
		`"checksum":{"algorithm":"NONE"},"credentials":{"AccessKeyId":"AK","SecretAccessKey":"SK"},` +
		`"uploads":[{"upload_id":"u0","key":"uploads/s1/u0/f0.mp4"}]}`
	s := newServer(t, reply(201, body), reply(200, `{"credentials":{"AccessKeyId":"AK","SecretAccessKey":"SK"}}`))
	c := newClient(t, s.URL)
	sess, err := c.CreateSession(context.Background(), oneFile)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Credentials.Static() || sess.Credentials.AccessKeyID != "AK" || sess.Credentials.SessionToken != "" {
		t.Errorf("credentials = %+v, want static keys", sess.Credentials)
	}
	if sess.Checksum == nil || sess.Checksum.Algorithm != contract.AlgorithmNone {
		t.Errorf("checksum = %+v, want NONE", sess.Checksum)
	}
	cr, err := c.RefreshCredentials(context.Background(), "s1")
	if err != nil || !cr.Static() {
		t.Errorf("refresh = %+v, %v; want static keys", cr, err)
	}
}

func TestCreateSessionChecksTheBatch(t *testing.T) {
	s := newServer(t, reply(201, sessionJSON(1)))
	c := newClient(t, s.URL)
	if _, err := c.CreateSession(context.Background(), contract.SessionRequest{}); err == nil {
		t.Error("a session for no files was requested")
	}
	big := contract.SessionRequest{Files: make([]contract.FileRequest, contract.MaxFilesPerSession+1)}
	if _, err := c.CreateSession(context.Background(), big); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Errorf("101 files: err = %v", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid batches", n)
	}
}

func TestRefreshCredentials(t *testing.T) {
	exp := future()
	s := newServer(t, reply(200, `{"credentials":`+credsJSON(exp)+`}`))
	c := newClient(t, s.URL)
	cr, err := c.RefreshCredentials(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if cr.AccessKeyID != "AK" || cr.SecretAccessKey != "SK" || cr.SessionToken != "ST" || !cr.Expiration.Equal(exp) {
		t.Errorf("credentials = %+v", cr)
	}
	if p := s.requests()[0].path; p != "/api/v1/uploads/s1/credentials" {
		t.Errorf("path = %q", p)
	}
}

func TestRegisterVideo(t *testing.T) {
	req := contract.VideoRequest{UploadID: "u-7", SessionID: "s1", Bucket: "videos", Key: "k", Filename: "clip.mp4", Size: 42,
		Checksum: &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: "AAAAAAAAAAA="}}
	for _, tc := range []struct {
		status  int
		created bool
	}{{201, true}, {200, false}} {
		s := newServer(t, reply(tc.status, `{"id":"v-1","upload_id":"u-7"}`))
		c := newClient(t, s.URL)
		v, created, err := c.RegisterVideo(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if v.ID != "v-1" || created != tc.created {
			t.Errorf("status %d: video %+v created %v", tc.status, v, created)
		}
		r := s.requests()[0]
		if r.idempotencyKey != "u-7" || r.path != "/api/v1/videos" {
			t.Errorf("request = %+v", r)
		}
		var sent contract.VideoRequest
		if err := json.Unmarshal(r.body, &sent); err != nil || sent.Checksum == nil || sent.Checksum.Algorithm != "CRC64NVME" {
			t.Errorf("body %s: %v", r.body, err)
		}
	}
	c := newClient(t, "http://127.0.0.1:1")
	if _, _, err := c.RegisterVideo(context.Background(), contract.VideoRequest{Filename: "x"}); err == nil || !strings.Contains(err.Error(), "upload id") {
		t.Errorf("register without upload id: %v", err)
	}
}

// TestRegisterVideoRetriesWithSameKey shows why retrying a registration is
// safe: every attempt carries the same Idempotency-Key.
func TestRegisterVideoRetriesWithSameKey(t *testing.T) {
	s := newServer(t, reply(503, `{"error":"db busy"}`), reply(200, `{"id":"v-1"}`))
	c := newClient(t, s.URL)
	v, created, err := c.RegisterVideo(context.Background(), contract.VideoRequest{UploadID: "u-9", Filename: "a"})
	if err != nil || v.ID != "v-1" || created {
		t.Fatalf("v=%+v created=%v err=%v", v, created, err)
	}
	reqs := s.requests()
	if len(reqs) != 2 || reqs[0].idempotencyKey != "u-9" || reqs[1].idempotencyKey != "u-9" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		op        string // which call
		handler   http.HandlerFunc
		wantIn    []string
		auth      bool
		gone      bool
		attempts  int
		retryable bool
	}{
		{"400", OpCreateSession, reply(400, `{"error":"files: name is empty"}`), []string{"400 Bad Request", "files: name is empty"}, false, false, 1, false},
		{"401", OpCreateSession, reply(401, `{"error":"bad token"}`), []string{"refused the token (401)", "bad token"}, true, false, 1, false},
		{"403", OpRegisterVideo, reply(403, `{"error":"read-only token"}`), []string{"403", "read-only token"}, true, false, 1, false},
		{"404 create", OpCreateSession, reply(404, `{"error":"no route"}`), []string{"404 Not Found", "no route"}, false, false, 1, false},
		{"404 refresh", OpRefreshCredentials, reply(404, `{"error":"unknown session"}`), []string{"no longer knows this upload session", "unknown session"}, false, true, 1, false},
		{"409", OpRegisterVideo, reply(409, `{"error":"key reused"}`), []string{"409 Conflict", "key reused"}, false, false, 1, false},
		{"413", OpCreateSession, reply(413, `{"error":"too many files"}`), []string{"413", "too many files"}, false, false, 1, false},
		{"422", OpRegisterVideo, reply(422, `{"error":"size differs: 41 on S3, 42 announced"}`), []string{"422", "size differs"}, false, false, 1, false},
		{"plain text error", OpCreateSession, replyType(400, "text/plain", "nope\nsecond line"), []string{"400", "nope"}, false, false, 1, false},
		{"html 404", OpCreateSession, replyType(404, "text/html", "<!DOCTYPE html><html><body>Not here</body></html>"), []string{"HTML page"}, false, false, 1, false},
		{"echoed token", OpCreateSession, reply(400, `{"error":"token `+testToken+` unknown"}`), []string{"[redacted]"}, false, false, 1, false},
		// Transient statuses are retried until the policy is spent.
		{"408", OpCreateSession, reply(408, `{"error":"slow"}`), []string{"408", "gave up after 4 attempts"}, false, false, 4, false},
		{"429", OpRefreshCredentials, reply(429, `{"error":"slow down"}`), []string{"429", "slow down", "gave up"}, false, false, 4, false},
		{"500", OpRegisterVideo, reply(500, `{"error":"boom"}`), []string{"500", "boom"}, false, false, 4, false},
		{"502 html", OpCreateSession, replyType(502, "text/html", "<html><body>bad gateway</body></html>"), []string{"502", "HTML page"}, false, false, 4, false},
		{"503", OpCreateSession, reply(503, ``), []string{"503 Service Unavailable"}, false, false, 4, false},
		{"504", OpRefreshCredentials, reply(504, `{"error":"upstream"}`), []string{"504"}, false, false, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.handler)
			var retries []int
			var mu sync.Mutex
			c := newClient(t, s.URL, WithOnRetry(func(op string, attempt int, err error, wait time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				if op != tc.op {
					t.Errorf("onRetry op %q, want %q", op, tc.op)
				}
				if wait <= 0 || wait > fastRetry.MaxDelay {
					t.Errorf("wait %v outside (0, %v]", wait, fastRetry.MaxDelay)
				}
				retries = append(retries, attempt)
			}))
			err := callOp(c, tc.op)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range tc.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q shows the token", err)
			}
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *StatusError", err)
			}
			if se.AuthFailure() != tc.auth {
				t.Errorf("AuthFailure() = %v", se.AuthFailure())
			}
			if errors.Is(err, contract.ErrSessionGone) != tc.gone {
				t.Errorf("errors.Is(contract.ErrSessionGone) = %v", !tc.gone)
			}
			if got := len(s.requests()); got != tc.attempts {
				t.Errorf("%d attempts, want %d", got, tc.attempts)
			}
			if len(retries) != tc.attempts-1 {
				t.Errorf("onRetry called %d times, want %d", len(retries), tc.attempts-1)
			}
			for i, a := range retries {
				if a != i+1 {
					t.Errorf("onRetry attempt %d, want %d", a, i+1)
				}
			}
			if Retryable(err) != tc.retryable {
				t.Errorf("Retryable(final error) = %v", !tc.retryable)
			}
		})
	}
}

func callOp(c *Client, op string) error {
	ctx := context.Background()
	switch op {
	case OpCreateSession:
		_, err := c.CreateSession(ctx, oneFile)
		return err
	case OpRefreshCredentials:
		_, err := c.RefreshCredentials(ctx, "s1")
		return err
	default:
		_, _, err := c.RegisterVideo(ctx, contract.VideoRequest{UploadID: "u1", Filename: "clip.mp4"})
		return err
	}
}

func TestTransientThenSuccess(t *testing.T) {
	s := newServer(t, reply(503, `{"error":"warming up"}`), reply(502, ""), reply(201, sessionJSON(1)))
	var calls atomic.Int32
	c := newClient(t, s.URL, WithOnRetry(func(string, int, error, time.Duration) { calls.Add(1) }))
	if _, err := c.CreateSession(context.Background(), oneFile); err != nil {
		t.Fatal(err)
	}
	if n := len(s.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if calls.Load() != 2 {
		t.Errorf("onRetry called %d times, want 2", calls.Load())
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	s := newServer(t, replyHeader(429, "Retry-After", "1", `{"error":"slow down"}`), reply(201, sessionJSON(1)))
	var waited time.Duration
	c := newClient(t, s.URL, WithOnRetry(func(_ string, _ int, _ error, wait time.Duration) { waited = wait }))
	start := time.Now()
	if _, err := c.CreateSession(context.Background(), oneFile); err != nil {
		t.Fatal(err)
	}
	if waited != time.Second {
		t.Errorf("waited %v, want the server's 1s", waited)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("second attempt after %v, before the Retry-After", el)
	}
}

func TestRetryAfterBeyondBudgetGivesUp(t *testing.T) {
	s := newServer(t, replyHeader(503, "Retry-After", "3600", `{"error":"maintenance"}`))
	c := newClient(t, s.URL)
	_, err := c.CreateSession(context.Background(), oneFile)
	var se *StatusError
	if !errors.As(err, &se) || se.RetryAfter != time.Hour {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "maintenance") || !strings.Contains(err.Error(), "gave up after 1 attempts") {
		t.Errorf("error %q", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestDefaultPolicy(t *testing.T) {
	c, err := New("http://localhost", testToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.retry != retry.Default() {
		t.Errorf("a client without WithRetry retries with %+v, want retry.Default()", c.retry)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	s := newServer(t, reply(503, `{"error":"down"}`))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := New(s.URL, testToken,
		WithRetry(retry.Policy{Retries: 9, BaseDelay: time.Minute, MaxDelay: time.Minute, Budget: time.Hour}),
		WithOnRetry(func(string, int, error, time.Duration) { cancel() }))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.CreateSession(ctx, oneFile); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("CreateSession kept waiting after its context was cancelled")
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("%d requests after cancel, want 1", n)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var retries atomic.Int32
	c := newClient(t, "http://"+addr, WithOnRetry(func(string, int, error, time.Duration) { retries.Add(1) }))
	_, err = c.CreateSession(context.Background(), oneFile)
	if err == nil {
		t.Fatal("no error")
	}
	if ne := (*NetworkError)(nil); !errors.As(err, &ne) || ne.Reading {
		t.Errorf("error %T %q is not a *NetworkError before reading", err, err)
	}
	for _, w := range []string{"is not answering", "http://" + addr, "gave up after 4 attempts"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error %q shows the token", err)
	}
	if retries.Load() != 3 {
		t.Errorf("%d retries, want 3", retries.Load())
	}
}

func TestBadAnswers(t *testing.T) {
	past := time.Now().Add(-time.Minute).UTC()
	withSession := func(edit func(*contract.Session)) http.HandlerFunc {
		var s contract.Session
		if err := json.Unmarshal([]byte(sessionJSON(1)), &s); err != nil {
			panic(err)
		}
		edit(&s)
		b, _ := json.Marshal(s)
		return reply(201, string(b))
	}
	for _, tc := range []struct {
		name    string
		op      string
		handler http.HandlerFunc
		want    []string
	}{
		{"html 200", OpCreateSession, replyType(200, "text/html; charset=utf-8", "<html>login</html>"), []string{"HTML page"}},
		{"text 200", OpRegisterVideo, replyType(201, "text/plain", "ok"), []string{"text/plain instead of JSON"}},
		{"truncated json", OpCreateSession, reply(201, sessionJSON(1)[:40]), []string{"invalid JSON", "ends early"}},
		{"not json", OpRefreshCredentials, reply(200, `{"credentials": nope}`), []string{"invalid JSON"}},
		{"empty body", OpRegisterVideo, reply(201, ""), []string{"invalid JSON", "empty body"}},
		{"no session_id", OpCreateSession, withSession(func(s *contract.Session) { s.SessionID = "" }), []string{"without session_id"}},
		{"no bucket", OpCreateSession, withSession(func(s *contract.Session) { s.Bucket = "" }), []string{"without bucket"}},
		{"no region nor endpoint", OpCreateSession, withSession(func(s *contract.Session) { s.Region, s.Endpoint = "", "" }), []string{"without region or endpoint"}},
		{"bad endpoint", OpCreateSession, withSession(func(s *contract.Session) { s.Endpoint = "minio:9000" }), []string{"endpoint", "minio:9000"}},
		{"no AccessKeyId", OpCreateSession, withSession(func(s *contract.Session) { s.Credentials.AccessKeyID = "" }), []string{"credentials without AccessKeyId"}},
		{"no SecretAccessKey", OpCreateSession, withSession(func(s *contract.Session) { s.Credentials.SecretAccessKey = "" }), []string{"credentials without SecretAccessKey"}},
		{"expired", OpCreateSession, withSession(func(s *contract.Session) { s.Credentials.Expiration = past }), []string{"expired at", "this machine's clock says"}},
		{"too few uploads", OpCreateSession, withSession(func(s *contract.Session) { s.Uploads = nil }), []string{"0 uploads for 1 files"}},
		{"empty key", OpCreateSession, withSession(func(s *contract.Session) { s.Uploads[0].Key = "" }), []string{"upload 1 has no key"}},
		{"empty upload id", OpCreateSession, withSession(func(s *contract.Session) { s.Uploads[0].UploadID = "" }), []string{"upload 1 has no upload_id"}},
		{"refresh expired", OpRefreshCredentials, reply(200, `{"credentials":`+credsJSON(past)+`}`), []string{"expired at"}},
		{"refresh missing", OpRefreshCredentials, reply(200, `{"credentials":{}}`), []string{"credentials without AccessKeyId, SecretAccessKey"}},
		{"video without id", OpRegisterVideo, reply(201, `{"upload_id":"u1"}`), []string{"without id"}},
		{"huge body", OpCreateSession, reply(201, `{"session_id":"`+strings.Repeat("x", maxBody+10)+`"}`), []string{"more than 1048576 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.handler)
			err := callOp(newClient(t, s.URL), tc.op)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), s.URL) || !strings.HasPrefix(err.Error(), tc.op+": ") {
				t.Errorf("error %q does not name the operation and the URL", err)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q shows the token", err)
			}
			if Retryable(err) {
				t.Error("a bad answer is retried; retrying does not fix it")
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestAnswerCutMidway: a connection that breaks inside the body is a
// network failure, retried like one.
func TestAnswerCutMidway(t *testing.T) {
	cut := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(201)
		io.WriteString(w, sessionJSON(1)[:30])
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	s := newServer(t, cut, reply(201, sessionJSON(1)))
	c := newClient(t, s.URL)
	if _, err := c.CreateSession(context.Background(), oneFile); err != nil {
		t.Fatal(err)
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{&StatusError{Status: 503}, true},
		{fmt.Errorf("wrapped: %w", &StatusError{Status: 429}), true},
		{&StatusError{Status: 400}, false},
		{&StatusError{Status: 401}, false},
		{&StatusError{Status: 501}, false},
		{&NetworkError{Err: errors.New("connection reset")}, true},
		{&retry.ExhaustedError{Err: &StatusError{Status: 503}}, false},
		{&BadAnswerError{Problem: "x"}, false},
		{io.ErrUnexpectedEOF, true},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{errors.New("something else"), false},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// The facts the CLI's advice table reads: which answers mean a wrong URL,
// which a clock problem.
func TestErrorFacts(t *testing.T) {
	for _, tc := range []struct {
		err   *StatusError
		wrong bool
	}{
		{&StatusError{Op: OpCreateSession, Status: 404}, true},
		{&StatusError{Op: OpRefreshCredentials, Status: 404}, false},
		{&StatusError{Op: OpRegisterVideo, Status: 502, HTML: true}, true},
		{&StatusError{Op: OpRegisterVideo, Status: 500}, false},
		{&StatusError{Op: OpCreateSession, Status: 401}, false},
	} {
		if got := tc.err.WrongURL(); got != tc.wrong {
			t.Errorf("%s %d html %v: WrongURL() = %v", tc.err.Op, tc.err.Status, tc.err.HTML, got)
		}
	}
	s := newServer(t, reply(200, `{"credentials":`+credsJSON(time.Now().Add(-time.Hour).UTC())+`}`))
	_, err := newClient(t, s.URL).RefreshCredentials(context.Background(), "s1")
	var ba *BadAnswerError
	if !errors.As(err, &ba) || !ba.Clock {
		t.Errorf("expired credentials: %T %v, want a *BadAnswerError with Clock", err, err)
	}
}

// A 3xx is not followed, to another port or anywhere: the token stays with
// the API URL, and the error names where the redirect pointed (contract
// section 4).
func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		leaked.Store(r.Header.Get("Authorization"))
		reply(200, `{"credentials":`+credsJSON(future())+`}`)(w, r)
	}))
	t.Cleanup(other.Close)
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			target := other.URL + "/api/v1/uploads/s1/credentials"
			s := newServer(t, replyHeader(status, "Location", target, ""))
			// A caller's own client, which would follow redirects, is no
			// exception.
			c := newClient(t, s.URL, WithHTTPClient(&http.Client{}))
			_, err := c.RefreshCredentials(context.Background(), "s1")
			var se *StatusError
			if !errors.As(err, &se) || se.Status != status || !se.Redirect || se.Location != target {
				t.Fatalf("err = %#v, want a redirect error naming %s", err, target)
			}
			if !strings.Contains(err.Error(), target) || !se.WrongURL() || Retryable(err) {
				t.Errorf("error %q (wrong URL %v, retryable %v)", err, se.WrongURL(), Retryable(err))
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("%d requests to the API, want 1 (a redirect is not retried)", n)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests (token %v)", n, leaked.Load())
	}
}

// The session id is one path segment, escaped once.
func TestSessionIDEscapedOnce(t *testing.T) {
	for id, want := range map[string]string{
		"a b":   "/api/v1/uploads/a%20b/credentials",
		"a/b":   "/api/v1/uploads/a%2Fb/credentials",
		"50%":   "/api/v1/uploads/50%25/credentials",
		"plain": "/api/v1/uploads/plain/credentials",
	} {
		var got atomic.Value
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Store(r.RequestURI)
			reply(200, `{"credentials":`+credsJSON(future())+`}`)(w, r)
		}))
		c := newClient(t, s.URL+"/prefix%20x/")
		if _, err := c.RefreshCredentials(context.Background(), id); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		s.Close()
		if g := got.Load(); g != "/prefix%20x"+want {
			t.Errorf("session %q: request URI %v, want %s", id, g, "/prefix%20x"+want)
		}
	}
}

// The server's text reaches the error, and so a terminal, with its control
// characters and escape sequences shown, not obeyed.
func TestServerTextIsMadePrintable(t *testing.T) {
	for _, h := range []http.HandlerFunc{
		reply(400, `{"error":"bad \u001b[31mred\u001b[0m\r\nvidup: clip.mp4: uploaded \u009b2J \u202etxt.exe"}`),
		replyType(400, "text/plain", "bad \x1b]0;title\x07 \x1b[2J"),
		replyHeader(302, "Location", "http://evil.example/\x1b[2J", ""),
	} {
		s := newServer(t, h)
		c := newClient(t, s.URL)
		_, err := c.RefreshCredentials(context.Background(), "s1")
		if err == nil {
			t.Fatal("no error")
		}
		msg := err.Error()
		for _, bad := range []string{"\x1b", "\r", "\n", "\x07", "\u009b", "\u202e"} {
			if strings.Contains(msg, bad) {
				t.Errorf("error %q holds %q", msg, bad)
			}
		}
		if !strings.Contains(msg, `\x1b`) && !strings.Contains(msg, `%1B`) {
			t.Errorf("error %q does not show the escape it dropped", msg)
		}
	}
}

func TestGetVideo(t *testing.T) {
	s := newServer(t, reply(503, `{"error":"db busy"}`),
		reply(200, `{"id":"v 1","status":"failed","error":"ffmpeg: no video stream"}`))
	c := newClient(t, s.URL)
	v, err := c.GetVideo(context.Background(), "v 1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != contract.StatusFailed || v.Error != "ffmpeg: no video stream" {
		t.Errorf("video = %+v", v)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (one retry of the 503)", len(reqs))
	}
	for _, r := range reqs {
		if r.method != http.MethodGet || r.path != "/api/v1/videos/v 1" || r.auth != "Bearer "+testToken || len(r.body) != 0 || r.contentType != "" {
			t.Errorf("request = %+v", r)
		}
	}

	// A plain v1 server: no status in the answer.
	s = newServer(t, reply(200, `{"id":"v-2"}`))
	if v, err := newClient(t, s.URL).GetVideo(context.Background(), "v-2"); err != nil || v.Status != "" {
		t.Errorf("v1 answer: %+v, %v", v, err)
	}
	// Another video than the one asked for is a bad answer.
	s = newServer(t, reply(200, `{"id":"v-3","status":"ready"}`))
	if _, err := newClient(t, s.URL).GetVideo(context.Background(), "v-2"); err == nil || !strings.Contains(err.Error(), OpGetVideo) {
		t.Errorf("other video: %v", err)
	}
	// 404 is not retried and says so.
	s = newServer(t, reply(404, `{"error":"no such video"}`))
	_, err = newClient(t, s.URL).GetVideo(context.Background(), "v-4")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 404 || len(s.requests()) != 1 {
		t.Errorf("404: %v after %d requests", err, len(s.requests()))
	}
	if _, err := newClient(t, s.URL).GetVideo(context.Background(), ""); err == nil {
		t.Error("GetVideo of no id: no error")
	}
}
