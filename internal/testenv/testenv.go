// Package testenv gives integration tests the real parts they run against: the
// MinIO server started by scripts/minio.sh (through `make test`), fresh
// buckets on it, and the vidup binary built once per test process.
//
// Tests that need MinIO fail, never skip, when it is not there: a skipped
// integration test would hide that nothing was tested.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 is a running MinIO server with root credentials.
type S3 struct {
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// Bucket exists already (created by scripts/minio.sh).
	Bucket string
}

// MinIO returns the server that `make test` started. Run the tests with
// `make test`, or start one by hand: eval "$(scripts/minio.sh start)".
func MinIO(t testing.TB) S3 {
	t.Helper()
	s := S3{
		Endpoint:  os.Getenv("VIDUP_TEST_S3_ENDPOINT"),
		Region:    envOr("VIDUP_TEST_S3_REGION", "us-east-1"),
		AccessKey: os.Getenv("VIDUP_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("VIDUP_TEST_S3_SECRET_KEY"),
		Bucket:    envOr("VIDUP_TEST_S3_BUCKET", "videos"),
	}
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		t.Fatal("this integration test needs the real MinIO server: run `make test`, " +
			"or start it with eval \"$(scripts/minio.sh start)\" and run go test again")
	}
	resp, err := http.Get(s.Endpoint + "/minio/health/live")
	if err != nil {
		t.Fatalf("MinIO at %s does not answer: %v (start it with scripts/minio.sh start)", s.Endpoint, err)
	}
	resp.Body.Close()
	return s
}

// Client is an S3 client with MinIO's root credentials, for setting up and
// checking what tests did (never for the code under test).
func (s S3) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// NewBucket creates a bucket of the test's own and returns its name.
func (s S3) NewBucket(t testing.TB) string {
	t.Helper()
	name := "t-" + RandomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// RepoRoot is the folder holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// Vidup builds the vidup binary once per test process and returns its path.
func Vidup(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vidup-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "vidup")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/vidup")
		cmd.Dir = RepoRoot(t)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build vidup: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
