package transfer

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// errStalled ends an attempt whose body stopped moving: a connection that
// neither fails nor sends would otherwise hold a part forever.
var errStalled = errors.New("no progress sending the part; the connection stalled")

// attemptBody is a part's data for one attempt: it reports the bytes the
// HTTP client takes from it as progress, and can take them all back when the
// attempt fails, so progress never counts a retried part twice. It can be
// rewound (Seek), which the SDK needs to know the length and would use to
// resend; a rewind takes back what was counted.
type attemptBody struct {
	r        *io.SectionReader
	progress func(delta int64)
	// file, when known, is the open file r reads, and base where r starts
	// in it: a plain-HTTP connection sends the part from it with
	// sendfile(2) (see bodyConn).
	file *os.File
	base int64

	mu      sync.Mutex
	counted int64
	done    bool
	stall   *time.Timer
	timeout time.Duration

	// sum, when set (summing), is the algorithm of the part's trailing
	// checksum: the body computes it of the bytes the HTTP client reads, as
	// they go, so the part is read once. crc covers the part's first crcAt
	// bytes.
	sum   *checksumAlgorithm
	crc   uint64
	crcAt int64
}

// newAttemptBody wraps r. When stallTimeout passes without a Read, onStall
// is called (it cancels the attempt).
func newAttemptBody(r *io.SectionReader, progress func(int64), stallTimeout time.Duration, onStall func()) *attemptBody {
	b := &attemptBody{r: r, progress: progress, timeout: stallTimeout}
	if stallTimeout > 0 && onStall != nil {
		b.stall = time.AfterFunc(stallTimeout, onStall)
	}
	return b
}

func (b *attemptBody) Read(p []byte) (int, error) {
	var at int64
	if b.sum != nil {
		at, _ = b.r.Seek(0, io.SeekCurrent)
	}
	n, err := b.r.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return n, err
	}
	// Only bytes that follow those summed extend the sum (bytes read again
	// after a rewind are not summed twice); a read beyond them leaves the
	// sum short, and summed says so.
	if b.sum != nil && at <= b.crcAt && at+int64(n) > b.crcAt {
		b.crc = b.sum.update(b.crc, p[b.crcAt-at:n])
		b.crcAt = at + int64(n)
	}
	if b.stall != nil {
		b.stall.Reset(b.timeout)
	}
	if n > 0 {
		b.counted += int64(n)
		b.progress(int64(n))
	}
	return n, err
}

// advance moves the body n bytes on after they were sent without Read
// (sendFile), counting them as Read would.
func (b *attemptBody) advance(n int64) {
	b.r.Seek(n, io.SeekCurrent)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	if b.stall != nil {
		b.stall.Reset(b.timeout)
	}
	b.counted += n
	b.progress(n)
}

// over reports whether the attempt has finished.
func (b *attemptBody) over() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// errAttemptOver stops a transport still sending a part whose attempt
// ended (it failed, or S3 answered before the end of the body).
var errAttemptOver = errors.New("the part's attempt is over")

// errNoSendfile says sendfile(2) cannot send this body.
var errNoSendfile = errors.New("sendfile not supported")

// fileBody is the request body an HTTP client sees for an attemptBody
// that has a file: a type bodyConn recognises under the transport's
// LimitedReader, where the SDK's own wrappers would hide it.
type fileBody struct{ *attemptBody }

func (fileBody) Close() error { return nil }

func (b *attemptBody) Seek(offset int64, whence int) (int64, error) {
	pos, err := b.r.Seek(offset, whence)
	if err != nil {
		return pos, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// Only the SDK's length probe and rewinds seek: anything read beyond the
	// new position will be read (and counted) again.
	if !b.done && b.counted > pos {
		b.progress(pos - b.counted)
		b.counted = pos
	}
	if pos == 0 {
		b.crc, b.crcAt = 0, 0
	}
	return pos, nil
}

// summing makes the body compute a's checksum of the part as the HTTP
// client reads it (a trailing checksum). Call it before the body is read.
func (b *attemptBody) summing(a *checksumAlgorithm) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sum, b.crc, b.crcAt = a, 0, 0
}

// summed is the checksum of the part as the HTTP client read it, and
// whether it covers the whole part, in order; false (the client skipped
// bytes or stopped short) means crc is not the part's.
func (b *attemptBody) summed() (crc uint64, whole bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.crc, b.sum != nil && b.crcAt == b.r.Size()
}

// finish ends the attempt. On success the count is completed to the part's
// full length (the HTTP client may not have needed a final empty read); on
// failure everything counted is taken back. Reads after finish, which a
// transport may still do on a dead connection, count nothing.
func (b *attemptBody) finish(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if b.stall != nil {
		b.stall.Stop()
	}
	if ok {
		if rest := b.r.Size() - b.counted; rest != 0 {
			b.progress(rest)
		}
		b.counted = b.r.Size()
		return
	}
	if b.counted != 0 {
		b.progress(-b.counted)
	}
	b.counted = 0
}
