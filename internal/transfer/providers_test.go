package transfer_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// behind puts a proxy with rule between the session's clients and MinIO.
func behind(t *testing.T, e env, rule func(*faultproxy.RequestInfo) faultproxy.Action) *faultproxy.Proxy {
	t.Helper()
	proxy, err := faultproxy.New(e.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	proxy.SetRule(rule)
	e.api.Set(func(a *transfertest.API) { a.Endpoint = proxy.URL(); a.AllowRead = true })
	return proxy
}

// arrived checks that every file arrived intact and was registered once
// with checksum want (nil: none, "unverified").
func arrived(t *testing.T, e env, files []*asset.Item, results []transfer.Result, want func(i int, c *contract.Checksum) bool) {
	t.Helper()
	regs := map[string]contract.VideoRequest{}
	for _, r := range e.api.Registrations() {
		regs[r.UploadID] = r
	}
	for i, r := range results {
		if r.Status != transfer.StatusUploaded || r.Err != nil {
			t.Fatalf("%s: %s, %v", r.Path, r.Status, r.Err)
		}
		if objectSHA(t, e.s3, e.api.Bucket, r.Key) != fileSHA(t, files[i].Path) {
			t.Errorf("%s: the object's bytes differ from the file's", r.Path)
		}
		reg, ok := regs[r.UploadID]
		if !ok {
			t.Fatalf("%s: not registered", r.Path)
		}
		if !want(i, r.Checksum) || !want(i, reg.Checksum) {
			t.Errorf("%s: result checksum %+v, registered %+v: not what the store confirmed", r.Path, r.Checksum, reg.Checksum)
		}
	}
}

func fallbacks(rec *recorder) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, ev := range rec.events {
		if ev.Kind == transfer.ChecksumFallback {
			out = append(out, ev.Reason)
		}
	}
	return out
}

// B2 and Wasabi refuse every checksum header: the session falls back down
// to none at its first request (three steps, said in three events), keeps
// none for its other files, sends Content-MD5, and reports and registers
// the files as unverified, with no checksum.
func TestB2RefusesChecksumHeaders(t *testing.T) {
	e := newEnv(t)
	var md5s atomic.Int32
	refuse := faultproxy.RefuseChecksumHeaders()
	behind(t, e, func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if a := refuse(ri); a.String() != "Pass" {
			return a
		}
		if ri.Header.Get("Content-Md5") != "" {
			md5s.Add(1)
		}
		return faultproxy.Pass()
	})
	dir := t.TempDir()
	files := openAll(t, writeFile(t, dir, "a.mp4", 1000, 1), writeFile(t, dir, "b.mp4", 3*transfer.MinPartSize+5, 2))
	rec := newRecorder(t, files)
	results := e.engine(t, rec, func(o *transfer.Options) { o.Concurrency = 1 }).Upload(context.Background(), files)
	arrived(t, e, files, results, func(_ int, c *contract.Checksum) bool { return c == nil })
	fb := fallbacks(rec)
	if len(fb) != 3 || !strings.Contains(fb[0], "CRC32C FULL_OBJECT") || !strings.Contains(fb[2], "using none") {
		t.Errorf("fallback events %q, want CRC32C → CRC64NVME → composite → none", fb)
	}
	if n := md5s.Load(); n < 5 { // one PutObject and four parts
		t.Errorf("%d requests carried Content-MD5, want every body", n)
	}
	for _, ev := range rec.events {
		if ev.Kind == transfer.FileUploaded && ev.Checksum != transfer.Unverified {
			t.Errorf("file_uploaded says checksum %q, want %q", ev.Checksum, transfer.Unverified)
		}
	}
}

// R2 has no full-object CRC32C for multipart uploads (501): a large file
// falls back to FULL_OBJECT CRC64NVME at once, without retrying the 501;
// a store with no full-object multipart checksum at all gets COMPOSITE
// CRC32C ("…-N"), computed and compared by vidup.
func TestR2RefusesFullObjectMultipart(t *testing.T) {
	for _, tc := range []struct {
		name, refused, wantAlg, wantType string
	}{
		{"crc32c", "CRC32C", "CRC64NVME", contract.TypeFullObject},
		{"any", "", "CRC32C", contract.TypeComposite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			proxy := behind(t, e, faultproxy.RefuseFullObjectMultipart(tc.refused))
			files := openAll(t, writeFile(t, t.TempDir(), "big.mov", 2*transfer.MinPartSize+1, 3))
			rec := newRecorder(t, files)
			results := e.engine(t, rec, nil).Upload(context.Background(), files)
			arrived(t, e, files, results, func(_ int, c *contract.Checksum) bool {
				return c != nil && c.Algorithm == tc.wantAlg && c.Type == tc.wantType &&
					(tc.wantType != contract.TypeComposite || strings.HasSuffix(c.Value, "-3"))
			})
			if n := proxy.Stats().Requests[faultproxy.KindCreateMultipartUpload]; n != len(fallbacks(rec))+1 {
				t.Errorf("%d CreateMultipartUpload for %d fallbacks: a 501 was retried", n, len(fallbacks(rec)))
			}
		})
	}
}

// --checksum forces a mode: a 501 then fails the file at once, saying the
// store does not implement it and that retrying will not help.
func TestForcedChecksumRefusedFailsWithAdvice(t *testing.T) {
	e := newEnv(t)
	proxy := behind(t, e, faultproxy.RefuseFullObjectMultipart("CRC32C"))
	files := openAll(t, writeFile(t, t.TempDir(), "big.mov", 2*transfer.MinPartSize+1, 3))
	forced, err := contract.ParseChecksumMode("crc32c")
	if err != nil {
		t.Fatal(err)
	}
	results := e.engine(t, newRecorder(t, files), func(o *transfer.Options) { o.Checksum = forced }).Upload(context.Background(), files)
	r := results[0]
	var se *transfer.S3Error
	if r.Status != transfer.StatusFailed || !strings.Contains(r.Err.Error(), "501 NotImplemented") || !errors.As(r.Err, &se) || !se.NotImplemented() {
		t.Fatalf("%s: %v; want a failure naming the 501, an S3Error the advice table can tell (--checksum)", r.Status, r.Err)
	}
	if n := proxy.Stats().Requests[faultproxy.KindCreateMultipartUpload]; n != 1 {
		t.Errorf("%d CreateMultipartUpload, want 1: a 501 is not retried", n)
	}
}

// A store that keeps no checksum: the bytes arrive, and vidup reports and
// registers them unverified rather than a checksum the store does not hold.
func TestStoreDroppingChecksumsIsUnverified(t *testing.T) {
	e := newEnv(t)
	behind(t, e, faultproxy.DropChecksums())
	dir := t.TempDir()
	files := openAll(t, writeFile(t, dir, "a.mp4", 1000, 4), writeFile(t, dir, "b.mp4", 2*transfer.MinPartSize+9, 5))
	rec := newRecorder(t, files)
	results := e.engine(t, rec, nil).Upload(context.Background(), files)
	arrived(t, e, files, results, func(_ int, c *contract.Checksum) bool { return c == nil })
	if fb := fallbacks(rec); len(fb) != 0 {
		t.Errorf("fallbacks %q: the store refused nothing", fb)
	}
}

// A store that answers a COMPOSITE checksum where a full-object one was
// asked: vidup compares the composite of its parts' CRCs and reports it,
// rather than failing a correct file.
func TestCompositeAnswerIsCompared(t *testing.T) {
	e := newEnv(t)
	behind(t, e, faultproxy.CompositeAnswers())
	e.api.TrustChecksums() // the registration reads MinIO, which holds the full-object one
	files := openAll(t, writeFile(t, t.TempDir(), "c.mov", 3*transfer.MinPartSize+7, 6))
	results := e.engine(t, newRecorder(t, files), nil).Upload(context.Background(), files)
	arrived(t, e, files, results, func(_ int, c *contract.Checksum) bool {
		return c != nil && c.Algorithm == "CRC32C" && c.Type == contract.TypeComposite && strings.HasSuffix(c.Value, "-4")
	})
}

// ListParts marked truncated without a next marker: the resume lists once
// and goes on, instead of asking forever.
func TestBrokenListPartsPageEnds(t *testing.T) {
	testenv.EachS3(t, func(t *testing.T, s testenv.S3) {
		e := newEnvOn(t, s)
		proxy := behind(t, e, func(ri *faultproxy.RequestInfo) faultproxy.Action {
			if ri.Kind == faultproxy.KindUploadPart && ri.PartNumber == 3 {
				return faultproxy.S3Error(403, "AccessDenied", "Access Denied.")
			}
			return faultproxy.Pass()
		})
		path := writeFile(t, t.TempDir(), "r.mxf", 3*transfer.MinPartSize, 7)
		hooks := &memHooks{}
		files := openAll(t, path)
		e.engine(t, newRecorder(t, files), func(o *transfer.Options) { o.Concurrency = 1; o.Hooks = hooks }).Upload(context.Background(), files)

		proxy.SetRule(faultproxy.BrokenListPartsPage())
		proxy.ResetStats()
		files = openAll(t, path)
		results := e.engine(t, newRecorder(t, files), func(o *transfer.Options) { o.Hooks = hooks }).Upload(context.Background(), files)
		arrived(t, e, files, results, func(_ int, c *contract.Checksum) bool { return c != nil && c.Algorithm == "CRC32C" })
		if n := proxy.Stats().Requests[faultproxy.KindListParts]; n != 1 {
			t.Errorf("%d ListParts requests, want 1", n)
		}
		if got := proxy.Stats().PartAttempts(); len(got) != 1 || got[3] != 1 {
			t.Errorf("second run sent parts %v, want only part 3", got)
		}
	})
}
