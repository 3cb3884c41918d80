package transfer

import (
	"context"
	"io"
	"net"
	"sync"
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
