package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vidup/vidup/internal/contract"
)

// StreamPath is the Path of a stream's Result and events: stdin.
const StreamPath = "-"

// streamGrowEvery is how many parts of a stream share one part size before
// it doubles: starting at 5 MiB, 10,000 parts then carry over 9 TiB, more
// than S3's largest object (5 TiB), so the part limit never stops a stream.
// (Every 1,000 parts would fall just short: 4.9 TiB.)
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
// one video named name, and registers it with its final size. Memory is
// bounded: parts are read into at most Concurrency+1 buffers of the current
// part size, which starts at Options.PartSize (or DefaultPartSize) and
// doubles every 900 parts. A stream cannot be resumed: nothing is kept
// of it when it fails, and its multipart upload is aborted.
func (e *Engine) UploadStream(ctx context.Context, r io.Reader, name, contentType string) Result {
	f := &File{Path: StreamPath, Name: name, Size: contract.UnknownSize, ContentType: contentType}
	e.opts.Observer.Event(Event{Kind: Planned, Time: time.Now(), Files: 1, Size: contract.UnknownSize})
	res := Result{Path: f.Path, Name: f.Name, Size: f.Size, Started: time.Now()}

	first := e.opts.PartSize
	if first == 0 {
		first = DefaultPartSize
	}
	if err := CheckPartSize(first); err != nil {
		return e.fail(res, fmt.Errorf("stdin: %w", err))
	}
	// The first part is read before the session opens: its first bytes
	// tell the content type, and a stream shorter than one part goes up in
	// a single PutObject.
	pool := newBufferPool(e.opts.Concurrency + 1)
	buf, err := pool.get(ctx, first)
	if err != nil {
		return e.fail(res, fmt.Errorf("stdin: %w", err))
	}
	n, eof, err := fill(r, buf)
	if err != nil {
		return e.fail(res, fmt.Errorf("stdin: read: %w", err))
	}
	if f.ContentType == "" {
		f.ContentType = DetectContentType(buf[:min(n, 512)], name)
	}

	sess, err := e.openSession(ctx, []*File{f})
	if err != nil {
		return e.fail(res, fmt.Errorf("stdin: %w", err))
	}
	up := sess.Uploads[0]
	res.SessionID, res.UploadID, res.Key = sess.SessionID, up.UploadID, up.Key
	ref := UploadRef{SessionID: sess.SessionID, UploadID: up.UploadID, Bucket: sess.Bucket, Key: up.Key, PartSize: first}
	e.opts.Observer.Event(Event{Kind: FileStarted, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: sess.SessionID, UploadID: up.UploadID, Key: up.Key})

	var crc uint64
	var answer s3Answer
	if eof {
		f.Size = int64(n)
		crc, answer, err = e.putBuffer(ctx, sess, f, &ref, buf[:n])
		pool.put(buf)
	} else {
		crc, f.Size, answer, err = e.multipartStream(ctx, sess, f, &ref, r, pool, buf)
	}
	res.Size = f.Size
	if err != nil {
		return e.fail(res, fmt.Errorf("stdin: %w", err))
	}
	st, err := e.verify(ctx, sess, f, &ref, crc, answer)
	if err != nil {
		return e.fail(res, fmt.Errorf("stdin: %w", err))
	}
	res.ETag, res.Checksum, res.Status = st.etag, st.checksum, StatusUploaded
	e.opts.Observer.Event(Event{Kind: FileUploaded, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: sess.SessionID, UploadID: up.UploadID, Key: up.Key, ETag: res.ETag, Checksum: res.Checksum.Algorithm + ":" + res.Checksum.Value})

	video, created, err := e.opts.API.RegisterVideo(ctx, contract.VideoRequest{
		UploadID: up.UploadID, SessionID: sess.SessionID, Bucket: sess.Bucket, Key: up.Key,
		Filename: f.Name, Size: f.Size, ContentType: f.ContentType, ETag: res.ETag,
		Checksum: res.Checksum, Metadata: e.opts.Metadata,
	})
	if err != nil {
		return e.fail(res, fmt.Errorf("stdin: uploaded to S3 but not registered: %w", err))
	}
	res.VideoID, res.Registered, res.Finished = video.ID, created, time.Now()
	e.opts.Observer.Event(Event{Kind: FileRegistered, Time: res.Finished, Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: sess.SessionID, UploadID: up.UploadID, Key: up.Key, ETag: res.ETag,
		Checksum: res.Checksum.Algorithm + ":" + res.Checksum.Value, VideoID: video.ID})
	return res
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

// sendBuffer runs one attempt of a request carrying data, with progress
// counted and taken back when the attempt fails (as send does for files).
func (e *Engine) sendBuffer(ctx context.Context, data []byte, call func(ctx context.Context, body io.Reader) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	body := newAttemptBody(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))),
		func(d int64) { e.opts.Observer.Progress(StreamPath, d) },
		e.opts.StallTimeout, func() { cancel(errStalled) })
	err := call(actx, body)
	body.finish(err == nil)
	if err != nil && errors.Is(context.Cause(actx), errStalled) && ctx.Err() == nil {
		return fmt.Errorf("%w: %w", errStalled, err)
	}
	return err
}

func (e *Engine) putBuffer(ctx context.Context, sess *session, f *File, ref *UploadRef, data []byte) (uint64, s3Answer, error) {
	var answer s3Answer
	if err := e.slot(ctx); err != nil {
		return 0, answer, err
	}
	defer e.release()
	crc := crc64.Checksum(data, crc64NVMETable)
	sum := crcBase64(crc)
	err := e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
		return e.sendBuffer(ctx, data, func(ctx context.Context, body io.Reader) error {
			out, err := sess.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key),
				Body: body, ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String(f.ContentType),
				ChecksumCRC64NVME: aws.String(sum),
			}, unsignedPayload)
			if err == nil {
				answer = s3Answer{etag: aws.ToString(out.ETag), checksum: aws.ToString(out.ChecksumCRC64NVME)}
			}
			return err
		})
	})
	if err != nil {
		return 0, answer, s3Error(err, "upload to s3://%s/%s", sess.Bucket, ref.Key)
	}
	return crc, answer, nil
}

// multipartStream sends a stream whose first part (full) is in buf, and
// returns the full-object CRC and the stream's length.
func (e *Engine) multipartStream(ctx context.Context, sess *session, f *File, ref *UploadRef, r io.Reader, pool *bufferPool, buf []byte) (crc uint64, size int64, answer s3Answer, err error) {
	err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
		out, err := sess.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
			Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key), ContentType: aws.String(f.ContentType),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme, ChecksumType: types.ChecksumTypeFullObject,
		})
		if err == nil {
			ref.S3UploadID = aws.ToString(out.UploadId)
		}
		return err
	})
	if err != nil {
		pool.put(buf)
		return 0, 0, answer, s3Error(err, "start a multipart upload to s3://%s/%s", sess.Bucket, ref.Key)
	}
	defer func() {
		if err != nil {
			e.abortSoon(ctx, sess, *ref) // a stream cannot be resumed: its parts would only cost storage
		}
	}()

	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		parts []Part
	)
	// send hands part number's data to a worker; the worker returns the
	// buffer to the pool once S3 has it.
	send := func(number int32, data []byte) bool {
		if err := e.slot(fctx); err != nil {
			pool.put(data)
			return false
		}
		wg.Go(func() {
			defer e.release()
			defer pool.put(data)
			p, err := e.streamPart(fctx, sess, f, ref, number, data)
			if err != nil {
				cancel(err)
				return
			}
			mu.Lock()
			parts = append(parts, p)
			mu.Unlock()
		})
		return true
	}
	data, number, last := buf, int32(1), false
	for {
		size += int64(len(data))
		if !send(number, data) || last {
			break
		}
		if number == MaxParts {
			// Out of reach below 5 TiB thanks to the growing part size:
			// more is beyond S3's largest object.
			if _, eof, _ := fill(r, make([]byte, 1)); !eof {
				cancel(fmt.Errorf("the stream is longer than S3's largest object (%s)", FormatSize(MaxObjectSize)))
			}
			break
		}
		number++
		buf, err := pool.get(fctx, streamPartSize(ref.PartSize, number))
		if err != nil {
			break
		}
		n, eof, err := fill(r, buf)
		if err != nil {
			pool.put(buf)
			cancel(fmt.Errorf("read: %w", err))
			break
		}
		if n == 0 {
			pool.put(buf)
			break
		}
		data, last = buf[:n], eof
	}
	wg.Wait()
	if err := context.Cause(fctx); err != nil {
		return 0, size, answer, err
	}
	sortParts(parts)
	crc = parts[0].CRC()
	completed := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		if i > 0 {
			crc = crcCombine(crc, p.CRC(), p.Size)
		}
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag), ChecksumCRC64NVME: aws.String(p.Checksum)}
	}
	attempts := 0
	err = e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, 0), func(ctx context.Context) error {
		attempts++
		out, err := sess.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key), UploadId: aws.String(ref.S3UploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
			ChecksumType:    types.ChecksumTypeFullObject, ChecksumCRC64NVME: aws.String(crcBase64(crc)),
			MpuObjectSize: aws.Int64(size),
		})
		if attempts > 1 && errorCode(err) == "NoSuchUpload" {
			return nil
		}
		if err == nil {
			answer = s3Answer{etag: aws.ToString(out.ETag), checksum: aws.ToString(out.ChecksumCRC64NVME)}
		}
		return err
	})
	if err != nil {
		return 0, size, answer, s3Error(err, "complete the multipart upload of s3://%s/%s", sess.Bucket, ref.Key)
	}
	return crc, size, answer, nil
}

func sortParts(parts []Part) {
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && parts[j].Number < parts[j-1].Number; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
}

func (e *Engine) streamPart(ctx context.Context, sess *session, f *File, ref *UploadRef, n int32, data []byte) (Part, error) {
	crc := crc64.Checksum(data, crc64NVMETable)
	p := Part{Number: n, Size: int64(len(data)), Checksum: crcBase64(crc)}
	err := e.opts.Retry.do(ctx, e.retryHooks(sess, f, ref, int(n)), func(ctx context.Context) error {
		return e.sendBuffer(ctx, data, func(ctx context.Context, body io.Reader) error {
			out, err := sess.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: aws.String(sess.Bucket), Key: aws.String(ref.Key), UploadId: aws.String(ref.S3UploadID),
				PartNumber: aws.Int32(n), Body: body, ContentLength: aws.Int64(p.Size),
				ChecksumCRC64NVME: aws.String(p.Checksum),
			}, unsignedPayload)
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
