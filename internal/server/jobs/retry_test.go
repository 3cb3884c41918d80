package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// The retry policy caps a retry at the job's last chance, and never names
// a time already past: River would replace it with its own policy, hours
// away at a high attempt count, and the webhook would not be given up.
func TestNextRetryNeverInThePast(t *testing.T) {
	now := time.Date(2026, 12, 3, 4, 10, 0, 0, time.UTC)
	p := &retryPolicy{cfg: Config{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		RetryFor: 1500 * time.Millisecond, Now: func() time.Time { return now }}}
	for _, tc := range []struct {
		name    string
		created time.Time
		attempt int
		lo, hi  time.Time
	}{
		{"early", now, 1, now.Add(20 * time.Millisecond), now.Add(24 * time.Millisecond)},
		{"backoff capped", now, 10, now.Add(200 * time.Millisecond), now.Add(240 * time.Millisecond)},
		{"near the last chance", now.Add(-1450 * time.Millisecond), 7, now.Add(50 * time.Millisecond), now.Add(50 * time.Millisecond)},
		{"past the last chance", now.Add(-1600 * time.Millisecond), 7, now, now},
	} {
		got := p.NextRetry(&rivertype.JobRow{CreatedAt: tc.created, Attempt: tc.attempt})
		if got.Before(tc.lo) || got.After(tc.hi) {
			t.Errorf("%s: next retry %v after now, want %v to %v", tc.name, got.Sub(now), tc.lo.Sub(now), tc.hi.Sub(now))
		}
	}
}
