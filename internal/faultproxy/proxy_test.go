package faultproxy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/faultproxy"
)

func newProxy(t *testing.T, target string, opts ...faultproxy.Option) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestNewRefusesABadTarget(t *testing.T) {
	for _, target := range []string{"", "127.0.0.1:9000", "ftp://127.0.0.1", "http://"} {
		if p, err := faultproxy.New(target); err == nil {
			p.Close()
			t.Errorf("New(%q) accepted a target that is not an http URL", target)
		} else if !strings.Contains(err.Error(), "http://127.0.0.1:9000") {
			t.Errorf("New(%q) error %q does not show a valid target", target, err)
		}
	}
}

// The request reaches the target as the client wrote it: same method, path
// bytes, raw query, Host and headers, so that signatures over them hold.
func TestForwardsTheRequestFaithfully(t *testing.T) {
	type seen struct {
		method, host, requestURI, body string
		header                         http.Header
		contentLength                  int64
	}
	got := make(chan seen, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Host, r.RequestURI, string(b), r.Header.Clone(), r.ContentLength}
		w.Header().Set("ETag", `"abc"`)
		w.WriteHeader(http.StatusOK)
	}))
	defer upstream.Close()
	p := newProxy(t, upstream.URL)

	const uri = "/bucket/dir/a%20b%2Bc.mp4?partNumber=7&uploadId=u%2F1&x-id=UploadPart"
	req, err := http.NewRequest(http.MethodPut, p.URL()+uri, strings.NewReader("part body"))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "videos.example:9000"
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != `"abc"` {
		t.Fatalf("answer %d with ETag %q, want the target's 200 and ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
	s := <-got
	if s.method != http.MethodPut || s.host != "videos.example:9000" || s.requestURI != uri || s.body != "part body" {
		t.Fatalf("target saw %s %s Host %s body %q; want PUT %s Host videos.example:9000 body %q",
			s.method, s.requestURI, s.host, s.body, uri, "part body")
	}
	for _, h := range []string{"X-Amz-Date", "X-Amz-Content-Sha256", "Authorization"} {
		if s.header.Get(h) != req.Header.Get(h) {
			t.Errorf("header %s = %q at the target, want %q", h, s.header.Get(h), req.Header.Get(h))
		}
	}
	if v, ok := s.header["X-Forwarded-For"]; ok {
		t.Errorf("the proxy added X-Forwarded-For %q; it must add nothing", v)
	}
	// SigV4 signs Content-Length: it must arrive as sent, not as chunked.
	if s.contentLength != int64(len("part body")) {
		t.Errorf("Content-Length at the target = %d, want %d", s.contentLength, len("part body"))
	}
}

// The body reaches the target while the client is still sending it: the
// proxy streams, it does not buffer the body first.
func TestStreamsTheBody(t *testing.T) {
	firstChunk := make(chan []byte, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("read first chunk: %v", err)
		}
		firstChunk <- buf
		io.Copy(io.Discard, r.Body)
	}))
	defer upstream.Close()
	p := newProxy(t, upstream.URL)

	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, p.URL()+"/bucket/key", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 10
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-firstChunk:
		if string(b) != "first" {
			t.Fatalf("target read %q first, want %q", b, "first")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the target saw nothing of the body while the client held its end: the proxy buffers bodies")
	}
	pw.Write([]byte("-rest"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.BytesForwarded != 10 || st.BytesReceived != 10 {
		t.Fatalf("bytes received/forwarded = %d/%d, want 10/10", st.BytesReceived, st.BytesForwarded)
	}
}

func TestKeepsClientConnectionsAlive(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	}))
	defer upstream.Close()
	p := newProxy(t, upstream.URL)
	p.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Path == "/bucket/throttled" {
			return faultproxy.SlowDown()
		}
		return faultproxy.Pass()
	})

	client := &http.Client{Transport: &http.Transport{}}
	var reused []bool
	for _, path := range []string{"/bucket/a", "/bucket/throttled", "/bucket/b"} {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) }}
		req, _ := http.NewRequest(http.MethodPut, p.URL()+path, bytes.NewReader(make([]byte, 1<<20)))
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if len(reused) != 3 || reused[0] || !reused[1] || !reused[2] {
		t.Fatalf("connection reused = %v, want a new one, then the same one twice (answered errors included)", reused)
	}
}

// CutAfter resets the connection (RST), not a polite close (FIN): a client
// waiting for the answer reads ECONNRESET, never EOF or a response.
func TestCutAfterSendsReset(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a cut request reached the target")
	}))
	defer upstream.Close()
	p := newProxy(t, upstream.URL)
	p.SetRule(func(*faultproxy.RequestInfo) faultproxy.Action { return faultproxy.CutAfter(1000) })

	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Declare more than is sent, so the client is only reading when the
	// proxy cuts.
	fmt.Fprintf(conn, "PUT /bucket/key?partNumber=3&uploadId=u HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	if _, err := conn.Write(make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		t.Fatalf("got an answer %d from a cut connection", resp.StatusCode)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read from a cut connection: %v, want ECONNRESET", err)
	}

	st := p.Stats()
	want := faultproxy.CutAttempt{
		Target:  faultproxy.Target{Method: http.MethodPut, Path: "/bucket/key", PartNumber: 3},
		Attempt: 1, BytesRead: 1000,
	}
	if len(st.Cuts) != 1 || st.Cuts[0] != want {
		t.Fatalf("cuts = %+v, want [%+v]", st.Cuts, want)
	}
	if st.BytesReceived != 1000 || st.BytesForwarded != 0 || st.Requests[faultproxy.KindUploadPart] != 1 {
		t.Fatalf("stats = %+v, want 1000 bytes received, none forwarded, one UploadPart", st)
	}
}

func TestRespondAnswersInsteadOfTheTarget(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("an answered request reached the target")
	}))
	defer upstream.Close()
	p := newProxy(t, upstream.URL)
	p.SetRule(func(*faultproxy.RequestInfo) faultproxy.Action {
		return faultproxy.S3Error(http.StatusBadRequest, "ExpiredToken", "The provided token has expired & <must> be refreshed.")
	})
	resp, err := http.Post(p.URL()+"/bucket/key?uploads", "application/octet-stream", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "<Error><Code>ExpiredToken</Code><Message>The provided token has expired &amp; &lt;must&gt; be refreshed.</Message></Error>"
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), want) ||
		resp.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("answer %d %q %q, want 400 application/xml with %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
	}
	st := p.Stats()
	ts := st.Targets[faultproxy.Target{Method: http.MethodPost, Path: "/bucket/key"}]
	if ts.Answered != 1 || ts.BytesReceived != 3 || ts.BytesForwarded != 0 || st.Requests[faultproxy.KindCreateMultipartUpload] != 1 {
		t.Fatalf("stats = %+v, target %+v; want one answered CreateMultipartUpload, 3 bytes received, none forwarded", st, ts)
	}
}

func TestAttemptsCountPerMethodPathAndPart(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer upstream.Close()
	p := newProxy(t, upstream.URL)
	var attempts []int
	p.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		attempts = append(attempts, ri.Attempt) // requests below run one at a time
		return faultproxy.Pass()
	})
	do := func(method, uri string) {
		req, _ := http.NewRequest(method, p.URL()+uri, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do(http.MethodPut, "/b/k?partNumber=1&uploadId=u")
	do(http.MethodPut, "/b/k?partNumber=2&uploadId=u")
	do(http.MethodPut, "/b/k?partNumber=1&uploadId=u")
	do(http.MethodHead, "/b/k")
	do(http.MethodPut, "/b/k?partNumber=1&uploadId=u")
	if want := []int{1, 1, 2, 1, 3}; fmt.Sprint(attempts) != fmt.Sprint(want) {
		t.Fatalf("attempts = %v, want %v", attempts, want)
	}
	if got := p.Stats().PartAttempts(); len(got) != 2 || got[1] != 3 || got[2] != 1 {
		t.Fatalf("part attempts = %v, want part 1: 3, part 2: 1", got)
	}
	p.ResetStats()
	do(http.MethodPut, "/b/k?partNumber=1&uploadId=u")
	if attempts[len(attempts)-1] != 1 {
		t.Fatalf("attempt after ResetStats = %d, want 1", attempts[len(attempts)-1])
	}
}

// BenchmarkPassThrough measures what the proxy costs a stream of 8 MiB
// parts to a local target.
func BenchmarkPassThrough(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer upstream.Close()
	p, err := faultproxy.New(upstream.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	body := make([]byte, 8<<20)
	client := &http.Client{Transport: &http.Transport{}}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, err := client.Post(p.URL()+"/b/k", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

func TestHoldAnswerLetsTheTargetActButHoldsItsAnswer(t *testing.T) {
	var hits atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("done"))
	}))
	defer upstream.Close()
	p, err := faultproxy.New(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetRule(func(*faultproxy.RequestInfo) faultproxy.Action { return faultproxy.HoldAnswer(time.Minute) })
	client := &http.Client{Timeout: 300 * time.Millisecond}
	resp, err := client.Get(p.URL() + "/bucket/key")
	if err == nil {
		resp.Body.Close()
		t.Fatal("the answer was not held")
	}
	if hits.Load() != 1 {
		t.Errorf("the target saw %d requests, want 1", hits.Load())
	}
	p.SetRule(nil)
	resp, err = client.Get(p.URL() + "/bucket/key")
	if err != nil {
		t.Fatalf("after the rule is gone: %v", err)
	}
	resp.Body.Close()
}
