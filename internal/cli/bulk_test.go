//go:build linux

// The bulk tests run on Linux, where CI runs them: they read peak RSS in
// wait4's Linux units and pipe through cat.

package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// apiCounter sits in front of the contract server and counts the requests
// each kind of call makes, so tests can say "no API call" and "one session
// per 100 files" from what the server saw.
type apiCounter struct {
	URL                                     string
	total, sessions, refreshes, registering atomic.Int64
	// batches: batch registrations (contract v1.1 3c); lateBatches: those
	// that began after one had been answered 404 (a v1 server), which a
	// run must remember.
	batches, lateBatches atomic.Int64
	batchRefused         atomic.Bool
}

func countAPI(t *testing.T, a *transfertest.API) *apiCounter {
	t.Helper()
	target, err := url.Parse(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &apiCounter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httpTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.total.Add(1)
		switch {
		case r.Method == http.MethodPost && r.URL.Path == contract.PathUploads:
			c.sessions.Add(1)
		case r.Method == http.MethodPost && r.URL.Path == contract.PathVideos:
			c.registering.Add(1)
		case strings.HasSuffix(r.URL.Path, "/credentials"):
			c.refreshes.Add(1)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/videos"):
			c.batches.Add(1)
			if c.batchRefused.Load() {
				c.lateBatches.Add(1)
			}
			sw := &statusWriter{ResponseWriter: w}
			proxy.ServeHTTP(sw, r)
			if sw.status == http.StatusNotFound {
				c.batchRefused.Store(true)
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	c.URL = srv
	return c
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// bulkEnv is a contract server over MinIO, counted, and a state folder,
// for runs of the real binary.
type bulkEnv struct {
	s3    testenv.S3
	api   *transfertest.API
	count *apiCounter
	state string
	bin   string
}

func newBulkEnv(t *testing.T) *bulkEnv {
	s := testenv.MinIO(t)
	a := transfertest.New(t, s, s.NewBucket(t))
	return &bulkEnv{s3: s, api: a, count: countAPI(t, a), state: filepath.Join(t.TempDir(), "state"), bin: testenv.Vidup(t)}
}

func (b *bulkEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.bin, append([]string{"upload"}, args...)...)
	cmd.Env = append(os.Environ(), "VIDUP_API_URL="+b.count.URL, "VIDUP_API_TOKEN="+b.api.Token,
		"VIDUP_STATE_DIR="+b.state, "VIDUP_CONFIG=")
	return cmd
}

// run runs vidup upload to its end and returns its exit code and output.
func (b *bulkEnv) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.command(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run vidup: %v", err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

func parseDoc(t *testing.T, stdout string) uploadDocument {
	t.Helper()
	var doc uploadDocument
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not the JSON document: %v\n%.2000s", err, stdout)
	}
	return doc
}

// registeredPerName counts the videos the contract server created, by the
// file name the uploader sent.
func (b *bulkEnv) registeredPerName() map[string]int {
	n := map[string]int{}
	for _, r := range b.api.Registrations() {
		n[r.Filename]++
	}
	return n
}

func writeRandom(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 42})
	if _, err := io.CopyN(f, rng, size); err != nil {
		t.Fatal(err)
	}
}

func sha256File(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return [32]byte(h.Sum(nil))
}

func (b *bulkEnv) objectSHA(t testing.TB, key string) [32]byte {
	t.Helper()
	out, err := b.s3.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(b.api.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	io.Copy(h, out.Body)
	return [32]byte(h.Sum(nil))
}

// smallTree writes n small files under dir in a few folders, with names of
// spaces, unicode and bytes that are not UTF-8, each name unique, and
// returns their paths.
func smallTree(t testing.TB, dir string, n int) []string {
	t.Helper()
	names := []string{"clip %d.mp4", "vidéo-%d-東京.mov", "raw\xff\xfe-%d.ts", "plain-%d.mxf"}
	var paths []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("cam %d", i%7), fmt.Sprintf(names[i%len(names)], i))
		writeRandom(t, p, int64(100+i*37%4000), uint64(i))
		paths = append(paths, p)
	}
	return paths
}

// The bulk case: 1,000 small files and a few large ones, names of
// every kind (newlines through --files-from -0), all arrive intact and are
// registered once, with at most one session per 100 files. A second run
// asks the API nothing; --force uploads again.
func TestBulkTreeArrivesOnceInFewSessions(t *testing.T) {
	b := newBulkEnv(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	paths := smallTree(t, tree, 1000)
	for i := range 3 {
		p := filepath.Join(tree, "big", fmt.Sprintf("big %d.mxf", i))
		writeRandom(t, p, 40<<20, uint64(5000+i))
		paths = append(paths, p)
	}
	// Names with newlines can only be listed NUL-separated.
	var list bytes.Buffer
	for i := range 5 {
		p := filepath.Join(dir, "odd", fmt.Sprintf("line\nbreak %d.mp4", i))
		writeRandom(t, p, 2048, uint64(9000+i))
		paths = append(paths, p)
		list.WriteString(p + "\x00")
	}
	listFile := filepath.Join(dir, "list")
	os.WriteFile(listFile, list.Bytes(), 0o644)

	code, stdout, stderr := b.run(t, "-r", tree, "--files-from", listFile, "-0", "--part-size", "5MiB", "--concurrency", "8", "-o", "json", "-q")
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr:\n%.3000s", code, stderr)
	}
	doc := parseDoc(t, stdout)
	if doc.Summary.Uploaded != len(paths) || doc.Summary.Failed != 0 || doc.Summary.Files != len(paths) {
		t.Fatalf("summary %+v, want %d uploaded", doc.Summary, len(paths))
	}
	keyOf := map[string]string{}
	for _, f := range doc.Files {
		keyOf[f.Path] = f.Key
		if f.PathB64 != "" {
			raw, _ := base64Decode(f.PathB64)
			keyOf[raw] = f.Key
		}
	}
	for _, p := range paths {
		key, ok := keyOf[p]
		if !ok {
			t.Fatalf("%q is not in the JSON document", p)
		}
		if b.objectSHA(t, key) != sha256File(t, p) {
			t.Errorf("%q arrived damaged at %s", p, key)
		}
	}
	perName := b.registeredPerName()
	if len(b.api.Registrations()) != len(paths) {
		t.Errorf("%d registrations, want %d", len(b.api.Registrations()), len(paths))
	}
	for _, p := range paths {
		if n := perName[wireName(filepath.Base(p))]; n != 1 {
			t.Errorf("%q registered %d times", p, n)
		}
	}
	maxSessions := int64((len(paths) + 99) / 100)
	if got := b.count.sessions.Load(); got > maxSessions || got == 0 {
		t.Errorf("%d sessions opened for %d files, want 1 to %d", got, len(paths), maxSessions)
	}
	if open := b.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}

	// Again: everything is skipped and the API hears nothing.
	before := b.count.total.Load()
	code, stdout, stderr = b.run(t, "-r", tree, "--files-from", listFile, "-0", "-o", "json", "-q")
	if code != ExitOK {
		t.Fatalf("second run: exit code %d; stderr:\n%.3000s", code, stderr)
	}
	doc = parseDoc(t, stdout)
	if doc.Summary.Skipped != len(paths) || doc.Summary.Uploaded != 0 {
		t.Errorf("second run summary %+v, want all %d skipped", doc.Summary, len(paths))
	}
	if !strings.Contains(doc.Files[0].Reason, "already uploaded and registered") {
		t.Errorf("skip reason %q does not say why", doc.Files[0].Reason)
	}
	if n := b.count.total.Load() - before; n != 0 {
		t.Errorf("the second run made %d API requests, want none", n)
	}

	// --force uploads again (one folder of it, to keep the test short).
	regs := len(b.api.Registrations())
	code, stdout, stderr = b.run(t, "--force", "-r", filepath.Join(tree, "big"), "-o", "json", "-q", "--part-size", "5MiB")
	if code != ExitOK {
		t.Fatalf("--force run: exit code %d; stderr:\n%.3000s", code, stderr)
	}
	if doc := parseDoc(t, stdout); doc.Summary.Uploaded != 3 {
		t.Errorf("--force summary %+v, want 3 uploaded", doc.Summary)
	}
	if n := len(b.api.Registrations()) - regs; n != 3 {
		t.Errorf("--force registered %d videos, want 3", n)
	}
}

// ndjsonLines reads vidup's stdout event by event, handing each to seen
// until it returns true, then drains the rest in the background.
func readEvents(t *testing.T, r io.Reader, seen func(ev map[string]any) bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Errorf("stdout line is not JSON: %q", sc.Text())
			continue
		}
		if seen(ev) {
			break
		}
	}
	go io.Copy(io.Discard, r)
}

// A bulk run killed (SIGKILL) midway, run again, finishes only what was
// left: every file ends registered exactly once, and the second run does
// not upload again what the first finished.
func TestBulkKilledMidwayFinishesTheRest(t *testing.T) {
	b := newBulkEnv(t)
	dir := filepath.Join(t.TempDir(), "ingest")
	const n = 120
	for i := range n {
		writeRandom(t, filepath.Join(dir, fmt.Sprintf("f%03d.mp4", i)), 200<<10, uint64(i))
	}
	writeRandom(t, filepath.Join(dir, "zz-big.mov"), 30<<20, 77)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Slowed down so that it is surely midway when killed.
	cmd := b.command(ctx, "-r", dir, "--bwlimit", "4MiB/s", "--concurrency", "2", "--part-size", "5MiB", "-o", "ndjson", "-q")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	registered := 0
	readEvents(t, stdout, func(ev map[string]any) bool {
		if ev["type"] == "file_registered" {
			registered++
		}
		return registered >= 20
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	first := len(b.api.Registrations())
	if first < 20 || first >= n+1 {
		t.Fatalf("the first run registered %d files before it was killed; want it midway (stderr %q)", first, errOut.String())
	}

	code, out, stderr := b.run(t, "-r", dir, "--part-size", "5MiB", "-o", "json", "-q")
	if code != ExitOK {
		t.Fatalf("second run: exit code %d; stderr:\n%.3000s", code, stderr)
	}
	doc := parseDoc(t, out)
	// A file whose registration the API had answered but whose journal
	// record the kill cut off is registered again by the second run as a
	// replay of the same upload (the API keeps one video; checked below):
	// at most the files in flight can be in that window (small files get
	// twice --concurrency, and at least 8 workers run). Every other registered file
	// is skipped without a word to the API.
	if doc.Summary.Skipped < first-16 || doc.Summary.Skipped+doc.Summary.Uploaded != n+1 {
		t.Errorf("second run summary %+v: want the %d registered files skipped (but for at most 16 replays) and the rest uploaded", doc.Summary, first)
	}
	for name, k := range b.registeredPerName() {
		if k != 1 {
			t.Errorf("%s registered %d times", name, k)
		}
	}
	if got := len(b.api.Registrations()); got != n+1 {
		t.Errorf("%d files registered in all, want %d", got, n+1)
	}
	if open := b.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
}

// Two runs over the same folder at once (cron firing while the last run is
// still going): each file is uploaded by exactly one of them, and both end
// with 0.
func TestBulkTwoRunsAtOnceUploadEachFileOnce(t *testing.T) {
	b := newBulkEnv(t)
	dir := filepath.Join(t.TempDir(), "ingest")
	const n = 300
	for i := range n {
		writeRandom(t, filepath.Join(dir, fmt.Sprintf("f%03d.mp4", i)), 64<<10, uint64(i))
	}
	var wg sync.WaitGroup
	type outcome struct {
		code           int
		stdout, stderr string
	}
	outs := make([]outcome, 2)
	for i := range outs {
		wg.Go(func() {
			c, o, e := b.run(t, "-r", dir, "-o", "json", "-q")
			outs[i] = outcome{c, o, e}
		})
	}
	wg.Wait()
	uploaded := 0
	for i, o := range outs {
		if o.code != ExitOK {
			t.Fatalf("run %d: exit code %d; stderr:\n%.3000s", i, o.code, o.stderr)
		}
		doc := parseDoc(t, o.stdout)
		if doc.Summary.Uploaded+doc.Summary.Skipped != n || doc.Summary.Failed != 0 {
			t.Errorf("run %d: summary %+v", i, doc.Summary)
		}
		uploaded += doc.Summary.Uploaded
	}
	if uploaded != n {
		t.Errorf("the two runs uploaded %d files between them, want %d", uploaded, n)
	}
	per := b.registeredPerName()
	if len(per) != n {
		t.Errorf("%d files registered, want %d", len(per), n)
	}
	for name, k := range per {
		if k != 1 {
			t.Errorf("%s registered %d times", name, k)
		}
	}
}

// --bwlimit holds the whole command's rate: a 30-second upload at 8 MiB/s
// goes no faster than 10 % above it. That bound holds by construction (the
// token bucket lets through at most a tenth of a second of burst), however
// fast or slow the machine. There is no lower bound: how fast an upload
// goes on a shared machine is the bench's to measure (make bench), and that
// the limiter does not wait longer than the rate asks is tested against a
// fake clock in internal/ratelimit.
func TestBulkBandwidthLimit(t *testing.T) {
	b := newBulkEnv(t)
	dir := t.TempDir()
	const limit = 8 << 20
	// Two files, so that the limit is seen to hold over parallel uploads.
	for i := range 2 {
		writeRandom(t, filepath.Join(dir, fmt.Sprintf("part%d.mxf", i)), 15*limit, uint64(i))
	}
	start := time.Now()
	code, stdout, stderr := b.run(t, "-r", dir, "--bwlimit", "8MiB/s", "--concurrency", "6", "--part-size", "8MiB", "-o", "json", "-q")
	wall := time.Since(start)
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr:\n%.3000s", code, stderr)
	}
	doc := parseDoc(t, stdout)
	rate := float64(doc.Summary.Bytes) / doc.Summary.DurationSeconds
	t.Logf("%d bytes in %.2fs (wall %.2fs): %.2f MiB/s", doc.Summary.Bytes, doc.Summary.DurationSeconds, wall.Seconds(), rate/(1<<20))
	if doc.Summary.Bytes != 30*limit {
		t.Fatalf("summary %+v, want %d bytes", doc.Summary, 30*limit)
	}
	if rate > 1.1*limit {
		t.Errorf("rate %.2f MiB/s is above the limit of 8 MiB/s by more than 10 %%", rate/(1<<20))
	}
}

// 300 MiB piped through cat arrives intact, and vidup's memory stays far
// below the stream's size: a fixed pool of part buffers.
func TestBulkStdinStreamBoundedMemory(t *testing.T) {
	b := newBulkEnv(t)
	src := filepath.Join(t.TempDir(), "stream.ts")
	writeRandom(t, src, 300<<20, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cat := exec.CommandContext(ctx, "cat", src)
	pipe, err := cat.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := b.command(ctx, "-", "--name", "live.ts", "--part-size", "5MiB", "--concurrency", "4", "-o", "json", "-q")
	cmd.Stdin = pipe
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child's own high-water mark, read from /proc while it runs: its
	// rusage would count the memory of this test process, which it shares
	// between fork and exec (and which other tests of the package grow).
	peak := make(chan int64)
	go func() { peak <- watchHWM(cmd.Process.Pid) }()
	runErr := cmd.Wait()
	cat.Wait()
	if runErr != nil {
		t.Fatalf("vidup: %v; stderr:\n%s", runErr, errOut.String())
	}
	rss := <-peak
	t.Logf("peak RSS %d MiB for a 300 MiB stream", rss>>20)
	if rss >= 120<<20 {
		t.Errorf("peak RSS %d MiB, want under 120 MiB (5 MiB parts, concurrency 4)", rss>>20)
	}
	doc := parseDoc(t, out.String())
	if len(doc.Files) != 1 || doc.Files[0].Status != "uploaded" || doc.Files[0].Size != 300<<20 {
		t.Fatalf("document %+v", doc)
	}
	if b.objectSHA(t, doc.Files[0].Key) != sha256File(t, src) {
		t.Error("the object differs from the stream")
	}
	regs := b.api.Registrations()
	if len(regs) != 1 || regs[0].Size != 300<<20 || regs[0].Filename != "live.ts" {
		t.Errorf("registrations %+v, want one of live.ts with the real size", regs)
	}
}

// wireName is a name as it reaches the API: JSON carries only UTF-8, so
// bytes that are not become U+FFFD.
func wireName(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

func httpTestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func base64Decode(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}

// ndjsonEvents parses stdout of --output ndjson: every line one event.
func ndjsonEvents(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stdout line %q is not a JSON event: %v", line, err)
		}
		if _, ok := ev["type"].(string); !ok {
			t.Fatalf("event %q has no type", line)
		}
		evs = append(evs, ev)
	}
	return evs
}

// The watch-folder case: files still being written (within --min-age) are
// left for the next run; the others are moved into --move-to with their
// layout, never over an existing file, and only once registered.
func TestUploadWatchFolderMinAgeMoveTo(t *testing.T) {
	e := newCLIEnv(t)
	in := filepath.Join(e.dir, "incoming")
	done := filepath.Join(e.dir, "done")
	old := time.Now().Add(-time.Hour)
	for _, rel := range []string{"a.mp4", "cam 2/b.mov", "cam 2/deep/c.ts"} {
		p := filepath.Join(in, rel)
		writeRandom(t, p, 1000, 1)
		os.Chtimes(p, old, old)
	}
	fresh := filepath.Join(in, "growing.mp4")
	writeRandom(t, fresh, 1000, 2)
	// Something already sits where a.mp4 would go: it must survive.
	os.MkdirAll(done, 0o755)
	os.WriteFile(filepath.Join(done, "a.mp4"), []byte("keep me"), 0o644)

	code, stdout, stderr := runUploadCmd(t, e.env, nil, "upload", "-r", in, "--min-age", "5m", "--move-to", done, "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr %q", code, stderr)
	}
	doc := parseDoc(t, stdout)
	if doc.Summary.Uploaded != 3 || doc.Summary.Skipped != 1 {
		t.Errorf("summary %+v, want 3 uploaded and 1 skipped", doc.Summary)
	}
	for _, f := range doc.Files {
		if f.Path == fresh && (f.Status != "skipped" || !strings.Contains(f.Reason, "--min-age")) {
			t.Errorf("the fresh file: %+v, want skipped for --min-age", f)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("the fresh file was touched: %v", err)
	}
	for rel, want := range map[string]string{"a.1.mp4": "", "cam 2/b.mov": "", "cam 2/deep/c.ts": ""} {
		if _, err := os.Stat(filepath.Join(done, rel)); err != nil {
			t.Errorf("%s not moved into --move-to: %v %s", rel, err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(done, "a.mp4")); string(b) != "keep me" {
		t.Errorf("the file already in --move-to was overwritten: %q", b)
	}
	for _, rel := range []string{"a.mp4", "cam 2/b.mov"} {
		if _, err := os.Stat(filepath.Join(in, rel)); err == nil {
			t.Errorf("%s is still in the watch folder", rel)
		}
	}
	if n := len(e.api.Registrations()); n != 3 {
		t.Errorf("%d registrations, want 3", n)
	}
}

// A file that cannot be moved fails its move with a clear message; the
// upload stands and the run exits 1.
func TestUploadMoveToFailureIsReported(t *testing.T) {
	e := newCLIEnv(t)
	in := filepath.Join(e.dir, "in")
	file := filepath.Join(in, "cam", "a.mp4")
	writeRandom(t, file, 100, 1)
	done := filepath.Join(e.dir, "done")
	os.MkdirAll(done, 0o755)
	// A file where the folder "cam" would go: the move cannot keep the layout.
	os.WriteFile(filepath.Join(done, "cam"), nil, 0o644)
	code, _, stderr := runUploadCmd(t, e.env, nil, "upload", "-r", in, "--move-to", done)
	if code != ExitFailed {
		t.Errorf("exit code %d, want %d; stderr %q", code, ExitFailed, stderr)
	}
	if !strings.Contains(stderr, "registered as video") || !strings.Contains(stderr, "not moved") || !strings.Contains(stderr, "not a directory") {
		t.Errorf("stderr %q does not say the upload stands and why the move failed", stderr)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the file is gone: %v", err)
	}
	if n := len(e.api.Registrations()); n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}
}

func TestUploadDeleteAfter(t *testing.T) {
	e := newCLIEnv(t)
	a := writeTemp(t, e.dir, "a.mp4", 100)
	code, _, stderr := runUploadCmd(t, e.env, nil, "upload", a, "--delete-after")
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr %q", code, stderr)
	}
	if _, err := os.Stat(a); err == nil {
		t.Error("the file is still there after --delete-after")
	}
	// Never before registration: a refused registration keeps the file.
	e.api.Set(func(a *transfertest.API) {
		a.RegisterFault = func(string, int) (int, string) { return 422, "checksum differs" }
	})
	b := writeTemp(t, e.dir, "b.mp4", 100)
	code, _, _ = runUploadCmd(t, e.env, nil, "upload", b, "--delete-after")
	if code != ExitFailed {
		t.Fatalf("exit code %d, want %d", code, ExitFailed)
	}
	if _, err := os.Stat(b); err != nil {
		t.Errorf("a file that was not registered was deleted: %v", err)
	}
}

// Usage errors of upload, --dry-run and --output ndjson are the scripts'
// (testdata/script/upload_*.txtar, dryrun_*.txtar, upload_ndjson.txtar).

// A file that changes while it uploads fails alone, says so, and is not
// registered; the other file of the run is done.
func TestUploadFileChangingWhileUploading(t *testing.T) {
	e := newCLIEnv(t)
	growing := writeTemp(t, e.dir, "growing.mp4", 12<<20)
	steady := writeTemp(t, e.dir, "steady.mp4", 1000)
	go func() {
		// The upload takes at least 3 s at 4 MiB/s.
		time.Sleep(500 * time.Millisecond)
		f, err := os.OpenFile(growing, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			f.Write([]byte("more frames"))
			f.Close()
		}
	}()
	code, _, stderr := runUploadCmd(t, e.env, nil, "upload", "--bwlimit", "4MiB/s", "--part-size", "5MiB", growing, steady)
	if code != ExitFailed {
		t.Fatalf("exit code %d, want %d; stderr %q", code, ExitFailed, stderr)
	}
	if !strings.Contains(stderr, growing) || !strings.Contains(stderr, "changed while it was uploaded") {
		t.Errorf("stderr %q does not say the file changed", stderr)
	}
	regs := e.api.Registrations()
	if len(regs) != 1 || regs[0].Filename != "steady.mp4" {
		t.Errorf("registrations %+v, want steady.mp4 only", regs)
	}
}

// Many files under one budget: small files do not wait until a large one
// ends. They share the part slots with it (first come, first served), so
// each may wait for one of its parts; none waits for all of them.
func TestUploadSmallFilesDoNotWaitBehindALargeOne(t *testing.T) {
	e := newCLIEnv(t)
	args := []string{"upload", "-o", "ndjson", "--concurrency", "4", "--part-size", "5MiB", "--bwlimit", "8MiB/s",
		writeTemp(t, e.dir, "big.mxf", 40<<20)}
	const small = 8
	for i := range small {
		args = append(args, writeTemp(t, e.dir, fmt.Sprintf("small%02d.mp4", i), 2000))
	}
	code, stdout, stderr := runUploadCmd(t, e.env, nil, args...)
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr %q", code, stderr)
	}
	bigDone, before := false, 0
	for _, ev := range ndjsonEvents(t, stdout) {
		if ev["type"] != "file_registered" {
			continue
		}
		if ev["name"] == "big.mxf" {
			bigDone = true
		} else if !bigDone {
			before++
		}
	}
	if !bigDone || before != small {
		t.Errorf("%d of %d small files were registered before the large one ended; the others waited behind it", before, small)
	}
}

// watchHWM polls the VmHWM (peak resident set) of process pid until it is
// gone and returns the last value read, in bytes. The last poll is at most
// 10 ms before the process exits; its memory in those 10 ms is what it
// frees as it ends.
func watchHWM(pid int) int64 {
	var hwm int64
	for {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return hwm
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kib int64
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err == nil && kib<<10 > hwm {
					hwm = kib << 10
				}
			}
		}
		if strings.Contains(string(raw), "State:\tZ") {
			return hwm
		}
		time.Sleep(10 * time.Millisecond)
	}
}
