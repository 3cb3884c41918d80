package cli

import (
	"testing"
	"time"

	"github.com/vidup/vidup/internal/retry"
)

// TestEveryCommandRetriesAlike checks that the commands that talk to S3 and
// the API share one policy: the same flags with the same defaults.
func TestEveryCommandRetriesAlike(t *testing.T) {
	root := NewRootCmd(&IOStreams{LookupEnv: func(string) (string, bool) { return "", false }})
	for _, path := range [][]string{{"upload"}, {"uploads", "resume"}} {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		for flag, want := range map[string]string{
			"retries":      "10",
			"retry-budget": (10 * time.Minute).String(),
		} {
			f := cmd.Flags().Lookup(flag)
			if f == nil {
				t.Errorf("%s has no --%s", cmd.CommandPath(), flag)
				continue
			}
			if f.DefValue != want {
				t.Errorf("%s --%s defaults to %s, want %s", cmd.CommandPath(), flag, f.DefValue, want)
			}
		}
	}
}

func TestRetryOptionsPolicy(t *testing.T) {
	r := RetryOptions{Retries: 3, RetryBudget: time.Minute}
	want := retry.Default()
	want.Retries, want.Budget = 3, time.Minute
	if got := r.policy(); got != want {
		t.Errorf("policy() = %+v, want %+v", got, want)
	}
	r.retryDelays = &retryDelays{base: time.Millisecond, max: 2 * time.Millisecond}
	if got := r.policy(); got.BaseDelay != time.Millisecond || got.MaxDelay != 2*time.Millisecond || got.Retries != 3 {
		t.Errorf("policy() with test delays = %+v", got)
	}
	for _, bad := range []RetryOptions{{Retries: -1}, {RetryBudget: -time.Second}} {
		if err := bad.validate(); err == nil {
			t.Errorf("validate(%+v) = nil", bad)
		}
	}
}
