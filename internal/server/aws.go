package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
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
	// (environment, shared files, container credentials).
	Credentials aws.CredentialsProvider
	// EC2Metadata lets the chain ask the EC2 instance metadata service
	// (169.254.169.254) for an instance role's credentials. Off, a machine
	// without AWS keys is told so at once, instead of waiting on an
	// address that only answers on EC2.
	EC2Metadata bool
	// WrapHTTPClient, when set, wraps the HTTP client of the S3 and STS
	// calls (vidup serve --verbose logs them).
	WrapHTTPClient func(aws.HTTPClient) aws.HTTPClient
	// HTTPClient replaces the SDK's HTTP client for every call, the
	// configuration's own included (tests record what would be dialled).
	HTTPClient aws.HTTPClient
}

const noCredentials = "the server has no AWS credentials of its own; set AWS_ACCESS_KEY_ID and " +
	"AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (on EC2 with an instance role: AWS_EC2_METADATA_DISABLED=false)"

// loadConfig loads the standard AWS configuration of the server's own
// credentials, with the instance metadata service off unless o.EC2Metadata.
func loadConfig(ctx context.Context, o AWSOptions) (aws.Config, error) {
	imdsState := imds.ClientDisabled
	if o.EC2Metadata {
		imdsState = imds.ClientEnabled
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(o.Region),
		awsconfig.WithEC2IMDSClientEnableState(imdsState),
		// The SDK's log lines (retries, checksum warnings) would reach
		// stderr raw; errors are returned and worded by the server.
		awsconfig.WithLogger(logging.Nop{}),
	}
	if o.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(o.HTTPClient))
	}
	if o.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load the AWS configuration for the server's own credentials: %w", err)
	}
	// Checked now rather than at the first session, so a server without
	// credentials never starts.
	if cfg.Credentials == nil {
		return aws.Config{}, errors.New(noCredentials)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, fmt.Errorf("%s%s", noCredentials, credentialsReason(err))
	}
	return cfg, nil
}

// credentialsReason is the SDK's credential chain error when it says more
// than "nothing found": a chain that fell through to the (disabled)
// instance metadata service found nothing, and noCredentials says that.
func credentialsReason(err error) string {
	if strings.Contains(err.Error(), "IMDS") {
		return ""
	}
	return ": " + err.Error()
}

// NewAWS builds the Minter and Objects of a server from the standard AWS
// configuration. The SDK's default HTTP client is kept, so AWS_CA_BUNDLE and
// the proxy variables are honoured.
func NewAWS(ctx context.Context, o AWSOptions) (*STSMinter, S3Objects, error) {
	cfg, err := loadConfig(ctx, o)
	if err != nil {
		return nil, S3Objects{}, err
	}
	stsClient := sts.NewFromConfig(cfg, func(so *sts.Options) {
		if o.STSEndpoint != "" {
			so.BaseEndpoint = aws.String(o.STSEndpoint)
		}
		if o.WrapHTTPClient != nil {
			so.HTTPClient = o.WrapHTTPClient(so.HTTPClient)
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
		if o.WrapHTTPClient != nil {
			so.HTTPClient = o.WrapHTTPClient(so.HTTPClient)
		}
	})
	return &STSMinter{Client: stsClient, RoleARN: o.RoleARN, Bucket: o.Bucket, TTL: o.TTL, Endpoint: o.STSEndpoint},
		S3Objects{Client: s3Client, Endpoint: o.S3Endpoint}, nil
}
