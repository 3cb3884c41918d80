package transfer

import (
	"errors"
	"io"
	"os"
	"strconv"
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

// errNotSummed says a trailing checksum was asked of a body that did not
// compute it of all its bytes.
var errNotSummed = errors.New("the part's checksum was not computed of all its bytes as they were sent")

// trailingBody is a request body that computes its checksum as it is
// read: it is sent aws-chunked with the checksum after it (a trailing
// checksum), so its bytes are read once.
type trailingBody interface {
	io.Reader
	// trailer is the checksum in base64, once the body was read to its end.
	trailer() (string, error)
}

// trailer is the part's checksum for its trailer: see summing.
func (b *attemptBody) trailer() (string, error) {
	crc, whole := b.summed()
	if !whole {
		return "", errNotSummed
	}
	return b.sum.base64(crc), nil
}

// awsChunkSize bounds the chunks of an aws-chunked body. MinIO refuses
// chunks over 16 MiB (parts can be larger); 1 MiB keeps the framing to a
// few bytes per MiB.
const awsChunkSize = 1 << 20

// awsChunked is a body of size bytes in aws-chunked encoding, unsigned,
// with a trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER): each chunk is its
// length in hex, CRLF, its bytes, CRLF; then an empty chunk, the trailer
// line "name:value" CRLF, and CRLF. Reads are filled across the framing,
// so the body's bytes reach the connection in the caller's large writes,
// read from the body straight into the caller's buffer.
type awsChunked struct {
	body     trailingBody
	name     string // the trailer's header, x-amz-checksum-crc32c
	left     int64  // body bytes not yet read
	inChunk  int64  // body bytes left in the current chunk
	framing  []byte // framing to send before more body bytes
	trailed  bool
	framebuf [32]byte
}

func newAWSChunked(body trailingBody, size int64, name string) *awsChunked {
	return &awsChunked{body: body, name: name, left: size}
}

// awsChunkedLength is the encoded length of size body bytes whose
// trailer's value has valueLen characters.
func awsChunkedLength(size int64, name string, valueLen int) int64 {
	var n int64
	for left := size; left > 0; left -= min(left, awsChunkSize) {
		chunk := min(left, awsChunkSize)
		n += int64(len(strconv.FormatInt(chunk, 16))) + 2 + chunk + 2
	}
	return n + int64(len("0\r\n")+len(name)+1+valueLen+len("\r\n\r\n"))
}

func (c *awsChunked) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(c.framing) > 0:
			k := copy(p[n:], c.framing)
			c.framing = c.framing[k:]
			n += k
		case c.inChunk > 0:
			want := min(int64(len(p)-n), c.inChunk)
			k, err := c.body.Read(p[n : n+int(want)])
			n += k
			c.inChunk -= int64(k)
			c.left -= int64(k)
			if c.inChunk == 0 {
				c.framing = append(c.framebuf[:0], "\r\n"...)
			}
			if err == io.EOF && c.inChunk > 0 {
				return n, io.ErrUnexpectedEOF // the file shrank
			}
			if err != nil && err != io.EOF {
				return n, err
			}
			if int64(k) < want {
				return n, nil // a short read: the caller comes back
			}
		case c.left > 0:
			c.inChunk = min(c.left, awsChunkSize)
			c.framing = append(strconv.AppendInt(c.framebuf[:0], c.inChunk, 16), "\r\n"...)
		case !c.trailed:
			v, err := c.body.trailer()
			if err != nil {
				return n, err
			}
			c.trailed = true
			c.framing = []byte("0\r\n" + c.name + ":" + v + "\r\n\r\n")
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	return n, nil
}
