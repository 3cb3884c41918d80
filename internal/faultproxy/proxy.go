// Package faultproxy owns the test network between vidup and S3: a reverse
// proxy on 127.0.0.1 that forwards requests to a real S3 server (MinIO in
// tests) byte for byte, and on a rule of the test's choosing cuts
// connections mid-body, answers errors such as SlowDown, delays requests or
// adds latency, while counting what it received and forwarded.
//
// The client signs its requests for the proxy's address; the proxy keeps
// the Host header as the client sent it, so SigV4 signatures stay valid
// (MinIO checks them against the Host it receives). Bodies stream through,
// never buffered whole, and client connections stay alive between requests.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is the S3 operation a request is, as far as its method, path and
// query tell (path-style addressing: /bucket/key).
type Kind string

// The kinds of request the proxy tells apart.
const (
	KindCreateMultipartUpload   Kind = "CreateMultipartUpload"
	KindUploadPart              Kind = "UploadPart"
	KindCompleteMultipartUpload Kind = "CompleteMultipartUpload"
	KindAbortMultipartUpload    Kind = "AbortMultipartUpload"
	KindListParts               Kind = "ListParts"
	KindPutObject               Kind = "PutObject"
	KindGetObject               Kind = "GetObject"
	KindHeadObject              Kind = "HeadObject"
	KindDeleteObject            Kind = "DeleteObject"
	KindBucket                  Kind = "Bucket" // any request on a bucket itself
	KindOther                   Kind = "Other"
)

// Target is what attempts are counted for: one object or one part of it.
type Target struct {
	Method string
	Path   string
	// PartNumber is 0 for requests that are not about one part.
	PartNumber int
}

// RequestInfo describes a request to the rule that decides its Action.
type RequestInfo struct {
	Method string
	// Path is the decoded URL path, /bucket/key in path-style addressing.
	Path          string
	Query         url.Values
	Header        http.Header
	ContentLength int64 // -1 when unknown (chunked)
	Kind          Kind
	PartNumber    int    // from ?partNumber=, 0 when absent
	UploadID      string // from ?uploadId=, "" when absent
	// Attempt counts requests for the same Target, from 1, since the proxy
	// started or since ResetStats.
	Attempt int
}

// Target is the (method, path, part number) whose attempts this request counts in.
func (ri *RequestInfo) Target() Target {
	return Target{Method: ri.Method, Path: ri.Path, PartNumber: ri.PartNumber}
}

// TargetStats counts the requests of one Target.
type TargetStats struct {
	Attempts int
	// Cut counts attempts ended by CutAfter; Answered those that Respond
	// answered in the proxy's place.
	Cut      int
	Answered int
	// BytesReceived counts body bytes read from the client, cut and
	// answered attempts included; BytesForwarded only those sent on to the
	// target.
	BytesReceived  int64
	BytesForwarded int64
}

// CutAttempt records one connection that CutAfter reset.
type CutAttempt struct {
	Target
	Attempt   int
	BytesRead int64
}

// Stats is a snapshot of the proxy's counters.
type Stats struct {
	Requests       map[Kind]int
	BytesReceived  int64
	BytesForwarded int64
	Targets        map[Target]TargetStats
	Cuts           []CutAttempt
	// UpstreamErrors counts forwarded requests that failed between the
	// proxy and the target (answered 502 to the client).
	UpstreamErrors int
}

// PartAttempts sums UploadPart attempts by part number, over every object:
// the shape "only the failed parts were sent again" is asserted in.
func (s Stats) PartAttempts() map[int]int {
	out := map[int]int{}
	for t, ts := range s.Targets {
		if t.Method == http.MethodPut && t.PartNumber > 0 {
			out[t.PartNumber] += ts.Attempts
		}
	}
	return out
}

// PartBytesForwarded sums UploadPart body bytes forwarded, by part number.
func (s Stats) PartBytesForwarded() map[int]int64 {
	out := map[int]int64{}
	for t, ts := range s.Targets {
		if t.Method == http.MethodPut && t.PartNumber > 0 {
			out[t.PartNumber] += ts.BytesForwarded
		}
	}
	return out
}

// Option configures a Proxy.
type Option func(*Proxy)

// WithLatency adds rtt of latency to every forwarded request: half of it
// before the request goes to the target and half before the answer's first
// byte goes back to the client. Bodies then flow at full speed: it models
// the round trip of each request, not a link's bandwidth-delay product.
// Actions other than Pass are not delayed (use DelayThen).
func WithLatency(rtt time.Duration) Option {
	return func(p *Proxy) { p.halfRTT = rtt / 2 }
}

// Proxy is a fault-injecting reverse proxy listening on 127.0.0.1.
type Proxy struct {
	target    *url.URL
	listener  net.Listener
	server    *http.Server
	transport *http.Transport
	forward   *httputil.ReverseProxy
	halfRTT   time.Duration

	mu      sync.Mutex
	rule    func(*RequestInfo) Action
	stats   Stats
	serveCh chan error
}

// New starts a proxy on 127.0.0.1 (a free port) that forwards to target,
// an http:// or https:// base URL such as the MinIO endpoint.
func New(target string, opts ...Option) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not an http:// or https:// URL with a host; pass the S3 endpoint, e.g. http://127.0.0.1:9000", target)
	}
	p := &Proxy{target: u}
	p.resetLocked()
	for _, o := range opts {
		o(p)
	}
	p.transport = &http.Transport{
		// Loopback test traffic: never through a proxy from the environment.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// The client chose its Accept-Encoding; adding gzip here would
		// change the answer it gets.
		DisableCompression: true,
		WriteBufferSize:    64 << 10,
		ReadBufferSize:     64 << 10,
	}
	p.forward = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = u.Scheme
			pr.Out.URL.Host = u.Host
			// pr.Out.Host stays the client's: it is part of the signature.
		},
		Transport:      p.transport,
		ModifyResponse: p.delayResponse,
		ErrorHandler:   p.upstreamError,
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen on 127.0.0.1: %w", err)
	}
	p.listener = ln
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	p.serveCh = make(chan error, 1)
	go func() { p.serveCh <- p.server.Serve(ln) }()
	return p, nil
}

// URL is the proxy's base URL: give it to the client as its S3 endpoint.
func (p *Proxy) URL() string { return "http://" + p.listener.Addr().String() }

// SetRule decides the Action of every later request; nil passes them all.
// The rule runs on the proxy's request goroutines, concurrently: it must be
// safe for concurrent use.
func (p *Proxy) SetRule(rule func(*RequestInfo) Action) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule = rule
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Requests = make(map[Kind]int, len(p.stats.Requests))
	for k, v := range p.stats.Requests {
		s.Requests[k] = v
	}
	s.Targets = make(map[Target]TargetStats, len(p.stats.Targets))
	for k, v := range p.stats.Targets {
		s.Targets[k] = v
	}
	s.Cuts = append([]CutAttempt(nil), p.stats.Cuts...)
	return s
}

// ResetStats zeroes the counters, attempt numbers included.
func (p *Proxy) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetLocked()
}

func (p *Proxy) resetLocked() {
	p.stats = Stats{Requests: map[Kind]int{}, Targets: map[Target]TargetStats{}}
}

// Close stops listening and closes every connection, open requests included.
func (p *Proxy) Close() error {
	err := p.server.Close()
	p.transport.CloseIdleConnections()
	if serveErr := <-p.serveCh; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := p.admit(r)
	p.mu.Lock()
	rule := p.rule
	p.mu.Unlock()
	action := Pass()
	if rule != nil {
		action = rule(info)
	}
	p.apply(w, r, info, action)
}

// admit describes the request and counts it.
func (p *Proxy) admit(r *http.Request) *RequestInfo {
	q := r.URL.Query()
	info := &RequestInfo{
		Method:        r.Method,
		Path:          r.URL.Path,
		Query:         q,
		Header:        r.Header.Clone(),
		ContentLength: r.ContentLength,
		UploadID:      q.Get("uploadId"),
	}
	if n, err := strconv.Atoi(q.Get("partNumber")); err == nil {
		info.PartNumber = n
	}
	info.Kind = kindOf(r.Method, r.URL.Path, q)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests[info.Kind]++
	t := info.Target()
	ts := p.stats.Targets[t]
	ts.Attempts++
	p.stats.Targets[t] = ts
	info.Attempt = ts.Attempts
	return info
}

func kindOf(method, path string, q url.Values) Kind {
	if !strings.Contains(strings.Trim(path, "/"), "/") {
		return KindBucket
	}
	_, uploads := q["uploads"]
	_, uploadID := q["uploadId"]
	switch {
	case method == http.MethodPost && uploads:
		return KindCreateMultipartUpload
	case method == http.MethodPut && uploadID && q.Has("partNumber"):
		return KindUploadPart
	case method == http.MethodPost && uploadID:
		return KindCompleteMultipartUpload
	case method == http.MethodDelete && uploadID:
		return KindAbortMultipartUpload
	case method == http.MethodGet && uploadID:
		return KindListParts
	case method == http.MethodPut:
		return KindPutObject
	case method == http.MethodGet:
		return KindGetObject
	case method == http.MethodHead:
		return KindHeadObject
	case method == http.MethodDelete:
		return KindDeleteObject
	}
	return KindOther
}

func (p *Proxy) apply(w http.ResponseWriter, r *http.Request, info *RequestInfo, a Action) {
	switch a.kind {
	case actDelay:
		if !sleep(r.Context(), a.delay) {
			return // the client went away; nobody to answer
		}
		p.apply(w, r, info, *a.then)
	case actCut:
		p.cut(w, r, info, a.cutAfter)
	case actRespond:
		p.respond(w, r, info, a)
	case actHoldAnswer:
		p.pass(w, r.WithContext(context.WithValue(r.Context(), holdAnswerKey{}, a.delay)), info)
	case actModify:
		p.pass(w, r.WithContext(context.WithValue(r.Context(), modifyKey{}, a.modify)), info)
	default:
		p.pass(w, r, info)
	}
}

func (p *Proxy) pass(w http.ResponseWriter, r *http.Request, info *RequestInfo) {
	if !sleep(r.Context(), p.halfRTT) {
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, p: p, target: info.Target(), forwarded: true}
	}
	p.forward.ServeHTTP(w, r)
}

func (p *Proxy) respond(w http.ResponseWriter, r *http.Request, info *RequestInfo, a Action) {
	if r.Body != nil {
		body := &countingBody{ReadCloser: r.Body, p: p, target: info.Target()}
		_, _ = io.Copy(io.Discard, body)
	}
	p.mu.Lock()
	ts := p.stats.Targets[info.Target()]
	ts.Answered++
	p.stats.Targets[info.Target()] = ts
	p.mu.Unlock()

	for k, vs := range a.header {
		w.Header()[k] = append([]string(nil), vs...)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func (p *Proxy) cut(w http.ResponseWriter, r *http.Request, info *RequestInfo, n int64) {
	var read int64
	if r.Body != nil && n > 0 {
		body := &countingBody{ReadCloser: r.Body, p: p, target: info.Target()}
		read, _ = io.CopyN(io.Discard, body, n)
	}
	p.mu.Lock()
	ts := p.stats.Targets[info.Target()]
	ts.Cut++
	p.stats.Targets[info.Target()] = ts
	p.stats.Cuts = append(p.stats.Cuts, CutAttempt{Target: info.Target(), Attempt: info.Attempt, BytesRead: read})
	p.mu.Unlock()

	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Only HTTP/1 connections can be hijacked, and the proxy serves
		// nothing else; fail loudly rather than answer normally.
		panic(fmt.Sprintf("faultproxy: cannot take over the connection to cut it: %v", err))
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		// Linger 0 makes Close send RST instead of FIN: the client sees
		// "connection reset by peer", as when a link or a server dies.
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// holdAnswerKey carries a HoldAnswer delay from the rule to the answer.
type holdAnswerKey struct{}

// modifyKey carries a Modify function from the rule to the answer.
type modifyKey struct{}

func (p *Proxy) delayResponse(resp *http.Response) error {
	ctx := resp.Request.Context()
	d := p.halfRTT
	if hold, ok := ctx.Value(holdAnswerKey{}).(time.Duration); ok {
		d += hold
	}
	if !sleep(ctx, d) {
		return ctx.Err()
	}
	if f, ok := ctx.Value(modifyKey{}).(func(*http.Response) error); ok {
		return f(resp)
	}
	return nil
}

func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	p.mu.Lock()
	p.stats.UpstreamErrors++
	p.mu.Unlock()
	if r.Context().Err() != nil {
		return // the client is gone
	}
	http.Error(w, "faultproxy: forward to the target: "+err.Error(), http.StatusBadGateway)
}

// countingBody counts body bytes as they are read from the client.
type countingBody struct {
	io.ReadCloser
	p         *Proxy
	target    Target
	forwarded bool
}

func (b *countingBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if n > 0 {
		b.p.mu.Lock()
		ts := b.p.stats.Targets[b.target]
		ts.BytesReceived += int64(n)
		b.p.stats.BytesReceived += int64(n)
		if b.forwarded {
			ts.BytesForwarded += int64(n)
			b.p.stats.BytesForwarded += int64(n)
		}
		b.p.stats.Targets[b.target] = ts
		b.p.mu.Unlock()
	}
	return n, err
}

// sleep waits d, or less when ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
