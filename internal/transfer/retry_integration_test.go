package transfer_test

import (
	"context"
	"testing"

	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// Through a proxy that cuts a part's connection mid-body and answers
// SlowDown to another, the file still arrives intact, only those two parts
// are sent again, and the video is registered once.
func TestFailedPartsAloneAreRetried(t *testing.T) {
	e := newEnv(t)
	proxy, err := faultproxy.New(e.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	e.api.Set(func(a *transfertest.API) { a.Endpoint = proxy.URL() })

	const part = transfer.MinPartSize
	size := int64(3*part + 777)
	proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind != faultproxy.KindUploadPart || ri.Attempt > 1 {
			return faultproxy.Pass()
		}
		switch ri.PartNumber {
		case 2:
			return faultproxy.CutAfter(part / 3)
		case 3:
			return faultproxy.SlowDown()
		}
		return faultproxy.Pass()
	})

	files := openAll(t, writeFile(t, t.TempDir(), "flaky.mov", size, 9))
	rec := newRecorder(t, files)
	results := e.engine(t, rec, func(o *transfer.Options) { o.Concurrency = 2 }).Upload(context.Background(), files)
	checkArrived(t, e, rec, files, results)

	stats := proxy.Stats()
	wantAttempts := map[int]int{1: 1, 2: 2, 3: 2, 4: 1}
	for n, want := range wantAttempts {
		if got := stats.PartAttempts()[n]; got != want {
			t.Errorf("part %d sent %d times, want %d (all: %v)", n, got, want, stats.PartAttempts())
		}
	}
	// Every part reached MinIO exactly once, whole: nothing was sent twice
	// but what failed.
	for n, got := range stats.PartBytesForwarded() {
		want := int64(part)
		if n == 4 {
			want = size - 3*part
		}
		if got != want {
			t.Errorf("part %d: %d bytes forwarded to S3, want %d", n, got, want)
		}
	}
	if got := rec.count(transfer.PartRetried); got != 2 {
		t.Errorf("%d part_retried events, want 2", got)
	}
	if n := len(stats.Cuts); n != 1 {
		t.Errorf("%d connections cut, want 1", n)
	}
}

// S3 refusing the session's credentials fails the file at once with a
// message that says so, and leaves nothing open.
func TestRefusedCredentialsFailAtOnce(t *testing.T) {
	e := newEnv(t)
	proxy, err := faultproxy.New(e.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	e.api.Set(func(a *transfertest.API) { a.Endpoint = proxy.URL() })
	proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind == faultproxy.KindUploadPart && ri.PartNumber == 2 {
			return faultproxy.S3Error(403, "AccessDenied", "Access Denied.")
		}
		return faultproxy.Pass()
	})
	files := openAll(t, writeFile(t, t.TempDir(), "denied.mp4", 2*transfer.MinPartSize+1, 5))
	rec := newRecorder(t, files)
	results := e.engine(t, rec, nil).Upload(context.Background(), files)
	r := results[0]
	if r.Status != transfer.StatusFailed || r.Err == nil {
		t.Fatalf("status %s, want failed", r.Status)
	}
	if got := proxy.Stats().PartAttempts()[2]; got != 1 {
		t.Errorf("a 403 part was sent %d times, want once", got)
	}
	// The result carries the file; its error says what happened to it.
	if r.Item != files[0] {
		t.Errorf("the result carries item %p, want the file's %p", r.Item, files[0])
	}
	if msg := r.Err.Error(); !contains(msg, "access denied") || !contains(msg, "denied.mp4") {
		t.Errorf("error %q does not name the object and say access was denied", msg)
	}
	if len(e.api.Registrations()) != 0 {
		t.Error("a failed file was registered")
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
	if rec.bytes[r.Path] < 0 || rec.bytes[r.Path] > r.Size {
		t.Errorf("progress %d outside 0..%d", rec.bytes[r.Path], r.Size)
	}
}

// S3 answering ExpiredToken makes the engine fetch new credentials from the
// API's refresh endpoint and send the part again.
func TestExpiredTokenRefreshesCredentials(t *testing.T) {
	e := newEnv(t)
	proxy, err := faultproxy.New(e.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	e.api.Set(func(a *transfertest.API) { a.Endpoint = proxy.URL() })
	proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind == faultproxy.KindUploadPart && ri.PartNumber == 1 && ri.Attempt == 1 {
			return faultproxy.S3Error(400, "ExpiredToken", "The provided token has expired.")
		}
		return faultproxy.Pass()
	})
	files := openAll(t, writeFile(t, t.TempDir(), "long.mp4", 2*transfer.MinPartSize+3, 11))
	rec := newRecorder(t, files)
	results := e.engine(t, rec, nil).Upload(context.Background(), files)
	checkArrived(t, e, rec, files, results)
	if n := e.api.Refreshes(); n != 1 {
		t.Errorf("%d credential refreshes, want 1", n)
	}
	if n := rec.count(transfer.CredentialsRefreshed); n != 1 {
		t.Errorf("%d credentials_refreshed events, want 1", n)
	}
}
