// Package contract holds the wire types of the upload contract v1 between the
// uploader and a company's API. Both sides import it; nothing else is shared.
package contract

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Paths of the contract's endpoints.
const (
	PathUploads = "/api/v1/uploads"
	PathVideos  = "/api/v1/videos"
)

// CredentialsPath is the refresh endpoint of a session.
func CredentialsPath(sessionID string) string {
	return PathUploads + "/" + sessionID + "/credentials"
}

// MaxFilesPerSession is the largest batch one session may cover.
const MaxFilesPerSession = 100

// UnknownSize is the size of a file whose length is not known in advance (stdin).
const UnknownSize int64 = -1

// FileRequest describes one file of a session request.
type FileRequest struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
}

// SessionRequest is the body of POST /api/v1/uploads: Files for 1 to 100
// independent files, or (v1.1 section 1b) Package for one asset made of
// many files. Exactly one of the two is set.
type SessionRequest struct {
	Files   []FileRequest   `json:"files,omitempty"`
	Package *PackageRequest `json:"package,omitempty"`
}

// Kinds of package (v1.1 section 1b).
const (
	KindHLS    = "hls"
	KindDASH   = "dash"
	KindFolder = "folder" // a camera clip with sidecars, a card's clip folder: any tree
)

// MaxFilesPerPackage is the largest package one session may cover.
const MaxFilesPerPackage = 100000

// PackageRequest is a session request for a package (v1.1 section 1b).
type PackageRequest struct {
	Name  string        `json:"name"`
	Kind  string        `json:"kind"`
	Files []PackageFile `json:"files"`
}

// PackageFile is one file of a package: Path is relative to the package,
// "/"-separated, with no empty, "." or ".." segment.
type PackageFile struct {
	Path        string `json:"path"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
}

// PackageUpload is the server's answer for a package: each file's key is
// Prefix + its path.
type PackageUpload struct {
	UploadID string `json:"upload_id"`
	Prefix   string `json:"prefix"`
}

// Credentials has the shape of AWS STS Credentials. (v1.1) For stores
// without STS, SessionToken and Expiration may be absent: static keys, used
// as they are and never refreshed.
type Credentials struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken,omitempty"`
	Expiration      time.Time `json:"Expiration,omitzero"`
}

// Static reports whether c are static keys: no expiry, never refreshed.
func (c Credentials) Static() bool { return c.Expiration.IsZero() }

// ChecksumMode is what a store verifies and keeps (v1.1, the session's
// "checksum"): Algorithm is one of the Algorithm constants, Type FULL_OBJECT
// or COMPOSITE (empty for AlgorithmNone).
type ChecksumMode struct {
	Algorithm string `json:"algorithm"`
	Type      string `json:"type,omitempty"`
}

// ParseChecksumMode reads a checksum mode as vidup's flags name them:
// crc32c, crc64nvme, crc32c-composite or none; "" and "auto" are nil (no
// mode forced: the store's, or the client's default with fallback). Both
// `vidup upload --checksum` and `vidup serve --checksum` take these names.
func ParseChecksumMode(s string) (*ChecksumMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return nil, nil
	case "crc32c":
		return &ChecksumMode{Algorithm: AlgorithmCRC32C, Type: TypeFullObject}, nil
	case "crc64nvme":
		return &ChecksumMode{Algorithm: AlgorithmCRC64NVME, Type: TypeFullObject}, nil
	case "crc32c-composite":
		return &ChecksumMode{Algorithm: AlgorithmCRC32C, Type: TypeComposite}, nil
	case "none":
		return &ChecksumMode{Algorithm: AlgorithmNone}, nil
	}
	return nil, fmt.Errorf("checksum mode %q is not one of auto, crc32c, crc64nvme, crc32c-composite or none", s)
}

// Checksum algorithms and types of the contract.
const (
	AlgorithmCRC32C    = "CRC32C"
	AlgorithmCRC64NVME = "CRC64NVME"
	AlgorithmCRC32     = "CRC32"
	AlgorithmSHA256    = "SHA256"
	AlgorithmSHA1      = "SHA1"
	// AlgorithmNone: the store refuses checksum headers.
	AlgorithmNone = "NONE"

	TypeFullObject = "FULL_OBJECT"
	TypeComposite  = "COMPOSITE"
)

// S3's limits, the same for every store that speaks S3: 10,000 parts of at
// most 5 GiB make the largest object, 48.8 TiB.
const (
	MaxParts      = 10000
	MaxPartSize   = 5 << 30
	MaxObjectSize = MaxParts * MaxPartSize
)

// Upload is the server's answer for one file of a session.
type Upload struct {
	UploadID string `json:"upload_id"`
	Key      string `json:"key"`
}

// Session is the 201 answer of POST /api/v1/uploads.
type Session struct {
	SessionID string `json:"session_id"`
	Bucket    string `json:"bucket"`
	Region    string `json:"region"`
	Endpoint  string `json:"endpoint,omitempty"`
	PathStyle bool   `json:"path_style,omitempty"`
	// Checksum (v1.1) is what the store supports; nil: the client's
	// default, with fallback when the store refuses it.
	Checksum    *ChecksumMode `json:"checksum,omitempty"`
	Credentials Credentials   `json:"credentials"`
	Uploads     []Upload      `json:"uploads,omitempty"`
	// Package (v1.1 section 1b) answers a package request, in place of
	// Uploads.
	Package *PackageUpload `json:"package,omitempty"`
}

// CredentialsResponse is the 200 answer of the refresh endpoint.
type CredentialsResponse struct {
	Credentials Credentials `json:"credentials"`
}

// Checksum is an object's checksum as S3 reports it.
type Checksum struct {
	Algorithm string `json:"algorithm"` // CRC64NVME or CRC32C
	Type      string `json:"type"`      // FULL_OBJECT, or COMPOSITE (value "…-N")
	Value     string `json:"value"`     // base64 of the big-endian checksum
}

// VideoRequest is the body of POST /api/v1/videos, sent with the header
// Idempotency-Key: <upload_id>.
type VideoRequest struct {
	UploadID    string            `json:"upload_id"`
	SessionID   string            `json:"session_id"`
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Filename    string            `json:"filename"`
	Size        int64             `json:"size"`
	ContentType string            `json:"content_type,omitempty"`
	ETag        string            `json:"etag,omitempty"`
	Checksum    *Checksum         `json:"checksum,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Media       *Media            `json:"media,omitempty"` // v1.1
	// Package (v1.1 section 3b) registers a package, in place of the
	// single-object fields above (UploadID and SessionID stay empty; the
	// package carries them). Metadata may go with it.
	Package *PackageRegistration `json:"package,omitempty"`
}

// PackageRegistration is the package part of a registration (v1.1 section
// 3b): every object of the package, each verified by the server.
type PackageRegistration struct {
	UploadID  string          `json:"upload_id"`
	SessionID string          `json:"session_id"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Objects   []PackageObject `json:"objects"`
}

// PackageObject is one object of a registered package.
type PackageObject struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	ETag     string    `json:"etag,omitempty"`
	Checksum *Checksum `json:"checksum,omitempty"`
	// Key is where the object is (in the server's answer).
	Key string `json:"key,omitempty"`
}

// BatchPath is the batch registration endpoint of a session (v1.1 3c).
func BatchPath(sessionID string) string {
	return PathUploads + "/" + sessionID + "/videos"
}

// BatchRequest is the body of POST /api/v1/uploads/{session_id}/videos.
type BatchRequest struct {
	Videos []VideoRequest `json:"videos"`
}

// BatchResponse answers a batch: one entry per request, in order.
type BatchResponse struct {
	Videos []BatchEntry `json:"videos"`
}

// BatchEntry is the outcome of one registration of a batch: Status is the
// HTTP status the single call would have answered (201, 200, 404, 409,
// 422…), with Video on success and Error otherwise.
type BatchEntry struct {
	Status int    `json:"status"`
	Video  *Video `json:"video,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Video is a registered asset. The contract requires only ID; the rest is what
// vidup serve returns.
type Video struct {
	ID          string            `json:"id"`
	UploadID    string            `json:"upload_id,omitempty"`
	SessionID   string            `json:"session_id,omitempty"`
	Bucket      string            `json:"bucket,omitempty"`
	Key         string            `json:"key,omitempty"`
	Filename    string            `json:"filename,omitempty"`
	Size        int64             `json:"size,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	ETag        string            `json:"etag,omitempty"`
	Checksum    *Checksum         `json:"checksum,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Media       *Media            `json:"media,omitempty"` // v1.1
	CreatedAt   time.Time         `json:"created_at,omitempty"`
	// Principal owns the video (v1.1, vidup serve's extension): the pipeline
	// role sees every principal's videos.
	Principal string `json:"principal,omitempty"`
	// Status is where the encoding step is (v1.1 section 5): registered,
	// processing, ready or failed; Error says why when it failed.
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// StatusAt is when Status was last set (vidup serve's extension).
	StatusAt *time.Time `json:"status_at,omitempty"`
	// Kind, Objects and Entry describe a package (v1.1 section 3b): its
	// kind, every object, and the key of its entry point (the master
	// playlist or the MPD; empty for a folder).
	Kind    string          `json:"kind,omitempty"`
	Objects []PackageObject `json:"objects,omitempty"`
	Entry   string          `json:"entry,omitempty"`
	// Webhooks is the delivery state of the webhooks that announced this
	// video, oldest first (vidup serve's extension; on GET of one video).
	Webhooks []WebhookDelivery `json:"webhooks,omitempty"`
}

// Statuses of a video (v1.1 section 5): registered, then processing, then
// ready or failed.
const (
	StatusRegistered = "registered"
	StatusProcessing = "processing"
	StatusReady      = "ready"
	StatusFailed     = "failed"
)

// StatusPath is where the pipeline sets a video's status.
func StatusPath(videoID string) string { return PathVideos + "/" + videoID + "/status" }

// StatusRequest is the body of POST /api/v1/videos/{id}/status.
type StatusRequest struct {
	Status string `json:"status"`
	// Error says why, with status failed.
	Error string `json:"error,omitempty"`
}

// Webhook event types.
const (
	EventVideoRegistered = "video.registered"
	EventVideoStatus     = "video.status"
)

// WebhookEvent is the body of a webhook to the encoding step, in the
// payload shape of Standard Webhooks: its id is the webhook-id header.
type WebhookEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Video     `json:"data"`
}

// Delivery states of a webhook.
const (
	DeliveryPending   = "pending"   // not tried yet
	DeliveryFailing   = "failing"   // tried, failed, will be retried
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryFailed    = "failed"    // retried for the bounded time, given up
)

// WebhookDelivery is the state of one webhook of a video.
type WebhookDelivery struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Status    string    `json:"status,omitempty"` // the video's status it announces
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// VideoList is the answer of GET /api/v1/videos (vidup serve's extension).
type VideoList struct {
	Videos     []Video `json:"videos"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
}

// IdempotencyKeyHeader carries the upload id of a registration.
const IdempotencyKeyHeader = "Idempotency-Key"

// ErrSessionGone means the API no longer knows an upload session (404 on
// its credentials refresh): the session's uploads cannot continue and start
// over. The API client's errors match it with errors.Is.
var ErrSessionGone = errors.New("the upload session is gone from the API")

// RequestIDHeader names a request on both sides: vidup serve answers every
// request with one (the caller's own when valid, else a new one) and logs it
// on every line about the request; the uploader prints it when a call fails.
const RequestIDHeader = "X-Request-Id"

// MaxRequestIDLen bounds a request id a server takes from its caller.
const MaxRequestIDLen = 128

// ValidRequestID reports whether id is 1 to MaxRequestIDLen letters, digits
// and - _ . : characters: safe in a log line and on a terminal as it is.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
