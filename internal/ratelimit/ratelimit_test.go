package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock never waits: SleepUntil moves time forward to the deadline, so
// that concurrent sleepers advance it to the latest deadline, as real time
// would.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps int
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps++
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) elapsedSince(start time.Time) time.Duration { return c.Now().Sub(start) }

// within fails unless got is d ± tolerance; the tolerance covers the
// nanosecond rounding of each read's duration.
func within(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	const tolerance = time.Millisecond
	if got < want-tolerance || got > want+tolerance {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

func TestNoLimitIsFree(t *testing.T) {
	for _, rate := range []int64{0, -1} {
		l := New(rate)
		if l != nil {
			t.Fatalf("New(%d) = %+v, want nil (no limit)", rate, l)
		}
		r := strings.NewReader("video")
		if got := l.Reader(context.Background(), r); got != io.Reader(r) {
			t.Fatalf("nil limiter wrapped the reader (%T), want it unchanged", got)
		}
		c := http.DefaultClient
		if got := l.HTTPClient(c); got != Doer(c) {
			t.Fatalf("nil limiter wrapped the client (%T), want it unchanged", got)
		}
		if err := l.WaitN(context.Background(), 1<<30); err != nil {
			t.Fatalf("nil limiter WaitN: %v", err)
		}
		if l.Rate() != 0 || l.Burst() != 0 {
			t.Fatalf("nil limiter Rate/Burst = %d/%d, want 0/0", l.Rate(), l.Burst())
		}
	}
}

func TestBurstSize(t *testing.T) {
	tests := []struct{ rate, burst int64 }{
		{rate: 100, burst: minBurst},
		{rate: 1_000_000, burst: 100_000},
		{rate: 100 << 20, burst: maxBurst},
	}
	for _, tt := range tests {
		if got := New(tt.rate).Burst(); got != tt.burst {
			t.Errorf("New(%d).Burst() = %d, want %d", tt.rate, got, tt.burst)
		}
	}
}

// chunkRecorder remembers the largest read the limiter asked of it.
type chunkRecorder struct {
	r       io.Reader
	largest int
}

func (c *chunkRecorder) Read(p []byte) (int, error) {
	c.largest = max(c.largest, len(p))
	return c.r.Read(p)
}

func TestReaderHoldsTheRate(t *testing.T) {
	clock := newFakeClock()
	const rate = 1_000_000
	l := New(rate, WithClock(clock))
	start := clock.Now()

	data := make([]byte, 10_000_000)
	rand.Read(data)
	src := &chunkRecorder{r: bytes.NewReader(data)}
	var got bytes.Buffer
	// A 1 MiB buffer: larger than the burst, which the limiter must split.
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{l.Reader(context.Background(), src)}, make([]byte, 1<<20)); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the limited reader changed the data")
	}
	if src.largest > int(l.Burst()) {
		t.Fatalf("largest read %d bytes, want at most the burst %d", src.largest, l.Burst())
	}
	// The first burst is free; every other byte costs 1/rate.
	within(t, "time to read 10 MB at 1 MB/s", clock.elapsedSince(start), 9900*time.Millisecond)
}

func TestFirstBurstDoesNotWait(t *testing.T) {
	clock := newFakeClock()
	l := New(1_000_000, WithClock(clock))
	if err := l.WaitN(context.Background(), int(l.Burst())); err != nil {
		t.Fatal(err)
	}
	if clock.sleeps != 0 {
		t.Fatalf("the first burst slept %d times, want 0", clock.sleeps)
	}
	if err := l.WaitN(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	if clock.sleeps != 1 {
		t.Fatalf("a read past the burst slept %d times, want 1", clock.sleeps)
	}
}

func TestIdleTimeIsNotSavedBeyondTheBurst(t *testing.T) {
	clock := newFakeClock()
	const rate = 1_000_000
	l := New(rate, WithClock(clock))
	ctx := context.Background()
	if err := l.WaitN(ctx, 500_000); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Minute)
	start := clock.Now()
	if err := l.WaitN(ctx, 1_000_000); err != nil {
		t.Fatal(err)
	}
	// A minute idle buys one burst (0.1 s), not a minute of bytes.
	within(t, "wait after idling", clock.elapsedSince(start), 900*time.Millisecond)
}

func TestReadersShareOneBudget(t *testing.T) {
	clock := newFakeClock()
	const rate = 2_000_000
	l := New(rate, WithClock(clock))
	start := clock.Now()

	const readers, each = 8, 1_000_000
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			n, err := io.Copy(io.Discard, l.Reader(context.Background(), io.LimitReader(zeros{}, each)))
			if err == nil && n != each {
				err = errors.New("short read")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// 8 MB at 2 MB/s is 4 s whatever the interleaving, minus the free burst.
	want := time.Duration(float64(readers*each-l.Burst()) / rate * float64(time.Second))
	within(t, "time for 8 readers of 1 MB at 2 MB/s", clock.elapsedSince(start), want)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestReaderStopsWhenContextEnds(t *testing.T) {
	l := New(1000) // real clock: the second read would wait about a second
	ctx, cancel := context.WithCancel(context.Background())
	r := l.Reader(ctx, zeros{})
	buf := make([]byte, l.Burst())
	if _, err := r.Read(buf); err != nil {
		t.Fatalf("first read: %v", err)
	}
	cancel()
	n, err := r.Read(buf)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel = %d, %v; want context.Canceled", n, err)
	}
	if n != 0 {
		t.Fatalf("read after cancel returned %d bytes, want 0", n)
	}
}

func TestHTTPClientLimitsTheBodyOnTheWire(t *testing.T) {
	var received []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		received, err = io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	defer srv.Close()

	clock := newFakeClock()
	const rate = 1_000_000
	l := New(rate, WithClock(clock))
	c := l.HTTPClient(srv.Client())
	start := clock.Now()

	body := make([]byte, 3_000_000)
	rand.Read(body)
	req, err := http.NewRequest(http.MethodPut, srv.URL+"/part", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !bytes.Equal(received, body) {
		t.Fatalf("server received %d bytes that differ from the %d sent", len(received), len(body))
	}
	within(t, "time to send 3 MB at 1 MB/s", clock.elapsedSince(start), 2900*time.Millisecond)

	// A request without a body costs nothing.
	before := clock.Now()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := clock.elapsedSince(before); d != 0 {
		t.Fatalf("a GET without a body advanced the clock by %v", d)
	}
}

// doerFunc is a fake HTTP client.
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestHTTPClientLimitsReplayedBodies(t *testing.T) {
	clock := newFakeClock()
	const rate = 1_000_000
	l := New(rate, WithClock(clock))
	var replayed []byte
	c := l.HTTPClient(doerFunc(func(r *http.Request) (*http.Response, error) {
		// What net/http does on a stale connection: read the body, fail,
		// then send a fresh copy from GetBody.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return nil, err
		}
		body, err := r.GetBody()
		if err != nil {
			return nil, err
		}
		replayed, err = io.ReadAll(body)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, err
	}))
	body := bytes.Repeat([]byte("v"), 1_000_000)
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1/part", bytes.NewReader(body))
	start := clock.Now()
	if _, err := c.Do(req); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(replayed, body) {
		t.Fatalf("replayed %d bytes, want the %d-byte body", len(replayed), len(body))
	}
	// Two sends of 1 MB at 1 MB/s, less the free burst.
	within(t, "time for a body sent twice", clock.elapsedSince(start), 1900*time.Millisecond)
}
