package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

// StreamPath is the Path of a stream's Result and events: stdin.
const StreamPath = "-"

// streamGrowEvery is how many parts of a stream share one part size before
// it doubles: starting at 5 MiB, 10,000 parts then carry over 9 TiB. (A
// file may be larger, up to S3's 48.8 TiB: its part size is known ahead.)
const streamGrowEvery = 900

// streamPartSize is the size of part n (1-based) of a stream whose first
// parts have size first.
func streamPartSize(first int64, n int32) int64 {
	ps := first
	for i := int32(streamGrowEvery); i < n && ps < MaxPartSize; i += streamGrowEvery {
		ps *= 2
	}
	return min(ps, MaxPartSize)
}

// UploadStream uploads r, whose length is not known in advance (stdin), as
// the video f (f.Stdin; f.Name names it, f.ContentType is detected from the
// first bytes when empty), and registers it with its final size. Memory is
// bounded: parts are read into at most Concurrency+1 buffers of the current
// part size, which starts at Options.PartSize (or DefaultPartSize) and
// doubles every 900 parts. A stream cannot be resumed: nothing is kept
// of it when it fails, and its multipart upload is aborted.
func (e *Engine) UploadStream(ctx context.Context, r io.Reader, f *asset.Item) Result {
	res := Result{Item: f, Path: f.Path, Name: f.Name, Size: f.Size, Started: time.Now()}

	first := e.opts.PartSize
	if first == 0 {
		first = DefaultPartSize
	}
	if err := CheckPartSize(first); err != nil {
		return e.fail(res, err)
	}
	// The first part is read before the session opens: its first bytes
	// tell the content type, and a stream shorter than one part goes up in
	// a single PutObject.
	src, err := newStreamParts(ctx, r, newBufferPool(e.opts.Concurrency+1), first)
	if err != nil {
		return e.fail(res, err)
	}
	if f.ContentType == "" {
		f.ContentType = DetectContentType(src.pending[:min(len(src.pending), 512)], f.Name)
	}

	sess, err := e.openSession(ctx, []*asset.Item{f})
	if err != nil {
		src.close()
		return e.fail(res, err)
	}
	up := sess.Uploads[0]
	ref := UploadRef{SessionID: sess.SessionID, UploadID: up.UploadID, Bucket: sess.Bucket, Key: up.Key,
		PartSize: first, ChecksumAlgorithm: sess.mode.current().record(), Metadata: e.opts.Metadata}
	started := res.Started // reading the first part counts
	res = e.started(f, ref)
	res.Started = started
	st, err := e.transferStream(ctx, sess, f, &ref, src)
	res.Size = f.Size
	return e.finish(ctx, f, ref, res, st, err, nil)
}

// transferStream sends the stream src to S3 and verifies the object; it
// sets f.Size to the stream's length.
func (e *Engine) transferStream(ctx context.Context, sess *session, f *asset.Item, ref *UploadRef, src *streamParts) (stored, error) {
	a, err := checksumOf(ref)
	if err != nil {
		src.close()
		return stored{}, err
	}
	u := &upload{sess: sess, f: f, ref: ref, a: a}
	var want string
	var answer s3Answer
	if src.eof {
		// Shorter than one part: a single PutObject.
		f.Size = int64(len(src.pending))
		c := src.take()
		err = e.negotiate(ctx, u, func() error {
			var err error
			want, answer, err = e.put(ctx, u, c, true)
			return err
		})
		c.release()
	} else {
		want, answer, err = e.multipart(ctx, u, src, nil)
		f.Size = src.size
	}
	if err != nil {
		return stored{}, err
	}
	return e.verify(ctx, sess, f, ref, want, u.parts, answer)
}

// streamParts cuts a stream into parts, read into buffers of the pool as
// the run's part slots free up: the part size grows every streamGrowEvery
// parts.
type streamParts struct {
	r     io.Reader
	pool  *bufferPool
	first int64 // the size of the first parts
	// pending is read and not handed out yet (the first part, read before
	// the session opened); eof says r ended with it.
	pending []byte
	eof     bool
	n       int32 // parts handed out
	size    int64 // their bytes
}

// newStreamParts reads the first part of r, of size first.
func newStreamParts(ctx context.Context, r io.Reader, pool *bufferPool, first int64) (*streamParts, error) {
	buf, err := pool.get(ctx, first)
	if err != nil {
		return nil, err
	}
	n, eof, err := fill(r, buf)
	if err != nil {
		pool.put(buf)
		return nil, fmt.Errorf("read: %w", err)
	}
	return &streamParts{r: r, pool: pool, first: first, pending: buf[:n], eof: eof}, nil
}

// take hands out the pending buffer as chunk n+1.
func (s *streamParts) take() chunk {
	buf := s.pending
	s.pending = nil
	s.n++
	s.size += int64(len(buf))
	return bufferChunk(s.n, buf, func() { s.pool.put(buf) })
}

func (s *streamParts) next(ctx context.Context) (chunk, error) {
	if s.pending != nil {
		return s.take(), nil
	}
	if s.eof {
		return chunk{}, io.EOF
	}
	if s.n == MaxParts {
		// Out of reach below about 9.2 TiB thanks to the growing part
		// size.
		if _, eof, _ := fill(s.r, make([]byte, 1)); !eof {
			return chunk{}, fmt.Errorf("the stream is longer than a stream upload can be (%d parts of growing size, about 9.2 TiB); save it to a file and upload that", MaxParts)
		}
		return chunk{}, io.EOF
	}
	buf, err := s.pool.get(ctx, streamPartSize(s.first, s.n+1))
	if err != nil {
		return chunk{}, err
	}
	n, eof, err := fill(s.r, buf)
	if err != nil || n == 0 {
		s.pool.put(buf)
		s.eof = true
		if err != nil {
			return chunk{}, fmt.Errorf("read: %w", err)
		}
		return chunk{}, io.EOF
	}
	s.pending, s.eof = buf[:n], eof
	return s.take(), nil
}

func (s *streamParts) close() {
	if s.pending != nil {
		s.pool.put(s.pending)
		s.pending = nil
	}
}

// fill reads r into buf until buf is full or r ends; eof reports the end.
func fill(r io.Reader, buf []byte) (n int, eof bool, err error) {
	n, err = io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return n, true, nil
	case err != nil:
		return n, false, err
	}
	// A full buffer may be the very end: peeking would cost a copy, so the
	// next fill finds out (and an empty last part is never sent).
	return n, false, nil
}

// bufferPool hands out at most cap part buffers at a time. A buffer smaller
// than the size asked for is dropped and a larger one made, so memory
// follows the current part size, never the stream's length.
type bufferPool struct {
	slots chan struct{}
	mu    sync.Mutex
	free  [][]byte
}

func newBufferPool(n int) *bufferPool {
	return &bufferPool{slots: make(chan struct{}, n)}
}

func (p *bufferPool) get(ctx context.Context, size int64) ([]byte, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.free) > 0 {
		b := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		if int64(cap(b)) >= size {
			return b[:size], nil
		}
	}
	return make([]byte, size), nil
}

func (p *bufferPool) put(b []byte) {
	p.mu.Lock()
	p.free = append(p.free, b[:cap(b)])
	p.mu.Unlock()
	<-p.slots
}
