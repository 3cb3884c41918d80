package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AWSOptions say how the server reaches S3 and STS.
type AWSOptions struct {
	Region      string
	S3Endpoint  string // empty: AWS's own
	STSEndpoint string // empty: AWS's own
	PathStyle   bool
	RoleARN     string
	Bucket      string
	TTL         time.Duration
	// Credentials are the server's own; nil means the standard AWS chain
	// (environment, shared files, instance roles).
	Credentials aws.CredentialsProvider
}

const noCredentials = "the server has no AWS credentials of its own; set AWS_ACCESS_KEY_ID and " +
	"AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run it with an instance role"

// NewAWS builds the Minter and Objects of a server from the standard AWS
// configuration. The SDK's default HTTP client is kept, so AWS_CA_BUNDLE and
// the proxy variables are honoured.
func NewAWS(ctx context.Context, o AWSOptions) (*STSMinter, S3Objects, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(o.Region)}
	if o.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, S3Objects{}, fmt.Errorf("load the AWS configuration for the server's own credentials: %w", err)
	}
	// Checked now rather than at the first session, so a server without
	// credentials never starts.
	if cfg.Credentials == nil {
		return nil, S3Objects{}, errors.New(noCredentials)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, S3Objects{}, fmt.Errorf("%s: %w", noCredentials, err)
	}
	stsClient := sts.NewFromConfig(cfg, func(so *sts.Options) {
		if o.STSEndpoint != "" {
			so.BaseEndpoint = aws.String(o.STSEndpoint)
		}
	})
	s3Client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		// A package's registration keeps up to maxPackageConcurrency
		// requests in flight: keep as many connections open, not the SDK's
		// 10 per host. The configured client (its CA bundle, its proxy)
		// is the one tuned.
		if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
			so.HTTPClient = bc.WithTransportOptions(func(t *http.Transport) {
				t.MaxIdleConnsPerHost = maxPackageConcurrency
			})
		}
		if o.S3Endpoint != "" {
			so.BaseEndpoint = aws.String(o.S3Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	})
	return &STSMinter{Client: stsClient, RoleARN: o.RoleARN, Bucket: o.Bucket, TTL: o.TTL},
		S3Objects{Client: s3Client}, nil
}
