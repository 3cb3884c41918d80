package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
	"github.com/vidup/vidup/internal/server/jobs"
	"github.com/vidup/vidup/internal/testenv"
)

// hlsPackage is an HLS ladder of n segments in two renditions: a master
// playlist, two media playlists, the segments. Each file's bytes are its
// path, repeated to size.
func hlsPackage(n, size int) (contract.PackageRequest, map[string][]byte) {
	data := map[string][]byte{}
	req := contract.PackageRequest{Name: "film-42", Kind: contract.KindHLS}
	add := func(p, ct string, b []byte) {
		data[p] = b
		req.Files = append(req.Files, contract.PackageFile{Path: p, Size: int64(len(b)), ContentType: ct})
	}
	for i := range n {
		p := fmt.Sprintf("%dp/seg-%05d.ts", []int{360, 720}[i%2], i/2)
		add(p, "video/mp2t", bytes.Repeat([]byte(p), size/len(p)+1)[:size])
	}
	add("360p/index.m3u8", "application/vnd.apple.mpegurl", []byte("#EXTM3U\n360p"))
	add("720p/index.m3u8", "application/vnd.apple.mpegurl", []byte("#EXTM3U\n720p"))
	add("master.m3u8", "application/vnd.apple.mpegurl", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n"))
	return req, data
}

func (h *harness) openPackage(token string, req contract.PackageRequest) contract.Session {
	h.t.Helper()
	r := h.do("POST", contract.PathUploads, token, nil, contract.SessionRequest{Package: &req})
	if r.status != http.StatusCreated {
		h.t.Fatalf("open package session: %d %s", r.status, r.body)
	}
	var s contract.Session
	r.decode(h.t, &s)
	return s
}

// putAll uploads files to the package's prefix, 32 at a time.
func putAll(t *testing.T, c *s3.Client, s contract.Session, data map[string][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(data))
	for p, b := range data {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := putObject(t, c, s.Bucket, s.Package.Prefix+p, b); err != nil {
				errs <- fmt.Errorf("put %s: %w", p, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// packageRegistration lists every file of req with its size and checksum.
func packageRegistration(s contract.Session, req contract.PackageRequest, data map[string][]byte) contract.VideoRequest {
	reg := contract.PackageRegistration{UploadID: s.Package.UploadID, SessionID: s.SessionID, Name: req.Name, Kind: req.Kind}
	for _, f := range req.Files {
		b := data[f.Path]
		reg.Objects = append(reg.Objects, contract.PackageObject{Path: f.Path, Size: int64(len(b)),
			Checksum: &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(b)}})
	}
	return contract.VideoRequest{Bucket: s.Bucket, Package: &reg, Metadata: map[string]string{"title": "Film 42"}}
}

func (h *harness) registerPackage(token string, req contract.VideoRequest) response {
	h.t.Helper()
	return h.do("POST", contract.PathVideos, token, map[string]string{contract.IdempotencyKeyHeader: req.Package.UploadID}, req)
}

func cloneRegistration(req contract.VideoRequest) contract.VideoRequest {
	p := *req.Package
	p.Objects = append([]contract.PackageObject(nil), p.Objects...)
	req.Package = &p
	return req
}

func TestPackageSessionValidation(t *testing.T) {
	h := newHarness(t)
	good, _ := hlsPackage(4, 16)
	with := func(f func(p *contract.PackageRequest)) contract.PackageRequest {
		p := good
		p.Files = append([]contract.PackageFile(nil), good.Files...)
		f(&p)
		return p
	}
	withPath := func(path string) contract.PackageRequest {
		return with(func(p *contract.PackageRequest) { p.Files[1].Path = path })
	}
	huge := with(func(p *contract.PackageRequest) {
		p.Files = nil
		for i := range contract.MaxFilesPerPackage + 1 {
			p.Files = append(p.Files, contract.PackageFile{Path: fmt.Sprintf("s/%06d.ts", i), Size: 1})
		}
	})
	tests := []struct {
		name   string
		req    contract.PackageRequest
		status int
		want   string
	}{
		{"absolute path", withPath("/etc/passwd"), 400, `"/etc/passwd"`},
		{"dot dot", withPath("720p/../../x.ts"), 400, `"720p/../../x.ts"`},
		{"dot", withPath("./x.ts"), 400, `"./x.ts"`},
		{"empty segment", withPath("720p//x.ts"), 400, `"720p//x.ts"`},
		{"trailing slash", withPath("720p/"), 400, `"720p/"`},
		{"empty path", withPath(""), 400, `path ""`},
		{"control character", withPath("720p/x\n.ts"), 400, `"720p/x\n.ts"`},
		{"too long", withPath(strings.Repeat("a", 1000)), 400, "bytes long"},
		{"duplicate", withPath(good.Files[0].Path), 400, "twice"},
		{"negative size", with(func(p *contract.PackageRequest) { p.Files[0].Size = -2 }), 400, "negative"},
		{"unknown kind", with(func(p *contract.PackageRequest) { p.Kind = "mov" }), 400, `"mov"`},
		{"hls without playlist", with(func(p *contract.PackageRequest) { p.Files = p.Files[:4] }), 400, ".m3u8"},
		{"dash without mpd", with(func(p *contract.PackageRequest) { p.Kind = contract.KindDASH }), 400, ".mpd"},
		{"no files", with(func(p *contract.PackageRequest) { p.Files = nil }), 400, "no files"},
		{"too many files", huge, 413, "100000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", contract.PathUploads, testToken, nil, contract.SessionRequest{Package: &tt.req})
			if r.status != tt.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.status)
			}
			if msg := r.errorText(t); !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q does not name %q", msg, tt.want)
			}
		})
	}
	both := h.do("POST", contract.PathUploads, testToken, nil, contract.SessionRequest{Files: []contract.FileRequest{{Name: "a.mp4", Size: 1}}, Package: &good})
	if both.status != http.StatusBadRequest {
		t.Fatalf("files and package: %d %s, want 400", both.status, both.body)
	}
	// A single session's body stays bounded by the small limit; only a
	// package may be large.
	bigFiles := `{"files":[{"name":"a.mp4","size":1,"content_type":"` + strings.Repeat("x", 2<<20) + `"}]}`
	if r := h.do("POST", contract.PathUploads, testToken, nil, bigFiles); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 2 MiB files session: %d, want 413", r.status)
	}

	// A good one: one upload id, the prefix of the session, credentials
	// that write under that prefix only.
	s := h.openPackage(testToken, good)
	if s.Package == nil || s.Package.UploadID == "" || len(s.Uploads) != 0 ||
		s.Package.Prefix != "uploads/"+s.SessionID+"/"+s.Package.UploadID+"/" {
		t.Fatalf("package session answer: %+v", s)
	}
	c := sessionClient(s, s.Credentials)
	if err := putObject(t, c, h.bucket, s.Package.Prefix+"720p/seg-00000.ts", []byte("x")); err != nil {
		t.Fatalf("put under the package's prefix: %v", err)
	}
	other := h.openPackage(testToken, good)
	for _, key := range []string{other.Package.Prefix + "720p/seg-00000.ts", "uploads/" + s.SessionID + "/other/x.ts", server.SealedPrefix + "x/master.m3u8"} {
		if err := putObject(t, c, h.bucket, key, []byte("x")); httpStatus(err) != http.StatusForbidden {
			t.Errorf("put s3://%s/%s with the package's credentials: err = %v, want 403", h.bucket, key, err)
		}
	}
	r := h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil)
	var cr contract.CredentialsResponse
	r.decode(t, &cr)
	if r.status != http.StatusOK {
		t.Fatalf("refresh a package session: %d %s", r.status, r.body)
	}
	if err := putObject(t, sessionClient(s, cr.Credentials), h.bucket, s.Package.Prefix+"master.m3u8", []byte("x")); err != nil {
		t.Fatalf("put with refreshed credentials: %v", err)
	}
	// A package's upload id is not a single file's.
	single := contract.VideoRequest{UploadID: s.Package.UploadID, SessionID: s.SessionID, Key: s.Package.Prefix, Size: 1}
	if r := h.register(single); r.status != http.StatusBadRequest || !strings.Contains(r.errorText(t), "package") {
		t.Fatalf("single registration of a package: %d %s, want 400", r.status, r.body)
	}
}

// packageReceiver keeps the last webhook of each video.
type packageReceiver struct {
	url  string
	mu   sync.Mutex
	last map[string]contract.WebhookEvent
}

func newPackageReceiver(t *testing.T) *packageReceiver {
	r := &packageReceiver{last: map[string]contract.WebhookEvent{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev contract.WebhookEvent
		if err := jobs.Verify(webhookKey, req.Header, body, time.Now(), 5*time.Minute); err != nil || json.Unmarshal(body, &ev) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		r.last[ev.Data.ID] = ev
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

func (r *packageReceiver) event(id string) (contract.WebhookEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev, ok := r.last[id]
	return ev, ok
}

// TestPackageRegistration (contract v1.1 section 3b): a package of 1,200
// objects is verified and sealed as one video, on both databases.
func TestPackageRegistration(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness, inst *instance) {
		rcv := newPackageReceiver(t)
		startWebhooks(t, inst, rcv.url, h.log)
		ctx := context.Background()
		pkg, data := hlsPackage(1197, 1024) // 1,200 files
		s := h.openPackage(camToken, pkg)
		c := sessionClient(s, s.Credentials)
		gone := pkg.Files[7].Path
		rest := map[string][]byte{}
		for p, b := range data {
			if p != gone {
				rest[p] = b
			}
		}
		start := time.Now()
		putAll(t, c, s, rest)
		t.Logf("uploaded %d objects in %s", len(rest), time.Since(start).Round(time.Millisecond))
		reg := packageRegistration(s, pkg, data)

		// A missing object, a wrong size, a file left out, a file the
		// session never listed: 422, naming the paths, before anything is
		// copied. (A wrong checksum: TestPackageStaticCredentials.)
		r := h.registerPackage(camToken, reg)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.errorText(t), gone) {
			t.Fatalf("registration with a missing object: %d %s, want 422 naming %s", r.status, r.body, gone)
		}
		putAll(t, c, s, map[string][]byte{gone: data[gone]})
		wrongSize := cloneRegistration(reg)
		wrongSize.Package.Objects[3].Size++
		leftOut := cloneRegistration(reg)
		leftOut.Package.Objects = leftOut.Package.Objects[1:]
		extra := cloneRegistration(reg)
		extra.Package.Objects = append(extra.Package.Objects, contract.PackageObject{Path: "extra.ts", Size: 1})
		for _, tt := range []struct {
			name string
			req  contract.VideoRequest
			want string
		}{
			{"wrong size", wrongSize, pkg.Files[3].Path},
			{"a file left out", leftOut, pkg.Files[0].Path},
			{"an extra object", extra, "extra.ts"},
		} {
			r := h.registerPackage(camToken, tt.req)
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.errorText(t), tt.want) {
				t.Fatalf("%s: %d %s, want 422 naming %s", tt.name, r.status, r.body, tt.want)
			}
		}
		// Another principal learns nothing of the package.
		if r := h.registerPackage(cam01Token, reg); r.status != http.StatusNotFound {
			t.Fatalf("another principal's registration: %d %s, want 404", r.status, r.body)
		}

		start = time.Now()
		r = h.registerPackage(camToken, reg)
		took := time.Since(start)
		if r.status != http.StatusCreated {
			t.Fatalf("register the package: %d %s", r.status, r.body)
		}
		t.Logf("registered a package of %d objects (%d KiB) in %s", len(pkg.Files), len(pkg.Files), took.Round(time.Millisecond))
		for _, l := range strings.Split(h.log.String(), "\n") {
			if strings.Contains(l, "package registered") {
				t.Log(l)
			}
		}
		var v contract.Video
		r.decode(t, &v)
		sealed := server.SealedPrefix + v.ID + "/"
		if v.Kind != contract.KindHLS || v.Entry != sealed+"master.m3u8" || len(v.Objects) != len(pkg.Files) || v.Key != sealed ||
			v.Principal != "cam-00" || v.Metadata["title"] != "Film 42" || v.UploadID != s.Package.UploadID {
			t.Fatalf("registered package: kind %q entry %q key %q %d objects %+v", v.Kind, v.Entry, v.Key, len(v.Objects), v.Metadata)
		}
		var total int64
		for i, o := range v.Objects {
			f := pkg.Files[i]
			if o.Path != f.Path || o.Size != f.Size || o.Key != sealed+f.Path || o.ETag == "" || o.Checksum == nil || o.Checksum.Value != crc64Base64(data[f.Path]) {
				t.Fatalf("object %d: %+v", i, o)
			}
			total += o.Size
		}
		if v.Size != total {
			t.Fatalf("package size %d, its objects hold %d", v.Size, total)
		}
		root := h.minio.Client()
		count := func(prefix string) int {
			n := 0
			p := s3.NewListObjectsV2Paginator(root, &s3.ListObjectsV2Input{Bucket: aws.String(h.bucket), Prefix: aws.String(prefix)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				n += len(page.Contents)
			}
			return n
		}
		if n := count(sealed); n != len(pkg.Files) {
			t.Fatalf("%d sealed objects, want %d", n, len(pkg.Files))
		}
		if n := count(s.Package.Prefix); n != 0 {
			t.Fatalf("%d uploaded objects left after sealing", n)
		}

		// Replays: the same objects in another order are the same
		// registration (200, the same video); another body is 409.
		shuffled := cloneRegistration(reg)
		rand.Shuffle(len(shuffled.Package.Objects), func(i, j int) {
			shuffled.Package.Objects[i], shuffled.Package.Objects[j] = shuffled.Package.Objects[j], shuffled.Package.Objects[i]
		})
		r = h.registerPackage(camToken, shuffled)
		var again contract.Video
		r.decode(t, &again)
		if r.status != http.StatusOK || again.ID != v.ID || len(again.Objects) != len(v.Objects) {
			t.Fatalf("replay: %d, video %s, want 200 with %s", r.status, again.ID, v.ID)
		}
		other := cloneRegistration(reg)
		other.Metadata = map[string]string{"title": "another"}
		if r := h.registerPackage(camToken, other); r.status != http.StatusConflict {
			t.Fatalf("replay with another body: %d %s, want 409", r.status, r.body)
		}
		if r := h.registerPackage(cam01Token, reg); r.status != http.StatusNotFound {
			t.Fatalf("another principal's replay: %d, want 404", r.status)
		}
		if _, entries := h.batch(camToken, s.SessionID, reg); entries[0].Status != http.StatusBadRequest {
			t.Fatalf("a package in a batch: %+v, want 400", entries[0])
		}

		// GET and the list show the package; another principal sees none.
		r = h.do("GET", contract.PathVideos+"/"+v.ID, camToken, nil, nil)
		var got contract.Video
		r.decode(t, &got)
		if r.status != http.StatusOK || got.Kind != contract.KindHLS || got.Entry != v.Entry || len(got.Objects) != len(pkg.Files) || got.Objects[9] != v.Objects[9] && got.Objects[9].Key != v.Objects[9].Key {
			t.Fatalf("get the package: %d kind %q entry %q %d objects", r.status, got.Kind, got.Entry, len(got.Objects))
		}
		if r := h.do("GET", contract.PathVideos+"/"+v.ID, cam01Token, nil, nil); r.status != http.StatusNotFound {
			t.Fatalf("another principal's get: %d, want 404", r.status)
		}
		r = h.do("GET", contract.PathVideos, camToken, nil, nil)
		var list contract.VideoList
		r.decode(t, &list)
		if len(list.Videos) != 1 || list.Videos[0].ID != v.ID || len(list.Videos[0].Objects) != len(pkg.Files) || list.Videos[0].Entry != v.Entry {
			t.Fatalf("list: %s", r.body)
		}

		// The webhook carries the asset.
		waitUntil(t, 30*time.Second, func() bool { _, ok := rcv.event(v.ID); return ok })
		ev, _ := rcv.event(v.ID)
		if ev.Data.Kind != contract.KindHLS || ev.Data.Entry != v.Entry || len(ev.Data.Objects) != len(pkg.Files) {
			t.Fatalf("webhook of the package: kind %q entry %q %d objects", ev.Data.Kind, ev.Data.Entry, len(ev.Data.Objects))
		}

		// Nothing the client still holds changes the registered objects:
		// its old credentials cannot write under the sealed prefix, and
		// what they may still write under the upload prefix is not the
		// registered object. The session refreshes no more.
		if err := putObject(t, c, h.bucket, v.Objects[0].Key, []byte("tampered")); httpStatus(err) != http.StatusForbidden {
			t.Fatalf("put over a sealed object with the session's credentials: err = %v, want 403", err)
		}
		_ = putObject(t, c, h.bucket, s.Package.Prefix+pkg.Files[0].Path, []byte("tampered"))
		out, err := root.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(v.Objects[0].Key)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(b, data[pkg.Files[0].Path]) {
			t.Fatalf("the sealed object changed: %q", b)
		}
		if r := h.do("POST", contract.CredentialsPath(s.SessionID), camToken, nil, nil); r.status != http.StatusNotFound {
			t.Fatalf("refresh of a registered package: %d, want 404", r.status)
		}
	})
}

// TestPackageStaticCredentials: a package registers with static keys
// (no STS) on both S3 servers.
func TestPackageStaticCredentials(t *testing.T) {
	testenv.EachS3(t, func(t *testing.T, m testenv.S3) {
		bucket := m.NewBucket(t)
		static, err := server.NewStaticMinter([]server.StaticKey{{Principal: "cam-00", AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey}})
		if err != nil {
			t.Fatal(err)
		}
		log := &syncBuffer{}
		inst := newInstance(t, m, bucket, t.TempDir()+"/vidup.db", log, func(c *server.Config) { c.Minter = static })
		h := &harness{t: t, minio: m, bucket: bucket, url: inst.url, log: log}
		pkg, data := hlsPackage(60, 300)
		pkg.Kind, pkg.Name = contract.KindFolder, "card-A001"
		s := h.openPackage(camToken, pkg)
		if !s.Credentials.Static() || s.Credentials.AccessKeyID != m.AccessKey {
			t.Fatalf("static mode handed %+v", s.Credentials)
		}
		putAll(t, sessionClient(s, s.Credentials), s, data)
		// A wrong checksum is found on the sealed copies: 422 naming the
		// object, and none of the copies is kept.
		reg := packageRegistration(s, pkg, data)
		wrongSum := cloneRegistration(reg)
		wrongSum.Package.Objects[5].Checksum = &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64([]byte("other"))}
		if r := h.registerPackage(camToken, wrongSum); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.errorText(t), pkg.Files[5].Path) {
			t.Fatalf("wrong checksum: %d %s, want 422 naming %s", r.status, r.body, pkg.Files[5].Path)
		}
		sealed, err := m.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(server.SealedPrefix)})
		if err != nil || len(sealed.Contents) != 0 {
			t.Fatalf("a refused package left %d sealed objects (%v)", len(sealed.Contents), err)
		}
		r := h.registerPackage(camToken, reg)
		if r.status != http.StatusCreated {
			t.Fatalf("register: %d %s\n%s", r.status, r.body, log.String())
		}
		var v contract.Video
		r.decode(t, &v)
		if v.Kind != contract.KindFolder || v.Entry != "" || len(v.Objects) != len(pkg.Files) {
			t.Fatalf("registered folder: kind %q entry %q %d objects", v.Kind, v.Entry, len(v.Objects))
		}
	})
}

// The cleanup aborts the multipart uploads a package's session left under
// its prefix (AbortUploads of a key ending in "/"), and nothing beside it.
func TestAbortUploadsOfAPackagePrefix(t *testing.T) {
	m := testenv.MinIO(t)
	bucket := m.NewBucket(t)
	ctx := context.Background()
	c := m.Client()
	for _, key := range []string{"uploads/s/u/a.ts", "uploads/s/u/720p/b.ts", "uploads/s/u2/x.ts", "uploads/s/u.ts"} {
		if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := server.S3Objects{Client: c}.AbortUploads(ctx, bucket, "uploads/s/u/")
	if err != nil || n != 2 {
		t.Fatalf("aborted %d uploads (%v), want the package's 2", n, err)
	}
	left, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range left.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "uploads/s/u.ts,uploads/s/u2/x.ts" {
		t.Fatalf("uploads left: %v", keys)
	}
}
