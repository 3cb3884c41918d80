package transfer_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/ratelimit"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// MinIO's STS will not mint credentials shorter than 15 minutes, so the
// contract server says they expire 3 s after minting: the engine must
// refresh them again and again during an upload that lasts several times
// that, and finish it.
func TestUploadOutlivesShortCredentials(t *testing.T) {
	e := newEnv(t)
	e.api.Set(func(a *transfertest.API) {
		a.Credentials = func(c contract.Credentials) contract.Credentials {
			c.Expiration = time.Now().Add(3 * time.Second).UTC()
			return c
		}
	})
	dir := t.TempDir()
	const size = 24 << 20
	path := writeFile(t, dir, "long.mp4", size, 11)
	files := openAll(t, path)
	rec := newRecorder(t, files)
	limiter := ratelimit.New(3 << 20) // about 8 s for the file
	eng := e.engine(t, rec, func(o *transfer.Options) {
		o.Concurrency = 2
		o.WrapHTTPClient = func(c aws.HTTPClient) aws.HTTPClient { return limiter.HTTPClient(c) }
	})
	start := time.Now()
	res := eng.Upload(t.Context(), files)
	if res[0].Err != nil {
		t.Fatalf("upload: %v", res[0].Err)
	}
	if took := time.Since(start); took < 6*time.Second {
		t.Fatalf("the upload took %s, not long enough to outlive the credentials; slow it down more", took)
	}
	if n := e.api.Refreshes(); n < 2 {
		t.Errorf("%d credential refreshes during an upload lasting several lifetimes, want 2 or more", n)
	}
	if n := rec.count(transfer.CredentialsRefreshed); n != e.api.Refreshes() {
		t.Errorf("%d credentials_refreshed events, %d refresh calls", n, e.api.Refreshes())
	}
	if got := objectSHA(t, e.s3, e.api.Bucket, res[0].Key); got != fileSHA(t, filepath.Clean(path)) {
		t.Fatal("object differs from the file")
	}
}
