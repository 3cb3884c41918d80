package transfer

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
)

// stored is what S3 holds after a successful upload, as verified.
type stored struct {
	etag     string
	checksum *contract.Checksum
}

// transfer sends f to S3 and verifies the object. rs, when not nil, is
// what S3 holds of an earlier run's multipart upload ref.
func (e *Engine) transfer(ctx context.Context, sess *session, f *asset.Item, ref *UploadRef, rs *resumeState) (stored, error) {
	if ref.S3UploadID == "" && ref.ChecksumAlgorithm == "" && rs == nil {
		ref.ChecksumAlgorithm = defaultChecksum.name
	}
	a, err := checksumOf(ref)
	if err != nil {
		return stored{}, err
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
		e.opts.Observer.Progress(f.Path, f.Size)
		return e.verify(ctx, sess, f, ref, combined(a, rs.parts), s3Answer{etag: multipartETag(rs.parts)})
	}
	h, err := os.Open(f.Path)
	if err != nil {
		return stored{}, err
	}
	defer h.Close()
	if err := checkOpen(f, h); err != nil {
		return stored{}, err
	}
	u := &upload{sess: sess, f: f, ref: ref, a: a}
	var crc uint64
	var answer s3Answer
	if ref.S3UploadID == "" && f.Size <= ref.PartSize {
		crc, answer, err = e.put(ctx, u, fileChunk(h, 0, 0, f.Size))
	} else {
		src := newFileParts(h, f.Size, ref.PartSize)
		var kept []Part
		if rs != nil {
			kept = src.skip(rs.kept)
		}
		crc, answer, err = e.multipart(ctx, u, src, kept)
	}
	if err != nil {
		return stored{}, err
	}
	return e.verify(ctx, sess, f, ref, crc, answer)
}

// reconcile keeps the parts of an earlier run that S3 still lists with the
// same ETag, checksum and size. Its error is S3's, typed.
func (e *Engine) reconcile(ctx context.Context, sess *session, f *asset.Item, ref *UploadRef, rp *Prior) ([]Part, error) {
	listed := map[int32]listedPart{}
	marker := ""
	for {
		var page []listedPart
		err := e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
			var err error
			page, marker, err = sess.store.listParts(ctx, ref.Key, rp.Ref.S3UploadID, marker)
			return err
		})
		if err != nil {
			return nil, s3Failed(err, OpListParts, sess.Bucket, ref.Key, 0)
		}
		for _, p := range page {
			listed[p.number] = p
		}
		if marker == "" {
			break
		}
	}
	var kept []Part
	for _, p := range rp.Parts {
		if l, ok := listed[p.Number]; ok && l.etag == p.ETag && l.size == p.Size && sameChecksums(l.checksums, p.Checksum) {
			kept = append(kept, p)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Number < kept[j].Number })
	return kept, nil
}

func sameChecksums(listed []string, want string) bool {
	for _, c := range listed {
		if c != want {
			return false
		}
	}
	return true
}

// abandon is the single place that decides the fate of a failed multipart
// upload: kept open for a later run, or aborted so S3 frees its parts.
func (e *Engine) abandon(ctx context.Context, sess *session, f *asset.Item, ref UploadRef, cause error) {
	if ref.S3UploadID == "" || e.hooks(f).KeepFailed(f, ref, cause) {
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
		err := sess.store.abort(ctx, ref.Key, ref.S3UploadID)
		if errorCode(err) == "NoSuchUpload" {
			return nil
		}
		return err
	})
	if err != nil {
		return s3Failed(err, OpAbortMultipartUpload, ref.Bucket, ref.Key, 0)
	}
	return nil
}

// verify compares the full-object checksum S3 answered when it took the
// object (PutObject, CompleteMultipartUpload) with the local file's. S3
// computed that answer from the bytes it stored and checked it against the
// one sent, and it took exactly the declared size (Content-Length,
// MpuObjectSize), so a HeadObject would only repeat it: for many small
// files that HeadObject was a third of the S3 requests. Only when the
// answer has no checksum (an upload a crashed run completed, or a
// Complete retried after its answer was lost) does verify ask S3
// (HeadObject with its checksum) and compare size and checksum. The
// contract does not promise session credentials may read objects: when
// HeadObject is refused, the answer's ETag stands (and the API verifies
// again before it registers).
func (e *Engine) verify(ctx context.Context, sess *session, f *asset.Item, ref *UploadRef, crc uint64, answer s3Answer) (stored, error) {
	a, err := checksumOf(ref)
	if err != nil {
		return stored{}, err
	}
	want := a.base64(crc)
	etag, got := answer.etag, answer.checksum
	if got == "" {
		var head headAnswer
		err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
			var err error
			head, err = sess.store.head(ctx, ref.Key, a)
			return err
		})
		switch {
		case err == nil:
			if head.size != f.Size {
				return stored{}, fmt.Errorf("s3://%s/%s holds %d bytes, the file has %d; upload it again", sess.Bucket, ref.Key, head.size, f.Size)
			}
			etag, got = head.etag, head.checksum
		case isAccessDenied(err):
			if etag == "" {
				return stored{}, fmt.Errorf("s3://%s/%s: S3 returned no checksum to verify and HeadObject is not allowed; check the session policy allows s3:GetObject", sess.Bucket, ref.Key)
			}
		default:
			return stored{}, s3Failed(err, OpHeadObject, sess.Bucket, ref.Key, 0)
		}
	}
	if got != "" && got != want {
		return stored{}, fmt.Errorf("s3://%s/%s has checksum %s:%s, the file has %s; upload it again", sess.Bucket, ref.Key, a.name, got, want)
	}
	return stored{
		etag:     etag,
		checksum: &contract.Checksum{Algorithm: a.name, Type: string(types.ChecksumTypeFullObject), Value: want},
	}, nil
}
