package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vidup/vidup/internal/contract"
)

// StaticKey is the S3 access key handed to the sessions of one principal
// when the store has no STS (vidup serve --credentials static).
//
// Static keys are full trust in the device that holds them: they carry
// every permission the store grants the key, for as long as the key lives,
// and no session policy narrows them to a session's keys. The server hands
// each principal its own key, so that a key can be scoped by the store's own
// policy (e.g. write-only to uploads/) and revoked alone.
type StaticKey struct {
	Principal       string
	AccessKeyID     string
	SecretAccessKey string
}

// StaticMinter hands each principal's sessions that principal's static key.
type StaticMinter struct {
	keys map[string]StaticKey
}

// NewStaticMinter checks keys (one per principal, none empty) and returns
// their minter.
func NewStaticMinter(keys []StaticKey) (*StaticMinter, error) {
	m := &StaticMinter{keys: map[string]StaticKey{}}
	for _, k := range keys {
		switch {
		case k.Principal == "":
			return nil, errors.New("a static key names no principal")
		case k.AccessKeyID == "" || k.SecretAccessKey == "":
			return nil, fmt.Errorf("the static key of principal %q lacks its access key id or its secret", k.Principal)
		}
		if _, dup := m.keys[k.Principal]; dup {
			return nil, fmt.Errorf("principal %q has two static keys; give each principal one", k.Principal)
		}
		m.keys[k.Principal] = k
	}
	if len(m.keys) == 0 {
		return nil, errors.New("no static key: --credentials static needs one key per principal (--static-keys-file, or VIDUP_SERVE_STATIC_ACCESS_KEY_ID and VIDUP_SERVE_STATIC_SECRET_ACCESS_KEY for the principal \"default\")")
	}
	return m, nil
}

// Principals lists the principals that have a key, sorted.
func (m *StaticMinter) Principals() []string {
	names := make([]string, 0, len(m.keys))
	for n := range m.keys {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Has reports whether principal has a key.
func (m *StaticMinter) Has(principal string) bool {
	_, ok := m.keys[principal]
	return ok
}

// AccessKeyIDs lists the access key ids, to compare with the server's own.
func (m *StaticMinter) AccessKeyIDs() []string {
	ids := make([]string, 0, len(m.keys))
	for _, k := range m.keys {
		ids = append(ids, k.AccessKeyID)
	}
	return ids
}

// Mint returns the static key of the principal of ctx: no SessionToken, no
// Expiration (contract v1.1), so the client never refreshes it.
func (m *StaticMinter) Mint(ctx context.Context, sessionID string, _ []string) (contract.Credentials, error) {
	p := principalOf(ctx).Name
	k, ok := m.keys[p]
	if !ok {
		return contract.Credentials{}, fmt.Errorf("session %s: principal %q has no static key", sessionID, p)
	}
	return contract.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, nil
}

// ReadStaticKeys reads a static keys file: one line per principal,
// "<principal> <access-key-id> <secret-access-key>", # comments and blank
// lines ignored. Errors name the line, never a secret.
func ReadStaticKeys(r io.Reader) ([]StaticKey, error) {
	var keys []StaticKey
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: write <principal> <access-key-id> <secret-access-key> (%d fields found)", n, len(f))
		}
		keys = append(keys, StaticKey{Principal: f[0], AccessKeyID: f[1], SecretAccessKey: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return keys, nil
}

// OwnAccessKeyID is the access key id of the server's own AWS credentials
// (the standard chain, as NewAWS loads it), so that static mode can refuse
// to hand it out.
func OwnAccessKeyID(ctx context.Context, o AWSOptions) (string, error) {
	cfg, err := loadConfig(ctx, o)
	if err != nil {
		return "", err
	}
	c, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("%s%s", noCredentials, credentialsReason(err))
	}
	return c.AccessKeyID, nil
}

// CheckBucket asks S3 whether bucket is there and the server's credentials
// reach it (HeadBucket). vidup serve calls it before it listens.
func (o S3Objects) CheckBucket(ctx context.Context, bucket string) error {
	if _, err := o.Client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("bucket %s does not answer (HeadBucket at %s): %s", bucket, endpointName(o.Endpoint, "S3"), describeAWSError(err, bucketHints))
	}
	return nil
}

// Check assumes the role once, for a probe session with a session policy
// like every session's, so that a server whose STS does not answer (or
// whose role it may not assume) never starts.
func (m *STSMinter) Check(ctx context.Context) error {
	const probe = "startup-check"
	policy, err := SessionPolicy(arnPartition(m.RoleARN), m.Bucket, probe, []string{SessionPrefix(probe) + "probe/probe"})
	if err != nil {
		return err
	}
	_, err = m.Client.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(m.RoleARN), RoleSessionName: aws.String("vidup-" + probe),
		Policy: aws.String(policy), DurationSeconds: aws.Int32(int32(MinTTL / time.Second)),
	})
	if err != nil {
		return fmt.Errorf("STS AssumeRole of %s does not work (at %s): %s", m.RoleARN, endpointName(m.Endpoint, "STS"), describeAWSError(err, stsHints))
	}
	return nil
}
