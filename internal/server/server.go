// Package server is vidup serve: the reference implementation of the upload
// contract v1 (docs/api.md). It opens upload sessions with temporary
// credentials scoped to one key prefix, verifies uploaded objects against
// S3, and registers them exactly once.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/store"
)

// Limits of a request.
const (
	DefaultMaxBodyBytes = 1 << 20
	// MaxObjectSize is S3's largest object: 5 TiB.
	MaxObjectSize      int64 = 5 << 40
	DefaultPageSize          = 50
	MaxPageSize              = 1000
	maxContentType           = 255
	maxMetadataEntries       = 64
	maxMetadataKey           = 128
	maxMetadataValue         = 2048
)

// PathHealth is the unauthenticated liveness and readiness check.
const PathHealth = "/healthz"

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

	// Logger receives access logs and internal errors; nil discards them.
	Logger       *slog.Logger
	MaxBodyBytes int64            // 0: DefaultMaxBodyBytes
	Now          func() time.Time // nil: time.Now
}

// Server serves the API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}

	mux := http.NewServeMux()
	mux.HandleFunc("POST "+contract.PathUploads, s.createSession)
	mux.HandleFunc("POST "+contract.PathUploads+"/{session_id}/credentials", s.refreshCredentials)
	mux.HandleFunc("POST "+contract.PathVideos, s.registerVideo)
	mux.HandleFunc("GET "+contract.PathVideos, s.listVideos)
	mux.HandleFunc("GET "+contract.PathVideos+"/{id}", s.getVideo)
	mux.HandleFunc("GET "+PathHealth, s.health)

	s.handler = s.accessLog(s.recoverPanics(s.authenticate(jsonFallbacks(mux))))
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

// decode reads a JSON body of at most MaxBodyBytes. Unknown fields are
// ignored so that newer clients work with this server.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if err := json.NewDecoder(body).Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes; send fewer files or less metadata", mbe.Limit)
		}
		return errorf(http.StatusBadRequest, "the request body is not valid JSON: %v", err)
	}
	return nil
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	sess, err := s.openSession(r.Context(), w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sess)
}

func (s *Server) openSession(ctx context.Context, w http.ResponseWriter, r *http.Request) (contract.Session, error) {
	var req contract.SessionRequest
	if err := s.decode(w, r, &req); err != nil {
		return contract.Session{}, err
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
			return contract.Session{}, errorf(http.StatusBadRequest, "files[%d]: size %d is above S3's largest object (%d bytes, 5 TiB)", i, f.Size, MaxObjectSize)
		}
		if err := checkContentType(f.ContentType); err != nil {
			return contract.Session{}, errorf(http.StatusBadRequest, "files[%d]: %v", i, err)
		}
	}

	sess := store.Session{ID: uuid.NewString(), CreatedAt: s.cfg.Now().UTC()}
	uploads := make([]store.Upload, len(req.Files))
	wire := make([]contract.Upload, len(req.Files))
	for i, f := range req.Files {
		id := uuid.NewString()
		name := SafeName(f.Name)
		key := SessionPrefix(sess.ID) + id + "/" + name
		uploads[i] = store.Upload{ID: id, SessionID: sess.ID, Key: key, Name: name, Size: f.Size, ContentType: f.ContentType}
		wire[i] = contract.Upload{UploadID: id, Key: key}
	}
	// Stored before minting, so credentials never exist for a session the
	// server could forget.
	if err := s.cfg.Store.CreateSession(ctx, sess, uploads); err != nil {
		return contract.Session{}, err
	}
	creds, err := s.mint(ctx, sess.ID)
	if err != nil {
		return contract.Session{}, err
	}
	return contract.Session{
		SessionID:   sess.ID,
		Bucket:      s.cfg.Bucket,
		Region:      s.cfg.Region,
		Endpoint:    s.cfg.Endpoint,
		PathStyle:   s.cfg.PathStyle,
		Credentials: creds,
		Uploads:     wire,
	}, nil
}

// mint turns an STS failure into a 502: the server is fine, its upstream is
// not, and clients retry 502.
func (s *Server) mint(ctx context.Context, sessionID string) (contract.Credentials, error) {
	creds, err := s.cfg.Minter.Mint(ctx, sessionID)
	if err != nil {
		s.log.ErrorContext(ctx, "minting credentials failed", "session_id", sessionID, "err", err)
		return contract.Credentials{}, errorf(http.StatusBadGateway, "the server could not get temporary credentials from STS; retry later, or ask the API's operator to check its log")
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

func (s *Server) refreshCredentials(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("session_id")
	if _, err := s.cfg.Store.Session(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, errorf(http.StatusNotFound, "session %q is unknown to this server; open a new session", id))
			return
		}
		s.fail(w, r, err)
		return
	}
	creds, err := s.mint(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, contract.CredentialsResponse{Credentials: creds})
}

func (s *Server) registerVideo(w http.ResponseWriter, r *http.Request) {
	v, created, err := s.register(r.Context(), w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, v)
}

func (s *Server) register(ctx context.Context, w http.ResponseWriter, r *http.Request) (contract.Video, bool, error) {
	var req contract.VideoRequest
	if err := s.decode(w, r, &req); err != nil {
		return contract.Video{}, false, err
	}
	idem := strings.TrimSpace(r.Header.Get(contract.IdempotencyKeyHeader))
	switch {
	case idem == "":
		return contract.Video{}, false, errorf(http.StatusBadRequest, "the %s header is missing; set it to the upload_id", contract.IdempotencyKeyHeader)
	case idem != req.UploadID:
		return contract.Video{}, false, errorf(http.StatusBadRequest, "the %s header %q differs from upload_id %q; they must be equal", contract.IdempotencyKeyHeader, idem, req.UploadID)
	}
	up, err := s.cfg.Store.Upload(ctx, req.UploadID)
	if errors.Is(err, store.ErrNotFound) {
		return contract.Video{}, false, errorf(http.StatusNotFound, "upload %q is unknown to this server; register only uploads of a session it opened", req.UploadID)
	}
	if err != nil {
		return contract.Video{}, false, err
	}
	switch {
	case req.SessionID != up.SessionID:
		return contract.Video{}, false, errorf(http.StatusBadRequest, "upload %q does not belong to session %q", req.UploadID, req.SessionID)
	case req.Key != up.Key:
		return contract.Video{}, false, errorf(http.StatusBadRequest, "key %q is not the key of upload %q; register the key the session gave: %q", req.Key, req.UploadID, up.Key)
	case req.Bucket != "" && req.Bucket != s.cfg.Bucket:
		return contract.Video{}, false, errorf(http.StatusBadRequest, "bucket %q is not this server's bucket %q", req.Bucket, s.cfg.Bucket)
	}
	// A replay answers what the first registration stored, without asking
	// S3 again: the object may have moved on since.
	if v, err := s.cfg.Store.VideoByUpload(ctx, up.ID); err == nil {
		return v, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return contract.Video{}, false, err
	}
	if req.Size < 0 || req.Size > MaxObjectSize {
		return contract.Video{}, false, errorf(http.StatusBadRequest, "size %d is not an object size; give the uploaded object's size in bytes", req.Size)
	}
	if err := checkContentType(req.ContentType); err != nil {
		return contract.Video{}, false, errorf(http.StatusBadRequest, "%v", err)
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return contract.Video{}, false, err
	}
	if req.Checksum != nil {
		if err := checkChecksum(req.Checksum); err != nil {
			return contract.Video{}, false, err
		}
	}

	info, err := s.cfg.Objects.Stat(ctx, s.cfg.Bucket, up.Key)
	if errors.Is(err, ErrObjectNotFound) {
		return contract.Video{}, false, errorf(http.StatusNotFound, "no object at s3://%s/%s; finish the upload before registering it", s.cfg.Bucket, up.Key)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "head object failed", "bucket", s.cfg.Bucket, "key", up.Key, "err", err)
		return contract.Video{}, false, errorf(http.StatusBadGateway, "the server could not read the object from S3; retry later")
	}
	if info.Size != req.Size {
		return contract.Video{}, false, errorf(http.StatusUnprocessableEntity,
			"s3://%s/%s holds %d bytes, the request says %d; upload the file again", s.cfg.Bucket, up.Key, info.Size, req.Size)
	}
	var ck *contract.Checksum
	if req.Checksum != nil {
		c := *req.Checksum
		got := info.Checksums[c.Algorithm]
		switch {
		case got == "":
			return contract.Video{}, false, errorf(http.StatusUnprocessableEntity,
				"S3 holds no %s checksum for s3://%s/%s; upload with that checksum algorithm", c.Algorithm, s.cfg.Bucket, up.Key)
		case c.Type != "" && info.ChecksumType != "" && c.Type != info.ChecksumType:
			return contract.Video{}, false, errorf(http.StatusUnprocessableEntity,
				"S3 holds a %s %s checksum for s3://%s/%s, the request gives a %s one", info.ChecksumType, c.Algorithm, s.cfg.Bucket, up.Key, c.Type)
		case got != c.Value:
			return contract.Video{}, false, errorf(http.StatusUnprocessableEntity,
				"the %s checksum of s3://%s/%s is %s, the request says %s; the object differs from the file, upload it again",
				c.Algorithm, s.cfg.Bucket, up.Key, got, c.Value)
		}
		if c.Type == "" {
			c.Type = info.ChecksumType
		}
		ck = &c
	}

	filename := up.Name
	if req.Filename != "" {
		filename = SafeName(req.Filename)
	}
	contentType := req.ContentType
	if contentType == "" {
		contentType = up.ContentType
	}
	return s.cfg.Store.RegisterVideo(ctx, contract.Video{
		ID:          uuid.NewString(),
		UploadID:    up.ID,
		SessionID:   up.SessionID,
		Bucket:      s.cfg.Bucket,
		Key:         up.Key,
		Filename:    filename,
		Size:        info.Size,
		ContentType: contentType,
		ETag:        info.ETag, // S3's, not the client's: it is the one that was verified
		Checksum:    ck,
		Metadata:    req.Metadata,
		CreatedAt:   s.cfg.Now().UTC(),
	})
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
	videos, next, err := s.cfg.Store.ListVideos(r.Context(), before, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, contract.VideoList{Videos: videos, NextCursor: EncodeCursor(next)})
}

func (s *Server) getVideo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, err := s.cfg.Store.Video(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, errorf(http.StatusNotFound, "video %q is unknown", id))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
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
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
