// Package api is the uploader's client of the upload contract v1: it opens
// upload sessions, refreshes their temporary credentials and registers
// uploaded videos with any server that follows the contract, not only with
// vidup serve.
//
// Every call retries transient failures (network errors, 408, 429, 500,
// 502, 503, 504) with exponential backoff and full jitter, honouring
// Retry-After, bounded in attempts and in elapsed time. Other answers are
// returned at once as a *StatusError carrying the server's error text.
//
// CreateSession is retried like the others. A retry after an answer that was
// lost on the way back may leave an unused session on the server; that is
// harmless: it holds no object and its credentials expire on their own.
// RegisterVideo is safe to retry because it carries the upload id as its
// Idempotency-Key.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/retry"
	"github.com/vidup/vidup/internal/units"
)

// Names of the operations, as they appear in errors and in the onRetry hook.
const (
	OpCreateSession      = "open upload session"
	OpRefreshCredentials = "refresh credentials"
	OpRegisterVideo      = "register video"
	OpGetVideo           = "get video"
	OpCreatePackage      = "open package session"
	OpRegisterPackage    = "register package"
	OpRegisterBatch      = "register videos"
)

// maxBody bounds what is read of any answer: the contract's answers are a
// few kilobytes, and a misconfigured URL may point at something endless.
const maxBody = 1 << 20

// maxPackageBody bounds a package's registration answer, which lists every
// object with its key: up to 100,000 of them (contract 1b).
const maxPackageBody = 64 << 20

// bodyLimit is what is read of the answer to op.
func bodyLimit(op string) int {
	if op == OpRegisterPackage {
		return maxPackageBody
	}
	return maxBody
}

// defaultTimeout bounds one request; registration may wait on the server's
// HEAD of the object, which is quick, so a minute is generous.
const defaultTimeout = 60 * time.Second

// Client calls one API. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	retry     retry.Policy
	onRetry   func(op string, attempt int, err error, wait time.Duration)
	userAgent string
	now       func() time.Time
}

// newTransport is http.DefaultTransport keeping more idle connections: its
// two per host made an upload of many small files, which registers up to
// --concurrency files at once, open a new connection for every other call
// (2,281 connects for 5,000 files).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (transport, proxies, timeouts).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithTransportWrapper wraps the transport of the client's HTTP client, so
// that vidup's --verbose sees every call (a copy of the client is changed).
func WithTransportWrapper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *Client) {
		if wrap != nil {
			hc := *c.http
			hc.Transport = wrap(hc.Transport)
			c.http = &hc
		}
	}
}

// WithRetry sets the retry policy: the one every command builds from its
// flags. A client built without it uses retry.Default().
func WithRetry(p retry.Policy) Option {
	return func(c *Client) { c.retry = p }
}

// WithOnRetry sets a hook called before each wait between two attempts, so
// that the user sees why the uploader is waiting.
func WithOnRetry(f func(op string, attempt int, err error, wait time.Duration)) Option {
	return func(c *Client) { c.onRetry = f }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// New returns a client of the API at baseURL, an absolute http or https URL
// (a path prefix is kept: https://example.com/video-api). token is sent as a
// bearer token and never appears in an error.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := baseURL
		if err == nil {
			shown = u.Redacted()
		}
		return nil, &URLError{URL: shown}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, &URLError{URL: u.Redacted(), QueryOrFragment: true}
	}
	if token == "" {
		return nil, ErrNoToken
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:      u,
		token:     token,
		http:      &http.Client{Timeout: defaultTimeout, Transport: newTransport()},
		retry:     retry.Default(),
		userAgent: "vidup",
		now:       time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	// The contract (section 4) follows no redirect: the token must never
	// travel to another host, port or scheme, and a 3xx is reported. A
	// copy, so that the caller's client is left as it was.
	hc := *c.http
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	return c, nil
}

// BaseURL returns the API's base URL, without any password it may hold.
func (c *Client) BaseURL() string { return c.base.Redacted() }

// CreateSession opens an upload session for req.Files and checks that the
// answer is complete: a session the uploader cannot use is an error here,
// not a failure deep inside S3.
func (c *Client) CreateSession(ctx context.Context, req contract.SessionRequest) (*contract.Session, error) {
	if len(req.Files) == 0 {
		return nil, fmt.Errorf("%s: no files in the request", OpCreateSession)
	}
	if len(req.Files) > contract.MaxFilesPerSession {
		return nil, fmt.Errorf("%s: %d files in one session; the contract allows at most %d, split them into batches",
			OpCreateSession, len(req.Files), contract.MaxFilesPerSession)
	}
	var s contract.Session
	if _, err := c.call(ctx, http.MethodPost, OpCreateSession, contract.PathUploads, nil, req, &s); err != nil {
		return nil, err
	}
	if err := c.checkSession(&s, len(req.Files)); err != nil {
		return nil, err
	}
	return &s, nil
}

// CreatePackageSession opens one session for a package (contract v1.1
// section 1b): many files, one asset. The answer carries Package (upload id
// and key prefix) in place of Uploads.
func (c *Client) CreatePackageSession(ctx context.Context, pkg contract.PackageRequest) (*contract.Session, error) {
	if len(pkg.Files) == 0 {
		return nil, fmt.Errorf("%s %s: no files in the package", OpCreatePackage, pkg.Name)
	}
	if len(pkg.Files) > contract.MaxFilesPerPackage {
		return nil, fmt.Errorf("%s %s: %d files; the contract allows at most %d in one package",
			OpCreatePackage, pkg.Name, len(pkg.Files), contract.MaxFilesPerPackage)
	}
	var s contract.Session
	if _, err := c.call(ctx, http.MethodPost, OpCreatePackage, contract.PathUploads, nil, contract.SessionRequest{Package: &pkg}, &s); err != nil {
		return nil, err
	}
	if err := c.checkSession(&s, -1); err != nil {
		return nil, err
	}
	return &s, nil
}

// RegisterPackage registers a package (contract v1.1 section 3b), with its
// upload id as the Idempotency-Key. created is false on a replay (200).
func (c *Client) RegisterPackage(ctx context.Context, req contract.VideoRequest) (v *contract.Video, created bool, err error) {
	if req.Package == nil || req.Package.UploadID == "" {
		return nil, false, fmt.Errorf("%s: no package upload id, which the registration needs as its idempotency key", OpRegisterPackage)
	}
	hdr := http.Header{contract.IdempotencyKeyHeader: []string{req.Package.UploadID}}
	var out contract.Video
	status, err := c.call(ctx, http.MethodPost, OpRegisterPackage, contract.PathVideos, hdr, req, &out)
	if err != nil {
		return nil, false, err
	}
	if out.ID == "" {
		return nil, false, c.badAnswer(OpRegisterPackage, "a registered package without id")
	}
	return &out, status == http.StatusCreated, nil
}

// ErrNoBatch means the server does not offer batch registration (a v1
// server answered 404 or 405 on the batch endpoint): register one video per
// call instead (contract v1.1 section 3c).
var ErrNoBatch = errors.New("the API does not offer batch registration")

// RegisterBatch registers several uploads of one session in one call
// (contract v1.1 section 3c). The answer has one entry per request, in
// order, each with the status its single call would have had. A server
// without the endpoint gives an error matching errors.Is(err, ErrNoBatch).
func (c *Client) RegisterBatch(ctx context.Context, sessionID string, reqs []contract.VideoRequest) ([]contract.BatchEntry, error) {
	if sessionID == "" {
		return nil, fmt.Errorf("%s: no session id", OpRegisterBatch)
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	var out contract.BatchResponse
	_, err := c.call(ctx, http.MethodPost, OpRegisterBatch, contract.BatchPath(url.PathEscape(sessionID)), nil, contract.BatchRequest{Videos: reqs}, &out)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed) {
			return nil, fmt.Errorf("%w: %w", ErrNoBatch, err)
		}
		return nil, err
	}
	if len(out.Videos) != len(reqs) {
		return nil, c.badAnswer(OpRegisterBatch, fmt.Sprintf("%d entries for %d registrations", len(out.Videos), len(reqs)))
	}
	for i, e := range out.Videos {
		if (e.Status == http.StatusCreated || e.Status == http.StatusOK) && (e.Video == nil || e.Video.ID == "") {
			return nil, c.badAnswer(OpRegisterBatch, fmt.Sprintf("entry %d registered without a video id", i+1))
		}
	}
	return out.Videos, nil
}

// RefreshCredentials asks for new credentials for a session. When the
// server no longer knows the session, the error satisfies
// errors.Is(err, contract.ErrSessionGone).
func (c *Client) RefreshCredentials(ctx context.Context, sessionID string) (contract.Credentials, error) {
	if sessionID == "" {
		return contract.Credentials{}, fmt.Errorf("%s: no session id", OpRefreshCredentials)
	}
	var r contract.CredentialsResponse
	// The session id is one path segment, escaped here once (endpoint
	// does not escape again).
	if _, err := c.call(ctx, http.MethodPost, OpRefreshCredentials, contract.CredentialsPath(url.PathEscape(sessionID)), nil, struct{}{}, &r); err != nil {
		return contract.Credentials{}, err
	}
	if err := c.checkCredentials(OpRefreshCredentials, r.Credentials); err != nil {
		return contract.Credentials{}, err
	}
	return r.Credentials, nil
}

// RegisterVideo registers an uploaded object. created is false when the
// server answered 200: it had registered this upload before (a replay of
// the same Idempotency-Key), and v is that earlier registration.
func (c *Client) RegisterVideo(ctx context.Context, req contract.VideoRequest) (v *contract.Video, created bool, err error) {
	if req.UploadID == "" {
		return nil, false, fmt.Errorf("%s %s: no upload id, which the registration needs as its idempotency key", OpRegisterVideo, req.Filename)
	}
	hdr := http.Header{contract.IdempotencyKeyHeader: []string{req.UploadID}}
	var out contract.Video
	status, err := c.call(ctx, http.MethodPost, OpRegisterVideo, contract.PathVideos, hdr, req, &out)
	if err != nil {
		return nil, false, err
	}
	if out.ID == "" {
		return nil, false, c.badAnswer(OpRegisterVideo, "a registered video without id")
	}
	return &out, status == http.StatusCreated, nil
}

// GetVideo reads a registered video (GET /api/v1/videos/{id}), retried like
// every call. Its Status is empty when the server does not report
// processing status (a plain v1 server, contract section 5).
func (c *Client) GetVideo(ctx context.Context, videoID string) (*contract.Video, error) {
	if videoID == "" {
		return nil, fmt.Errorf("%s: no video id", OpGetVideo)
	}
	var out contract.Video
	// The id is one path segment, escaped here once (endpoint does not
	// escape again).
	if _, err := c.call(ctx, http.MethodGet, OpGetVideo, contract.PathVideos+"/"+url.PathEscape(videoID), nil, nil, &out); err != nil {
		return nil, err
	}
	if out.ID != "" && out.ID != videoID {
		return nil, c.badAnswer(OpGetVideo, fmt.Sprintf("video %q for a request of video %q", units.Text(out.ID), units.Text(videoID)))
	}
	return &out, nil
}

// endpoint is the URL of path, a contract path whose segments are escaped
// already (url.PathEscape of a session id): it is escaped no further, so
// that "a b" travels as "a%20b", not "a%2520b", and "a/b" as "a%2Fb".
func (c *Client) endpoint(path string) string {
	u := *c.base
	p, err := url.PathUnescape(path)
	if err != nil {
		p = path
	}
	u.Path = c.base.Path + p
	u.RawPath = c.base.EscapedPath() + path
	return u.String()
}

// call sends body as JSON to path with method (a GET sends no body),
// retrying transient failures, and decodes a 2xx answer into out. It
// returns the final status.
func (c *Client) call(ctx context.Context, method, op, path string, hdr http.Header, body, out any) (int, error) {
	var payload []byte
	if method != http.MethodGet {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, fmt.Errorf("%s: encode request: %w", op, err)
		}
	}
	var status int
	var last error
	waiting := false // between two attempts, when ctx may end
	onRetry := func(attempt int, wait time.Duration, err error) {
		waiting = true
		if c.onRetry != nil {
			c.onRetry(op, attempt, err, wait)
		}
	}
	err := c.retry.Do(ctx, classifier, onRetry, func(ctx context.Context) error {
		waiting = false
		status, last = c.once(ctx, method, op, path, hdr, payload, out)
		return last
	})
	if err == nil {
		return status, nil
	}
	if ctx.Err() != nil {
		if waiting {
			return 0, fmt.Errorf("%s: %w (while waiting to retry after: %v)", op, ctx.Err(), last)
		}
		return 0, fmt.Errorf("%s: %w", op, ctx.Err())
	}
	return 0, err
}

// once makes one attempt.
func (c *Client) once(ctx context.Context, method, op, path string, hdr http.Header, payload []byte, out any) (int, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path), body)
	if err != nil {
		return 0, fmt.Errorf("%s: build request: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &NetworkError{Op: op, URL: c.BaseURL(), Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	limit := bodyLimit(op)
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		// The connection broke in the middle of the answer: as transient
		// as a refused connection.
		return 0, &NetworkError{Op: op, URL: c.BaseURL(), Reading: true, Err: err}
	}
	if len(data) > limit {
		return 0, c.badAnswer(op, fmt.Sprintf("more than %d bytes (status %s)", limit, resp.Status))
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return 0, c.redirectError(op, resp)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, c.statusError(op, resp, data)
	}
	if err := checkJSONType(resp.Header.Get("Content-Type")); err != nil {
		return 0, c.badAnswer(op, err.Error())
	}
	if err := json.Unmarshal(data, out); err != nil {
		return 0, &BadAnswerError{Op: op, URL: c.BaseURL(), Problem: "invalid JSON: " + jsonProblem(err, data)}
	}
	return resp.StatusCode, nil
}

// redirectError reports a 3xx: no redirect is followed (contract section
// 4), and where it pointed is named so that the user can fix the URL.
func (c *Client) redirectError(op string, resp *http.Response) *StatusError {
	e := &StatusError{Op: op, URL: c.BaseURL(), Status: resp.StatusCode, Redirect: true, RequestID: requestID(resp)}
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := resp.Request.URL.Parse(loc); err == nil {
			loc = u.Redacted()
		}
		e.Location = units.Text(strings.ReplaceAll(firstLine(loc, 300), c.token, "[redacted]"))
	}
	return e
}

func (c *Client) statusError(op string, resp *http.Response, data []byte) *StatusError {
	e := &StatusError{
		Op:         op,
		URL:        c.BaseURL(),
		Status:     resp.StatusCode,
		RetryAfter: retry.ParseAfter(resp.Header.Get("Retry-After"), c.now()),
		RequestID:  requestID(resp),
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var body contract.Error
	switch {
	case len(bytes.TrimSpace(data)) == 0:
	case json.Unmarshal(data, &body) == nil && body.Error != "":
		e.Message = body.Error
	case ct == "text/html" || looksLikeHTML(data):
		e.Message = "an HTML page, not the API's JSON"
		e.HTML = true
	case s3ErrorDocument(data, &e.S3Code, &e.Message):
	default:
		e.Message = firstLine(string(data), 200)
	}
	// A server may echo what it was sent; the token must not travel on in
	// an error message.
	// It is also shown on a terminal: no control character or escape
	// sequence of the server's reaches it unescaped.
	e.Message = units.Text(strings.ReplaceAll(e.Message, c.token, "[redacted]"))
	return e
}

// requestID is the answer's X-Request-Id when it is a plain token (the
// server's, shown to the user as it is), else "".
func requestID(resp *http.Response) string {
	id := resp.Header.Get(contract.RequestIDHeader)
	if !contract.ValidRequestID(id) {
		return ""
	}
	return id
}

func (c *Client) badAnswer(op, problem string) *BadAnswerError {
	return &BadAnswerError{Op: op, URL: c.BaseURL(), Problem: problem}
}

func (c *Client) checkSession(s *contract.Session, files int) error {
	bad := func(format string, a ...any) error {
		return c.badAnswer(OpCreateSession, "a session "+fmt.Sprintf(format, a...))
	}
	switch {
	case s.SessionID == "":
		return bad("without session_id")
	case s.Bucket == "":
		return bad("without bucket")
	case s.Region == "" && s.Endpoint == "":
		return bad("without region or endpoint")
	}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("whose endpoint %q is not an absolute http(s) URL", s.Endpoint)
		}
	}
	if files < 0 { // a package (section 1b)
		switch {
		case s.Package == nil:
			return bad("without package for a package request")
		case s.Package.UploadID == "":
			return bad("whose package has no upload_id")
		case s.Package.Prefix == "":
			return bad("whose package has no prefix")
		}
		return c.checkCredentials(OpCreatePackage, s.Credentials)
	}
	if len(s.Uploads) != files {
		return bad("with %d uploads for %d files", len(s.Uploads), files)
	}
	seen := make(map[string]bool, len(s.Uploads))
	for i, u := range s.Uploads {
		switch {
		case u.UploadID == "":
			return bad("whose upload %d has no upload_id", i+1)
		case u.Key == "":
			return bad("whose upload %d has no key", i+1)
		case seen[u.UploadID]:
			return bad("that repeats upload_id %q", u.UploadID)
		}
		seen[u.UploadID] = true
	}
	return c.checkCredentials(OpCreateSession, s.Credentials)
}

func (c *Client) checkCredentials(op string, cr contract.Credentials) error {
	var missing []string
	if cr.AccessKeyID == "" {
		missing = append(missing, "AccessKeyId")
	}
	if cr.SecretAccessKey == "" {
		missing = append(missing, "SecretAccessKey")
	}
	// (v1.1) SessionToken and Expiration may be absent: static keys.
	if len(missing) > 0 {
		return c.badAnswer(op, "credentials without "+strings.Join(missing, ", "))
	}
	if now := c.now(); !cr.Static() && !cr.Expiration.After(now) {
		e := c.badAnswer(op, fmt.Sprintf("credentials that expired at %s (this machine's clock says %s)",
			cr.Expiration.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
		e.Clock = true
		return e
	}
	return nil
}

func checkJSONType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("an unreadable Content-Type %q", ct)
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return nil
	}
	if mt == "text/html" {
		return errors.New("an HTML page instead of JSON")
	}
	return fmt.Errorf("%s instead of JSON", mt)
}

func jsonProblem(err error, data []byte) string {
	if len(bytes.TrimSpace(data)) == 0 {
		return "an empty body"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset >= int64(len(data)) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("the answer ends early after %d bytes", len(data))
	}
	return err.Error()
}

// s3ErrorDocument reads S3's XML error document
// (<Error><Code>…</Code><Message>…</Message></Error>) into code and msg
// ("Code: Message"), and reports whether data was one.
func s3ErrorDocument(data []byte, code, msg *string) bool {
	var doc struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}
	if xml.Unmarshal(data, &doc) != nil || doc.Code == "" {
		return false
	}
	*code = firstLine(doc.Code, 100)
	*msg = *code
	if m := firstLine(doc.Message, 200); m != "" {
		*msg += ": " + m
	}
	return true
}

func looksLikeHTML(data []byte) bool {
	head := strings.ToLower(strings.TrimSpace(string(data[:min(len(data), 512)])))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}

func firstLine(s string, limit int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// unwrapURLError drops *url.Error's "Post \"…\":" prefix: the message names
// the URL once, in its own words.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
