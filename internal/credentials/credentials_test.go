package credentials

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
)

func creds(name string, lifetime time.Duration) contract.Credentials {
	return contract.Credentials{AccessKeyID: "AK-" + name, SecretAccessKey: "SK-" + name, SessionToken: "ST-" + name, Expiration: time.Now().Add(lifetime)}
}

// refresher counts its calls and hands out credentials named r1, r2, …
type refresher struct {
	calls    atomic.Int32
	lifetime time.Duration
	err      error
	delay    time.Duration
}

func (r *refresher) refresh(context.Context) (contract.Credentials, error) {
	n := r.calls.Add(1)
	time.Sleep(r.delay)
	if r.err != nil {
		return contract.Credentials{}, r.err
	}
	return creds(fmt.Sprintf("r%d", n), r.lifetime), nil
}

func TestWindowScalesWithLifetime(t *testing.T) {
	for _, tc := range []struct{ lifetime, want time.Duration }{
		{time.Hour, 5 * time.Minute},
		{12 * time.Hour, 5 * time.Minute},
		{15 * time.Minute, 90 * time.Second},
		{30 * time.Second, 5 * time.Second},
		{6 * time.Second, 3 * time.Second},
		{time.Second, 500 * time.Millisecond},
		{0, 0},
		{-time.Minute, 0},
	} {
		if got := window(tc.lifetime); got != tc.want {
			t.Errorf("window(%v) = %v, want %v", tc.lifetime, got, tc.want)
		}
	}
}

func TestInitialCredentialsFirst(t *testing.T) {
	r := &refresher{lifetime: time.Hour}
	initial := creds("initial", time.Hour)
	cache, err := New(initial, r.refresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := cache.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.AccessKeyID != "AK-initial" || c.SecretAccessKey != "SK-initial" || c.SessionToken != "ST-initial" || !c.CanExpire {
			t.Fatalf("credentials = %+v", c)
		}
		// Hour-long credentials are refreshed between 4 and 5 minutes
		// (the 5 min window less up to 20 % jitter) before they expire.
		early := initial.Expiration.Sub(c.Expires)
		if early < 4*time.Minute || early > 5*time.Minute {
			t.Errorf("refresh planned %v before expiry, want within [4m, 5m]", early)
		}
	}
	if n := r.calls.Load(); n != 0 {
		t.Errorf("%d refreshes while the initial credentials were fresh", n)
	}
}

func TestShortLivedCredentialsAreNotRefreshedInALoop(t *testing.T) {
	r := &refresher{lifetime: 30 * time.Second}
	initial := creds("initial", 30*time.Second)
	cache, err := New(initial, r.refresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if early := initial.Expiration.Sub(c.Expires); early < 4*time.Second || early > 5*time.Second {
		t.Errorf("30 s credentials: refresh planned %v before expiry, want within [4s, 5s]", early)
	}
	cache.Invalidate()
	for range 10 {
		if _, err := cache.Retrieve(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.calls.Load(); n != 1 {
		t.Errorf("%d refreshes of 30 s credentials, want 1", n)
	}
}

func TestRefreshNearExpiry(t *testing.T) {
	r := &refresher{lifetime: time.Hour}
	var refreshed atomic.Int32
	cache, err := New(creds("initial", time.Second), r.refresh, func() { refreshed.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "AK-initial" {
		t.Fatalf("first Retrieve = %s, want the initial credentials", c.AccessKeyID)
	}
	// Wait until the cache deems them near expiry: the real clock, since
	// the cache reads it; a one-second lifetime keeps this short.
	time.Sleep(time.Until(c.Expires) + 20*time.Millisecond)
	c, err = cache.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "AK-r1" || r.calls.Load() != 1 || refreshed.Load() != 1 {
		t.Errorf("after expiry window: %s, %d refreshes, %d onRefresh calls", c.AccessKeyID, r.calls.Load(), refreshed.Load())
	}
}

func TestExpiredInitialCredentialsRefreshAtOnce(t *testing.T) {
	r := &refresher{lifetime: time.Hour}
	cache, err := New(creds("initial", -time.Minute), r.refresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "AK-r1" {
		t.Errorf("got %s, want refreshed credentials", c.AccessKeyID)
	}
}

func TestInvalidateForcesRefresh(t *testing.T) {
	r := &refresher{lifetime: time.Hour}
	var refreshed atomic.Int32
	cache, err := New(creds("initial", time.Hour), r.refresh, func() { refreshed.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	cache.Invalidate()
	c, err := cache.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "AK-r1" || c.SessionToken != "ST-r1" {
		t.Errorf("after Invalidate: %+v", c)
	}
	if r.calls.Load() != 1 || refreshed.Load() != 1 {
		t.Errorf("%d refreshes, %d onRefresh calls, want 1 and 1", r.calls.Load(), refreshed.Load())
	}
}

func TestConcurrentCallersRefreshOnce(t *testing.T) {
	r := &refresher{lifetime: time.Hour, delay: 50 * time.Millisecond}
	var refreshed atomic.Int32
	cache, err := New(creds("initial", time.Hour), r.refresh, func() { refreshed.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	cache.Invalidate()
	start := make(chan struct{})
	var wg sync.WaitGroup
	keys := make([]string, 50)
	for i := range keys {
		wg.Go(func() {
			<-start
			c, err := cache.Retrieve(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = c.AccessKeyID
		})
	}
	close(start)
	wg.Wait()
	if n := r.calls.Load(); n != 1 {
		t.Errorf("50 concurrent callers caused %d refreshes, want 1", n)
	}
	if refreshed.Load() != 1 {
		t.Errorf("onRefresh called %d times, want 1", refreshed.Load())
	}
	for i, k := range keys {
		if k != "AK-r1" {
			t.Errorf("caller %d got %q, want AK-r1", i, k)
		}
	}
}

func TestRefreshErrorPropagates(t *testing.T) {
	gone := errors.New("the upload session is gone from the API")
	r := &refresher{err: fmt.Errorf("refresh credentials: %w", gone)}
	var refreshed atomic.Int32
	cache, err := New(creds("initial", time.Hour), r.refresh, func() { refreshed.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	cache.Invalidate()
	_, err = cache.Retrieve(context.Background())
	if !errors.Is(err, gone) {
		t.Fatalf("err = %v, want it to wrap the refresh error", err)
	}
	if !strings.Contains(err.Error(), "refresh temporary credentials") {
		t.Errorf("err %q does not say what failed", err)
	}
	if refreshed.Load() != 0 {
		t.Error("onRefresh called after a failed refresh")
	}
}

func TestRefreshWithIncompleteCredentials(t *testing.T) {
	refresh := func(context.Context) (contract.Credentials, error) {
		c := creds("bad", time.Hour)
		c.SecretAccessKey = ""
		return c, nil
	}
	cache, err := New(creds("initial", -time.Second), refresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), "SecretAccessKey") {
		t.Errorf("err = %v, want it to name SecretAccessKey", err)
	}
}

// Static keys (no SessionToken, no Expiration) are used as they are: the
// refresh is never called, not even after Invalidate (S3 answered an
// access error), and the SDK sees credentials that do not expire.
func TestStaticKeysAreNeverRefreshed(t *testing.T) {
	r := &refresher{}
	static := contract.Credentials{AccessKeyID: "AK-static", SecretAccessKey: "SK-static"}
	cache, err := New(static, r.refresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := cache.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.AccessKeyID != "AK-static" || c.SecretAccessKey != "SK-static" || c.SessionToken != "" || c.CanExpire {
			t.Fatalf("credentials %+v, want the static keys, not expiring", c)
		}
		cache.Invalidate()
	}
	if n := r.calls.Load(); n != 0 {
		t.Errorf("refresh called %d times for static keys", n)
	}
}

func TestNewValidates(t *testing.T) {
	r := &refresher{}
	for _, tc := range []struct {
		edit func(*contract.Credentials)
		want string
	}{
		{func(c *contract.Credentials) { c.AccessKeyID = "" }, "AccessKeyId"},
		{func(c *contract.Credentials) { c.SecretAccessKey = "" }, "SecretAccessKey"},
	} {
		c := creds("x", time.Hour)
		tc.edit(&c)
		_, err := New(c, r.refresh, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("missing %s: err = %v", tc.want, err)
		}
		if err != nil && (strings.Contains(err.Error(), "SK-x") || strings.Contains(err.Error(), "ST-x")) {
			t.Errorf("error %q shows a secret", err)
		}
	}
	if _, err := New(creds("x", time.Hour), nil, nil); err == nil {
		t.Error("New accepted a nil refresh function")
	}
}

func TestExpiry(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var zero Expiry
	if zero.Expiring(now, now) {
		t.Error("the zero Expiry says expiring")
	}
	for _, tc := range []struct {
		name  string
		left  time.Duration // from now to Expiration
		sent  time.Duration // from now to when the request was sent
		after time.Duration // from now to when credentials were last recorded
		want  bool
	}{
		{"an hour left", time.Hour, 0, -time.Minute, false},
		{"just over the allowance", SkewAllowance + time.Second, 0, -time.Minute, false},
		{"within the allowance", SkewAllowance - time.Second, 0, -time.Minute, true},
		{"past", -time.Minute, 0, -time.Hour, true},
		{"replaced after the request was sent", time.Hour, -time.Second, 0, true},
	} {
		var x Expiry
		x.Record(contract.Credentials{AccessKeyID: "a", SecretAccessKey: "s", SessionToken: "t", Expiration: now.Add(tc.left)}, now.Add(tc.after))
		if got := x.Expiring(now.Add(tc.sent), now); got != tc.want {
			t.Errorf("%s: Expiring = %v, want %v", tc.name, got, tc.want)
		}
	}
	var static Expiry
	static.Record(contract.Credentials{AccessKeyID: "a", SecretAccessKey: "s"}, now)
	if static.Expiring(now.Add(-time.Hour), now.Add(time.Hour)) {
		t.Error("static keys say expiring")
	}
}
