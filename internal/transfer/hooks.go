package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// UploadRef names one upload of a file: the API's identifiers and S3's.
type UploadRef struct {
	SessionID string
	UploadID  string // the API's upload id (the registration's idempotency key)
	Bucket    string
	Key       string
	// Where the bucket is, as the session answer said: a later run that
	// resumes the upload does not open the session again.
	Region    string
	Endpoint  string
	PathStyle bool
	// S3UploadID is the multipart upload's id; empty for single PutObjects.
	S3UploadID string
	PartSize   int64
	// ChecksumAlgorithm is the CRC of the parts and the object: CRC32C
	// for new uploads; empty means CRC64NVME (journals of earlier versions).
	ChecksumAlgorithm string
	// Metadata is what the registration carries.
	Metadata map[string]string
}

// Part is one part S3 accepted.
type Part struct {
	Number   int32
	Size     int64
	ETag     string
	Checksum string // base64, of the upload's ChecksumAlgorithm
	crc      uint64
}

// Prior is an upload an earlier run left of a file.
type Prior struct {
	Ref UploadRef
	// Parts the earlier run saw S3 accept. The engine trusts only those
	// that ListParts still shows with the same ETag, size and checksum.
	Parts []Part
	// Completed: the object is complete and verified on S3; only its
	// registration is missing (the outbox). ETag and Checksum (base64
	// CRC64NVME of the whole object) are what was verified.
	Completed bool
	ETag      string
	Checksum  string
}

// Earlier is what earlier runs left of a file.
type Earlier struct {
	// Resume is an upload of the same, unchanged file: the engine continues
	// it in its old session (or only registers it, when Completed).
	Resume *Prior
	// Stale are uploads of another version of the file (it changed since):
	// the engine aborts them on S3 and starts over. StaleReason says why.
	Stale       []Prior
	StaleReason string
}

// Hooks follow an upload's life, so that a journal can let a later run
// continue it. The engine calls them from its workers; they must be safe
// for concurrent use.
type Hooks interface {
	// Earlier says what earlier runs left of f. It is called once per file,
	// before any session is opened, and must not block on the network.
	Earlier(f *File) Earlier
	UploadCreated(f *File, ref UploadRef)
	PartDone(f *File, ref UploadRef, p Part)
	Completed(f *File, ref UploadRef, r Result)
	Registered(f *File, ref UploadRef, videoID string)
	// Forget says ref will never be continued (aborted, or gone from the
	// API or from S3); reason says why, for the user.
	Forget(f *File, ref UploadRef, reason string)
	// KeepFailed decides what happens to a multipart upload that failed:
	// true keeps it open on S3 for a later run, false aborts it (S3 then
	// frees its parts). It is the only place that decision is taken.
	KeepFailed(f *File, ref UploadRef, err error) bool
}

// NopHooks keeps nothing: failed uploads are aborted.
type NopHooks struct{}

// Earlier implements Hooks.
func (NopHooks) Earlier(*File) Earlier { return Earlier{} }

// UploadCreated implements Hooks.
func (NopHooks) UploadCreated(*File, UploadRef) {}

// PartDone implements Hooks.
func (NopHooks) PartDone(*File, UploadRef, Part) {}

// Completed implements Hooks.
func (NopHooks) Completed(*File, UploadRef, Result) {}

// Registered implements Hooks.
func (NopHooks) Registered(*File, UploadRef, string) {}

// Forget implements Hooks.
func (NopHooks) Forget(*File, UploadRef, string) {}

// KeepFailed implements Hooks.
func (NopHooks) KeepFailed(*File, UploadRef, error) bool { return false }

// ErrStopped is wrapped by the error of an upload that the run's context
// stopped (Ctrl-C, SIGTERM) before it ended; the context's cause is
// wrapped too.
var ErrStopped = errors.New("stopped before the upload ended")

func stopped(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
}

// Resumable reports whether an upload that failed with err is worth
// continuing later rather than aborting. Only what cannot get better is not:
// S3 refusing the request for good (access denied, bad request, the upload
// gone) and a file that changed while it was read. A stopped run, a network
// or S3 failure that outlasted the retries, or an API that is down or
// refuses the token may all pass, and the parts on S3 are worth keeping.
func Resumable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrStopped), errors.Is(err, context.Canceled):
		return true
	case errors.Is(err, errFileChanged):
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return classify(err) != permanent
	}
	return true
}

// NewPart rebuilds a Part from a journal record; its CRC comes from the
// checksum, so a resumed upload's full-object checksum is combined without
// reading the parts again.
func NewPart(number int32, size int64, etag, checksum string) Part {
	return Part{Number: number, Size: size, ETag: etag, Checksum: checksum, crc: crcFromBase64(checksum)}
}
