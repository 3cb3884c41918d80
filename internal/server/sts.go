package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vidup/vidup/internal/contract"
)

// Minter hands out temporary credentials that may write exactly the given
// keys of one session (see SessionPolicy). A key that ends in "/" is a
// package's prefix: every key under it.
type Minter interface {
	Mint(ctx context.Context, sessionID string, keys []string) (contract.Credentials, error)
}

// MinTTL and MaxTTL bound the credentials' lifetime: STS refuses less than 15
// minutes, and 12 hours is the longest any role may allow.
const (
	MinTTL = 15 * time.Minute
	MaxTTL = 12 * time.Hour
)

// MaxSessionPolicyBytes is the longest session policy AWS STS, MinIO and
// Ceph RGW take (AssumeRole's Policy parameter: 2,048 characters).
const MaxSessionPolicyBytes = 2048

// SessionActions are the only S3 actions session credentials allow, on the
// session's unregistered keys: what a multipart upload (and a single
// PutObject) needs, listing the parts of an upload to resume it, and
// reading its own upload back (HeadObject), so that a client that was killed
// after S3 completed an upload, but before it recorded that, can confirm the
// object instead of sending it again. A registered video is sealed under a
// prefix no session policy names: nothing here reaches it.
var SessionActions = []string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}

// SessionPrefix is the key prefix of a session's uploads.
func SessionPrefix(sessionID string) string { return "uploads/" + sessionID + "/" }

// SealedPrefix is where registered objects live. No session policy ever
// names a key under it, so no credential a client holds can write there.
const SealedPrefix = "videos/"

// policyWildcards are the characters IAM and MinIO read as wildcards or
// variables in a resource; keys the server chooses never hold them.
const policyWildcards = "*?$"

// SessionPolicy is the session policy passed to AssumeRole: the credentials
// get the intersection of the role's permissions and this policy. It names
// the session's unregistered keys exactly. When that does not fit in
// MaxSessionPolicyBytes (about a dozen keys with long names), it names each
// upload's own folder (uploads/<session>/<upload>/*, which holds that one
// key), and when that does not fit either, the session's prefix. A key
// ending in "/" is a package's prefix (contract v1.1 section 1b) and is
// named as the folder it is, prefix*. Registered
// objects are safe in every case: they were copied under SealedPrefix, which
// no policy names. partition is "aws" unless the role lives in another
// partition. Keys must lie under the session's prefix, with no wildcard.
func SessionPolicy(partition, bucket, sessionID string, keys []string) (string, error) {
	if len(keys) == 0 {
		return "", fmt.Errorf("session %s: no key to grant", sessionID)
	}
	prefix := SessionPrefix(sessionID)
	if strings.ContainsAny(sessionID, policyWildcards+"/") || sessionID == "" {
		return "", fmt.Errorf("session id %q cannot be named in a policy", sessionID)
	}
	dirs := make([]string, 0, len(keys))
	exact := make([]string, 0, len(keys))
	seen := map[string]bool{}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			exact = append(exact, k+"*")
		} else {
			exact = append(exact, k)
		}
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" || strings.ContainsAny(k, policyWildcards) {
			return "", fmt.Errorf("key %q is not one of session %s's keys", k, sessionID)
		}
		dir, _, ok := strings.Cut(rest, "/")
		if !ok || dir == "" {
			return "", fmt.Errorf("key %q is not in an upload's folder of session %s", k, sessionID)
		}
		if strings.HasSuffix(k, "/") && rest != dir+"/" {
			return "", fmt.Errorf("prefix %q is not an upload's folder of session %s", k, sessionID)
		}
		if !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, prefix+dir+"/*")
		}
	}
	arn := "arn:" + partition + ":s3:::" + bucket + "/"
	for _, resources := range [][]string{exact, dirs, {prefix + "*"}} {
		doc, err := policyDocument(arn, resources)
		if err != nil {
			return "", err
		}
		if len(doc) <= MaxSessionPolicyBytes {
			return doc, nil
		}
	}
	return "", fmt.Errorf("the session policy of session %s is longer than %d bytes even for its prefix; the bucket name is too long", sessionID, MaxSessionPolicyBytes)
}

func policyDocument(arn string, keys []string) (string, error) {
	type statement struct {
		Effect   string   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource []string `json:"Resource"`
	}
	res := make([]string, len(keys))
	for i, k := range keys {
		res[i] = arn + k
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{
		Version:   "2012-10-17",
		Statement: []statement{{Effect: "Allow", Action: SessionActions, Resource: res}},
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	// IAM reads the policy as JSON text; escaping <, > and & as \u003c
	// would only make it longer.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// STSMinter mints credentials with STS AssumeRole and a session policy. It
// works against AWS STS and against MinIO's STS API.
type STSMinter struct {
	Client  *sts.Client
	RoleARN string
	Bucket  string
	TTL     time.Duration
}

// Mint assumes the role for the given keys of one session.
func (m *STSMinter) Mint(ctx context.Context, sessionID string, keys []string) (contract.Credentials, error) {
	policy, err := SessionPolicy(arnPartition(m.RoleARN), m.Bucket, sessionID, keys)
	if err != nil {
		return contract.Credentials{}, err
	}
	out, err := m.Client.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(m.RoleARN),
		// Shows in CloudTrail which session the credentials were for.
		RoleSessionName: aws.String("vidup-" + sessionID),
		Policy:          aws.String(policy),
		DurationSeconds: aws.Int32(int32(m.TTL / time.Second)),
	})
	if err != nil {
		return contract.Credentials{}, fmt.Errorf("sts assume role %s for session %s: %w", m.RoleARN, sessionID, err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return contract.Credentials{}, errors.New("sts answered AssumeRole without complete credentials")
	}
	return contract.Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretAccessKey,
		SessionToken:    *c.SessionToken,
		Expiration:      c.Expiration.UTC().Truncate(time.Second),
	}, nil
}

// arnPartition is the partition of an ARN ("aws", "aws-cn", ...), "aws" when
// the ARN does not say.
func arnPartition(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

// ValidRoleARN reports whether s looks like an IAM role ARN.
func ValidRoleARN(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[1] != "" && parts[2] == "iam" &&
		strings.HasPrefix(parts[5], "role/") && len(parts[5]) > len("role/")
}
