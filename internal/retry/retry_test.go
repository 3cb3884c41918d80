package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

var (
	errTransient = errors.New("transient")
	errPermanent = errors.New("permanent")
	errNow       = errors.New("fixed, try now")
)

var classes = ClassifierFunc(func(err error) Class {
	switch {
	case errors.Is(err, errTransient):
		return Transient
	case errors.Is(err, errNow):
		return Immediate
	}
	return Permanent
})

// failing returns an op that fails with errs in turn, then succeeds.
func failing(calls *int, errs ...error) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= len(errs) {
			return errs[*calls-1]
		}
		return nil
	}
}

// instant is the default policy with its delays shortened, as tests do.
var instant = Default().WithDelays(time.Microsecond, 10*time.Microsecond)

func TestTransientThenSuccess(t *testing.T) {
	calls, hooks := 0, 0
	err := instant.Do(context.Background(), classes, func(attempt int, wait time.Duration, err error) {
		hooks++
		if attempt != hooks || wait <= 0 || wait > instant.MaxDelay || !errors.Is(err, errTransient) {
			t.Errorf("onRetry(%d, %v, %v) at call %d", attempt, wait, err, hooks)
		}
	}, failing(&calls, errTransient, errTransient))
	if err != nil || calls != 3 || hooks != 2 {
		t.Fatalf("err %v after %d calls and %d hooks, want nil after 3 and 2", err, calls, hooks)
	}
}

func TestPermanentReturnsAtOnce(t *testing.T) {
	calls := 0
	err := instant.Do(context.Background(), classes, nil, failing(&calls, errPermanent))
	if err != errPermanent || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestAttemptsRunOut(t *testing.T) {
	p := instant
	p.Retries = 2
	calls := 0
	err := p.Do(context.Background(), classes, nil, failing(&calls, errTransient, errTransient, errTransient, errTransient))
	var ex *ExhaustedError
	if !errors.As(err, &ex) || ex.Attempts != 3 || calls != 3 || !errors.Is(err, errTransient) {
		t.Fatalf("err %v after %d calls, want exhausted after 3", err, calls)
	}
	if want := "transient (gave up after 3 attempts in "; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("message %q", err)
	}
}

func TestNoRetries(t *testing.T) {
	p := instant
	p.Retries = 0
	calls := 0
	if err := p.Do(context.Background(), classes, nil, failing(&calls, errTransient)); err == nil || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

type waitErr struct{ d time.Duration }

func (e waitErr) Error() string             { return "slow down" }
func (e waitErr) RetryDelay() time.Duration { return e.d }

func TestRetryAfterBeyondBudgetGivesUp(t *testing.T) {
	p := instant
	p.Budget = time.Minute
	calls, hooks := 0, 0
	err := p.Do(context.Background(), ClassifierFunc(func(error) Class { return Transient }),
		func(int, time.Duration, error) { hooks++ }, failing(&calls, fmt.Errorf("op: %w", waitErr{time.Hour})))
	var ex *ExhaustedError
	if !errors.As(err, &ex) || ex.Attempts != 1 || calls != 1 || hooks != 0 {
		t.Fatalf("err %v after %d calls, %d hooks", err, calls, hooks)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var waits []time.Duration
	calls := 0
	err := instant.Do(context.Background(), ClassifierFunc(func(error) Class { return Transient }),
		func(_ int, w time.Duration, _ error) { waits = append(waits, w) },
		failing(&calls, fmt.Errorf("op: %w", waitErr{3 * time.Millisecond})))
	if err != nil || len(waits) != 1 || waits[0] != 3*time.Millisecond {
		t.Fatalf("err %v, waits %v, want one of 3ms", err, waits)
	}
}

func TestImmediateDoesNotWait(t *testing.T) {
	p := Default() // real delays: an Immediate retry must not sleep through them
	var waits []time.Duration
	calls := 0
	err := p.Do(context.Background(), classes, func(_ int, w time.Duration, _ error) { waits = append(waits, w) },
		failing(&calls, errNow, errNow))
	if err != nil || calls != 3 || len(waits) != 2 || waits[0] != 0 || waits[1] != 0 {
		t.Fatalf("err %v, calls %d, waits %v", err, calls, waits)
	}
}

func TestContextEndsTheWait(t *testing.T) {
	p := Default().WithDelays(time.Minute, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- p.Do(ctx, classes, func(int, time.Duration, error) { cancel() }, failing(&calls, errTransient))
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errTransient) || ctx.Err() == nil || calls != 1 {
			t.Fatalf("err %v, ctx %v, calls %d", err, ctx.Err(), calls)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Do kept waiting after its context ended")
	}
}

func TestBackoffIsFullJitter(t *testing.T) {
	p := Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for attempt := 1; attempt <= 8; attempt++ {
		ceiling := min(p.BaseDelay<<(attempt-1), p.MaxDelay)
		low := false
		for range 500 {
			w := p.Backoff(attempt, 0)
			if w <= 0 || w > ceiling {
				t.Fatalf("attempt %d: wait %v outside (0, %v]", attempt, w, ceiling)
			}
			// Equal jitter never goes below half the ceiling; full
			// jitter does about half the time.
			low = low || w < ceiling/2
		}
		if !low {
			t.Errorf("attempt %d: no wait below %v in 500 draws: not full jitter", attempt, ceiling/2)
		}
	}
	if w := p.Backoff(1, 3*time.Second); w != 3*time.Second {
		t.Errorf("Retry-After 3s: wait %v", w)
	}
}

func TestDefaultIsComparable(t *testing.T) {
	if a, b := Default(), Default(); a == (Policy{}) || a != b {
		t.Error("Default is not a distinct comparable value")
	}
	if d := Default(); d.Retries != 10 || d.Budget != 10*time.Minute {
		t.Errorf("Default() = %+v", d)
	}
}

func TestParseAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 2 ", 2 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"Mon, 23 Nov 2026 20:00:30 GMT", 30 * time.Second},
		{"Mon, 23 Nov 2026 19:59:00 GMT", 0},
		{"99999999999999", MaxAfter},
	} {
		if got := ParseAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestAfterFindsTheWaiterInTheChain(t *testing.T) {
	err := fmt.Errorf("upload: %w", errors.Join(errPermanent, fmt.Errorf("part: %w", waitErr{5 * time.Second})))
	if got := After(err); got != 5*time.Second {
		t.Errorf("After = %v, want 5s", got)
	}
	if got := After(errPermanent); got != 0 {
		t.Errorf("After(plain) = %v", got)
	}
}
