package resume_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/credentials"
	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/resume"
	"github.com/vidup/vidup/internal/retry"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

const partSize = transfer.MinPartSize // 5 MiB

var fastRetry = transfer.Retry{Retries: 3, Budget: time.Minute, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}

type env struct {
	t     *testing.T
	s3    testenv.S3
	api   *transfertest.API
	proxy *faultproxy.Proxy
	state string
	dir   string
}

func newEnv(t *testing.T) *env {
	s := testenv.MinIO(t)
	a := transfertest.New(t, s, s.NewBucket(t))
	p, err := faultproxy.New(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	a.Endpoint = p.URL()
	return &env{t: t, s3: s, api: a, proxy: p, state: filepath.Join(t.TempDir(), "state"), dir: t.TempDir()}
}

// events records the engine's events.
type events struct {
	mu  sync.Mutex
	all []transfer.Event
}

func (r *events) Event(e transfer.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, e)
}

func (r *events) Progress(string, int64) {}

func (r *events) reasons(kind transfer.EventKind) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.all {
		if e.Kind == kind {
			out = append(out, e.Reason)
		}
	}
	return out
}

// run claims path, uploads it with the tracker's hooks and releases it.
func (e *env) run(ctx context.Context, path string, mod func(*transfer.Options)) (transfer.Result, *events) {
	e.t.Helper()
	tr, err := resume.Open(e.state)
	if err != nil {
		e.t.Fatal(err)
	}
	defer tr.Close()
	f, err := transfer.Open(path, "")
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := tr.Claim(f, false)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Release()
	if c.Skip != nil {
		e.t.Fatalf("claim of %s skipped: %s", path, c.Skip)
	}
	client, err := api.New(e.api.URL, e.api.Token, api.WithRetry(retry.Policy{Retries: 1, Budget: time.Minute, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
	if err != nil {
		e.t.Fatal(err)
	}
	obs := &events{}
	opts := transfer.Options{API: client, Concurrency: 2, PartSize: partSize, Retry: fastRetry, Observer: obs,
		Hooks: tr.Hooks(), Credentials: credentials.New, StopGrace: 200 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	eng, err := transfer.New(context.Background(), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	res := eng.Upload(ctx, []*asset.Item{f})
	if err := tr.Err(); err != nil {
		e.t.Errorf("journal: %v", err)
	}
	return res[0], obs
}

func writeFile(t *testing.T, path string, size int64, seed byte) [32]byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.NewChaCha8([32]byte{seed}), size); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func (e *env) objectSHA(key string) [32]byte {
	e.t.Helper()
	out, err := e.s3.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.api.Bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		e.t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func (e *env) entries() []*journal.Entry {
	e.t.Helper()
	s, err := journal.Open(e.state)
	if err != nil {
		e.t.Fatal(err)
	}
	all, err := s.List()
	if err != nil {
		e.t.Fatal(err)
	}
	return all
}

// interrupt uploads path until `done` parts are on S3, then stops the run
// the way Ctrl-C does, while later parts are held at the proxy.
func (e *env) interrupt(path string, done int) transfer.Result {
	e.t.Helper()
	var finished atomic.Int32
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	e.proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind == faultproxy.KindUploadPart && ri.PartNumber > done {
			return faultproxy.DelayThen(time.Minute, faultproxy.Pass())
		}
		return faultproxy.Pass()
	})
	go func() {
		for e.partsRecorded() < done {
			time.Sleep(10 * time.Millisecond)
		}
		finished.Store(1)
		cancel(errors.New("interrupted by the test"))
	}()
	res, _ := e.run(ctx, path, nil)
	if finished.Load() != 1 {
		e.t.Fatalf("the run ended before %d parts were done: %+v", done, res)
	}
	if res.Err == nil || !errors.Is(res.Err, transfer.ErrStopped) {
		e.t.Fatalf("interrupted run: err = %v, want ErrStopped", res.Err)
	}
	e.proxy.SetRule(nil)
	return res
}

func (e *env) partsRecorded() int {
	s, err := journal.Open(e.state)
	if err != nil {
		return 0
	}
	all, _ := s.List()
	n := 0
	for _, en := range all {
		n += len(en.Parts)
	}
	return n
}

func TestInterruptedUploadResumesWithMissingPartsOnly(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "clip.mp4")
	sum := writeFile(t, path, 8*partSize+1234, 1)

	first := e.interrupt(path, 3)
	if open := e.api.OpenUploads(t); len(open) != 1 || open[0] != first.Key {
		t.Fatalf("after the interrupt, open multipart uploads = %v, want the one of %s", open, first.Key)
	}
	ents := e.entries()
	if len(ents) != 1 || ents[0].State != journal.Uploading || len(ents[0].Parts) < 3 {
		t.Fatalf("journal after the interrupt: %+v", ents)
	}
	if !strings.Contains(ents[0].LastError, "stopped") {
		t.Errorf("entry's last error = %q, want it to say the run stopped", ents[0].LastError)
	}
	kept := map[int]bool{}
	for _, p := range ents[0].Parts {
		kept[int(p.Number)] = true
	}

	e.proxy.ResetStats()
	refreshes := e.api.Refreshes()
	res, obs := e.run(context.Background(), path, nil)
	if res.Err != nil {
		t.Fatalf("resumed run: %v", res.Err)
	}
	if res.Key != first.Key || res.UploadID != first.UploadID {
		t.Errorf("resumed upload went to %s (%s), want the same key %s (%s)", res.Key, res.UploadID, first.Key, first.UploadID)
	}
	if e.api.Refreshes() <= refreshes {
		t.Errorf("the resumed run did not ask the API for fresh credentials of the old session")
	}
	if e.api.Sessions() != 1 {
		t.Errorf("%d sessions opened, want the first run's only", e.api.Sessions())
	}
	for n, attempts := range e.proxy.Stats().PartAttempts() {
		if kept[n] {
			t.Errorf("part %d was on S3 already but was sent again (%d attempts)", n, attempts)
		}
	}
	if got := len(e.proxy.Stats().PartAttempts()); got != 9-len(kept) {
		t.Errorf("%d parts sent by the resumed run, want %d", got, 9-len(kept))
	}
	if len(obs.reasons(transfer.FileResumed)) != 1 {
		t.Errorf("no file_resumed event: %v", obs.all)
	}
	if e.objectSHA(res.Key) != sum {
		t.Fatal("the resumed object differs from the file")
	}
	if regs := e.api.Registrations(); len(regs) != 1 {
		t.Fatalf("%d registrations, want 1", len(regs))
	}
	if ents := e.entries(); len(ents) != 1 || ents[0].State != journal.Registered || ents[0].VideoID != res.VideoID {
		t.Fatalf("journal after the resumed run: %+v", ents)
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
}

func TestOutboxRegistersWithoutUploading(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "clip.mov")
	sum := writeFile(t, path, 3*partSize, 2)
	e.api.Set(func(a *transfertest.API) {
		a.RegisterFault = func(string, int) (int, string) { return 503, "registry is down" }
	})
	first, _ := e.run(context.Background(), path, nil)
	if first.Err == nil || !strings.Contains(first.Err.Error(), "not registered") {
		t.Fatalf("first run: err = %v, want a registration failure", first.Err)
	}
	if ents := e.entries(); len(ents) != 1 || ents[0].State != journal.Completed {
		t.Fatalf("journal after the failed registration: %+v", ents)
	}
	e.api.Set(func(a *transfertest.API) { a.RegisterFault = nil })
	e.proxy.ResetStats()
	attempts := e.api.Attempts(first.UploadID)

	res, _ := e.run(context.Background(), path, nil)
	if res.Err != nil {
		t.Fatalf("second run: %v", res.Err)
	}
	st := e.proxy.Stats()
	if st.BytesReceived != 0 || len(st.Requests) != 0 {
		t.Errorf("the second run sent %d bytes in %v to S3; it should only register", st.BytesReceived, st.Requests)
	}
	if res.UploadID != first.UploadID || e.api.Attempts(first.UploadID) != attempts+1 {
		t.Errorf("registration used upload id %s (%d attempts), want %s again", res.UploadID, e.api.Attempts(first.UploadID), first.UploadID)
	}
	if regs := e.api.Registrations(); len(regs) != 1 || regs[0].Checksum == nil || regs[0].Checksum.Value != first.Checksum.Value {
		t.Fatalf("registrations: %+v", regs)
	}
	if e.objectSHA(res.Key) != sum {
		t.Fatal("object differs from the file")
	}
	// Third run: registered, so skipped by the claim without any call.
	tr, err := resume.Open(e.state)
	if err != nil {
		t.Fatal(err)
	}
	item := func() *asset.Item {
		f, err := transfer.Open(path, "")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	c, err := tr.Claim(item(), false)
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	if c.Skip == nil || c.Skip.Busy || c.Skip.VideoID != res.VideoID || c.Skip.RegisteredAt.IsZero() || !strings.Contains(c.Skip.String(), res.VideoID) {
		t.Errorf("claim of a registered file: skip %+v", c.Skip)
	}
	c, err = tr.Claim(item(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if c.Skip != nil {
		t.Errorf("claim with force skipped: %s", c.Skip)
	}
	// While claimed, another claim (another run) must skip it.
	other, err := resume.Open(e.state)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := other.Claim(item(), true)
	if err != nil {
		t.Fatal(err)
	}
	c2.Release()
	if c2.Skip == nil || !c2.Skip.Busy || !strings.Contains(c2.Skip.String(), "another vidup run") {
		t.Errorf("claim of a locked file: skip %+v", c2.Skip)
	}
}

func TestChangedSourceStartsOver(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "clip.mp4")
	writeFile(t, path, 6*partSize, 3)
	first := e.interrupt(path, 2)

	// Same size, new content and modification time.
	sum := writeFile(t, path, 6*partSize, 4)
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	res, obs := e.run(context.Background(), path, nil)
	if res.Err != nil {
		t.Fatalf("run after the change: %v", res.Err)
	}
	if res.Key == first.Key {
		t.Errorf("the changed file went to the old key %s", res.Key)
	}
	r := obs.reasons(transfer.FileRestarted)
	if len(r) != 1 || !strings.Contains(r[0], "changed") || !strings.Contains(r[0], "aborted") {
		t.Errorf("restart messages = %q, want one saying the file changed and the old upload was aborted", r)
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("the old multipart upload was not aborted: %v", open)
	}
	if e.objectSHA(res.Key) != sum {
		t.Fatal("the object is not the new content of the file")
	}
	if ents := e.entries(); len(ents) != 1 || ents[0].UploadID != res.UploadID {
		t.Errorf("journal: %+v, want only the new upload", ents)
	}
}

func TestGoneSessionStartsOver(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "clip.mp4")
	sum := writeFile(t, path, 4*partSize+7, 5)
	first := e.interrupt(path, 1)
	e.api.ForgetSession(first.SessionID)

	res, obs := e.run(context.Background(), path, nil)
	if res.Err != nil {
		t.Fatalf("run after the session was dropped: %v", res.Err)
	}
	if res.SessionID == first.SessionID {
		t.Errorf("the upload went on in the dropped session %s", res.SessionID)
	}
	r := obs.reasons(transfer.FileRestarted)
	if len(r) != 1 || !strings.Contains(r[0], "404") || !strings.Contains(r[0], first.SessionID) {
		t.Errorf("restart messages = %q, want one naming the session and the 404", r)
	}
	if e.objectSHA(res.Key) != sum {
		t.Fatal("object differs from the file")
	}
	if regs := e.api.Registrations(); len(regs) != 1 {
		t.Errorf("%d registrations, want 1", len(regs))
	}
}

func TestPermanentFailureAbortsAndForgets(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "clip.mp4")
	writeFile(t, path, 3*partSize, 6)
	e.proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind == faultproxy.KindUploadPart && ri.PartNumber == 2 {
			return faultproxy.S3Error(403, "AccessDenied", "Access Denied.")
		}
		return faultproxy.Pass()
	})
	res, _ := e.run(context.Background(), path, nil)
	if res.Err == nil {
		t.Fatal("upload with a refused part succeeded")
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("a permanently refused upload was left open: %v", open)
	}
	if ents := e.entries(); len(ents) != 0 {
		t.Errorf("a permanently refused upload stays in the journal: %+v", ents)
	}
}
