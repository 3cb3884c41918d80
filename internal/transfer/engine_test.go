package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/credentials"
	"github.com/vidup/vidup/internal/retry"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// fastRetry keeps the retry tests quick; production waits are DefaultRetry.
var fastRetry = transfer.Retry{Retries: 8, Budget: time.Minute, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}

// recorder is an Observer that checks the progress promises as it goes.
type recorder struct {
	t      testing.TB
	mu     sync.Mutex
	size   map[string]int64
	bytes  map[string]int64
	events []transfer.Event
}

func newRecorder(t testing.TB, files []*asset.Item) *recorder {
	r := &recorder{t: t, size: map[string]int64{}, bytes: map[string]int64{}}
	for _, f := range files {
		r.size[f.Path] = f.Size
	}
	return r
}

func (r *recorder) Event(e transfer.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if e.Kind == transfer.KeptOnS3 {
		// Bytes an earlier run left on S3 are not this run's progress,
		// but they make up the file with it.
		r.bytes[e.Path] += e.Bytes
	}
}

func (r *recorder) Progress(path string, delta int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bytes[path] += delta
	if b := r.bytes[path]; b < 0 || b > r.size[path] {
		r.t.Errorf("progress of %s is %d bytes, outside 0..%d", path, b, r.size[path])
	}
}

func (r *recorder) count(kind transfer.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// writeFile writes size deterministic pseudo-random bytes.
func writeFile(t testing.TB, dir, name string, size int64, seed uint64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7})
	if _, err := io.CopyN(f, rng, size); err != nil {
		t.Fatal(err)
	}
	return path
}

type env struct {
	s3  testenv.S3
	api *transfertest.API
}

func newEnv(t *testing.T) env {
	return newEnvOn(t, testenv.MinIO(t))
}

// newEnvOn is an env on s (MinIO, or the second S3 server through
// testenv.EachS3).
func newEnvOn(t *testing.T, s testenv.S3) env {
	return env{s3: s, api: transfertest.New(t, s, s.NewBucket(t))}
}

func (e env) engine(t *testing.T, obs transfer.Observer, mod func(*transfer.Options)) *transfer.Engine {
	t.Helper()
	client, err := api.New(e.api.URL, e.api.Token, api.WithRetry(retry.Policy{Retries: 3, Budget: time.Minute, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	opts := transfer.Options{API: client, Concurrency: 4, PartSize: transfer.MinPartSize, Retry: fastRetry, Observer: obs, Credentials: credentials.New}
	if mod != nil {
		mod(&opts)
	}
	eng, err := transfer.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func openAll(t testing.TB, paths ...string) []*asset.Item {
	t.Helper()
	var files []*asset.Item
	for _, p := range paths {
		f, err := transfer.Open(p, "")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// objectSHA reads an object back with root credentials.
func objectSHA(t testing.TB, s testenv.S3, bucket, key string) [32]byte {
	t.Helper()
	out, err := s.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func fileSHA(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// checkArrived asserts every result uploaded, intact, registered once, and
// that no multipart upload is left open.
func checkArrived(t *testing.T, e env, rec *recorder, files []*asset.Item, results []transfer.Result) {
	t.Helper()
	if len(results) != len(files) {
		t.Fatalf("%d results for %d files", len(results), len(files))
	}
	regs := map[string]int{}
	for _, r := range e.api.Registrations() {
		regs[r.UploadID]++
	}
	for i, r := range results {
		f := files[i]
		if r.Status != transfer.StatusUploaded || r.Err != nil {
			t.Errorf("%s: status %s, error %v", f.Path, r.Status, r.Err)
			continue
		}
		if got, want := objectSHA(t, e.s3, e.api.Bucket, r.Key), fileSHA(t, f.Path); got != want {
			t.Errorf("%s: the object's bytes differ from the file's", f.Path)
		}
		if regs[r.UploadID] != 1 {
			t.Errorf("%s: registered %d times, want once", f.Path, regs[r.UploadID])
		}
		if r.VideoID == "" || r.Checksum == nil || r.Checksum.Algorithm != "CRC32C" || r.Checksum.Type != "FULL_OBJECT" || r.ETag == "" {
			t.Errorf("%s: incomplete result %+v", f.Path, r)
		}
		if got := rec.bytes[f.Path]; got != f.Size {
			t.Errorf("%s: progress ended at %d bytes, want %d", f.Path, got, f.Size)
		}
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
}

func TestUploadSizes(t *testing.T) {
	// With and without read access for the session: verification uses
	// HeadObject when allowed, else what S3 answered when it took the object.
	testenv.EachS3(t, func(t *testing.T, s testenv.S3) { testUploadSizes(t, s) })
}

func testUploadSizes(t *testing.T, s testenv.S3) {
	for _, allowRead := range []bool{false, true} {
		t.Run(map[bool]string{false: "write-only", true: "read-write"}[allowRead], func(t *testing.T) {
			e := newEnvOn(t, s)
			e.api.Set(func(a *transfertest.API) { a.AllowRead = allowRead })
			dir := t.TempDir()
			const part = transfer.MinPartSize
			var paths []string
			for i, size := range []int64{0, 1, part, part + 1, 3*part + 12345} {
				paths = append(paths, writeFile(t, dir, "f"+string(rune('a'+i))+".bin", size, uint64(i)))
			}
			files := openAll(t, paths...)
			rec := newRecorder(t, files)
			results := e.engine(t, rec, nil).Upload(context.Background(), files)
			checkArrived(t, e, rec, files, results)
			if n := rec.count(transfer.FileRegistered); n != len(files) {
				t.Errorf("%d file_registered events, want %d", n, len(files))
			}
		})
	}
}

func TestUpload1GiB(t *testing.T) {
	if testing.Short() {
		t.Log("-short: 1 GiB upload still runs; it is the large-file check")
	}
	e := newEnv(t)
	path := writeFile(t, t.TempDir(), "big.bin", 1<<30, 42)
	files := openAll(t, path)
	rec := newRecorder(t, files)
	results := e.engine(t, rec, func(o *transfer.Options) { o.PartSize = 0 }).Upload(context.Background(), files)
	checkArrived(t, e, rec, files, results)
}

func TestFileChangedWhileUploadedIsNotRegistered(t *testing.T) {
	testenv.EachS3(t, testFileChanged)
}

func testFileChanged(t *testing.T, s testenv.S3) {
	e := newEnvOn(t, s)
	path := writeFile(t, t.TempDir(), "grow.bin", 3*transfer.MinPartSize, 1)
	files := openAll(t, path)
	// The file grows after vidup looked at it, as a recording still being
	// written does.
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write(bytes.Repeat([]byte("x"), 1000))
	fh.Close()
	rec := newRecorder(t, files)
	results := e.engine(t, rec, nil).Upload(context.Background(), files)
	if results[0].Status != transfer.StatusFailed || results[0].Err == nil {
		t.Fatalf("status %s, error %v; want failed", results[0].Status, results[0].Err)
	}
	if n := len(e.api.Registrations()); n != 0 {
		t.Errorf("%d registrations of a file that changed", n)
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
}

func TestRegistrationRetriedAfter503IsRegisteredOnce(t *testing.T) {
	e := newEnv(t)
	e.api.Set(func(a *transfertest.API) {
		a.RegisterFault = func(_ string, n int) (int, string) {
			if n <= 2 {
				return 503, "database is busy"
			}
			return 0, ""
		}
	})
	files := openAll(t, writeFile(t, t.TempDir(), "clip.mp4", 1000, 3))
	rec := newRecorder(t, files)
	results := e.engine(t, rec, nil).Upload(context.Background(), files)
	checkArrived(t, e, rec, files, results)
	if n := e.api.Attempts(results[0].UploadID); n != 3 {
		t.Errorf("%d registration attempts, want 3", n)
	}
}

func TestRegistration422FailsWithServerMessage(t *testing.T) {
	e := newEnv(t)
	e.api.Set(func(a *transfertest.API) {
		a.RegisterFault = func(string, int) (int, string) { return 422, "checksum does not match the object" }
	})
	files := openAll(t, writeFile(t, t.TempDir(), "clip.mp4", 1000, 3))
	results := e.engine(t, newRecorder(t, files), nil).Upload(context.Background(), files)
	r := results[0]
	if r.Status != transfer.StatusFailed || r.Err == nil {
		t.Fatalf("status %s, want failed", r.Status)
	}
	if !bytes.Contains([]byte(r.Err.Error()), []byte("checksum does not match the object")) {
		t.Errorf("error %q does not show the server's message", r.Err)
	}
	if n := e.api.Attempts(r.UploadID); n != 1 {
		t.Errorf("a 422 was tried %d times, want once", n)
	}
}

func contains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

// TestRegistrationCarriesMedia: what the probe read of an item goes with its
// registration, as the contract's media object, and on the registered
// event; an item without media registers without one.
func TestRegistrationCarriesMedia(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	files := openAll(t, writeFile(t, dir, "clip.mov", 1000, 3), writeFile(t, dir, "notes.mp4", 10, 4))
	files[0].Media = &asset.Media{
		Container: "mov", Complete: true, Duration: 2002 * time.Millisecond, StartTimecode: "10:00:00:00",
		Streams: []asset.MediaStream{{Type: "video", Codec: "prores", Profile: "HQ", Width: 1920, Height: 1080, FPS: 25}},
	}
	rec := newRecorder(t, files)
	results := e.engine(t, rec, nil).Upload(context.Background(), files)
	checkArrived(t, e, rec, files, results)
	byName := map[string]*contract.Media{}
	for _, r := range e.api.Registrations() {
		byName[r.Filename] = r.Media
	}
	want := &contract.Media{Container: "mov", Complete: true, DurationS: 2.002, StartTimecode: "10:00:00:00",
		Streams: []contract.MediaStream{{Type: "video", Codec: "prores", Profile: "HQ", Width: 1920, Height: 1080, FPS: 25}}}
	if got := byName["clip.mov"]; !reflect.DeepEqual(got, want) {
		t.Errorf("registered media %+v, want %+v", got, want)
	}
	if got, ok := byName["notes.mp4"]; !ok || got != nil {
		t.Errorf("an item without media registered media %+v (registered: %v)", got, ok)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, ev := range rec.events {
		if ev.Kind == transfer.FileRegistered && ev.Name == "clip.mov" && !reflect.DeepEqual(ev.Media, want) {
			t.Errorf("registered event media %+v", ev.Media)
		}
	}
}
