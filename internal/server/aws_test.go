package server

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingClient answers no request: it records where each would have
// gone, so a test sees what the SDK dials without contacting anything.
type recordingClient struct {
	mu    sync.Mutex
	hosts []string
}

func (c *recordingClient) Do(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.hosts = append(c.hosts, req.URL.Host)
	c.mu.Unlock()
	return nil, errors.New("recordingClient: no network in this test")
}

func (c *recordingClient) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.hosts...)
}

// noAWSEnvironment is a machine with no AWS key, profile, container or
// web identity credentials, and AWS_EC2_METADATA_DISABLED unset.
func noAWSEnvironment(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CA_BUNDLE", "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
}

// Without AWS keys, the server says so at once and never asks the EC2
// instance metadata service (169.254.169.254), which answers only on EC2:
// elsewhere it cost seconds of timeouts and a raw SDK warning.
func TestNewAWSWithoutKeysDoesNotAskInstanceMetadata(t *testing.T) {
	noAWSEnvironment(t)
	rec := &recordingClient{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := NewAWS(ctx, AWSOptions{Region: "us-east-1", Bucket: "videos", HTTPClient: rec})
	if err == nil || !strings.Contains(err.Error(), "no AWS credentials of its own") || !strings.Contains(err.Error(), "AWS_EC2_METADATA_DISABLED=false") {
		t.Fatalf("NewAWS without keys: %v; want the no-credentials error naming AWS_EC2_METADATA_DISABLED=false", err)
	}
	if hosts := rec.seen(); len(hosts) > 0 {
		t.Fatalf("NewAWS without keys sent requests to %v; want none (the instance metadata service is off)", hosts)
	}
	if _, err := OwnAccessKeyID(ctx, AWSOptions{Region: "us-east-1", HTTPClient: rec}); err == nil {
		t.Fatal("OwnAccessKeyID without keys: no error")
	}
	if hosts := rec.seen(); len(hosts) > 0 {
		t.Fatalf("OwnAccessKeyID without keys sent requests to %v; want none", hosts)
	}
}

// AWS_EC2_METADATA_DISABLED=false (EC2Metadata) asks the instance role's
// credentials of the metadata service: the recorder sees that request,
// which is what the test above proves absent.
func TestNewAWSAsksInstanceMetadataWhenAskedTo(t *testing.T) {
	noAWSEnvironment(t)
	rec := &recordingClient{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := NewAWS(ctx, AWSOptions{Region: "us-east-1", Bucket: "videos", HTTPClient: rec, EC2Metadata: true}); err == nil {
		t.Fatal("NewAWS with the metadata service unreachable: no error")
	}
	found := false
	for _, h := range rec.seen() {
		found = found || h == "169.254.169.254"
	}
	if !found {
		t.Fatalf("requests went to %v; want one to the metadata service 169.254.169.254", rec.seen())
	}
}
