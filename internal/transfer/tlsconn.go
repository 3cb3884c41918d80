package transfer

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
)

// dialTLSCoalesced is the transport's TLS dial: crypto/tls writes every
// record (16 KiB at most) with its own syscall, 65,000 writes for 1 GiB.
// Its connections gather the records of one Write from the transport (a
// full WriteBufferSize of body) and send them with one syscall. The TLS
// configuration is the transport's own (CA bundle included), read when a
// connection is dialled; HTTP/2 is not offered, as S3 speaks HTTP/1.1.
func dialTLSCoalesced(t *http.Transport, dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := &tls.Config{}
		if t.TLSClientConfig != nil {
			cfg = t.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg.ServerName = host
		}
		cfg.NextProtos = nil
		cc := &coalescingConn{Conn: raw}
		tc := tls.Client(cc, cfg)
		hctx := ctx
		if t.TLSHandshakeTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, t.TLSHandshakeTimeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		return &tlsBatchConn{Conn: tc, cc: cc}, nil
	}
}

// coalescingConn holds what is written while hold is on, and sends it in
// one write at flush.
type coalescingConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hold {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *coalescingConn) start() {
	c.mu.Lock()
	c.hold = true
	c.mu.Unlock()
}

func (c *coalescingConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	// Keep the buffer for the next Write unless it grew beyond need.
	if cap(c.buf) > 2*copyBufferSize {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// tlsBatchConn is a TLS connection whose every Write reaches the socket
// in one syscall.
type tlsBatchConn struct {
	*tls.Conn
	cc *coalescingConn
}

// ReadFrom is how net/http sends a request body: in copyBufferSize
// pieces, each one syscall, where io.Copy would write 32 KiB at a time.
func (c *tlsBatchConn) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	return io.CopyBuffer(writeOnly{c}, r, *bp)
}

func (c *tlsBatchConn) Write(p []byte) (int, error) {
	c.cc.start()
	n, err := c.Conn.Write(p)
	if ferr := c.cc.flush(); err == nil && ferr != nil {
		// The records were not sent: none of p counts as written.
		return 0, ferr
	}
	return n, err
}
