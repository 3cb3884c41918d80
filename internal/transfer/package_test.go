package transfer_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/manifest"
	"github.com/vidup/vidup/internal/sources"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// hlsFolder writes an HLS ladder of renditions × segments (one segment of
// the last rendition larger than a part, so it goes multipart) and a file
// no playlist references.
func hlsFolder(t *testing.T, renditions, segments int) string {
	t.Helper()
	dir := t.TempDir()
	var master strings.Builder
	master.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n")
	for r := range renditions {
		fmt.Fprintf(&master, "#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d\nv%d/index.m3u8\n", (r+1)*800000, 320*(r+1), 180*(r+1), r)
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("v%d", r)), 0o755); err != nil {
			t.Fatal(err)
		}
		var pl strings.Builder
		pl.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n")
		for s := range segments {
			size := int64(64 << 10)
			if r == renditions-1 && s == segments-1 {
				size = transfer.MinPartSize + 1<<20
			}
			writeFile(t, dir, fmt.Sprintf("v%d/seg%03d.ts", r, s), size, uint64(r*100+s))
			fmt.Fprintf(&pl, "#EXTINF:2.000,\nseg%03d.ts\n", s)
		}
		pl.WriteString("#EXT-X-ENDLIST\n")
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("v%d/index.m3u8", r)), []byte(pl.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "master.m3u8"), []byte(master.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "notes.txt", 100, 9)
	return dir
}

func readPackage(t *testing.T, dir string) *asset.Item {
	t.Helper()
	pkg, _, err := sources.Package(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// completions records, at a proxy in front of S3, the order in which S3
// answered the requests that complete an object (PutObject,
// CompleteMultipartUpload), by key.
type completions struct {
	mu   sync.Mutex
	keys []string
	// after, when set, runs after each completion with their count.
	after func(n int)
}

func (c *completions) rule(bucket string) func(*faultproxy.RequestInfo) faultproxy.Action {
	return func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind != faultproxy.KindPutObject && ri.Kind != faultproxy.KindCompleteMultipartUpload {
			return faultproxy.Pass()
		}
		key := strings.TrimPrefix(ri.Path, "/"+bucket+"/")
		return faultproxy.Modify(func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return nil
			}
			c.mu.Lock()
			c.keys = append(c.keys, key)
			n, after := len(c.keys), c.after
			c.mu.Unlock()
			if after != nil {
				after(n)
			}
			return nil
		})
	}
}

func (c *completions) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.keys)
}

func throughProxy(t *testing.T, e env) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(e.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	e.api.Endpoint = p.URL()
	return p
}

// memJournal is a PackageJournal in memory, shared by the runs of a test.
type memJournal struct {
	mu         sync.Mutex
	prior      *transfer.PackagePrior
	begins     int
	registered string
}

func (j *memJournal) Earlier(*asset.Item) (*transfer.PackagePrior, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.prior == nil {
		return nil, nil
	}
	p := *j.prior
	p.Done = maps.Clone(j.prior.Done)
	return &p, nil
}

func (j *memJournal) Begin(_ *asset.Item, ref asset.Upload, fp string) (transfer.PackageRecorder, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.begins++
	j.prior = &transfer.PackagePrior{Ref: ref, Fingerprint: fp, Done: map[string]transfer.PackageDone{}}
	return j, nil
}

func (j *memJournal) Continue(*asset.Item) (transfer.PackageRecorder, error) { return j, nil }

func (j *memJournal) Registered(_ *asset.Item, id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.registered, j.prior = id, nil
	return nil
}

func (j *memJournal) Forget(*asset.Item) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.prior = nil
	return nil
}

func (j *memJournal) Add(d transfer.PackageDone) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.prior.Done[d.Path] = d
}

func (j *memJournal) Flush() error { return nil }
func (j *memJournal) Close() error { return nil }

func (j *memJournal) done() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.prior == nil {
		return 0
	}
	return len(j.prior.Done)
}

// checkPackage asserts the package arrived whole: one result, every object
// on S3 with the file's bytes, its content type and Cache-Control, one
// registration listing every object with its checksum, and the media
// completed before the media playlists, and those before the entry point
// (in the order S3 answered, and in S3's LastModified).
func checkPackage(t *testing.T, e env, pkg *asset.Item, r transfer.Result, order []string) {
	t.Helper()
	if r.Status != transfer.StatusUploaded || r.Err != nil || r.VideoID == "" {
		t.Fatalf("result: status %s, video %q, error %v", r.Status, r.VideoID, r.Err)
	}
	if r.Objects != len(pkg.Objects) || r.Kind != "hls" || r.Entry != r.Key+"master.m3u8" {
		t.Errorf("result: kind %q, %d objects, entry %q; want hls, %d, %s", r.Kind, r.Objects, r.Entry, len(pkg.Objects), r.Key+"master.m3u8")
	}
	regs := e.api.PackageRegistrations()
	if len(regs) != 1 {
		t.Fatalf("%d package registrations, want 1", len(regs))
	}
	reg := regs[0].Package
	if reg.UploadID != r.UploadID || reg.Kind != "hls" || len(reg.Objects) != len(pkg.Objects) {
		t.Errorf("registration: upload %s kind %s with %d objects; want %s, hls, %d", reg.UploadID, reg.Kind, len(reg.Objects), r.UploadID, len(pkg.Objects))
	}
	for _, o := range reg.Objects {
		if o.Checksum == nil || o.Checksum.Algorithm != "CRC32C" || o.ETag == "" {
			t.Errorf("registration of %s: checksum %+v, etag %q", o.Path, o.Checksum, o.ETag)
		}
	}
	ctx := context.Background()
	phaseOf := map[string]int{}
	for _, o := range pkg.Objects {
		key := r.Key + o.Rel
		phaseOf[key] = o.Phase
		if got, want := objectSHA(t, e.s3, e.api.Bucket, key), fileSHA(t, o.Path); got != want {
			t.Errorf("%s: the object's bytes differ from the file's", o.Rel)
		}
		head, err := e.s3.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.api.Bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("head %s: %v", key, err)
		}
		if aws.ToString(head.ContentType) != o.ContentType || aws.ToString(head.CacheControl) != o.CacheControl || o.CacheControl == "" {
			t.Errorf("%s (%s): Content-Type %q, Cache-Control %q; want %q, %q", o.Rel, o.Role,
				aws.ToString(head.ContentType), aws.ToString(head.CacheControl), o.ContentType, o.CacheControl)
		}
	}
	// The order S3 answered in: no object of a phase before one of an
	// earlier phase.
	last := 0
	for _, k := range order {
		p, ok := phaseOf[k]
		if !ok {
			continue
		}
		if p < last {
			t.Errorf("%s (phase %d) completed after an object of phase %d", k, p, last)
		}
		last = max(last, p)
	}
	if len(order) == 0 || order[len(order)-1] != r.Key+"master.m3u8" {
		t.Errorf("the master playlist did not complete last: %v", order)
	}
	// What S3 says: LastModified of every phase no earlier than the
	// latest of the one before.
	out, err := e.s3.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(e.api.Bucket), Prefix: aws.String(r.Key)})
	if err != nil {
		t.Fatal(err)
	}
	latest := map[int]time.Time{}
	earliest := map[int]time.Time{}
	for _, o := range out.Contents {
		p, m := phaseOf[aws.ToString(o.Key)], aws.ToTime(o.LastModified)
		if m.After(latest[p]) {
			latest[p] = m
		}
		if earliest[p].IsZero() || m.Before(earliest[p]) {
			earliest[p] = m
		}
	}
	for p := 2; p <= 3; p++ {
		if earliest[p].Before(latest[p-1]) {
			t.Errorf("S3 shows an object of phase %d modified at %s, before one of phase %d at %s", p, earliest[p], p-1, latest[p-1])
		}
	}
}

func TestPackageUploadsMediaThenPlaylistsThenEntryAndRegistersOnce(t *testing.T) {
	e := newEnv(t)
	var c completions
	throughProxy(t, e).SetRule(c.rule(e.api.Bucket))
	pkg := readPackage(t, hlsFolder(t, 3, 6))
	rec := newRecorder(t, []*asset.Item{pkg})
	results := e.engine(t, rec, nil).Upload(context.Background(), []*asset.Item{pkg})
	checkPackage(t, e, pkg, results[0], c.list())
	if got := rec.bytes[pkg.Path]; got != pkg.Size {
		t.Errorf("progress ended at %d bytes, want the package's %d", got, pkg.Size)
	}
	if n := e.api.Sessions(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
	if n := rec.count(transfer.FileRegistered); n != 1 {
		t.Errorf("%d file_registered events, want 1 for the package", n)
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
}

func TestPackageResumesUnderTheSameSessionAndRegistersOnce(t *testing.T) {
	e := newEnv(t)
	var c completions
	proxy := throughProxy(t, e)
	proxy.SetRule(c.rule(e.api.Bucket))
	pkg := readPackage(t, hlsFolder(t, 3, 6))
	j := &memJournal{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.after = func(n int) {
		if n == 7 {
			cancel()
		}
	}
	first := e.engine(t, newRecorder(t, []*asset.Item{pkg}), func(o *transfer.Options) { o.Packages = j; o.StopGrace = time.Millisecond }).
		Upload(ctx, []*asset.Item{pkg})[0]
	if first.Status != transfer.StatusInterrupted || !errors.Is(first.Err, transfer.ErrStopped) {
		t.Fatalf("first run: status %s, error %v; want interrupted, stopped", first.Status, first.Err)
	}
	kept := j.done()
	// Of the 7 completions, those whose answer reached vidup before it
	// stopped (a millisecond of grace) are kept.
	if kept < 1 || kept >= len(pkg.Objects) {
		t.Fatalf("the journal kept %d objects after 7 completions, of %d", kept, len(pkg.Objects))
	}
	if n := len(e.api.PackageRegistrations()); n != 0 {
		t.Fatalf("the stopped run registered %d packages", n)
	}
	j.mu.Lock()
	var recorded []string
	for rel := range j.prior.Done {
		recorded = append(recorded, first.Key+rel)
	}
	j.mu.Unlock()

	c.mu.Lock()
	c.keys, c.after = nil, nil
	c.mu.Unlock()
	rec := newRecorder(t, []*asset.Item{pkg})
	second := e.engine(t, rec, func(o *transfer.Options) { o.Packages = j }).Upload(context.Background(), []*asset.Item{pkg})[0]
	checkPackage(t, e, pkg, second, c.list())
	if second.SessionID != first.SessionID || second.UploadID != first.UploadID {
		t.Errorf("resumed in session %s upload %s; want the first run's %s %s", second.SessionID, second.UploadID, first.SessionID, first.UploadID)
	}
	if n := e.api.Sessions(); n != 1 || j.begins != 1 {
		t.Errorf("%d sessions, %d journal records begun; want 1 and 1", n, j.begins)
	}
	if e.api.Refreshes() < 1 {
		t.Errorf("the resumed run did not refresh the session's credentials")
	}
	resent := 0
	again := map[string]bool{}
	for _, k := range c.list() {
		again[k] = true
	}
	for _, k := range recorded {
		if again[k] {
			resent++
		}
	}
	if resent > 0 {
		t.Errorf("%d objects the journal holds as completed were sent again", resent)
	}
	// Every object the journal did not hold completed in the second run.
	// (The count of completions can be one or two more: a request of the
	// stopped run that S3 answered after it gave up, seen by the proxy.)
	held := map[string]bool{}
	for _, k := range recorded {
		held[k] = true
	}
	for _, o := range pkg.Objects {
		if k := second.Key + o.Rel; !held[k] && !again[k] {
			t.Errorf("%s: not in the journal, and not sent by the second run", o.Rel)
		}
	}
	if got := rec.bytes[pkg.Path]; got != pkg.Size {
		t.Errorf("progress ended at %d bytes, want %d", got, pkg.Size)
	}
	if j.registered != second.VideoID {
		t.Errorf("journal recorded video %q, want %q", j.registered, second.VideoID)
	}
}

func TestPackageAgainstAV1ServerSaysPackagesAreNotAccepted(t *testing.T) {
	e := newEnv(t)
	proxy := throughProxy(t, e)
	e.api.Set(func(a *transfertest.API) { a.V1 = true })
	pkg := readPackage(t, hlsFolder(t, 1, 2))
	r := e.engine(t, nil, nil).Upload(context.Background(), []*asset.Item{pkg})[0]
	if r.Status != transfer.StatusFailed || !errors.Is(r.Err, transfer.ErrPackagesRefused) {
		t.Fatalf("status %s, error %v; want failed with ErrPackagesRefused", r.Status, r.Err)
	}
	if n := len(proxy.Stats().Targets); n != 0 {
		t.Errorf("%d S3 targets were asked before the API opened a session", n)
	}
}

func TestPackageRefusedWhenASegmentIsMissing(t *testing.T) {
	dir := hlsFolder(t, 2, 3)
	if err := os.Remove(filepath.Join(dir, "v1", "seg001.ts")); err != nil {
		t.Fatal(err)
	}
	_, _, err := sources.Package(dir, false)
	var refused *manifest.RefusedError
	if !errors.As(err, &refused) || len(refused.Missing) != 1 || refused.Missing[0].Path != "v1/seg001.ts" {
		t.Fatalf("error %v; want a refusal naming v1/seg001.ts", err)
	}
}
