package resume_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// failComplete leaves a multipart upload with every part sent and recorded,
// but never completed: S3 keeps failing CompleteMultipartUpload.
func (e *env) failComplete(path string) transfer.Result {
	e.t.Helper()
	e.proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind == faultproxy.KindCompleteMultipartUpload {
			return faultproxy.S3Error(503, "ServiceUnavailable", "Please try again.")
		}
		return faultproxy.Pass()
	})
	defer e.proxy.SetRule(nil)
	res, _ := e.run(context.Background(), path, nil)
	if res.Err == nil {
		e.t.Fatal("the upload succeeded although S3 refused to complete it")
	}
	ents := e.entries()
	if len(ents) != 1 || ents[0].State != journal.Uploading {
		e.t.Fatalf("journal after the failed Complete: %+v", ents)
	}
	return res
}

// An upload aborted after every part was sent and recorded is not taken
// for completed: the next run finds neither the multipart upload nor its
// object, says so, and uploads the file again; nothing reaches the outbox
// before S3 shows the object.
func TestAbortedUploadWithEveryPartStartsOver(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "clip.mp4")
	sum := writeFile(t, path, 3*partSize+5, 7)
	first := e.failComplete(path)
	ents := e.entries()
	if len(ents[0].Parts) != 4 {
		t.Fatalf("journal holds %d parts, want all 4", len(ents[0].Parts))
	}
	// Someone (a lifecycle rule, an operator, another device) aborts it.
	if _, err := e.s3.Client().AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{
		Bucket: aws.String(e.api.Bucket), Key: aws.String(first.Key), UploadId: aws.String(ents[0].S3UploadID)}); err != nil {
		t.Fatal(err)
	}

	res, obs := e.run(context.Background(), path, nil)
	if res.Err != nil {
		t.Fatalf("run after the abort: %v", res.Err)
	}
	r := obs.reasons(transfer.FileRestarted)
	if len(r) != 1 || !strings.Contains(r[0], "gone from S3") {
		t.Errorf("restart messages = %q, want one saying the upload is gone", r)
	}
	if res.UploadID == first.UploadID {
		t.Errorf("the run registered the aborted upload %s", first.UploadID)
	}
	if e.objectSHA(res.Key) != sum {
		t.Fatal("the registered object differs from the file")
	}
	regs := e.api.Registrations()
	if len(regs) != 1 || regs[0].UploadID != res.UploadID {
		t.Fatalf("registrations %+v, want one, of the new upload", regs)
	}
	if ents := e.entries(); len(ents) != 1 || ents[0].State != journal.Registered || ents[0].UploadID != res.UploadID {
		t.Fatalf("journal after the run: %+v", ents)
	}
}

// The other side: a Complete that went through but whose answer was lost
// (the run died). With HeadObject allowed, the object is found, verified
// and registered without sending the file again; without it, nothing
// confirms the object, so the file is uploaded again rather than
// registered unseen.
func TestCompletedButUnrecordedUpload(t *testing.T) {
	for _, allowRead := range []bool{true, false} {
		t.Run(fmt.Sprintf("HeadObject allowed %v", allowRead), func(t *testing.T) {
			e := newEnv(t)
			e.api.Set(func(a *transfertest.API) { a.AllowRead = allowRead })
			path := filepath.Join(e.dir, "clip.mov")
			sum := writeFile(t, path, 2*partSize+9, 8)
			e.proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
				if ri.Kind == faultproxy.KindCompleteMultipartUpload {
					// S3 completes it; the answer never arrives.
					return faultproxy.Modify(func(*http.Response) error { return errors.New("connection lost") })
				}
				return faultproxy.Pass()
			})
			first, _ := e.run(context.Background(), path, func(o *transfer.Options) { o.Retry.Retries = 0 })
			e.proxy.SetRule(nil)
			if first.Err == nil {
				t.Fatal("the first run succeeded although Complete's answer was lost")
			}
			if ents := e.entries(); len(ents) != 1 || ents[0].State != journal.Uploading || len(ents[0].Parts) != 3 {
				t.Fatalf("journal after the lost answer: %+v", ents)
			}
			e.proxy.ResetStats()
			res, obs := e.run(context.Background(), path, nil)
			if res.Err != nil {
				t.Fatalf("second run: %v", res.Err)
			}
			sent := len(e.proxy.Stats().PartAttempts())
			if allowRead {
				if res.UploadID != first.UploadID || sent != 0 {
					t.Errorf("registered upload %s after sending %d parts, want the completed %s and none", res.UploadID, sent, first.UploadID)
				}
			} else {
				if res.UploadID == first.UploadID || sent != 3 {
					t.Errorf("registered upload %s after sending %d parts, want a new upload of 3", res.UploadID, sent)
				}
				if r := obs.reasons(transfer.FileRestarted); len(r) != 1 {
					t.Errorf("restart messages %q, want one", r)
				}
			}
			if e.objectSHA(res.Key) != sum {
				t.Fatal("object differs from the file")
			}
			if regs := e.api.Registrations(); len(regs) != 1 || regs[0].UploadID != res.UploadID {
				t.Errorf("registrations %+v, want one of %s", regs, res.UploadID)
			}
		})
	}
}
