package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/vidup/vidup/internal/contract"
)

// unsignedPayload sends part bodies as UNSIGNED-PAYLOAD. Over plain HTTP
// the SDK would otherwise SHA-256 every part before sending it: a third
// pass over the data (~1.75 GB/s on this class of machine, about as much
// CPU as the CRC and the send together). Integrity does not suffer: each
// request carries its CRC, which S3 checks before it accepts the part.
// Passes per byte: one CRC read, one send; the full-object checksum
// is combined from the part CRCs (crcCombine), not read again.
var unsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// s3Answer is what S3 said when it took the object (PutObject or
// CompleteMultipartUpload): the fallback when HeadObject is not allowed.
type s3Answer struct {
	etag, checksum string
}

// stored is what S3 holds after a successful upload, as verified.
type stored struct {
	etag     string
	checksum *contract.Checksum
}

// transfer sends f to S3 and verifies the object. rs, when not nil, is
// what S3 holds of an earlier run's multipart upload ref.
func (e *Engine) transfer(ctx context.Context, sess *session, f *File, ref *UploadRef, rs *resumeState) (stored, error) {
	if ref.S3UploadID == "" && ref.ChecksumAlgorithm == "" && rs == nil {
		ref.ChecksumAlgorithm = defaultChecksum.name
	}
	if ref.PartSize == 0 {
		partSize, err := ChoosePartSize(f.Size, e.opts.PartSize)
		if err != nil {
			return stored{}, err
		}
		ref.PartSize = partSize
	}
	if rs != nil && rs.complete {
		// S3 completed it in a run that died before recording it.
		a, err := checksumOf(ref)
		if err != nil {
			return stored{}, err
		}
		e.opts.Observer.Progress(f.Path, f.Size)
		return e.verify(ctx, sess, f, ref, combined(a, rs.parts), s3Answer{etag: multipartETag(rs.parts)})
	}
	h, err := os.Open(f.Path)
	if err != nil {
		return stored{}, err
	}
	defer h.Close()
	if err := f.checkOpen(h); err != nil {
		return stored{}, err
	}
	var crc uint64
	var answer s3Answer
	if ref.S3UploadID == "" && f.Size <= ref.PartSize {
		crc, answer, err = e.put(ctx, sess, f, h, ref)
	} else {
		var kept []Part
		if rs != nil {
			kept = rs.kept
		}
		crc, answer, err = e.multipart(ctx, sess, f, h, ref, kept)
	}
	if err != nil {
		return stored{}, err
	}
	return e.verify(ctx, sess, f, ref, crc, answer)
}

// partContext is the context of the requests that send file data. The
// run's context stopping (Ctrl-C) does not cut them at once: they get
// StopGrace to finish, so that nearly sent parts are not lost. cancel ends
// them early (a part failed for good).
func (e *Engine) partContext(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	pctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(e.opts.StopGrace, func() { cancel(stopped(ctx)) })
		context.AfterFunc(pctx, func() { t.Stop() })
	})
	return pctx, func(cause error) {
		stop()
		cancel(cause)
	}
}

// slot takes one of the run's part slots.
func (e *Engine) slot(ctx context.Context) error {
	select {
	case e.parts <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (e *Engine) release() { <-e.parts }

// retryHooks reports retries of part (0 for whole-object calls) of f.
func (e *Engine) retryHooks(sess *session, f *File, ref *UploadRef, part int) retryHooks {
	return retryHooks{
		refresh: sess.creds.Invalidate,
		onRetry: func(attempt int, wait time.Duration, err error) {
			e.opts.Observer.Event(Event{Kind: PartRetried, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
				SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key,
				Part: part, Attempt: attempt, Wait: wait, Reason: describe(err), Err: err})
		},
	}
}

// send runs one attempt of a request that carries the bytes of sr, with
// progress counted and taken back if the attempt fails.
func (e *Engine) send(ctx context.Context, f *File, h *os.File, sr *io.SectionReader,
	call func(ctx context.Context, body io.Reader) error) error {
	if err := f.checkOpen(h); err != nil {
		return err
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	body := newAttemptBody(io.NewSectionReader(sr, 0, sr.Size()),
		func(d int64) { e.opts.Observer.Progress(f.Path, d) },
		e.opts.StallTimeout, func() { cancel(errStalled) })
	if outer, off, _ := sr.Outer(); outer == h {
		body.file, body.base = h, off
	}
	err := call(context.WithValue(actx, attemptBodyKey{}, body), body)
	body.finish(err == nil)
	if err != nil && errors.Is(context.Cause(actx), errStalled) && ctx.Err() == nil {
		return fmt.Errorf("%w: %w", errStalled, err)
	}
	return err
}

func (e *Engine) put(ctx context.Context, sess *session, f *File, h *os.File, ref *UploadRef) (uint64, s3Answer, error) {
	var answer s3Answer
	if err := e.slot(ctx); err != nil {
		return 0, answer, err
	}
	defer e.release()
	a, err := checksumOf(ref)
	if err != nil {
		return 0, answer, err
	}
	sr := io.NewSectionReader(h, 0, f.Size)
	crc, n, err := a.of(io.NewSectionReader(sr, 0, f.Size))
	if err != nil {
		return 0, answer, fmt.Errorf("read: %w", err)
	}
	if n != f.Size {
		return 0, answer, errFileChanged
	}
	sum := a.base64(crc)
	pctx, cancel := e.partContext(ctx)
	defer cancel(nil)
	err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(context.Context) error {
		return e.send(pctx, f, h, sr, func(ctx context.Context, body io.Reader) error {
			in := &s3.PutObjectInput{
				Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key),
				Body: body, ContentLength: aws.Int64(f.Size), ContentType: aws.String(f.ContentType),
			}
			a.set(&in.ChecksumCRC32C, &in.ChecksumCRC64NVME, sum)
			out, err := sess.client.PutObject(ctx, in, unsignedPayload)
			if err == nil {
				answer = s3Answer{etag: aws.ToString(out.ETag), checksum: a.get(out.ChecksumCRC32C, out.ChecksumCRC64NVME)}
			}
			return err
		})
	})
	if err != nil {
		return 0, answer, s3Error(err, "upload to s3://%s/%s", sess.Bucket, ref.Key)
	}
	return crc, answer, nil
}

func (e *Engine) multipart(ctx context.Context, sess *session, f *File, h *os.File, ref *UploadRef, kept []Part) (crc uint64, answer s3Answer, err error) {
	a, err := checksumOf(ref)
	if err != nil {
		return 0, answer, err
	}
	nparts := int(ceilDiv(f.Size, ref.PartSize))
	parts := make([]Part, nparts)
	done := make([]bool, nparts)
	for _, p := range kept {
		if i := int(p.Number) - 1; i >= 0 && i < nparts {
			parts[i], done[i] = p, true
		}
	}
	if ref.S3UploadID == "" {
		err := e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
			out, err := sess.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
				Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key), ContentType: aws.String(f.ContentType),
				ChecksumAlgorithm: a.s3, ChecksumType: types.ChecksumTypeFullObject,
			})
			if err == nil {
				ref.S3UploadID = aws.ToString(out.UploadId)
			}
			return err
		})
		if err != nil {
			return 0, answer, s3Error(err, "start a multipart upload to s3://%s/%s", sess.Bucket, ref.Key)
		}
		e.opts.Hooks.UploadCreated(f, *ref)
	}
	defer func() {
		if err != nil {
			e.abandon(ctx, sess, f, *ref, err)
		}
	}()

	// Parts already on S3 count as progress at once.
	for i := range parts {
		if done[i] {
			e.opts.Observer.Progress(f.Path, parts[i].Size)
		}
	}

	// fctx stops new parts from starting (the run stopped, or a part failed
	// for good); pctx is what parts in flight send with.
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pctx, cancelParts := e.partContext(fctx)
	defer cancelParts(nil)
	var wg sync.WaitGroup
	for i := 0; i < nparts; i++ {
		if done[i] {
			continue
		}
		if err := e.slot(fctx); err != nil {
			break
		}
		wg.Go(func() {
			defer e.release()
			p, err := e.uploadPart(fctx, pctx, sess, f, h, ref, a, int32(i+1))
			if err != nil {
				cancel(err)
				if ctx.Err() == nil {
					cancelParts(err)
				}
				return
			}
			parts[i] = p
			e.opts.Hooks.PartDone(f, *ref, p)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return 0, answer, stopped(ctx)
	}
	if err := context.Cause(fctx); err != nil {
		return 0, answer, err
	}

	crc = combined(a, parts)
	completed := make([]types.CompletedPart, nparts)
	for i, p := range parts {
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
		a.set(&completed[i].ChecksumCRC32C, &completed[i].ChecksumCRC64NVME, p.Checksum)
	}
	attempts := 0
	err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
		attempts++
		in := &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key), UploadId: aws.String(ref.S3UploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
			ChecksumType:    types.ChecksumTypeFullObject, MpuObjectSize: aws.Int64(f.Size),
		}
		a.set(&in.ChecksumCRC32C, &in.ChecksumCRC64NVME, a.base64(crc))
		out, err := sess.client.CompleteMultipartUpload(ctx, in)
		// A retried Complete whose first attempt did succeed finds the
		// upload gone; verify then tells whether the object is right.
		if attempts > 1 && errorCode(err) == "NoSuchUpload" {
			return nil
		}
		if err == nil {
			answer = s3Answer{etag: aws.ToString(out.ETag), checksum: a.get(out.ChecksumCRC32C, out.ChecksumCRC64NVME)}
		}
		return err
	})
	if err != nil {
		return 0, answer, s3Error(err, "complete the multipart upload of s3://%s/%s", sess.Bucket, ref.Key)
	}
	return crc, answer, nil
}

// uploadPart sends part number n: one pass for its CRC, one to send it,
// again (rewound) only when an attempt fails.
// Attempts start only while ctx lasts; they send with pctx.
func (e *Engine) uploadPart(ctx, pctx context.Context, sess *session, f *File, h *os.File, ref *UploadRef, a *checksumAlgorithm, n int32) (Part, error) {
	off := int64(n-1) * ref.PartSize
	size := min(ref.PartSize, f.Size-off)
	sr := io.NewSectionReader(h, off, size)
	crc, got, err := a.of(io.NewSectionReader(sr, 0, size))
	if err != nil {
		return Part{}, fmt.Errorf("read part %d: %w", n, err)
	}
	if got != size {
		return Part{}, errFileChanged
	}
	p := Part{Number: n, Size: size, Checksum: a.base64(crc)}
	err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, int(n)), func(context.Context) error {
		return e.send(pctx, f, h, sr, func(ctx context.Context, body io.Reader) error {
			in := &s3.UploadPartInput{
				Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key), UploadId: aws.String(ref.S3UploadID),
				PartNumber: aws.Int32(n), Body: body, ContentLength: aws.Int64(size),
			}
			a.set(&in.ChecksumCRC32C, &in.ChecksumCRC64NVME, p.Checksum)
			out, err := sess.client.UploadPart(ctx, in, unsignedPayload)
			if err == nil {
				p.ETag = aws.ToString(out.ETag)
			}
			return err
		})
	})
	if err != nil {
		return Part{}, s3Error(err, "upload part %d of s3://%s/%s", n, sess.Bucket, ref.Key)
	}
	return p, nil
}

// reconcile keeps the parts of an earlier run that S3 still lists with the
// same ETag, checksum and size.
func (e *Engine) reconcile(ctx context.Context, sess *session, f *File, ref *UploadRef, rp *Prior) ([]Part, error) {
	listed := map[int32]types.Part{}
	var marker *string
	for {
		var out *s3.ListPartsOutput
		err := e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
			var err error
			out, err = sess.client.ListParts(ctx, &s3.ListPartsInput{
				Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key), UploadId: aws.String(rp.Ref.S3UploadID),
				PartNumberMarker: marker,
			})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, p := range out.Parts {
			listed[aws.ToInt32(p.PartNumber)] = p
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		marker = out.NextPartNumberMarker
	}
	var kept []Part
	for _, p := range rp.Parts {
		l, ok := listed[p.Number]
		if ok && aws.ToString(l.ETag) == p.ETag && aws.ToInt64(l.Size) == p.Size &&
			(l.ChecksumCRC64NVME == nil || aws.ToString(l.ChecksumCRC64NVME) == p.Checksum) &&
			(l.ChecksumCRC32C == nil || aws.ToString(l.ChecksumCRC32C) == p.Checksum) {
			kept = append(kept, p)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Number < kept[j].Number })
	return kept, nil
}

// abandon is the single place that decides the fate of a failed multipart
// upload: kept open for a later run, or aborted so S3 frees its parts.
func (e *Engine) abandon(ctx context.Context, sess *session, f *File, ref UploadRef, cause error) {
	if ref.S3UploadID == "" || e.opts.Hooks.KeepFailed(f, ref, cause) {
		return
	}
	e.abortSoon(ctx, sess, ref)
}

// abortSoon aborts ref's multipart upload even after Ctrl-C, within its own
// short time and few retries: it is cleanup, the run is ending.
func (e *Engine) abortSoon(ctx context.Context, sess *session, ref UploadRef) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	r := e.opts.Retry
	r.Retries = min(r.Retries, 3)
	_ = e.abortMultipart(actx, sess, ref, r)
}

// abortMultipart aborts ref's multipart upload so S3 frees its parts. An
// upload S3 no longer has is not an error.
func (e *Engine) abortMultipart(ctx context.Context, sess *session, ref UploadRef, r Retry) error {
	err := r.do(ctx, retryHooks{refresh: sess.creds.Invalidate}, func(ctx context.Context) error {
		_, err := sess.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key), UploadId: aws.String(ref.S3UploadID),
		})
		if errorCode(err) == "NoSuchUpload" {
			return nil
		}
		return err
	})
	if err != nil {
		return s3Error(err, "abort the multipart upload of s3://%s/%s", ref.Bucket, ref.Key)
	}
	return nil
}

// verify compares the full-object checksum S3 answered when it took the
// object (PutObject, CompleteMultipartUpload) with the local file's. S3
// computed that answer from the bytes it stored and checked it against the
// one sent, and it took exactly the declared size (Content-Length,
// MpuObjectSize), so a HeadObject would only repeat it: for many small
// files that HeadObject was a third of the S3 requests. Only when the
// answer has no checksum (an upload a crashed run completed) does verify ask
// S3 (HeadObject with its checksum) and compare size and checksum. The
// contract does not promise session credentials may read objects: when
// HeadObject is refused, the answer's ETag stands (and the API verifies
// again before it registers).
func (e *Engine) verify(ctx context.Context, sess *session, f *File, ref *UploadRef, crc uint64, answer s3Answer) (stored, error) {
	a, err := checksumOf(ref)
	if err != nil {
		return stored{}, err
	}
	want := a.base64(crc)
	if answer.checksum != "" {
		if answer.checksum != want {
			return stored{}, fmt.Errorf("s3://%s/%s has checksum %s:%s, the file has %s; upload it again", sess.Bucket, ref.Key, a.name, answer.checksum, want)
		}
		return stored{
			etag:     answer.etag,
			checksum: &contract.Checksum{Algorithm: a.name, Type: string(types.ChecksumTypeFullObject), Value: want},
		}, nil
	}
	var out *s3.HeadObjectOutput
	err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
		var err error
		out, err = sess.client.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key), ChecksumMode: types.ChecksumModeEnabled,
		})
		return err
	})
	etag, got := answer.etag, answer.checksum
	switch {
	case err == nil:
		if size := aws.ToInt64(out.ContentLength); size != f.Size {
			return stored{}, fmt.Errorf("s3://%s/%s holds %d bytes, the file has %d; upload it again", sess.Bucket, ref.Key, size, f.Size)
		}
		etag = aws.ToString(out.ETag)
		if c := a.get(out.ChecksumCRC32C, out.ChecksumCRC64NVME); c != "" {
			got = c
		}
	case isAccessDenied(err):
	default:
		return stored{}, s3Error(err, "verify s3://%s/%s", sess.Bucket, ref.Key)
	}
	if got == "" && answer.etag == "" && err != nil {
		return stored{}, fmt.Errorf("s3://%s/%s: S3 returned no checksum to verify and HeadObject is not allowed; check the session policy allows s3:GetObject", sess.Bucket, ref.Key)
	}
	if got != "" && got != want {
		return stored{}, fmt.Errorf("s3://%s/%s has checksum %s:%s, the file has %s; upload it again", sess.Bucket, ref.Key, a.name, got, want)
	}
	return stored{
		etag:     etag,
		checksum: &contract.Checksum{Algorithm: a.name, Type: string(types.ChecksumTypeFullObject), Value: want},
	}, nil
}

func isAccessDenied(err error) bool {
	switch errorCode(err) {
	case "AccessDenied", "Forbidden":
		return true
	}
	return false
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// s3Error wraps a failed S3 call with what was done and what it means.
// Errors that explain themselves (the file changed, the run was stopped)
// pass through.
func s3Error(err error, format string, a ...any) error {
	if errors.Is(err, errFileChanged) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %s: %w", fmt.Sprintf(format, a...), advice(err), err)
}

// advice says in words what an S3 error means and what to do.
func advice(err error) string {
	switch errorCode(err) {
	case "AccessDenied", "Forbidden":
		return "S3 refused the session's credentials (access denied); check the API's role and session policy allow writing this key"
	case "InvalidAccessKeyId":
		return "S3 does not know the session's access key; check the API hands out credentials for this S3 endpoint"
	case "SignatureDoesNotMatch":
		return "S3 rejected the request signature; check the session's secret key and region"
	case "NoSuchBucket":
		return "the session's bucket does not exist; check the API's bucket setting"
	case "NoSuchUpload":
		return "the multipart upload is gone from S3 (aborted or expired); upload the file again"
	case "ExpiredToken":
		return "the temporary credentials expired and a refresh did not help; check the API's refresh endpoint"
	case "EntityTooLarge", "EntityTooSmall":
		return "S3 refused the part size; choose another --part-size"
	}
	switch classify(err) {
	case transient:
		return "S3 kept failing after every retry; check the network or raise --retries/--retry-budget"
	}
	return "S3 refused the request"
}

// describe is a short reason for a retry, for the progress output.
func describe(err error) string {
	if c := errorCode(err); c != "" {
		return c
	}
	if errors.Is(err, errStalled) {
		return "stalled"
	}
	return "network error"
}
