package transfer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
)

// plan is how a file of a run will be uploaded, settled before any new
// session is opened.
type plan struct {
	f *asset.Item
	// prior is the earlier upload to continue, in sess; nil for a new one.
	prior *Prior
	sess  *session
	rs    *resumeState
	err   error
}

// resumeState is what S3 still holds of an earlier multipart upload.
type resumeState struct {
	kept []asset.Part
	// complete: S3 completed the upload already (the run that sent
	// CompleteMultipartUpload died before it could record it); parts are
	// all of them, from the journal.
	complete bool
	parts    []asset.Part
}

// prepare asks the hooks what earlier runs left of each file, aborts the
// uploads of files that changed since, and checks on S3 what the resumable
// ones still hold. Files whose earlier upload cannot continue (the session
// or the multipart upload is gone) start over, with a message.
func (e *Engine) prepare(ctx context.Context, files []*asset.Item) []plan {
	plans := make([]plan, len(files))
	sessions := map[string]*session{}
	for i, f := range files {
		plans[i].f = f
		if f.Package() {
			continue // the package's own journal record (uploadPackage)
		}
		if ctx.Err() != nil {
			plans[i].err = stopped(ctx)
			continue
		}
		ea := e.opts.Hooks.Earlier(f)
		for _, st := range ea.Stale {
			e.discard(ctx, f, st, ea.StaleReason, sessions)
		}
		p := ea.Resume
		if p == nil {
			continue
		}
		if e.opts.Metadata != nil || p.Ref.Metadata == nil {
			p.Ref.Metadata = e.opts.Metadata
		}
		if p.Completed {
			// The outbox: only the registration is missing; S3 need not be
			// asked anything.
			plans[i].prior = p
			continue
		}
		sess, st := e.askS3(ctx, f, p, sessions)
		d := e.opts.Hooks.Decide(f, p, st)
		switch d.Action {
		case Resume:
			plans[i].prior, plans[i].sess, plans[i].rs = p, sess, &resumeState{kept: st.Kept}
			e.opts.Observer.Event(Event{Kind: FileResumed, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
				SessionID: p.Ref.SessionID, UploadID: p.Ref.UploadID, Key: p.Ref.Key, Reason: d.Reason})
		case Complete:
			plans[i].prior, plans[i].sess, plans[i].rs = p, sess, &resumeState{complete: true, parts: p.Parts}
		case Restart:
			if st.Status == S3Listed && p.Ref.S3UploadID != "" {
				// S3 still holds the upload: free its parts.
				_ = e.abortMultipart(ctx, sess, p.Ref, e.opts.Retry)
			}
			e.restart(f, p.Ref, d.Reason)
		case Fail:
			plans[i].err = d.Err
			if plans[i].err == nil {
				plans[i].err = errors.New(d.Reason)
			}
		default:
			plans[i].err = fmt.Errorf("resume the upload of session %s: %v does not apply to an upload in progress", p.Ref.SessionID, d.Action)
		}
	}
	return plans
}

// askS3 gathers what the API and S3 still hold of the unfinished multipart
// upload p, for Hooks.Decide: the session (fresh credentials) and the
// recorded parts ListParts still shows. It decides nothing.
func (e *Engine) askS3(ctx context.Context, f *asset.Item, p *Prior, sessions map[string]*session) (*session, S3State) {
	sess, err := e.resumeSession(ctx, p.Ref, sessions)
	if errors.Is(err, contract.ErrSessionGone) {
		return nil, S3State{Status: S3SessionGone, Err: err}
	}
	if err != nil {
		return nil, S3State{Status: S3Failed, Err: fmt.Errorf("resume the upload of session %s: %w", p.Ref.SessionID, err)}
	}
	kept, err := e.reconcile(ctx, sess, f, &p.Ref, p)
	switch {
	case errorCode(err) == "NoSuchUpload":
		// Gone: completed by a run that died before recording it, or
		// aborted (by hand, by a lifecycle rule, by someone else). Only an
		// object S3 shows at the key tells them apart.
		found, herr := e.completedObject(ctx, sess, f, p)
		if herr != nil {
			if ctx.Err() != nil {
				herr = stopped(ctx)
			}
			return sess, S3State{Status: S3Failed, Err: s3Error(herr, "resume s3://%s/%s (look for its object)", p.Ref.Bucket, p.Ref.Key)}
		}
		return sess, S3State{Status: S3UploadGone, Object: found, Err: err}
	case err != nil:
		if ctx.Err() != nil {
			err = stopped(ctx)
		}
		return sess, S3State{Status: S3Failed, Err: s3Error(err, "resume s3://%s/%s (list its parts)", p.Ref.Bucket, p.Ref.Key)}
	}
	return sess, S3State{Status: S3Listed, Kept: kept}
}

// completedObject reports whether S3 holds at p's key the object that
// completing p's recorded parts makes: the file's size, and the checksum or
// the multipart ETag of those parts. An object S3 does not show (404), or
// will not show (access denied), is not confirmed; the error is for a
// HeadObject that could not be asked at all (network, S3 failing).
func (e *Engine) completedObject(ctx context.Context, sess *session, f *asset.Item, p *Prior) (bool, error) {
	if len(p.Parts) == 0 {
		return false, nil
	}
	a, err := checksumOf(&p.Ref)
	if err != nil {
		return false, err
	}
	var head headAnswer
	err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, &p.Ref, OpHeadObject, 0), func(ctx context.Context) error {
		var err error
		head, err = sess.store.head(ctx, p.Ref.Key, a)
		return err
	})
	switch {
	case err == nil:
	case isAccessDenied(err), httpStatus(err) == 404, errorCode(err) == "NoSuchKey", errorCode(err) == "NotFound":
		return false, nil
	default:
		return false, sess.failed(err, OpHeadObject, p.Ref.Key, 0)
	}
	if head.size != f.Size {
		return false, nil
	}
	if head.checksum != "" {
		return head.checksum == objectChecksum(a, p.Parts) || head.checksum == a.compositeOf(p.Parts), nil
	}
	return head.etag != "" && head.etag == multipartETag(p.Parts), nil
}

// resumeSession rebuilds the session of an earlier upload from its record
// and fresh credentials (contract section 2). One per session and run.
func (e *Engine) resumeSession(ctx context.Context, ref asset.Upload, cache map[string]*session) (*session, error) {
	if s, ok := cache[ref.SessionID]; ok {
		return s, nil
	}
	creds, err := e.opts.API.RefreshCredentials(ctx, ref.SessionID)
	if err != nil {
		return nil, err
	}
	s, err := e.newSession(&contract.Session{SessionID: ref.SessionID, Bucket: ref.Bucket, Region: ref.Region,
		Endpoint: ref.Endpoint, PathStyle: ref.PathStyle, Credentials: creds})
	if err != nil {
		return nil, err
	}
	cache[ref.SessionID] = s
	return s, nil
}

// restart gives up an earlier upload of f that cannot continue.
func (e *Engine) restart(f *asset.Item, ref asset.Upload, reason string) {
	e.opts.Hooks.Forget(f, ref, reason)
	e.opts.Observer.Event(Event{Kind: FileRestarted, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, Reason: reason})
}

// discard aborts the multipart upload of an earlier version of f, so that
// S3 frees its parts, and forgets it.
func (e *Engine) discard(ctx context.Context, f *asset.Item, p Prior, reason string, sessions map[string]*session) {
	what := "its earlier upload was aborted"
	if p.Completed {
		what = "its earlier upload (complete on S3, never registered) is left unregistered"
	} else if p.Ref.S3UploadID != "" {
		if err := e.abort(ctx, p.Ref, sessions); err != nil {
			what = "aborting its earlier upload failed (" + err.Error() + "); its parts will be cleaned by the bucket's lifecycle rule"
		}
	}
	e.restart(f, p.Ref, strings.TrimSuffix(reason, ";")+"; "+what+"; uploading it again")
}

// Abort aborts the multipart upload ref on S3 with fresh credentials of its
// session. An upload S3 no longer has is not an error; a session the API no
// longer knows is (it wraps contract.ErrSessionGone).
func (e *Engine) Abort(ctx context.Context, ref asset.Upload) error {
	return e.abort(ctx, ref, map[string]*session{})
}

func (e *Engine) abort(ctx context.Context, ref asset.Upload, sessions map[string]*session) error {
	sess, err := e.resumeSession(ctx, ref, sessions)
	if err != nil {
		return fmt.Errorf("credentials of session %s: %w", ref.SessionID, err)
	}
	return e.abortMultipart(ctx, sess, ref, e.opts.Retry)
}

// resumeFile continues an earlier upload of p.f, or only registers it.
func (e *Engine) resumeFile(ctx context.Context, p plan, slot *batchSlot) Result {
	f, ref := p.f, p.prior.Ref
	if !p.prior.Completed {
		return e.uploadFile(ctx, p.sess, f, ref, p.rs, slot)
	}
	r := Result{Path: f.Path, Name: f.Name, Size: f.Size, SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, Started: time.Now()}
	e.opts.Observer.Event(Event{Kind: FileStarted, Time: r.Started, Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key})
	e.kept(f, &ref, f.Size)
	a, err := checksumOf(&ref)
	if err != nil {
		return e.fail(r, err)
	}
	st := stored{etag: p.prior.ETag}
	if !a.none && p.prior.Checksum != "" {
		typ := a.typ()
		if isComposite(p.prior.Checksum) {
			typ = contract.TypeComposite
		}
		st.checksum = &contract.Checksum{Algorithm: a.name, Type: typ, Value: p.prior.Checksum}
	}
	return e.register(ctx, f, ref, r, st, true, slot)
}

// combined is the full-object CRC of parts, in order.
func combined(a *checksumAlgorithm, parts []asset.Part) uint64 {
	crc := parts[0].CRC()
	for _, p := range parts[1:] {
		crc = a.combine(crc, p.CRC(), p.Size)
	}
	return crc
}

// multipartETag is the ETag S3 gives a multipart object: the MD5 of the
// parts' MD5s, and their count. It stands in for S3's answer when the
// Complete that produced the object was never recorded and HeadObject is
// not allowed; the API verifies the object again before registering it.
func multipartETag(parts []asset.Part) string {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil {
			return ""
		}
		h.Write(b)
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(parts))
}
