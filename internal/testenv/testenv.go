// Package testenv gives integration tests the real parts they run against: the
// MinIO server started by scripts/minio.sh (through `make test`), fresh
// buckets on it, and the vidup command of the test process.
//
// A test that needs MinIO skips, saying why, when none is configured, so that
// `go test ./...` on a fresh clone is green. With VIDUP_REQUIRE_S3=1 (which
// `make test` and CI set) it fails instead: there, a skipped integration test
// would hide that nothing was tested.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// RequireS3Env names the variable that turns a missing S3 from a skip into
// a failure.
const RequireS3Env = "VIDUP_REQUIRE_S3"

// S3 is a running S3 server (MinIO, or the second server, versitygw) with
// root credentials.
type S3 struct {
	// Name says which server it is: "minio" or "versitygw".
	Name string
	// STS: the server answers STS AssumeRole (MinIO). Without it, tests
	// hand out static keys (contract v1.1).
	STS       bool
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// Bucket exists already (created by scripts/minio.sh).
	Bucket string
}

// ErrNoS3 says that no S3 endpoint is configured.
var ErrNoS3 = errors.New("no S3 for integration tests: VIDUP_TEST_S3_ENDPOINT, VIDUP_TEST_S3_ACCESS_KEY and " +
	"VIDUP_TEST_S3_SECRET_KEY are not set (run `make test`, which starts a MinIO, " +
	"or start one with eval \"$(scripts/minio.sh start)\" and run go test again)")

// RequireS3 reports whether VIDUP_REQUIRE_S3=1: tests needing S3 must fail,
// not skip, when it is missing.
func RequireS3() bool { return strings.TrimSpace(os.Getenv(RequireS3Env)) == "1" }

// LookupMinIO returns the configured MinIO server. The error is ErrNoS3 when
// none is configured, another error when one is configured but does not
// answer.
func LookupMinIO() (S3, error) {
	s := S3{
		Name: "minio", STS: true,
		Endpoint:  strings.TrimSpace(os.Getenv("VIDUP_TEST_S3_ENDPOINT")),
		Region:    envOr("VIDUP_TEST_S3_REGION", "us-east-1"),
		AccessKey: os.Getenv("VIDUP_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("VIDUP_TEST_S3_SECRET_KEY"),
		Bucket:    envOr("VIDUP_TEST_S3_BUCKET", "videos"),
	}
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		return S3{}, ErrNoS3
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(s.Endpoint + "/minio/health/live")
	if err != nil {
		return S3{}, fmt.Errorf("MinIO at %s (VIDUP_TEST_S3_ENDPOINT) does not answer: %w (start it with scripts/minio.sh start)", s.Endpoint, err)
	}
	resp.Body.Close()
	return s, nil
}

// MinIO returns the server that `make test` started. Without one the test
// skips, or fails when VIDUP_REQUIRE_S3=1. A server that is configured but
// does not answer always fails the test.
func MinIO(t testing.TB) S3 {
	t.Helper()
	s, err := LookupMinIO()
	switch {
	case errors.Is(err, ErrNoS3) && RequireS3():
		t.Fatalf("%v; %s=1 says this run must test against S3", err, RequireS3Env)
	case errors.Is(err, ErrNoS3):
		t.Skipf("skipped: %v", err)
	case err != nil:
		t.Fatal(err)
	}
	return s
}

// ErrNoSecondS3 says that no second S3 server is configured.
var ErrNoSecondS3 = errors.New("no second S3 server (versitygw) for integration tests: VIDUP_TEST_S3B_ENDPOINT, " +
	"VIDUP_TEST_S3B_ACCESS_KEY and VIDUP_TEST_S3B_SECRET_KEY are not set (run `make test`, which starts one, " +
	"or start one with eval \"$(scripts/versitygw.sh start)\" and run go test again)")

// LookupSecondS3 returns the second, independent S3 server that
// scripts/versitygw.sh started (no STS: tests use static keys). The error
// is ErrNoSecondS3 when none is configured, another error when one is
// configured but does not answer.
func LookupSecondS3() (S3, error) {
	s := S3{
		Name:      envOr("VIDUP_TEST_S3B_NAME", "versitygw"),
		Endpoint:  strings.TrimSpace(os.Getenv("VIDUP_TEST_S3B_ENDPOINT")),
		Region:    envOr("VIDUP_TEST_S3B_REGION", "us-east-1"),
		AccessKey: os.Getenv("VIDUP_TEST_S3B_ACCESS_KEY"),
		SecretKey: os.Getenv("VIDUP_TEST_S3B_SECRET_KEY"),
		Bucket:    envOr("VIDUP_TEST_S3B_BUCKET", "videos"),
	}
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		return S3{}, ErrNoSecondS3
	}
	c := http.Client{Timeout: 10 * time.Second}
	// Any HTTP answer (an anonymous request is refused) says it is up.
	resp, err := c.Get(s.Endpoint + "/")
	if err != nil {
		return S3{}, fmt.Errorf("%s at %s (VIDUP_TEST_S3B_ENDPOINT) does not answer: %w (start it with scripts/versitygw.sh start)", s.Name, s.Endpoint, err)
	}
	resp.Body.Close()
	return s, nil
}

// EachS3 runs f as a subtest, named after the server, against MinIO and
// against the second S3 server: the same assertions for both. A server
// that is not configured skips its subtest (fails it when
// VIDUP_REQUIRE_S3=1).
func EachS3(t *testing.T, f func(t *testing.T, s S3)) {
	t.Helper()
	for _, target := range []struct {
		name   string
		lookup func() (S3, error)
		none   error
	}{{"minio", LookupMinIO, ErrNoS3}, {"versitygw", LookupSecondS3, ErrNoSecondS3}} {
		t.Run(target.name, func(t *testing.T) {
			s, err := target.lookup()
			switch {
			case errors.Is(err, target.none) && RequireS3():
				t.Fatalf("%v; %s=1 says this run must test against S3", err, RequireS3Env)
			case errors.Is(err, target.none):
				t.Skipf("skipped: %v", err)
			case err != nil:
				t.Fatal(err)
			}
			f(t, s)
		})
	}
}

// Client is an S3 client with the server's root credentials, for setting up and
// checking what tests did (never for the code under test).
func (s S3) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates a bucket of a fresh name and returns the name.
func (s S3) CreateBucket(ctx context.Context) (string, error) {
	name := "t-" + RandomHex(8)
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return "", fmt.Errorf("create bucket %s: %w", name, err)
	}
	return name, nil
}

// NewBucket creates a bucket of the test's own and returns its name.
func (s S3) NewBucket(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := s.CreateBucket(ctx)
	if err != nil {
		t.Fatal(err)
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

// VidupPath finds the vidup command of this test process: the test binary
// itself, which testscript.Main (called from the package's TestMain) copied
// under the name vidup into a folder it put first on PATH. Nothing is built:
// the test binary runs cli.Main when it is called vidup.
//
// A vidup installed elsewhere on PATH is refused, so a test never runs a
// stale binary by accident.
func VidupPath() (string, error) {
	const hint = "the package's TestMain must call testscript.Main(m, map[string]func(){\"vidup\": ...})"
	p, err := exec.LookPath("vidup")
	if err != nil {
		return "", fmt.Errorf("no vidup on PATH: %s", hint)
	}
	first := filepath.SplitList(os.Getenv("PATH"))[0]
	if filepath.Dir(p) != filepath.Clean(first) || !strings.HasPrefix(filepath.Base(filepath.Dir(first)), "testscript-main") {
		return "", fmt.Errorf("the vidup on PATH (%s) is not this test binary: %s", p, hint)
	}
	return p, nil
}

// Vidup returns the path of the vidup command of this test process (see
// VidupPath).
func Vidup(t testing.TB) string {
	t.Helper()
	p, err := VidupPath()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
