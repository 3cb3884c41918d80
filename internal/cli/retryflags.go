package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/vidup/vidup/internal/retry"
)

// RetryOptions are --retries and --retry-budget: the one retry policy of
// every command that talks to S3 or to the API, for S3 requests and API
// calls alike.
type RetryOptions struct {
	Retries     int
	RetryBudget time.Duration

	// Tests shorten the waits between retries here; production keeps the
	// delays of retry.Default.
	retryDelays *retryDelays
}

type retryDelays struct {
	base, max time.Duration
}

func (r *RetryOptions) addFlags(f *pflag.FlagSet) {
	f.IntVar(&r.Retries, "retries", retry.DefaultRetries, "retries of a failed part or request")
	f.DurationVar(&r.RetryBudget, "retry-budget", retry.DefaultBudget, "longest time one part or request may spend retrying")
}

func (r *RetryOptions) validate() error {
	if r.Retries < 0 {
		return usageErrorf("--retries %d: must be 0 or more", r.Retries)
	}
	if r.RetryBudget < 0 {
		return usageErrorf("--retry-budget %s: must be 0 or more", r.RetryBudget)
	}
	return nil
}

// policy is the retry policy the flags ask for.
func (r *RetryOptions) policy() retry.Policy {
	p := retry.Default()
	p.Retries, p.Budget = r.Retries, r.RetryBudget
	if d := r.retryDelays; d != nil {
		p = p.WithDelays(d.base, d.max)
	}
	return p
}
