package transfer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

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
		ref.ChecksumAlgorithm = sess.mode.current().record()
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
	h, err := os.Open(f.Path)
	if err != nil {
		return stored{}, err
	}
	defer h.Close()
	if err := checkOpen(f, h); err != nil {
		return stored{}, err
	}
	if rs != nil && rs.complete {
		// S3 completed it in a run that died before recording it. The
		// object is the recorded parts: it is the file's only if every
		// part still reads the same from the file.
		good, err := keptParts(ctx, h, a, f.Size, ref.PartSize, rs.parts)
		if err != nil {
			return stored{}, err
		}
		if len(good) != len(rs.parts) {
			return stored{}, errFileChanged
		}
		e.kept(f, ref, f.Size)
		return e.verify(ctx, sess, f, ref, objectChecksum(a, rs.parts), rs.parts, s3Answer{etag: multipartETag(rs.parts)})
	}
	u := &upload{sess: sess, f: f, ref: ref, a: a}
	var want string
	var answer s3Answer
	if ref.S3UploadID == "" && f.Size <= ref.PartSize {
		err = e.negotiate(ctx, u, func() error {
			var err error
			want, answer, err = e.put(ctx, u, fileChunk(h, 0, 0, f.Size), true)
			return err
		})
	} else {
		src := newFileParts(h, f.Size, ref.PartSize)
		var kept []Part
		if rs != nil {
			// A part S3 holds is the file's only if the file still reads
			// the same there: an edit in place may keep size and mtime.
			// Parts that differ are sent again.
			good, err := keptParts(ctx, h, a, f.Size, ref.PartSize, rs.kept)
			if err != nil {
				return stored{}, err
			}
			kept = src.skip(good)
		}
		want, answer, err = e.multipart(ctx, u, src, kept)
	}
	if err != nil {
		return stored{}, err
	}
	return e.verify(ctx, sess, f, ref, want, u.parts, answer)
}

// reconcile keeps the parts of an earlier run that S3 still lists with the
// same ETag, checksum and size. Its error is S3's, typed.
func (e *Engine) reconcile(ctx context.Context, sess *session, f *asset.Item, ref *UploadRef, rp *Prior) ([]Part, error) {
	listed := map[int32]listedPart{}
	marker, prev := "", ""
	for pages := 1; ; pages++ {
		var page []listedPart
		err := e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, OpListParts, 0), func(ctx context.Context) error {
			var err error
			page, marker, err = sess.store.listParts(ctx, ref.Key, rp.Ref.S3UploadID, marker)
			return err
		})
		if err != nil {
			return nil, sess.failed(err, OpListParts, ref.Key, 0)
		}
		for _, p := range page {
			listed[p.number] = p
		}
		// The listing ends on the last page, and also when a store marks a
		// page truncated but gives no next marker, or one that does not
		// advance: asking again would return the same page forever.
		if marker == "" || marker == prev || pages >= maxListPages {
			break
		}
		prev = marker
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

// keptParts returns the parts of parts that the file h (of size, in parts
// of partSize) still holds: each is read again and its checksum compared
// with the one recorded, which S3 listed (reconcile). A part recorded
// without a checksum (mode none) is compared by MD5 with its ETag when the
// ETag is one; otherwise it is not trusted and is sent again. The cost is
// one read of the kept parts.
func keptParts(ctx context.Context, h *os.File, a *checksumAlgorithm, size, partSize int64, parts []Part) ([]Part, error) {
	var good []Part
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off := int64(p.Number-1) * partSize
		if p.Number < 1 || off >= size || p.Size != min(partSize, size-off) {
			continue
		}
		same, err := partMatches(h, a, off, p)
		if err != nil {
			return nil, fmt.Errorf("read part %d of %s again: %w", p.Number, h.Name(), err)
		}
		if same {
			good = append(good, p)
		}
	}
	return good, nil
}

func partMatches(h *os.File, a *checksumAlgorithm, off int64, p Part) (bool, error) {
	r := io.NewSectionReader(h, off, p.Size)
	if !a.none && p.Checksum != "" {
		crc, n, err := a.of(r)
		if err != nil {
			return false, err
		}
		return n == p.Size && a.base64(crc) == p.Checksum, nil
	}
	etag := strings.Trim(p.ETag, `"`)
	if len(etag) != 2*md5.Size {
		return false, nil
	}
	m := md5.New()
	n, err := io.Copy(m, r)
	if err != nil {
		return false, err
	}
	return n == p.Size && hex.EncodeToString(m.Sum(nil)) == strings.ToLower(etag), nil
}

// maxListPages bounds the ListParts pages of one upload: 10,000 parts at
// S3's 1,000 a page are 10 pages; a store that pages smaller still ends.
const maxListPages = contract.MaxParts

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
	err := r.do(ctx, retryHooks{refresh: sess.creds.Invalidate, expiring: sess.expiring}, func(ctx context.Context) error {
		err := sess.store.abort(ctx, ref.Key, ref.S3UploadID)
		if errorCode(err) == "NoSuchUpload" {
			return nil
		}
		return err
	})
	if err != nil {
		return sess.failed(err, OpAbortMultipartUpload, ref.Key, 0)
	}
	return nil
}

// verify compares the object's checksum S3 answered when it took the
// object (PutObject, CompleteMultipartUpload) with want, the local file's.
// S3 computed that answer from the bytes it stored and checked it against
// the one sent, and it took exactly the declared size (Content-Length,
// MpuObjectSize), so a HeadObject would only repeat it: for many small
// files that HeadObject was a third of the S3 requests. Only when the
// answer has no checksum (an upload a crashed run completed, a Complete
// retried after its answer was lost, a store that keeps none) does verify
// ask S3 (HeadObject with its checksum) and compare size and checksum.
//
// vidup reports only what the store confirmed: an object whose store
// holds no checksum (mode none, or a store that drops the headers) is
// unverified (checksum nil). A COMPOSITE answer ("…-N") to a full-object
// upload is compared with the composite of parts. The contract does not
// promise session credentials may read objects: when HeadObject is
// refused, the answer's ETag stands and the API verifies the checksum
// before it registers.
func (e *Engine) verify(ctx context.Context, sess *session, f *asset.Item, ref *UploadRef, want string, parts []Part, answer s3Answer) (stored, error) {
	a, err := checksumOf(ref)
	if err != nil {
		return stored{}, err
	}
	etag, got := answer.etag, answer.checksum
	headed := false
	if got == "" {
		var head headAnswer
		err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, OpHeadObject, 0), func(ctx context.Context) error {
			var err error
			head, err = sess.store.head(ctx, ref.Key, a)
			return err
		})
		switch {
		case err == nil:
			if head.size != f.Size {
				return stored{}, fmt.Errorf("s3://%s/%s holds %d bytes, the file has %d; upload it again", sess.Bucket, ref.Key, head.size, f.Size)
			}
			etag, got, headed = head.etag, head.checksum, true
		case isAccessDenied(err):
			if etag == "" {
				return stored{}, fmt.Errorf("s3://%s/%s: S3 returned no checksum to verify and HeadObject is not allowed; check the session policy allows s3:GetObject", sess.Bucket, ref.Key)
			}
		default:
			return stored{}, sess.failed(err, OpHeadObject, ref.Key, 0)
		}
	}
	if a.none || (got == "" && headed) {
		return stored{etag: etag}, nil // unverified: the store holds no checksum
	}
	typ := a.typ()
	if len(parts) == 0 {
		typ = contract.TypeFullObject // a single PutObject
	}
	if got != "" && got != want {
		if !a.composite && isComposite(got) && a.compositeOf(parts) == got {
			// The store keeps a composite checksum where a full-object one
			// was asked (Ceph RGW, older SeaweedFS): compare that.
			want, typ = got, contract.TypeComposite
		} else {
			return stored{}, fmt.Errorf("s3://%s/%s has checksum %s:%s, the file has %s; upload it again", sess.Bucket, ref.Key, a.name, got, want)
		}
	}
	return stored{
		etag:     etag,
		checksum: &contract.Checksum{Algorithm: a.name, Type: typ, Value: want},
	}, nil
}

// isComposite reports whether checksum is S3's composite form, "…-N".
func isComposite(checksum string) bool {
	i := strings.LastIndexByte(checksum, '-')
	if i < 0 || i == len(checksum)-1 {
		return false
	}
	for _, c := range checksum[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
