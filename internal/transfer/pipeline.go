package transfer

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"golang.org/x/sync/errgroup"
)

// The one pipeline that files and streams share. A part source hands out
// chunks (sections of the open file, or stream buffers from a bounded
// pool); everything after that is the same code: one CRC pass, the send
// with retries and progress, Complete, verify, register.

// upload is one object on its way to S3.
type upload struct {
	sess *session
	f    *asset.Item
	ref  *UploadRef
	a    *checksumAlgorithm
	// parts are those Complete sent, for verify (composite answers).
	parts []Part
}

// failed types err, a failed op of this upload's object.
func (u *upload) failed(err error, op string, part int32) error {
	return u.sess.failed(err, op, u.ref.Key, part)
}

// chunk is the bytes of one part (n, 1-based) or of a whole object put at
// once (n 0): a section of the open file, or a stream buffer.
type chunk struct {
	n  int32
	sr *io.SectionReader
	// file, when set, is the open file sr reads from off: it is sent with
	// sendfile(2) where it can be, and checked unchanged before every
	// attempt.
	file *os.File
	off  int64
	// buf, when set, is the stream buffer sr reads; free gives it back.
	buf  []byte
	free func()
}

func fileChunk(h *os.File, n int32, off, size int64) chunk {
	return chunk{n: n, sr: io.NewSectionReader(h, off, size), file: h, off: off}
}

func bufferChunk(n int32, buf []byte, free func()) chunk {
	return chunk{n: n, sr: io.NewSectionReader(bytes.NewReader(buf), 0, int64(len(buf))), buf: buf, free: free}
}

func (c chunk) size() int64 { return c.sr.Size() }

func (c chunk) release() {
	if c.free != nil {
		c.free()
	}
}

// checksum is the one pass over the chunk for its CRC: a buffer is summed
// where it lies, a file section read through a copy buffer.
func (c chunk) checksum(a *checksumAlgorithm) (uint64, error) {
	if c.file == nil {
		return a.update(0, c.buf), nil
	}
	crc, got, err := a.of(io.NewSectionReader(c.sr, 0, c.size()))
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	if got != c.size() {
		return 0, errFileChanged
	}
	return crc, nil
}

// sum is the header value that protects c's bytes under a: its CRC in
// base64, or for none its Content-MD5 (a pass only stores without
// checksums pay). crc is 0 for none.
func (c chunk) sum(a *checksumAlgorithm) (crc uint64, sum string, err error) {
	if !a.none {
		crc, err = c.checksum(a)
		return crc, a.base64(crc), err
	}
	h := md5.New()
	n, err := io.Copy(h, io.NewSectionReader(c.sr, 0, c.size()))
	if err != nil {
		return 0, "", fmt.Errorf("read: %w", err)
	}
	if n != c.size() {
		return 0, "", errFileChanged
	}
	return 0, base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// partSource hands out the parts of a multipart upload in order.
type partSource interface {
	// next returns the next part to send, io.EOF after the last.
	next(ctx context.Context) (chunk, error)
	// close gives back what next has not handed out.
	close()
}

// fileParts are the sections of a file of known size, less those S3 holds
// already.
type fileParts struct {
	h              *os.File
	size, partSize int64
	count, n       int32
	done           []bool
}

func newFileParts(h *os.File, size, partSize int64) *fileParts {
	count := int32(ceilDiv(size, partSize))
	return &fileParts{h: h, size: size, partSize: partSize, count: count, done: make([]bool, count)}
}

// skip marks the parts of kept as sent and returns those that belong to
// the file.
func (s *fileParts) skip(kept []Part) []Part {
	var in []Part
	for _, p := range kept {
		if p.Number >= 1 && p.Number <= s.count {
			s.done[p.Number-1] = true
			in = append(in, p)
		}
	}
	return in
}

func (s *fileParts) next(context.Context) (chunk, error) {
	for s.n < s.count && s.done[s.n] {
		s.n++
	}
	if s.n == s.count {
		return chunk{}, io.EOF
	}
	s.n++
	off := int64(s.n-1) * s.partSize
	return fileChunk(s.h, s.n, off, min(s.partSize, s.size-off)), nil
}

func (s *fileParts) close() {}

// partList collects the parts S3 accepted, by number.
type partList struct {
	mu    sync.Mutex
	parts []Part
}

func (l *partList) add(p Part) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.parts) < int(p.Number) {
		l.parts = append(l.parts, Part{})
	}
	l.parts[p.Number-1] = p
}

// sendContext is the context of the requests that carry u's bytes: see
// partContext. A stream gets no grace: it cannot be resumed, so a part
// that finishes after Ctrl-C is only aborted.
func (e *Engine) sendContext(ctx context.Context, u *upload) (context.Context, context.CancelCauseFunc) {
	if u.f.Stdin {
		return context.WithCancelCause(ctx)
	}
	return e.partContext(ctx)
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

// objectSlot takes a slot for an object of size sent whole: a small one
// takes a part slot or one of the small slots, whichever is free first.
func (e *Engine) objectSlot(ctx context.Context, size int64) (release func(), err error) {
	if size > smallObject {
		if err := e.slot(ctx); err != nil {
			return nil, err
		}
		return e.release, nil
	}
	select {
	case e.parts <- struct{}{}:
		return e.release, nil
	case e.small <- struct{}{}:
		return func() { <-e.small }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// hooks are the run's hooks for f. A stream has none: it cannot be
// resumed, so nothing of it is recorded and a failed one is aborted.
func (e *Engine) hooks(f *asset.Item) Hooks {
	if f.Stdin {
		return NopHooks{}
	}
	return e.opts.Hooks
}

// kept reports bytes of f that S3 holds from an earlier run.
func (e *Engine) kept(f *asset.Item, ref *UploadRef, n int64) {
	e.opts.Observer.Event(Event{Kind: KeptOnS3, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, Bytes: n})
}

// retryHooks reports retries of op on part (0 for whole-object calls) of f.
func (e *Engine) retryHooks(sess *session, f *asset.Item, ref *UploadRef, op string, part int) retryHooks {
	return retryHooks{
		refresh:  sess.creds.Invalidate,
		expiring: sess.expiring,
		onRetry: func(attempt int, wait time.Duration, err error) {
			e.opts.Observer.Event(Event{Kind: PartRetried, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
				SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, Op: op,
				Part: part, Attempt: attempt, Attempts: e.opts.Retry.Retries + 1, Wait: wait,
				Reason: Brief(err, sess.Endpoint), Err: err})
		},
	}
}

// put sends c, the whole object, in one PutObject, and returns the
// object's checksum as S3 should hold it ("" for none). c is released
// unless keep (a retry in another checksum mode sends it again).
func (e *Engine) put(ctx context.Context, u *upload, c chunk, keep bool) (string, s3Answer, error) {
	if !keep {
		defer c.release()
	}
	var answer s3Answer
	release, err := e.objectSlot(ctx, c.size())
	if err != nil {
		return "", answer, err
	}
	defer release()
	sctx, cancel := e.sendContext(ctx, u)
	defer cancel(nil)
	var sum string
	err = e.sendSummed(ctx, sctx, u, c, func(ctx context.Context, body *attemptBody, header string) (string, error) {
		var err error
		answer, err = u.sess.store.put(ctx, u.ref.Key, headersOf(u.f), body, c.size(), u.a, header)
		return answer.checksum, err
	}, &sum)
	if err != nil {
		return "", answer, u.failed(err, OpPutObject, 0)
	}
	if u.a.none {
		sum = ""
	}
	return sum, answer, nil
}

// multipart sends the parts of src as one multipart upload (created unless
// u.ref names one; kept are its parts S3 holds already), completes it and
// returns the object's CRC. Parts run concurrently within the run's part
// slots. On failure the upload is kept for a later run or aborted, as the
// hooks decide.
func (e *Engine) multipart(ctx context.Context, u *upload, src partSource, kept []Part) (want string, answer s3Answer, err error) {
	defer src.close()
	ref := u.ref
	if ref.S3UploadID == "" {
		err := e.negotiate(ctx, u, func() error {
			return e.opts.Retry.do(ctx, e.retryHooks(u.sess, u.f, ref, OpCreateMultipartUpload, 0), func(ctx context.Context) error {
				id, err := u.sess.store.create(ctx, ref.Key, headersOf(u.f), u.a)
				if err == nil {
					ref.S3UploadID = id
				}
				return err
			})
		})
		if err != nil {
			return "", answer, u.failed(err, OpCreateMultipartUpload, 0)
		}
		e.hooks(u.f).UploadCreated(u.f, *ref)
	}
	defer func() {
		if err != nil {
			e.abandon(ctx, u.sess, u.f, *ref, err)
		}
	}()

	// Parts already on S3 are reported apart from this run's progress.
	var parts partList
	var keptBytes int64
	for _, p := range kept {
		parts.add(p)
		keptBytes += p.Size
	}
	if keptBytes > 0 {
		e.kept(u.f, ref, keptBytes)
	}

	// fctx stops new parts from starting (the run stopped, or a part failed
	// for good); sctx is what parts in flight send with.
	g, fctx := errgroup.WithContext(ctx)
	sctx, cancelSends := e.sendContext(fctx, u)
	defer cancelSends(nil)
	for {
		c, err := src.next(fctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && fctx.Err() == nil {
				g.Go(func() error { return err })
			}
			break
		}
		if err := e.slot(fctx); err != nil {
			c.release()
			break
		}
		g.Go(func() error {
			defer e.release()
			defer c.release()
			p, err := e.sendPart(fctx, sctx, u, c)
			if err != nil {
				if ctx.Err() == nil {
					cancelSends(err)
				}
				return err
			}
			parts.add(p)
			e.hooks(u.f).PartDone(u.f, *ref, p)
			return nil
		})
	}
	err = g.Wait()
	if ctx.Err() != nil {
		return "", answer, stopped(ctx)
	}
	if err != nil {
		return "", answer, err
	}
	return e.complete(ctx, u, parts.parts)
}

// sendPart sends chunk c as part c.n: see sendSummed.
func (e *Engine) sendPart(ctx, sctx context.Context, u *upload, c chunk) (Part, error) {
	p := Part{Number: c.n, Size: c.size()}
	var sum string
	err := e.sendSummed(ctx, sctx, u, c, func(ctx context.Context, body *attemptBody, header string) (string, error) {
		answer, err := u.sess.store.part(ctx, u.ref.Key, u.ref.S3UploadID, c.n, body, p.Size, u.a, header)
		p.ETag = answer.etag
		return answer.checksum, err
	}, &sum)
	if err != nil {
		return Part{}, u.failed(err, OpUploadPart, c.n)
	}
	if !u.a.none {
		p.Checksum = sum
	}
	return p, nil
}

// sendSummed sends c with send, with retries, and sets *sum to the
// header value that protected it (its CRC in base64; for none its
// Content-MD5). Over HTTPS a file's bytes are read once: the CRC is
// computed as they are sent and goes after them (a trailing checksum, see
// s3Store.checksum), each attempt's from its own bytes, and is recorded
// only from an attempt S3 accepted. Otherwise one pass computes it first
// and it goes in a header (over plain HTTP the send then costs no read:
// sendfile). A store that refuses trailers gets headers for the rest of
// the session. send gets "" as header for a trailing checksum and returns
// the checksum S3 answered, if any.
func (e *Engine) sendSummed(ctx, sctx context.Context, u *upload, c chunk, send func(ctx context.Context, body *attemptBody, header string) (string, error), sum *string) error {
	if u.sess.trailers.Load() && !u.a.none && c.file != nil && c.size() > 0 {
		err := e.sendChunk(ctx, sctx, u, c, func(ctx context.Context, body *attemptBody) error {
			body.summing(u.a)
			got, err := send(ctx, body, "")
			if err != nil {
				return err
			}
			*sum, err = trailed(u.a, body, got)
			return err
		})
		if err == nil || !refusesTrailer(err) || ctx.Err() != nil {
			return err
		}
		u.sess.trailers.Store(false)
	}
	var err error
	if _, *sum, err = c.sum(u.a); err != nil {
		return err
	}
	return e.sendChunk(ctx, sctx, u, c, func(ctx context.Context, body *attemptBody) error {
		_, err := send(ctx, body, *sum)
		return err
	})
}

// trailed is the checksum an attempt S3 accepted sent as its trailer,
// computed by body of the bytes it sent. got, the checksum S3 answered (if
// any), must be the same.
func trailed(a *checksumAlgorithm, body *attemptBody, got string) (string, error) {
	sum, err := body.trailer()
	if err != nil {
		return "", err
	}
	if got != "" && got != sum {
		return "", fmt.Errorf("S3 took the bytes with checksum %s %s, the file has %s; upload it again", a.name, got, sum)
	}
	return sum, nil
}

// complete completes the multipart upload of parts (all of them, in
// order) with the full-object CRC, combined from theirs, and returns the
// object's checksum as S3 should hold it.
func (e *Engine) complete(ctx context.Context, u *upload, parts []Part) (string, s3Answer, error) {
	sum := objectChecksum(u.a, parts)
	u.parts = parts
	var size int64
	for _, p := range parts {
		size += p.Size
	}
	var answer s3Answer
	attempts := 0
	err := e.opts.Retry.do(ctx, e.retryHooks(u.sess, u.f, u.ref, OpCompleteMultipartUpload, 0), func(ctx context.Context) error {
		attempts++
		out, err := u.sess.store.complete(ctx, u.ref.Key, u.ref.S3UploadID, parts, size, u.a, sum)
		// A retried Complete whose first attempt did succeed finds the
		// upload gone; verify then tells whether the object is right.
		if attempts > 1 && errorCode(err) == "NoSuchUpload" {
			return nil
		}
		if err == nil {
			answer = out
		}
		return err
	})
	if err != nil {
		return "", answer, u.failed(err, OpCompleteMultipartUpload, 0)
	}
	return sum, answer, nil
}

// objectChecksum is the checksum S3 should hold of an object made of
// parts: combined from theirs (FULL_OBJECT), their composite ("…-N"), or
// "" for none.
func objectChecksum(a *checksumAlgorithm, parts []Part) string {
	switch {
	case a.none:
		return ""
	case a.composite:
		return a.compositeOf(parts)
	}
	return a.base64(combined(a, parts))
}

// sendChunk sends c with retries: attempts start while ctx lasts and send
// with sctx.
func (e *Engine) sendChunk(ctx, sctx context.Context, u *upload, c chunk, call func(ctx context.Context, body *attemptBody) error) error {
	op := OpUploadPart
	if c.n == 0 {
		op = OpPutObject
	}
	return e.opts.Retry.do(ctx, e.retryHooks(u.sess, u.f, u.ref, op, int(c.n)), func(context.Context) error {
		return e.attempt(sctx, u.f, c, call)
	})
}

// attempt runs one attempt of a request that carries the bytes of c, with
// progress counted and taken back if the attempt fails.
func (e *Engine) attempt(ctx context.Context, f *asset.Item, c chunk, call func(ctx context.Context, body *attemptBody) error) error {
	if c.file != nil {
		if err := checkOpen(f, c.file); err != nil {
			return err
		}
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	body := newAttemptBody(io.NewSectionReader(c.sr, 0, c.size()),
		func(d int64) { e.opts.Observer.Progress(f.Path, d) },
		e.opts.StallTimeout, func() { cancel(errStalled) })
	body.file, body.base = c.file, c.off
	err := call(context.WithValue(actx, attemptBodyKey{}, body), body)
	body.finish(err == nil)
	if err != nil && errors.Is(context.Cause(actx), errStalled) && ctx.Err() == nil {
		return fmt.Errorf("%w: %w", errStalled, err)
	}
	return err
}
