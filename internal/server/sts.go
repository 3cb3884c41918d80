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

// Minter hands out temporary credentials scoped to one session's prefix.
type Minter interface {
	Mint(ctx context.Context, sessionID string) (contract.Credentials, error)
}

// MinTTL and MaxTTL bound the credentials' lifetime: STS refuses less than 15
// minutes, and 12 hours is the longest any role may allow.
const (
	MinTTL = 15 * time.Minute
	MaxTTL = 12 * time.Hour
)

// SessionActions are the only S3 actions session credentials allow: what a
// multipart upload (and a single PutObject) needs, and listing the parts of
// an upload to resume it.
var SessionActions = []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}

// SessionPrefix is the key prefix a session's credentials may write.
func SessionPrefix(sessionID string) string { return "uploads/" + sessionID + "/" }

// SessionPolicy is the session policy passed to AssumeRole: the credentials
// get the intersection of the role's permissions and this policy, so they can
// write only under the session's prefix of the bucket, whatever the role
// allows. partition is "aws" unless the role lives in another partition.
func SessionPolicy(partition, bucket, sessionID string) (string, error) {
	type statement struct {
		Effect   string   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource []string `json:"Resource"`
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{
		Version: "2012-10-17",
		Statement: []statement{{
			Effect:   "Allow",
			Action:   SessionActions,
			Resource: []string{"arn:" + partition + ":s3:::" + bucket + "/" + SessionPrefix(sessionID) + "*"},
		}},
	}
	b, err := json.Marshal(doc)
	return string(b), err
}

// STSMinter mints credentials with STS AssumeRole and a session policy. It
// works against AWS STS and against MinIO's STS API.
type STSMinter struct {
	Client  *sts.Client
	RoleARN string
	Bucket  string
	TTL     time.Duration
}

// Mint assumes the role for one session.
func (m *STSMinter) Mint(ctx context.Context, sessionID string) (contract.Credentials, error) {
	policy, err := SessionPolicy(arnPartition(m.RoleARN), m.Bucket, sessionID)
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
