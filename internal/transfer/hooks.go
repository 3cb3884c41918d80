package transfer

// UploadRef names one upload of a file: the API's identifiers and S3's.
type UploadRef struct {
	SessionID string
	UploadID  string // the API's upload id (the registration's idempotency key)
	Bucket    string
	Key       string
	// S3UploadID is the multipart upload's id; empty for single PutObjects.
	S3UploadID string
	PartSize   int64
}

// Part is one part S3 accepted.
type Part struct {
	Number   int32
	Size     int64
	ETag     string
	Checksum string // base64 CRC64NVME
	crc      uint64
}

// ResumePoint is what an earlier run left of a multipart upload.
type ResumePoint struct {
	S3UploadID string
	PartSize   int64
	// Parts the earlier run saw S3 accept. The engine trusts only those
	// that ListParts still shows with the same ETag and checksum.
	Parts []Part
}

// Hooks follow an upload's life, so that a journal can let a later run
// continue it. The engine calls them from its workers; they must be safe
// for concurrent use.
type Hooks interface {
	// Resume returns the open multipart upload an earlier run left for
	// ref (same session and key), if any.
	Resume(f *File, ref UploadRef) (ResumePoint, bool)
	UploadCreated(f *File, ref UploadRef)
	PartDone(f *File, ref UploadRef, p Part)
	Completed(f *File, ref UploadRef, r Result)
	Registered(f *File, ref UploadRef, videoID string)
	// KeepFailed decides what happens to a multipart upload that failed:
	// true keeps it open on S3 for a later run, false aborts it (S3 then
	// frees its parts). It is the only place that decision is taken.
	KeepFailed(f *File, ref UploadRef, err error) bool
}

// NopHooks keeps nothing: failed uploads are aborted.
type NopHooks struct{}

// Resume implements Hooks.
func (NopHooks) Resume(*File, UploadRef) (ResumePoint, bool) { return ResumePoint{}, false }

// UploadCreated implements Hooks.
func (NopHooks) UploadCreated(*File, UploadRef) {}

// PartDone implements Hooks.
func (NopHooks) PartDone(*File, UploadRef, Part) {}

// Completed implements Hooks.
func (NopHooks) Completed(*File, UploadRef, Result) {}

// Registered implements Hooks.
func (NopHooks) Registered(*File, UploadRef, string) {}

// KeepFailed implements Hooks.
func (NopHooks) KeepFailed(*File, UploadRef, error) bool { return false }
