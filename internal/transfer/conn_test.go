package transfer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// loopback returns the two ends of a TCP connection on 127.0.0.1, the
// sending one as bodyConn, and what the other end receives.
func loopback(t *testing.T) (bodyConn, chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return bodyConn{c}, got
}

func partFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "part.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, data
}

// What net/http hands a connection for a part's body, the part sent with
// sendfile: the part's bytes from its offset, all counted as progress.
func TestBodyConnSendsAFileBodyWhole(t *testing.T) {
	h, data := partFile(t, 11<<20+5)
	off, size := int64(3<<20+1), int64(6<<20+3)
	var counted atomic.Int64
	b := newAttemptBody(io.NewSectionReader(h, off, size), func(d int64) { counted.Add(d) }, 0, nil)
	b.file, b.base = h, off
	// The transport reads the start of a body itself before it hands the
	// rest to the connection.
	head := make([]byte, 1000)
	if _, err := io.ReadFull(b, head); err != nil {
		t.Fatal(err)
	}
	conn, got := loopback(t)
	lr := &io.LimitedReader{R: fileBody{b}, N: size - 1000}
	n, err := conn.ReadFrom(lr)
	conn.Close()
	if err != nil || n != size-1000 || lr.N != 0 {
		t.Fatalf("ReadFrom sent %d bytes (%d left), %v; want %d", n, lr.N, err, size-1000)
	}
	sent := append(head, <-got...)
	if !bytes.Equal(sent, data[off:off+size]) {
		t.Fatalf("the other end received %d bytes that differ from the part's %d", len(sent), size)
	}
	if counted.Load() != size {
		t.Errorf("progress counted %d bytes, want %d", counted.Load(), size)
	}
}

func TestBodyConnStopsWhenTheAttemptIsOver(t *testing.T) {
	h, _ := partFile(t, 1<<20)
	var counted atomic.Int64
	b := newAttemptBody(io.NewSectionReader(h, 0, 1<<20), func(d int64) { counted.Add(d) }, 0, nil)
	b.file = h
	b.finish(false)
	conn, got := loopback(t)
	n, err := conn.ReadFrom(&io.LimitedReader{R: fileBody{b}, N: 1 << 20})
	conn.Close()
	<-got
	if n != 0 || !errors.Is(err, errAttemptOver) {
		t.Fatalf("ReadFrom after the attempt ended sent %d bytes, %v; want 0, errAttemptOver", n, err)
	}
	if counted.Load() != 0 {
		t.Errorf("progress counted %d bytes of an attempt that was over", counted.Load())
	}
}
