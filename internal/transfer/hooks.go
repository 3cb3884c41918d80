package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/vidup/vidup/internal/asset"
)

// UploadRef and Part are the upload record of internal/asset, which the
// journal keeps too. They are aliases only as a bridge for the pipeline's
// files (s3ops.go, stream.go, engine.go) while they are rewritten; new code
// names asset.Upload and asset.Part.
type (
	UploadRef = asset.Upload
	Part      = asset.Part
)

// Prior is an upload an earlier run left of a file.
type Prior struct {
	Ref asset.Upload
	// Parts the earlier run saw S3 accept. The engine trusts only those
	// that ListParts still shows with the same ETag, size and checksum.
	Parts []asset.Part
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

// Action is what becomes of an earlier upload of a file. The engine applies
// it; Hooks.Decide (internal/resume) chooses it.
type Action int

// The actions, from the cheapest for the run to the dearest.
const (
	// Skip: the file is done (registered by an earlier run); nothing to do.
	Skip Action = iota + 1
	// Register: the object is complete and verified on S3; only its
	// registration is missing (the outbox).
	Register
	// Complete: S3 completed the multipart upload already (the run that sent
	// CompleteMultipartUpload died before recording it): the journal has
	// every part and HeadObject shows their object (S3State.Object). Verify
	// it and register it.
	Complete
	// Resume: continue the multipart upload; send only the parts S3 does not
	// hold. Before S3 was asked, it means "ask S3, then decide again".
	Resume
	// Restart: give the upload up (the engine aborts what S3 still holds)
	// and upload the file again from the start.
	Restart
	// Fail: the file fails in this run; its upload stays for a later one.
	Fail
)

var actionNames = [...]string{Skip: "skip", Register: "register", Complete: "complete", Resume: "resume", Restart: "restart", Fail: "fail"}

func (a Action) String() string {
	if a > 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Decision is an Action and why, for the user.
type Decision struct {
	Action Action
	Reason string
	// Err is why the file fails (Fail only).
	Err error
}

// S3Status is what S3 and the API said of an earlier multipart upload.
type S3Status int

// The answers the engine gathers before it asks Hooks.Decide.
const (
	// S3NotAsked: nothing asked yet (the journal alone decides).
	S3NotAsked S3Status = iota
	// S3Listed: ListParts answered; S3State.Kept are the recorded parts it
	// still shows with the same ETag, size and checksum.
	S3Listed
	// S3SessionGone: the API no longer knows the upload's session.
	S3SessionGone
	// S3UploadGone: S3 no longer has the multipart upload (NoSuchUpload);
	// S3State.Object says whether its object is there.
	S3UploadGone
	// S3Failed: the API or S3 could not be asked (S3State.Err says why).
	S3Failed
)

// S3State is what the engine learned of an earlier upload before deciding.
type S3State struct {
	Status S3Status
	Kept   []asset.Part
	// Object (S3UploadGone only): HeadObject shows at the upload's key an
	// object of the file's size with the checksum, or the multipart ETag,
	// of the recorded parts: the Complete that ended the upload went
	// through. Without it the upload was aborted, whatever the journal
	// holds.
	Object bool
	Err    error
}

// Hooks follow an upload's life, so that a journal can let a later run
// continue it. The engine calls them from its workers; they must be safe
// for concurrent use.
type Hooks interface {
	// Earlier says what earlier runs left of f. It is called once per file,
	// before any session is opened, and must not block on the network.
	Earlier(f *asset.Item) Earlier
	// Decide says what becomes of p, the upload Earlier offered to resume,
	// now that the engine asked S3 about it. It must not block.
	Decide(f *asset.Item, p *Prior, s3 S3State) Decision
	UploadCreated(f *asset.Item, ref asset.Upload)
	PartDone(f *asset.Item, ref asset.Upload, p asset.Part)
	Completed(f *asset.Item, ref asset.Upload, r Result)
	Registered(f *asset.Item, ref asset.Upload, videoID string)
	// Forget says ref will never be continued (aborted, or gone from the
	// API or from S3); reason says why, for the user.
	Forget(f *asset.Item, ref asset.Upload, reason string)
	// KeepFailed decides what happens to a multipart upload that failed:
	// true keeps it open on S3 for a later run, false aborts it (S3 then
	// frees its parts). It is the only place that decision is taken.
	KeepFailed(f *asset.Item, ref asset.Upload, err error) bool
}

// NopHooks keeps nothing: failed uploads are aborted.
type NopHooks struct{}

// Earlier implements Hooks.
func (NopHooks) Earlier(*asset.Item) Earlier { return Earlier{} }

// Decide implements Hooks. NopHooks offers no earlier upload, so the
// engine never asks; were it to, the upload starts over.
func (NopHooks) Decide(*asset.Item, *Prior, S3State) Decision { return Decision{Action: Restart} }

// UploadCreated implements Hooks.
func (NopHooks) UploadCreated(*asset.Item, asset.Upload) {}

// PartDone implements Hooks.
func (NopHooks) PartDone(*asset.Item, asset.Upload, asset.Part) {}

// Completed implements Hooks.
func (NopHooks) Completed(*asset.Item, asset.Upload, Result) {}

// Registered implements Hooks.
func (NopHooks) Registered(*asset.Item, asset.Upload, string) {}

// Forget implements Hooks.
func (NopHooks) Forget(*asset.Item, asset.Upload, string) {}

// KeepFailed implements Hooks.
func (NopHooks) KeepFailed(*asset.Item, asset.Upload, error) bool { return false }

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
	var xe *expiringKeyError
	if errors.As(err, &xe) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return classify(err) != permanent
	}
	return true
}
