package transfer

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// copyBufferSize is the size of the reads from a part and of the writes to
// the socket. net/http copies a request body to a plain TCP connection
// with io.Copy's 32 KiB buffer whatever its WriteBufferSize (the body it
// sees is a LimitedReader, which hides any WriterTo): two syscalls per 32 KiB,
// 130,000 for a 2 GiB file. 256 KiB makes that 16,000.
const copyBufferSize = 256 << 10

var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}

// bodyConn is a connection whose ReadFrom, which net/http's HTTP/1 writer
// uses for request bodies, copies in copyBufferSize pieces.
type bodyConn struct{ net.Conn }

func (c bodyConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if fb, ok := lr.R.(fileBody); ok {
			if sc, ok := c.Conn.(syscall.Conn); ok {
				if raw, err := sc.SyscallConn(); err == nil {
					n, err := fb.sendFile(raw, lr.N)
					lr.N -= n
					if err != errNoSendfile {
						return n, err
					}
				}
			}
		}
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	return io.CopyBuffer(writeOnly{c.Conn}, r, *bp)
}

// writeOnly hides the connection's own ReadFrom from io.CopyBuffer, which
// would otherwise go back to a 32 KiB copy.
type writeOnly struct{ io.Writer }

// dialBodyConn wraps dial so that its connections are bodyConns.
func dialBodyConn(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return bodyConn{c}, nil
	}
}

// attemptBodyKey is the context key under which send hands a part's
// attemptBody to sendfileClient.
type attemptBodyKey struct{}

// sendfileClient gives the transport a part's attemptBody itself, in place
// of the SDK's wrappers of it, on plain-HTTP requests, so that bodyConn can
// send it with sendfile(2): a copy of every byte through user memory and a
// syscall per 256 KiB fewer. Over HTTPS the body must pass through TLS.
type sendfileClient struct{ aws.HTTPClient }

func (c sendfileClient) Do(req *http.Request) (*http.Response, error) {
	if b, ok := req.Context().Value(attemptBodyKey{}).(*attemptBody); ok && b.file != nil &&
		req.Body != nil && req.URL.Scheme == "http" && req.ContentLength == b.r.Size() {
		req.Body = fileBody{b}
	}
	return c.HTTPClient.Do(req)
}
