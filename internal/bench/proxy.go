package bench

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// DelayProxy forwards TCP connections on loopback to a target and holds
// every byte for half the round-trip time in each direction, like a link to
// a far region. Each direction keeps at most Window bytes in flight, as a
// TCP window does, so a single connection's throughput is bounded by
// Window/RTT as it would be on a real long link; without that bound a
// proxy that buffered freely would hide the cost of too little concurrency.
type DelayProxy struct {
	RTT    time.Duration
	Window int

	target string
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// DefaultWindow is Linux's default largest receive buffer (net.ipv4.tcp_rmem).
const DefaultWindow = 6 << 20

// NewDelayProxy listens on 127.0.0.1 on a free port and forwards to target
// (host:port) with rtt of added round-trip delay.
func NewDelayProxy(target string, rtt time.Duration, window int) (*DelayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if window <= 0 {
		window = DefaultWindow
	}
	p := &DelayProxy{RTT: rtt, Window: window, target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *DelayProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, closes every open connection and waits for them.
func (p *DelayProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *DelayProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *DelayProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *DelayProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(in)
		}()
	}
}

func (p *DelayProxy) serve(in net.Conn) {
	if !p.track(in) {
		return
	}
	defer p.untrack(in)
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(out, in) }()
	go func() { defer wg.Done(); p.pipe(in, out) }()
	wg.Wait()
}

type chunk struct {
	due  time.Time
	data []byte
}

// pipe copies src to dst, each chunk released RTT/2 after it was read.
func (p *DelayProxy) pipe(dst, src net.Conn) {
	oneWay := p.RTT / 2
	// The window is a byte budget: the reader takes from it, the writer
	// gives back once a chunk is delivered.
	budget := make(chan struct{}, p.Window/chunkSize+1)
	for range cap(budget) {
		budget <- struct{}{}
	}
	queue := make(chan chunk, cap(budget))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range queue {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			_, err := dst.Write(c.data)
			budget <- struct{}{}
			if err != nil {
				src.Close()
				for range queue {
					budget <- struct{}{}
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	for {
		<-budget
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{due: time.Now().Add(oneWay), data: buf[:n]}
		} else {
			budget <- struct{}{}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			break
		}
	}
	close(queue)
	<-done
}

const chunkSize = 64 << 10
