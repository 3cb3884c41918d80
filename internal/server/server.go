// Package server is vidup serve: the reference implementation of the upload
// contract v1.1 (docs/api.md). Every token belongs to a principal; sessions
// and videos belong to the principal that opened them. It opens upload
// sessions with temporary credentials that may write only the session's
// unregistered keys, verifies uploaded objects against S3, seals each one by
// a server-side copy to a prefix no credential may write, and registers it
// exactly once.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/store"
)

// Limits of a request.
const (
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxBulkBodyBytes bounds the bodies that carry many files: a
	// package session or registration (up to 100,000 files) and a batch.
	DefaultMaxBulkBodyBytes = 64 << 20
	// MaxObjectSize is S3's largest object: 48.8 TiB.
	MaxObjectSize      int64 = contract.MaxObjectSize
	DefaultPageSize          = 50
	MaxPageSize              = 1000
	maxContentType           = 255
	maxMetadataEntries       = 64
	maxMetadataKey           = 128
	maxMetadataValue         = 2048
)

// PathHealth is the unauthenticated liveness and readiness check.
const PathHealth = "/healthz"

// Defaults of the session settings.
const (
	// DefaultSessionMaxAge bounds how long a session's credentials may be
	// refreshed.
	DefaultSessionMaxAge = 7 * 24 * time.Hour
	// DefaultSessionRate and DefaultSessionBurst bound how fast one
	// principal opens sessions: each one costs an STS call and rows.
	DefaultSessionRate  rate.Limit = 5
	DefaultSessionBurst int        = 50
	// DefaultSealTimeout bounds the server-side copy that seals an object;
	// it runs on even when the client gives up waiting.
	DefaultSealTimeout = time.Hour
)

// Config is everything a Server needs. Store, Minter, Objects and Tokens are
// required.
type Config struct {
	Store   store.Store
	Minter  Minter
	Objects Objects
	Tokens  *Tokens

	Bucket string
	Region string
	// Endpoint is the S3 endpoint handed to clients; empty means AWS's own.
	Endpoint  string
	PathStyle bool
	// Checksum, when set, is the session's checksum mode (contract v1.1):
	// what the store verifies and keeps.
	Checksum *contract.ChecksumMode

	// Logger receives access logs and internal errors; nil discards them.
	Logger       *slog.Logger
	MaxBodyBytes int64 // 0: DefaultMaxBodyBytes
	// MaxBulkBodyBytes bounds a package's or a batch's body; 0 means
	// DefaultMaxBulkBodyBytes.
	MaxBulkBodyBytes int64
	Now              func() time.Time // nil: time.Now

	// SessionMaxAge: a session older than this is never refreshed again;
	// 0 means DefaultSessionMaxAge.
	SessionMaxAge time.Duration
	// SessionRate (sessions per second) and SessionBurst limit each
	// principal's new sessions; 0 means the defaults, a negative
	// SessionRate means no limit.
	SessionRate  rate.Limit
	SessionBurst int
	// SealTimeout bounds the copy that seals one object; 0 means
	// DefaultSealTimeout.
	SealTimeout time.Duration
	// Metrics are served on /metrics; nil: a registry of this server's own.
	Metrics *Metrics
}

// Server serves the API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	limiters *limiters

	mu       sync.Mutex
	inflight map[string]chan struct{} // upload id -> closed when its registration ends
}

// New checks cfg and builds the server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("server: no store")
	case cfg.Minter == nil:
		return nil, errors.New("server: no credentials minter")
	case cfg.Objects == nil:
		return nil, errors.New("server: no object reader")
	case cfg.Tokens == nil || cfg.Tokens.Len() == 0:
		return nil, errors.New("server: no API token")
	case cfg.Bucket == "":
		return nil, errors.New("server: no bucket")
	case cfg.Region == "":
		return nil, errors.New("server: no region")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBulkBodyBytes <= 0 {
		cfg.MaxBulkBodyBytes = max(DefaultMaxBulkBodyBytes, cfg.MaxBodyBytes)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionMaxAge <= 0 {
		cfg.SessionMaxAge = DefaultSessionMaxAge
	}
	if cfg.SessionRate == 0 {
		cfg.SessionRate = DefaultSessionRate
	}
	if cfg.SessionRate < 0 {
		cfg.SessionRate = rate.Inf
	}
	if cfg.SessionBurst <= 0 {
		cfg.SessionBurst = DefaultSessionBurst
	}
	if cfg.SealTimeout <= 0 {
		cfg.SealTimeout = DefaultSealTimeout
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	cfg.Store = cfg.Metrics.InstrumentStore(cfg.Store)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = slog.New(requestIDHandler{log.Handler()})
	s := &Server{
		cfg: cfg, log: log,
		limiters: &limiters{every: cfg.SessionRate, burst: cfg.SessionBurst, m: map[string]*rate.Limiter{}},
		inflight: map[string]chan struct{}{},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST "+contract.PathUploads, s.createSession)
	mux.HandleFunc("POST "+contract.PathUploads+"/{session_id}/credentials", s.refreshCredentials)
	mux.HandleFunc("POST "+contract.PathVideos, s.registerVideo)
	mux.HandleFunc("POST "+contract.PathUploads+"/{session_id}/videos", s.registerBatch)
	mux.HandleFunc("GET "+contract.PathVideos, s.listVideos)
	mux.HandleFunc("GET "+contract.PathVideos+"/{id}", s.getVideo)
	mux.HandleFunc("POST "+contract.PathVideos+"/{id}/status", s.setStatus)
	mux.HandleFunc("GET "+PathHealth, s.health)
	mux.HandleFunc("GET "+PathReady, s.ready)
	mux.Handle("GET "+PathMetrics, cfg.Metrics.handler())

	s.handler = withRequestID(s.accessLog(s.recoverPanics(s.authenticate(jsonFallbacks(mux)))))
	return s, nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// httpError is an answer other than success: its text goes to the client.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) error {
	return &httpError{status, fmt.Sprintf(format, a...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// fail answers err: its own text for an httpError, a generic text (and the
// details in the log) for anything else.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeJSON(w, he.status, contract.Error{Error: he.msg})
		return
	}
	s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, contract.Error{Error: "internal server error; the server log has the details"})
}

// decode reads a JSON body of at most MaxBodyBytes.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSON(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), v)
}

// decodeSized reads a JSON body of at most MaxBulkBodyBytes, and refuses
// one past MaxBodyBytes unless bulk (asked once it is decoded) says it is a
// package: only packages may be that large.
func (s *Server) decodeSized(w http.ResponseWriter, r *http.Request, v any, bulk func() bool) error {
	cr := &countingReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBulkBodyBytes)}
	if err := DecodeJSON(cr, v); err != nil {
		return err
	}
	if cr.n > s.cfg.MaxBodyBytes && !bulk() {
		return errorf(http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes; send fewer files or less metadata", s.cfg.MaxBodyBytes)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// DecodeJSON reads exactly one JSON document into v: anything but white
// space after it is refused, so that a body is read one way by every JSON
// parser. Unknown fields are ignored so that newer clients work with this
// server. Errors are httpErrors (400, or 413 past a MaxBytesReader's limit).
func DecodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	err := dec.Decode(v)
	if err == nil {
		var extra json.RawMessage
		switch err2 := dec.Decode(&extra); {
		case err2 == io.EOF:
			return nil
		case err2 == nil:
			return errorf(http.StatusBadRequest, "the request body holds more than one JSON document; send exactly one")
		default:
			err = err2
			var se *json.SyntaxError
			if errors.As(err2, &se) {
				return errorf(http.StatusBadRequest, "the request body has data after its JSON document; send exactly one")
			}
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes; send fewer files or less metadata", mbe.Limit)
	}
	if err == io.EOF {
		return errorf(http.StatusBadRequest, "the request body is empty; send a JSON document")
	}
	return errorf(http.StatusBadRequest, "the request body is not valid JSON: %v", err)
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	if !p.mayUpload() {
		s.fail(w, r, errorf(http.StatusForbidden, "principal %q has role %s, which uploads nothing", p.Name, p.Role))
		return
	}
	if wait := s.limiters.reserve(p.Name, s.cfg.Now()); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.fail(w, r, errorf(http.StatusTooManyRequests, "principal %q opens sessions faster than this server allows; retry in %d s", p.Name, secs))
		return
	}
	sess, err := s.openSession(r.Context(), w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.cfg.Metrics.sessions.Inc()
	writeJSON(w, http.StatusCreated, sess)
}

func (s *Server) openSession(ctx context.Context, w http.ResponseWriter, r *http.Request) (contract.Session, error) {
	var req contract.SessionRequest
	if err := s.decodeSized(w, r, &req, func() bool { return req.Package != nil }); err != nil {
		return contract.Session{}, err
	}
	if req.Package != nil {
		if len(req.Files) > 0 {
			return contract.Session{}, errorf(http.StatusBadRequest, "the session lists both \"files\" and \"package\"; send one of them")
		}
		return s.openPackageSession(ctx, *req.Package)
	}
	if len(req.Files) == 0 {
		return contract.Session{}, errorf(http.StatusBadRequest, "the session has no files; list 1 to %d files in \"files\"", contract.MaxFilesPerSession)
	}
	if len(req.Files) > contract.MaxFilesPerSession {
		return contract.Session{}, errorf(http.StatusRequestEntityTooLarge,
			"the session lists %d files, more than the %d one session may cover; split the batch",
			len(req.Files), contract.MaxFilesPerSession)
	}
	for i, f := range req.Files {
		switch {
		case f.Size < contract.UnknownSize:
			return contract.Session{}, errorf(http.StatusBadRequest, "files[%d]: size %d is negative; give the size in bytes, or -1 when it is unknown", i, f.Size)
		case f.Size > MaxObjectSize:
			return contract.Session{}, errorf(http.StatusBadRequest, "files[%d]: size %d is above S3's largest object (%d bytes, 48.8 TiB)", i, f.Size, MaxObjectSize)
		}
		if err := checkContentType(f.ContentType); err != nil {
			return contract.Session{}, errorf(http.StatusBadRequest, "files[%d]: %v", i, err)
		}
	}

	sess := store.Session{ID: uuid.NewString(), Principal: principalOf(ctx).Name, CreatedAt: s.cfg.Now().UTC()}
	uploads := make([]store.Upload, len(req.Files))
	wire := make([]contract.Upload, len(req.Files))
	keys := make([]string, len(req.Files))
	for i, f := range req.Files {
		id := uuid.NewString()
		name := SafeName(f.Name)
		key := SessionPrefix(sess.ID) + id + "/" + KeyName(name)
		keys[i] = key
		uploads[i] = store.Upload{ID: id, SessionID: sess.ID, Key: key, Name: name, Size: f.Size, ContentType: f.ContentType}
		wire[i] = contract.Upload{UploadID: id, Key: key}
	}
	// Stored before minting, so credentials never exist for a session the
	// server could forget.
	if err := s.cfg.Store.CreateSession(ctx, sess, uploads); err != nil {
		return contract.Session{}, err
	}
	creds, err := s.mint(ctx, sess.ID, keys)
	if err != nil {
		return contract.Session{}, err
	}
	return contract.Session{
		SessionID:   sess.ID,
		Bucket:      s.cfg.Bucket,
		Region:      s.cfg.Region,
		Endpoint:    s.cfg.Endpoint,
		PathStyle:   s.cfg.PathStyle,
		Checksum:    s.cfg.Checksum,
		Credentials: creds,
		Uploads:     wire,
	}, nil
}

// mint turns an STS failure into a 502: the server is fine, its upstream is
// not, and clients retry 502.
func (s *Server) mint(ctx context.Context, sessionID string, keys []string) (contract.Credentials, error) {
	creds, err := s.cfg.Minter.Mint(ctx, sessionID, keys)
	if err != nil {
		s.cfg.Metrics.stsErrors.Inc()
		s.log.ErrorContext(ctx, "minting credentials failed", "session_id", sessionID, "err", err)
		return contract.Credentials{}, errorf(http.StatusBadGateway, "the server could not get credentials for the session; retry later, or ask the API's operator to check its log")
	}
	creds.Expiration = creds.Expiration.UTC()
	return creds, nil
}

func checkContentType(ct string) error {
	if len(ct) > maxContentType {
		return fmt.Errorf("content_type is %d bytes long, more than %d", len(ct), maxContentType)
	}
	if strings.IndexFunc(ct, unicode.IsControl) >= 0 {
		return errors.New("content_type holds control characters")
	}
	return nil
}

// refreshCredentials answers 404 alike for a session that does not exist,
// is another principal's, is older than SessionMaxAge or is fully
// registered: none of them may be written again, and the caller learns
// nothing of another principal's sessions.
func (s *Server) refreshCredentials(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// PathValue has undone the one level of escaping of the segment; the
	// id is looked up as it is, never unescaped again.
	id := r.PathValue("session_id")
	sess, err := s.cfg.Store.Session(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if err != nil || sess.Principal != principalOf(ctx).Name {
		s.fail(w, r, errorf(http.StatusNotFound, "session %q is unknown to this server; open a new session", id))
		return
	}
	if !sess.ClosedAt.IsZero() {
		s.fail(w, r, errorf(http.StatusNotFound, "session %q was closed as stale; open a new session", id))
		return
	}
	if age := s.cfg.Now().Sub(sess.CreatedAt); age > s.cfg.SessionMaxAge {
		s.fail(w, r, errorf(http.StatusNotFound, "session %q was opened %s ago, longer than the %s a session may be resumed; open a new session",
			id, age.Round(time.Minute), s.cfg.SessionMaxAge))
		return
	}
	left, err := s.cfg.Store.UnregisteredUploads(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(left) == 0 {
		s.fail(w, r, errorf(http.StatusNotFound, "every upload of session %q is registered; nothing is left to write", id))
		return
	}
	keys := make([]string, len(left))
	for i, u := range left {
		keys[i] = u.Key
	}
	creds, err := s.mint(ctx, id, keys)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, contract.CredentialsResponse{Credentials: creds})
}

func (s *Server) registerVideo(w http.ResponseWriter, r *http.Request) {
	v, created, err := s.register(r.Context(), w, r)
	if err != nil {
		code := http.StatusInternalServerError
		var he *httpError
		if errors.As(err, &he) {
			code = he.status
		}
		s.cfg.Metrics.registration(code, false)
		s.fail(w, r, err)
		return
	}
	s.cfg.Metrics.registration(http.StatusOK, created)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, v)
}

// RequestDigest identifies a registration request by what it means, not
// its bytes: the canonical JSON of the decoded request (fields in order,
// map keys sorted, unknown fields dropped). The media object is left out:
// it describes the file, as the client read it, rather than what is
// registered, and a client that completes a registration from its outbox
// (vidup uploads resume) may not have read it again; such a replay must
// still answer the first registration, not 409.
func RequestDigest(req contract.VideoRequest) string {
	req.Media = nil
	b, _ := json.Marshal(req)
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// replay answers a registration of an upload that already has its video:
// 200 with it for the same request, 409 for another.
func replay(reg store.Registration, digest string) (contract.Video, bool, error) {
	if reg.RequestDigest != "" && reg.RequestDigest != digest {
		return contract.Video{}, false, errorf(http.StatusConflict,
			"upload %q is registered already, with another request body; a replay must repeat the first request", reg.Video.UploadID)
	}
	return reg.Video, false, nil
}

// claim makes the caller the one registration of uploadID in flight in this
// process. When another one is, it returns that one's done channel instead.
func (s *Server) claim(uploadID string) (release func(), busy <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.inflight[uploadID]; ok {
		return nil, ch
	}
	ch := make(chan struct{})
	s.inflight[uploadID] = ch
	return func() {
		s.mu.Lock()
		delete(s.inflight, uploadID)
		s.mu.Unlock()
		close(ch)
	}, nil
}

func (s *Server) register(ctx context.Context, w http.ResponseWriter, r *http.Request) (contract.Video, bool, error) {
	p := principalOf(ctx)
	if !p.mayUpload() {
		return contract.Video{}, false, errorf(http.StatusForbidden, "principal %q has role %s, which registers nothing", p.Name, p.Role)
	}
	var req contract.VideoRequest
	if err := s.decodeSized(w, r, &req, func() bool { return req.Package != nil }); err != nil {
		return contract.Video{}, false, err
	}
	uploadID, field := req.UploadID, "upload_id"
	if req.Package != nil {
		uploadID, field = req.Package.UploadID, "package.upload_id"
	}
	idem := strings.TrimSpace(r.Header.Get(contract.IdempotencyKeyHeader))
	switch {
	case idem == "":
		return contract.Video{}, false, errorf(http.StatusBadRequest, "the %s header is missing; set it to the %s", contract.IdempotencyKeyHeader, field)
	case idem != uploadID:
		return contract.Video{}, false, errorf(http.StatusBadRequest, "the %s header %q differs from %s %q; they must be equal", contract.IdempotencyKeyHeader, idem, field, uploadID)
	}
	if req.Package != nil {
		return s.registerPackage(ctx, req)
	}
	return s.registerOne(ctx, req, nil)
}

// registerOne registers one uploaded object (section 3) for the principal
// of ctx: the single call, and every entry of a batch (section 3c) that
// cannot join the batch's transaction, go through it. sources is nil for
// the single call (see verifyAndSeal).
func (s *Server) registerOne(ctx context.Context, req contract.VideoRequest, sources *sealedSources) (contract.Video, bool, error) {
	up, digest, err := s.admit(ctx, req)
	if err != nil {
		return contract.Video{}, false, err
	}
	release, v, done, err := s.exclusive(ctx, up.ID, digest)
	if done {
		return v, false, err
	}
	defer release()
	if err := checkVideoRequest(req); err != nil {
		return contract.Video{}, false, err
	}
	return s.verifyAndSeal(ctx, req, up, digest, sources)
}

// admit checks that req names an upload of a single file that the
// principal of ctx opened, with its session's key and this server's
// bucket, and returns it with the request's digest.
func (s *Server) admit(ctx context.Context, req contract.VideoRequest) (store.Upload, string, error) {
	p := principalOf(ctx)
	unknown := errorf(http.StatusNotFound, "upload %q is unknown to this server; register only uploads of a session it opened", req.UploadID)
	up, err := s.cfg.Store.Upload(ctx, req.UploadID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Upload{}, "", unknown
	}
	if err != nil {
		return store.Upload{}, "", err
	}
	sess, err := s.cfg.Store.Session(ctx, up.SessionID)
	if err != nil {
		return store.Upload{}, "", err
	}
	if sess.Principal != p.Name {
		return store.Upload{}, "", unknown
	}
	switch {
	case up.Package != nil:
		return store.Upload{}, "", errorf(http.StatusBadRequest, "upload %q is a package; register it with \"package\" (its objects), not as one file", req.UploadID)
	case req.SessionID != up.SessionID:
		return store.Upload{}, "", errorf(http.StatusBadRequest, "upload %q does not belong to session %q", req.UploadID, req.SessionID)
	case req.Key != up.Key:
		return store.Upload{}, "", errorf(http.StatusBadRequest, "key %q is not the key of upload %q; register the key the session gave: %q", req.Key, req.UploadID, up.Key)
	case req.Bucket != "" && req.Bucket != s.cfg.Bucket:
		return store.Upload{}, "", errorf(http.StatusBadRequest, "bucket %q is not this server's bucket %q", req.Bucket, s.cfg.Bucket)
	}
	return up, RequestDigest(req), nil
}

// exclusive makes the caller the one registration of uploadID in flight
// in this process, and returns release to call when it ends. When the
// upload has its video already, done is true and v, err are the answer
// (the stored video, or 409 for another request body).
func (s *Server) exclusive(ctx context.Context, uploadID, digest string) (release func(), v contract.Video, done bool, err error) {
	for {
		release, busy, v, done, err := s.tryExclusive(ctx, uploadID, digest)
		if busy == nil {
			return release, v, done, err
		}
		// Another request registers this upload now (a client that gave up
		// waiting and retried): wait for it rather than copy twice.
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, contract.Video{}, true, errorf(http.StatusServiceUnavailable, "upload %q is being registered by another request; retry", uploadID)
		}
	}
}

// tryExclusive is exclusive without the wait: when another registration
// of uploadID is in flight, it returns that one's done channel as busy.
func (s *Server) tryExclusive(ctx context.Context, uploadID, digest string) (release func(), busy <-chan struct{}, v contract.Video, done bool, err error) {
	// A replay answers what the first registration stored, without
	// asking S3 again: the object it sealed is the one registered.
	if reg, err := s.cfg.Store.VideoByUpload(ctx, uploadID); err == nil {
		v, _, err := replay(reg, digest)
		return nil, nil, v, true, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, contract.Video{}, true, err
	}
	release, busy = s.claim(uploadID)
	return release, busy, contract.Video{}, false, nil
}

func checkVideoRequest(req contract.VideoRequest) error {
	if req.Size < 0 || req.Size > MaxObjectSize {
		return errorf(http.StatusBadRequest, "size %d is not an object size; give the uploaded object's size in bytes", req.Size)
	}
	if err := checkContentType(req.ContentType); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return err
	}
	if req.Checksum != nil {
		if err := checkChecksum(req.Checksum); err != nil {
			return err
		}
	}
	if req.Media != nil {
		if err := checkMedia(req.Media); err != nil {
			return err
		}
	}
	return nil
}

// Limits of the media object: what a probe reports of a real file fits
// well within them; the server stores the object as it came.
const (
	maxMediaStreams = 128
	maxMediaText    = 1024
)

func checkMedia(m *contract.Media) error {
	if len(m.Streams) > maxMediaStreams {
		return errorf(http.StatusBadRequest, "media has %d streams, more than %d", len(m.Streams), maxMediaStreams)
	}
	texts := []string{m.Container, m.StartTimecode}
	if m.Incomplete != nil {
		texts = append(texts, m.Incomplete.Reason, m.Incomplete.Detail)
	}
	for _, st := range m.Streams {
		texts = append(texts, st.Type, st.Codec, st.Profile)
	}
	for _, t := range texts {
		if len(t) > maxMediaText {
			return errorf(http.StatusBadRequest, "media has a text field longer than %d bytes", maxMediaText)
		}
	}
	if m.DurationS < 0 || math.IsNaN(m.DurationS) || math.IsInf(m.DurationS, 0) {
		return errorf(http.StatusBadRequest, "media duration_s %v is not a duration in seconds", m.DurationS)
	}
	return nil
}

// verify compares what S3 holds at key with the request: 422 when they
// differ. It returns the checksum to record.
func (s *Server) verify(req contract.VideoRequest, key string, info ObjectInfo) (*contract.Checksum, error) {
	if info.Size != req.Size {
		return nil, errorf(http.StatusUnprocessableEntity,
			"s3://%s/%s holds %d bytes, the request says %d; upload the file again", s.cfg.Bucket, key, info.Size, req.Size)
	}
	if req.Checksum == nil {
		return nil, nil
	}
	c := *req.Checksum
	got := info.Checksums[c.Algorithm]
	switch {
	case got == "":
		return nil, errorf(http.StatusUnprocessableEntity,
			"S3 holds no %s checksum for s3://%s/%s; upload with that checksum algorithm", c.Algorithm, s.cfg.Bucket, key)
	case c.Type != "" && info.ChecksumType != "" && c.Type != info.ChecksumType:
		return nil, errorf(http.StatusUnprocessableEntity,
			"S3 holds a %s %s checksum for s3://%s/%s, the request gives a %s one", info.ChecksumType, c.Algorithm, s.cfg.Bucket, key, c.Type)
	case got != c.Value:
		return nil, errorf(http.StatusUnprocessableEntity,
			"the %s checksum of s3://%s/%s is %s, the request says %s; the object differs from the file, upload it again",
			c.Algorithm, s.cfg.Bucket, key, got, c.Value)
	}
	if c.Type == "" {
		c.Type = info.ChecksumType
	}
	return &c, nil
}

// verifyAndSeal checks the uploaded object, copies it on the S3 side to a
// key under SealedPrefix on condition that it is still the object checked
// (its ETag), checks the copy, registers the copy, and deletes the upload.
// No session policy names a key under SealedPrefix, so nothing a client
// holds, credentials minted before the registration included, can change
// the registered object. The work runs on when the client stops waiting;
// SealTimeout bounds it.
//
// sources is nil for a single registration, which deletes its upload once
// registered; a batch passes its collector, and deletes all of them at once.
func (s *Server) verifyAndSeal(rctx context.Context, req contract.VideoRequest, up store.Upload, digest string, sources *sealedSources) (contract.Video, bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rctx), s.cfg.SealTimeout)
	defer cancel()
	sd, err := s.seal(ctx, req, up, digest, nil)
	if err != nil {
		return answered(err)
	}
	stored, created, err := s.cfg.Store.RegisterVideo(ctx, sd.reg)
	return s.settle(ctx, sd, stored, created, err, sources)
}

// sealed is an uploaded object verified and copied under SealedPrefix: the
// registration to store.
type sealed struct {
	reg    store.Registration
	digest string
	// discard deletes the sealed copy, when it is not registered after all.
	discard func()
}

// answered turns the error of seal into the registration's answer: a
// registration another instance stored meanwhile, or the error.
func answered(err error) (contract.Video, bool, error) {
	var reg *registered
	if errors.As(err, &reg) {
		return reg.v, false, reg.err
	}
	return contract.Video{}, false, err
}

// seal verifies and copies the uploaded object of up. When listed, the
// listing of the session's uploads, holds the object, the listing stands
// in for the head of the upload (sealListed); without it, or when the
// listing settles nothing, the upload is headed (sealHeaded). An upload
// that another instance registered meanwhile is a *registered error.
func (s *Server) seal(ctx context.Context, req contract.VideoRequest, up store.Upload, digest string, listed func(key string) (ListedObject, bool)) (sealed, error) {
	defer func(start time.Time) { s.cfg.Metrics.verification.Observe(time.Since(start).Seconds()) }(time.Now())
	if listed != nil {
		if l, ok := listed(up.Key); ok {
			if sd, settled, err := s.sealListed(ctx, req, up, digest, l); settled {
				return sd, err
			}
		}
	}
	return s.sealHeaded(ctx, req, up, digest)
}

// sealHeaded heads the uploaded object and verifies it against the
// request, then copies it on condition of the ETag it headed, and checks
// the copy.
func (s *Server) sealHeaded(ctx context.Context, req contract.VideoRequest, up store.Upload, digest string) (sealed, error) {
	bucket := s.cfg.Bucket
	info, err := s.cfg.Objects.Stat(ctx, bucket, up.Key)
	if errors.Is(err, ErrObjectNotFound) {
		if v, ok, err := s.registeredElsewhere(ctx, up.ID, digest); ok {
			return sealed{}, &registered{v, err}
		}
		return sealed{}, errorf(http.StatusNotFound, "no object at s3://%s/%s; finish the upload before registering it", bucket, up.Key)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "head object failed", "bucket", bucket, "key", up.Key, "err", err)
		return sealed{}, errorf(http.StatusBadGateway, "the server could not read the object from S3; retry later")
	}
	ck, err := s.verify(req, up.Key, info)
	if err != nil {
		return sealed{}, err
	}

	alg := ""
	if ck != nil && ck.Type == "FULL_OBJECT" {
		alg = ck.Algorithm
	}
	videoID, sealedKey, discard := s.sealedKey(ctx, up)
	copied, err := s.cfg.Objects.Copy(ctx, bucket, up.Key, sealedKey, info, alg)
	switch {
	case errors.Is(err, ErrObjectChanged), errors.Is(err, ErrObjectNotFound):
		if v, ok, err := s.registeredElsewhere(ctx, up.ID, digest); ok {
			return sealed{}, &registered{v, err}
		}
		return sealed{}, errorf(http.StatusUnprocessableEntity,
			"s3://%s/%s changed while it was being registered; upload the file again", bucket, up.Key)
	case err != nil:
		s.log.ErrorContext(ctx, "sealing copy failed", "bucket", bucket, "key", up.Key, "sealed_key", sealedKey, "err", err)
		return sealed{}, errorf(http.StatusBadGateway, "the server could not copy the object in S3; retry later")
	}
	// The copy is verified again: its size, and its checksum when S3 keeps
	// one of the same kind. The condition on the ETag already bound it to
	// the object verified above, its size included. When CopyObject
	// answered the full-object checksum it was asked for, computed over
	// the copied bytes, that answer is compared and the copy is not headed:
	// one S3 request less per registration.
	got, ok := copyChecksummed(copied, info, alg)
	if !ok {
		if got, err = s.statCopy(ctx, sealedKey, discard); err != nil {
			return sealed{}, err
		}
	}
	if err := sealedMatches(got, info, ck); err != nil {
		discard()
		s.log.ErrorContext(ctx, "the sealed copy differs from the object", "key", sealedKey, "err", err)
		return sealed{}, errorf(http.StatusBadGateway, "S3's copy of the object differs from it; retry later")
	}
	return s.sealedAs(ctx, req, up, digest, videoID, sealedKey, got, ck, discard), nil
}

// sealedKey chooses the video's id and the key of its sealed copy, and
// returns the function that deletes that copy when it is not registered.
func (s *Server) sealedKey(ctx context.Context, up store.Upload) (videoID, key string, discard func()) {
	videoID = uuid.NewString()
	key = SealedPrefix + videoID + "/" + path.Base(up.Key)
	return videoID, key, func() {
		if err := s.cfg.Objects.Delete(ctx, s.cfg.Bucket, key); err != nil {
			s.log.WarnContext(ctx, "deleting an unused sealed copy failed", "key", key, "err", err)
		}
	}
}

// statCopy heads the sealed copy, for what its copy's answer did not say.
func (s *Server) statCopy(ctx context.Context, key string, discard func()) (ObjectInfo, error) {
	got, err := s.cfg.Objects.Stat(ctx, s.cfg.Bucket, key)
	if err != nil {
		discard()
		s.log.ErrorContext(ctx, "head of the sealed copy failed", "key", key, "err", err)
		return ObjectInfo{}, errorf(http.StatusBadGateway, "the server could not read its copy of the object from S3; retry later")
	}
	return got, nil
}

// sealedAs is the registration of the sealed copy got of up.
func (s *Server) sealedAs(ctx context.Context, req contract.VideoRequest, up store.Upload, digest, videoID, key string, got ObjectInfo, ck *contract.Checksum, discard func()) sealed {
	filename := up.Name
	if req.Filename != "" {
		filename = SafeName(req.Filename)
	}
	contentType := req.ContentType
	if contentType == "" {
		contentType = up.ContentType
	}
	return sealed{
		reg: store.Registration{
			Video: contract.Video{
				ID:          videoID,
				UploadID:    up.ID,
				SessionID:   up.SessionID,
				Bucket:      s.cfg.Bucket,
				Key:         key,
				Filename:    filename,
				Size:        got.Size,
				ContentType: contentType,
				ETag:        got.ETag, // S3's, of the object the pipeline reads
				Checksum:    ck,
				Metadata:    req.Metadata,
				Media:       req.Media,
				CreatedAt:   s.cfg.Now().UTC(),
				Principal:   principalOf(ctx).Name,
			},
			SourceKey:     up.Key,
			RequestDigest: digest,
		},
		digest:  digest,
		discard: discard,
	}
}

// settle answers a sealed registration once the store has it: the stored
// video, or a replay of the one another instance stored first (whose copy
// is kept, this one discarded), or err, and then this copy is discarded
// too. The upload of a created video is deleted, or goes to sources.
func (s *Server) settle(ctx context.Context, sd sealed, stored store.Registration, created bool, err error, sources *sealedSources) (contract.Video, bool, error) {
	if err != nil {
		sd.discard()
		return contract.Video{}, false, err
	}
	// The row may be this registration's own, committed by a transaction
	// whose commit answered an error before the store tried it again.
	if !created && stored.Video.ID != sd.reg.Video.ID {
		sd.discard()
		return replay(stored, sd.digest)
	}
	if sources != nil {
		sources.add(sd.reg.SourceKey)
	} else if err := s.cfg.Objects.Delete(ctx, s.cfg.Bucket, sd.reg.SourceKey); err != nil {
		s.log.WarnContext(ctx, "deleting the uploaded object after sealing it failed", "key", sd.reg.SourceKey, "err", err)
	}
	return stored.Video, true, nil
}

// copyChecksummed returns what the sealing copy's own answer says of it,
// and whether that answer is enough to check it: a copy in one CopyObject
// that answered its ETag and the full-object checksum of alg, the
// algorithm it was asked to compute. The size is the verified object's,
// which the copy's ETag condition binds. A multipart copy, or a store that
// answers no checksum to a copy, is not enough: the caller heads the copy.
func copyChecksummed(copied, src ObjectInfo, alg string) (ObjectInfo, bool) {
	if alg == "" || copied.ETag == "" || copied.Checksums[alg] == "" ||
		(copied.ChecksumType != "" && copied.ChecksumType != contract.TypeFullObject) {
		return ObjectInfo{}, false
	}
	// A checksum computed by CopyObject over the whole copy is a
	// full-object one; some stores leave the type out of their answer.
	copied.Size, copied.ChecksumType = src.Size, contract.TypeFullObject
	return copied, true
}

// sealedSources collects the uploaded objects that the entries of a batch
// sealed, for one DeleteObjects once every entry has its outcome, instead
// of one DeleteObject per entry.
type sealedSources struct {
	mu   sync.Mutex
	keys []string
}

func (d *sealedSources) add(key string) {
	d.mu.Lock()
	d.keys = append(d.keys, key)
	d.mu.Unlock()
}

// registeredElsewhere answers a registration whose object went away while
// this instance verified or copied it: another instance (the claim is per
// process) may have registered the upload and deleted the uploaded object.
// ok is false when no registration exists.
func (s *Server) registeredElsewhere(ctx context.Context, uploadID, digest string) (v contract.Video, ok bool, err error) {
	reg, err := s.cfg.Store.VideoByUpload(ctx, uploadID)
	if errors.Is(err, store.ErrNotFound) {
		return contract.Video{}, false, nil
	}
	if err != nil {
		return contract.Video{}, true, err
	}
	v, _, err = replay(reg, digest)
	return v, true, err
}

// sealedMatches checks a sealed copy against the object it was copied from.
func sealedMatches(got, src ObjectInfo, ck *contract.Checksum) error {
	if got.Size != src.Size {
		return fmt.Errorf("the copy holds %d bytes, the object %d", got.Size, src.Size)
	}
	if ck == nil {
		return nil
	}
	v := got.Checksums[ck.Algorithm]
	// A composite checksum depends on the part sizes, which a copy does
	// not keep; only a full-object one can be compared.
	if v != "" && ck.Type == "FULL_OBJECT" && got.ChecksumType == "FULL_OBJECT" && v != ck.Value {
		return fmt.Errorf("the copy's %s checksum is %s, the object's %s", ck.Algorithm, v, ck.Value)
	}
	return nil
}

func checkChecksum(c *contract.Checksum) error {
	switch c.Algorithm {
	case "CRC64NVME", "CRC32C", "CRC32", "SHA1", "SHA256":
	default:
		return errorf(http.StatusBadRequest, "checksum algorithm %q is not one S3 computes; use CRC64NVME or CRC32C", c.Algorithm)
	}
	switch c.Type {
	case "", "FULL_OBJECT", "COMPOSITE":
	default:
		return errorf(http.StatusBadRequest, "checksum type %q is unknown; use FULL_OBJECT", c.Type)
	}
	if c.Value == "" {
		return errorf(http.StatusBadRequest, "the checksum has no value; send the base64 checksum or leave checksum out")
	}
	return nil
}

func checkMetadata(m map[string]string) error {
	if len(m) > maxMetadataEntries {
		return errorf(http.StatusBadRequest, "metadata has %d entries, more than %d", len(m), maxMetadataEntries)
	}
	for k, v := range m {
		switch {
		case k == "":
			return errorf(http.StatusBadRequest, "metadata has an empty key")
		case len(k) > maxMetadataKey:
			return errorf(http.StatusBadRequest, "metadata key %.32q… is longer than %d bytes", k, maxMetadataKey)
		case len(v) > maxMetadataValue:
			return errorf(http.StatusBadRequest, "metadata %q is longer than %d bytes", k, maxMetadataValue)
		}
	}
	return nil
}

func (s *Server) listVideos(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultPageSize
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxPageSize {
			s.fail(w, r, errorf(http.StatusBadRequest, "limit %q is not a number from 1 to %d", l, MaxPageSize))
			return
		}
		limit = n
	}
	before, err := DecodeCursor(q.Get("cursor"))
	if err != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	owner := principalOf(r.Context())
	only := owner.Name
	if owner.readsAll() {
		only = ""
	}
	videos, next, err := s.cfg.Store.ListVideos(r.Context(), only, before, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, contract.VideoList{Videos: videos, NextCursor: EncodeCursor(next)})
}

func (s *Server) getVideo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, err := s.cfg.Store.Video(r.Context(), id)
	if p := principalOf(r.Context()); err == nil && v.Principal != p.Name && !p.readsAll() {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, errorf(http.StatusNotFound, "video %q is unknown", id))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Webhooks, err = s.cfg.Store.Deliveries(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// setStatus is the pipeline's POST /api/v1/videos/{id}/status (contract
// v1.1 section 5): forward only, a replay of the current status is 200.
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalOf(ctx)
	if !p.setsStatus() {
		s.fail(w, r, errorf(http.StatusForbidden, "principal %q has role %s; only the pipeline role sets a video's status", p.Name, p.Role))
		return
	}
	var req contract.StatusRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	switch req.Status {
	case contract.StatusProcessing, contract.StatusReady, contract.StatusFailed:
	default:
		s.fail(w, r, errorf(http.StatusBadRequest, "status %q is not one the pipeline sets; use processing, ready or failed", req.Status))
		return
	}
	if len(req.Error) > maxMetadataValue {
		s.fail(w, r, errorf(http.StatusBadRequest, "error is longer than %d bytes", maxMetadataValue))
		return
	}
	id := r.PathValue("id")
	v, changed, err := s.cfg.Store.SetStatus(ctx, id, req.Status, req.Error, s.cfg.Now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, errorf(http.StatusNotFound, "video %q is unknown", id))
		return
	case errors.Is(err, store.ErrTransition):
		s.fail(w, r, errorf(http.StatusConflict, "video %q is %s already; its status goes registered, processing, then ready or failed, never back", id, v.Status))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if changed {
		s.cfg.Metrics.statuses.WithLabelValues(v.Status).Inc()
		s.log.InfoContext(ctx, "video status", "video_id", id, "status", v.Status, "by", p.Name)
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log.ErrorContext(ctx, "health check: database does not answer", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, contract.Error{Error: "the database does not answer"})
		return
	}
	if err := s.cfg.Store.CheckWrite(ctx); err != nil {
		s.log.ErrorContext(ctx, "health check: database takes no write", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, contract.Error{Error: "the database takes no write (disk full or read-only?)"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// BucketChecker is an Objects that can tell whether the bucket answers.
type BucketChecker interface {
	CheckBucket(ctx context.Context, bucket string) error
}

// ready is /readyz: 200 when this instance can serve, that is the database
// answers and takes a write and S3 answers for the bucket; 503 with what
// fails otherwise. A load balancer takes an instance out on 503.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var failed []string
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log.ErrorContext(ctx, "readiness: database does not answer", "err", err)
		failed = append(failed, "the database does not answer")
	} else if err := s.cfg.Store.CheckWrite(ctx); err != nil {
		s.log.ErrorContext(ctx, "readiness: database takes no write", "err", err)
		failed = append(failed, "the database takes no write")
	}
	if bc, ok := s.cfg.Objects.(BucketChecker); ok {
		if err := bc.CheckBucket(ctx, s.cfg.Bucket); err != nil {
			s.log.ErrorContext(ctx, "readiness: S3 does not answer", "bucket", s.cfg.Bucket, "err", err)
			failed = append(failed, "S3 does not answer for bucket "+s.cfg.Bucket)
		}
	}
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, contract.Error{Error: strings.Join(failed, "; ")})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// limiters hold one token bucket per principal. Principals come from the
// tokens file, so the map stays as small as it.
type limiters struct {
	every rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

// reserve takes one session from name's bucket and returns zero, or leaves
// the bucket as it was and returns how long until one is free.
func (l *limiters) reserve(name string, now time.Time) time.Duration {
	if l.every == rate.Inf {
		return 0
	}
	l.mu.Lock()
	lim, ok := l.m[name]
	if !ok {
		lim = rate.NewLimiter(l.every, l.burst)
		l.m[name] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Hour
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
