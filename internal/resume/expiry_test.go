package resume_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// MinIO answers InvalidAccessKeyId, not ExpiredToken, for an expired
// temporary key. With credentials the API says expire within minutes (a
// slow clock sees them so), that answer means refresh and retry: the upload
// completes, nothing is aborted, the journal follows it to the end. With
// credentials far from expiry the same answer still fails the file at once.
func TestInvalidAccessKeyNearExpiryRefreshes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lifetime time.Duration
		always   bool // S3 refuses the key on every attempt
	}{
		{"near expiry, once", 2 * time.Minute, false},
		{"near expiry, refresh does not cure", 2 * time.Minute, true},
		{"far from expiry", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.lifetime > 0 {
				e.api.Set(func(a *transfertest.API) {
					a.Credentials = func(c contract.Credentials) contract.Credentials {
						c.Expiration = time.Now().Add(tc.lifetime).UTC()
						return c
					}
				})
			}
			path := filepath.Join(e.dir, "clip.mp4")
			sum := writeFile(t, path, 3*partSize+1, 9)
			e.proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
				if ri.Kind == faultproxy.KindUploadPart && ri.PartNumber == 2 && (tc.always || ri.Attempt == 1) {
					return faultproxy.S3Error(403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.")
				}
				return faultproxy.Pass()
			})
			before := e.api.Refreshes()
			res, _ := e.run(context.Background(), path, nil)
			aborts := e.proxy.Stats().Requests[faultproxy.KindAbortMultipartUpload]
			switch {
			case tc.lifetime > 0 && !tc.always:
				if res.Err != nil {
					t.Fatalf("upload: %v", res.Err)
				}
				if n := e.api.Refreshes() - before; n != 1 {
					t.Errorf("%d refreshes, want 1", n)
				}
				if aborts != 0 {
					t.Errorf("%d aborts", aborts)
				}
				if e.objectSHA(res.Key) != sum {
					t.Fatal("object differs from the file")
				}
				if ents := e.entries(); len(ents) != 1 || ents[0].State != journal.Registered {
					t.Fatalf("journal: %+v", ents)
				}
			case tc.lifetime > 0:
				if res.Err == nil || !strings.Contains(res.Err.Error(), "expiry") {
					t.Fatalf("err = %v, want a failure naming the expiry", res.Err)
				}
				if aborts != 0 {
					t.Errorf("%d aborts of an upload whose credentials were expiring", aborts)
				}
				// Kept for a later run: the entry and its multipart upload.
				// How many other parts finished before part 2 stopped the
				// upload depends on the machine's load, so none may have.
				if ents := e.entries(); len(ents) != 1 || ents[0].State != journal.Uploading || ents[0].S3UploadID == "" {
					t.Fatalf("journal lost the upload: %+v", ents)
				}
				if open := e.api.OpenUploads(t); len(open) != 1 {
					t.Errorf("open multipart uploads %v, want the kept one", open)
				}
			default:
				if res.Err == nil || res.Status != transfer.StatusFailed {
					t.Fatalf("a key refused with an hour left did not fail the file: %+v", res)
				}
				if n := e.api.Refreshes() - before; n != 0 {
					t.Errorf("%d refreshes for a key refused an hour before expiry", n)
				}
			}
		})
	}
}
