// Package ratelimit owns vidup's bandwidth limit (--bwlimit): one byte
// budget shared by every part and every file of a command, so that the
// limit holds for the whole command and not per connection. The token
// bucket is golang.org/x/time/rate; this package meters readers and HTTP
// request bodies against it. Rates are parsed by internal/units.
package ratelimit

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	// maxBurst bounds how far ahead of the rate a reader may run after
	// being idle: small, so the link sees a smooth rate and not a
	// stop-and-go of large bursts.
	maxBurst = 256 << 10
	// minBurst keeps very low rates from reading a handful of bytes at a
	// time, which would cost a system call and a timer per few bytes.
	minBurst = 1 << 10
)

// Clock is the time source of a Limiter. Tests inject a fake one so that
// the accounting can be checked without waiting in real time.
type Clock interface {
	Now() time.Time
	// SleepUntil returns when t has come or ctx is done (then ctx.Err()).
	SleepUntil(ctx context.Context, t time.Time) error
}

// Limiter is a byte budget of a fixed rate shared by every reader it wraps.
// A nil *Limiter means no limit, and all its methods are then free.
type Limiter struct {
	bucket *rate.Limiter
	rate   int64
	burst  int64
	clock  Clock

	// mu makes reservations in the order of their times: the bucket
	// credits a reservation dated before the last one as if time had
	// gone back, and would grant bytes twice.
	mu sync.Mutex
}

// Option changes a Limiter at construction.
type Option func(*Limiter)

// WithClock replaces the real clock, for tests.
func WithClock(c Clock) Option { return func(l *Limiter) { l.clock = c } }

// New returns a limiter of bytesPerSec, or nil (no limit) when bytesPerSec
// is 0 or less. Its burst is a tenth of a second of the rate, at least 1 KiB
// and at most 256 KiB.
func New(bytesPerSec int64, opts ...Option) *Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := min(max(bytesPerSec/10, minBurst), maxBurst)
	l := &Limiter{
		bucket: rate.NewLimiter(rate.Limit(bytesPerSec), int(burst)),
		rate:   bytesPerSec,
		burst:  burst,
		clock:  realClock{},
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Rate is the limit in bytes per second, 0 for no limit.
func (l *Limiter) Rate() int64 {
	if l == nil {
		return 0
	}
	return l.rate
}

// Burst is the most bytes a single read may take, and how far ahead of the
// rate an idle limiter lets readers run. 0 for no limit.
func (l *Limiter) Burst() int64 {
	if l == nil {
		return 0
	}
	return l.burst
}

// WaitN takes n bytes from the budget, sleeping until they are available.
// n may exceed the burst: the wait is then just longer. It returns ctx.Err()
// when ctx ends first; the bytes stay taken, as they would have been sent.
//
// The wait is reserved at the injected clock's time (rate.Limiter.ReserveN)
// rather than through rate.Limiter.WaitN, which reads the real clock.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := l.clock.Now()
	var ready time.Time
	for n > 0 {
		// The bucket refuses a reservation larger than its burst: take
		// the bytes a burst at a time; the waits add up.
		take := min(n, int(l.burst))
		n -= take
		ready = now.Add(l.bucket.ReserveN(now, take).DelayFrom(now))
	}
	l.mu.Unlock()
	if !ready.After(now) {
		return ctx.Err()
	}
	return l.clock.SleepUntil(ctx, ready)
}

// Reader wraps r so that its reads take from the shared budget. With no
// limit it returns r itself, at no cost.
//
// The wrapper is a plain io.Reader: it loses io.Seeker and io.ReaderAt, so
// wrap a part's body anew for each attempt, after rewinding it. Wrap only
// the bytes that go on the wire: a body that the AWS SDK reads once to hash
// (SigV4 payload hash, checksums) and then again to send would pay twice if
// wrapped before the SDK; HTTPClient avoids that by wrapping at send time.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil {
		return r
	}
	return &reader{l: l, ctx: ctx, r: r}
}

type reader struct {
	l   *Limiter
	ctx context.Context
	r   io.Reader
}

// Read reads at most one burst, then waits for the bytes read: the data
// leaves the caller only after the wait, so the rate on the wire holds.
func (r *reader) Read(p []byte) (int, error) {
	if len(p) > int(r.l.burst) {
		p = p[:r.l.burst]
	}
	n, err := r.r.Read(p)
	if werr := r.l.WaitN(r.ctx, n); werr != nil {
		return 0, werr
	}
	return n, err
}

// Doer is the HTTP client interface of the AWS SDK (s3.HTTPClient).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// HTTPClient wraps c so that every request body it sends takes from the
// budget, after the SDK has signed and checksummed it. With no limit it
// returns c itself.
func (l *Limiter) HTTPClient(c Doer) Doer {
	if l == nil {
		return c
	}
	return limitedClient{l: l, c: c}
}

type limitedClient struct {
	l *Limiter
	c Doer
}

func (lc limitedClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return lc.c.Do(req)
	}
	out := req.Clone(req.Context())
	out.Body = lc.limit(req, req.Body)
	if req.GetBody != nil {
		// net/http replays a body through GetBody on a stale keep-alive
		// connection; the replay goes on the wire too, so it pays as well.
		out.GetBody = func() (io.ReadCloser, error) {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			return lc.limit(req, body), nil
		}
	}
	return lc.c.Do(out)
}

func (lc limitedClient) limit(req *http.Request, body io.ReadCloser) io.ReadCloser {
	return readCloser{Reader: lc.l.Reader(req.Context(), body), Closer: body}
}

type readCloser struct {
	io.Reader
	io.Closer
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
