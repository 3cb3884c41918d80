// Package credentials turns the temporary credentials of an upload session
// into an aws.CredentialsProvider that refreshes itself through the API
// before they expire, so that an upload longer than the credentials'
// lifetime goes on without a pause. Static keys (contract v1.1: no
// Expiration, for stores without STS) are used as they are, never
// refreshed.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/vidup/vidup/internal/contract"
)

// Bounds of the expiry window: the time before expiry when credentials are
// refreshed. It is a tenth of their lifetime, so that credentials that live
// 30 s are not refreshed in a loop while 1 h ones refresh about 5 min early.
const (
	minWindow  = 5 * time.Second
	maxWindow  = 5 * time.Minute
	jitterFrac = 0.2
)

// Source is the name the provider gives its credentials.
const Source = "vidup-upload-session"

// New returns a cache of temporary credentials that starts with initial and
// calls refresh once they near expiry or after the cache is invalidated
// (call Invalidate when S3 answers ExpiredToken). onRefresh, when not nil,
// is called after each successful refresh. Many goroutines may call
// Retrieve at once: the cache lets one of them refresh.
func New(initial contract.Credentials, refresh func(ctx context.Context) (contract.Credentials, error), onRefresh func()) (*aws.CredentialsCache, error) {
	if refresh == nil {
		return nil, errors.New("temporary credentials: no refresh function")
	}
	if err := validate(initial); err != nil {
		return nil, err
	}
	if initial.Static() {
		return aws.NewCredentialsCache(staticProvider{toAWS(initial)}), nil
	}
	p := &provider{initial: &initial, refresh: refresh, onRefresh: onRefresh, now: time.Now}
	return newCache(p), nil
}

func newCache(p *provider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		// The cache needs a window > 0 to call AdjustExpiresBy at all;
		// the provider then scales the window to each credentials' own
		// lifetime, since a refresh may hand out a different lifetime.
		o.ExpiryWindow = window(p.initial.Expiration.Sub(p.now()))
		o.ExpiryWindowJitterFrac = jitterFrac
	})
}

// provider is an aws.CredentialsProvider over the API's session credentials.
type provider struct {
	refresh   func(context.Context) (contract.Credentials, error)
	onRefresh func()
	now       func() time.Time

	mu      sync.Mutex
	initial *contract.Credentials // handed out by the first Retrieve, then nil
}

// Retrieve implements aws.CredentialsProvider.
func (p *provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	first := p.initial
	p.initial = nil
	p.mu.Unlock()
	if first != nil && p.now().Before(first.Expiration.Add(-window(first.Expiration.Sub(p.now())))) {
		return toAWS(*first), nil
	}
	c, err := p.refresh(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("refresh temporary credentials: %w", err)
	}
	if err := validate(c); err != nil {
		return aws.Credentials{}, fmt.Errorf("refresh temporary credentials: %w", err)
	}
	if p.onRefresh != nil {
		p.onRefresh()
	}
	return toAWS(c), nil
}

// AdjustExpiresBy implements aws.AdjustExpiresByCredentialsCacheStrategy:
// it moves the cache's notion of expiry earlier by a window scaled to these
// credentials' remaining lifetime, less a random part of it so that many
// uploaders that started together do not refresh together.
func (p *provider) AdjustExpiresBy(c aws.Credentials, _ time.Duration) (aws.Credentials, error) {
	if !c.CanExpire {
		return c, nil
	}
	w := window(c.Expires.Sub(p.now()))
	c.Expires = c.Expires.Add(-(w - time.Duration(rand.Float64()*jitterFrac*float64(w))))
	return c, nil
}

// window is how long before expiry credentials living lifetime are
// refreshed: a tenth of the lifetime within [5 s, 5 min], and never more
// than half of it, so that very short credentials are used at all.
func window(lifetime time.Duration) time.Duration {
	w := min(max(lifetime/10, minWindow), maxWindow)
	if half := lifetime / 2; w > half {
		w = max(half, 0)
	}
	return w
}

// staticProvider hands out static keys: they do not expire, so the cache
// never asks again, and an invalidated cache gets the same keys back (a
// refresh could not give others).
type staticProvider struct{ c aws.Credentials }

// Retrieve implements aws.CredentialsProvider.
func (p staticProvider) Retrieve(context.Context) (aws.Credentials, error) { return p.c, nil }

func toAWS(c contract.Credentials) aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Source:          Source,
		CanExpire:       !c.Static(),
		Expires:         c.Expiration,
	}
}

// validate checks c has keys. SessionToken and Expiration are optional
// (static keys); a refresh that turns temporary credentials into static
// ones, or the reverse, is accepted as the API says.
func validate(c contract.Credentials) error {
	var missing []string
	if c.AccessKeyID == "" {
		missing = append(missing, "AccessKeyId")
	}
	if c.SecretAccessKey == "" {
		missing = append(missing, "SecretAccessKey")
	}
	if len(missing) > 0 {
		return fmt.Errorf("credentials without %s; the API must hand out an access key and its secret", strings.Join(missing, ", "))
	}
	return nil
}

// SkewAllowance is how near their Expiration credentials count as expiring
// when S3 refuses them: a store's clock and this machine's may disagree by
// minutes, and an API may overstate the lifetime it granted.
const SkewAllowance = 5 * time.Minute

// Expiry follows the Expiration of the temporary credentials an upload
// session holds, as the API handed them out, so that a refusal of its key
// can be told apart from a key that was never good: MinIO answers
// InvalidAccessKeyId, not ExpiredToken, for an expired temporary key. It is
// safe for concurrent use; the zero Expiry knows nothing (never expiring).
type Expiry struct {
	mu        sync.Mutex
	at        time.Time // zero for static keys
	refreshed time.Time // when the last credentials arrived
}

// Record notes credentials handed out at now (the first ones or a refresh).
func (x *Expiry) Record(c contract.Credentials, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.at = time.Time{}
	if !c.Static() {
		x.at = c.Expiration
	}
	x.refreshed = now
}

// Expiring reports whether a request sent at sent and refused at now may
// have carried expired credentials: the ones held are within SkewAllowance
// of their Expiration or past it, or they were replaced after the request
// was sent (it carried the ones before). Static keys never expire.
func (x *Expiry) Expiring(sent, now time.Time) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.at.IsZero() {
		return false
	}
	return !now.Before(x.at.Add(-SkewAllowance)) || x.refreshed.After(sent)
}
