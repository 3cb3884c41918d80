package transfer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/vidup/vidup/internal/contract"
)

// cacheCredentials is the default CredentialsFunc, used when the caller
// gives none: the session's credentials first, then the refresh endpoint
// whenever the cache finds them (nearly) expired or S3 answered
// ExpiredToken.
func cacheCredentials(initial contract.Credentials, refresh func(context.Context) (contract.Credentials, error), onRefresh func()) (*aws.CredentialsCache, error) {
	if err := checkCredentials(initial); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	first := true
	p := aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		mu.Lock()
		c, wasFirst := initial, first
		first = false
		mu.Unlock()
		if !wasFirst {
			var err error
			if c, err = refresh(ctx); err != nil {
				return aws.Credentials{}, err
			}
			if err := checkCredentials(c); err != nil {
				return aws.Credentials{}, err
			}
			if onRefresh != nil {
				onRefresh()
			}
		}
		return aws.Credentials{
			AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			Source: "vidup API", CanExpire: !c.Expiration.IsZero(), Expires: c.Expiration,
		}, nil
	})
	lifetime := time.Until(initial.Expiration)
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		// Refresh a tenth of the lifetime early, at most 5 minutes: short
		// lived credentials (MinIO's minimum is 15 minutes) stay usable.
		o.ExpiryWindow = min(5*time.Minute, max(lifetime/10, 10*time.Second))
	}), nil
}

func checkCredentials(c contract.Credentials) error {
	var missing []string
	if c.AccessKeyID == "" {
		missing = append(missing, "AccessKeyId")
	}
	if c.SecretAccessKey == "" {
		missing = append(missing, "SecretAccessKey")
	}
	if c.SessionToken == "" {
		missing = append(missing, "SessionToken")
	}
	if len(missing) > 0 {
		return errors.New("the API's credentials lack " + strings.Join(missing, ", ") + "; check the API follows the upload contract")
	}
	return nil
}
