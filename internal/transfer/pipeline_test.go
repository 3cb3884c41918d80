package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
)

// fakeStore is an objectStore of function fields; a call whose field is
// nil fails the test. Bodies are read whole, as S3 would.
type fakeStore struct {
	t          *testing.T
	putFn      func(data []byte, a *checksumAlgorithm, sum string) (s3Answer, error)
	createFn   func(a *checksumAlgorithm) (string, error)
	partFn     func(n int32, data []byte, a *checksumAlgorithm, sum string) (string, error)
	completeFn func(parts []Part, size int64, a *checksumAlgorithm, sum string) (s3Answer, error)
	abortFn    func(uploadID string) error
	listFn     func(uploadID, marker string) ([]listedPart, string, error)
	headFn     func(a *checksumAlgorithm) (headAnswer, error)
	// trailed counts the UploadParts sent with a trailing checksum;
	// refuseTrailers answers them 501, as a store without them would.
	trailed        atomic.Int32
	refuseTrailers bool
}

func (s *fakeStore) unexpected(call string) error {
	s.t.Errorf("unexpected %s", call)
	return errors.New("unexpected " + call)
}

func (s *fakeStore) put(_ context.Context, _ string, _ objectHeaders, body io.Reader, size int64, a *checksumAlgorithm, sum string) (s3Answer, error) {
	if s.putFn == nil {
		return s3Answer{}, s.unexpected("PutObject")
	}
	data, err := io.ReadAll(body)
	if err != nil || int64(len(data)) != size {
		return s3Answer{}, fmt.Errorf("body: %d of %d bytes, %v", len(data), size, err)
	}
	if sum == "" && !a.none {
		if sum, err = s.trailer(body, a, data); err != nil {
			return s3Answer{}, err
		}
	}
	return s.putFn(data, a, sum)
}

// trailer is the trailing checksum body sent after data, checked as S3
// checks it.
func (s *fakeStore) trailer(body io.Reader, a *checksumAlgorithm, data []byte) (string, error) {
	tb, ok := body.(trailingBody)
	if !ok {
		return "", fmt.Errorf("a trailing checksum with a body (%T) that computes none", body)
	}
	sum, err := tb.trailer()
	if err != nil {
		return "", err
	}
	if want := a.base64(a.update(0, data)); sum != want {
		return "", apiErr(400, "XAmzContentChecksumMismatch")
	}
	s.trailed.Add(1)
	return sum, nil
}

func (s *fakeStore) create(_ context.Context, _ string, _ objectHeaders, a *checksumAlgorithm) (string, error) {
	if s.createFn == nil {
		return "", s.unexpected("CreateMultipartUpload")
	}
	return s.createFn(a)
}

func (s *fakeStore) part(_ context.Context, _, _ string, n int32, body io.Reader, size int64, a *checksumAlgorithm, sum string) (s3Answer, error) {
	if s.partFn == nil {
		return s3Answer{}, s.unexpected("UploadPart")
	}
	data, err := io.ReadAll(body)
	if err != nil || int64(len(data)) != size {
		return s3Answer{}, fmt.Errorf("body: %d of %d bytes, %v", len(data), size, err)
	}
	trailer := sum == "" && !a.none
	if trailer {
		if s.refuseTrailers {
			return s3Answer{}, apiErr(501, "NotImplemented")
		}
		if sum, err = s.trailer(body, a, data); err != nil {
			return s3Answer{}, err
		}
	}
	etag, err := s.partFn(n, data, a, sum)
	if err != nil || !trailer {
		return s3Answer{etag: etag}, err
	}
	return s3Answer{etag: etag, checksum: sum}, nil
}

func (s *fakeStore) complete(_ context.Context, _, _ string, parts []Part, size int64, a *checksumAlgorithm, sum string) (s3Answer, error) {
	if s.completeFn == nil {
		return s3Answer{}, s.unexpected("CompleteMultipartUpload")
	}
	return s.completeFn(parts, size, a, sum)
}

func (s *fakeStore) abort(_ context.Context, _, uploadID string) error {
	if s.abortFn == nil {
		return s.unexpected("AbortMultipartUpload")
	}
	return s.abortFn(uploadID)
}

func (s *fakeStore) listParts(_ context.Context, _, uploadID, marker string) ([]listedPart, string, error) {
	if s.listFn == nil {
		return nil, "", s.unexpected("ListParts")
	}
	return s.listFn(uploadID, marker)
}

func (s *fakeStore) head(_ context.Context, _ string, a *checksumAlgorithm) (headAnswer, error) {
	if s.headFn == nil {
		return headAnswer{}, s.unexpected("HeadObject")
	}
	return s.headFn(a)
}

func (s *fakeStore) listObjects(context.Context, string, string) ([]listedObject, string, error) {
	return nil, "", s.unexpected("ListObjectsV2")
}

// bucket is a fakeStore that keeps what it is sent, like S3.
type bucket struct {
	fakeStore
	mu       sync.Mutex
	sent     map[int32]int // UploadPart calls by part
	parts    map[int32][]byte
	aborted  []string
	failPart func(n int32, attempt int) error
	// algorithm, when set, is the one every part must be sent with.
	algorithm *checksumAlgorithm
}

func newBucket(t *testing.T) *bucket {
	b := &bucket{sent: map[int32]int{}, parts: map[int32][]byte{}}
	b.t = t
	b.createFn = func(*checksumAlgorithm) (string, error) { return "mpu-1", nil }
	b.partFn = func(n int32, data []byte, a *checksumAlgorithm, sum string) (string, error) {
		b.mu.Lock()
		b.sent[n]++
		attempt := b.sent[n]
		b.mu.Unlock()
		if b.algorithm != nil && a != b.algorithm {
			t.Errorf("part %d sent with %s, want %s", n, a.name, b.algorithm.name)
		}
		if b.failPart != nil {
			if err := b.failPart(n, attempt); err != nil {
				return "", err
			}
		}
		if got := a.base64(a.update(0, data)); got != sum {
			return "", fmt.Errorf("part %d: checksum %s, body has %s", n, sum, got)
		}
		b.mu.Lock()
		b.parts[n] = bytes.Clone(data)
		b.mu.Unlock()
		return fmt.Sprintf(`"etag-%d"`, n), nil
	}
	b.completeFn = func(parts []Part, size int64, a *checksumAlgorithm, sum string) (s3Answer, error) {
		obj := b.object(parts)
		if int64(len(obj)) != size {
			return s3Answer{}, fmt.Errorf("complete: %d bytes, MpuObjectSize %d", len(obj), size)
		}
		if got := a.base64(a.update(0, obj)); got != sum {
			return s3Answer{}, fmt.Errorf("complete: checksum %s, the parts make %s", sum, got)
		}
		return s3Answer{etag: `"mpu-etag"`, checksum: sum}, nil
	}
	b.abortFn = func(id string) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.aborted = append(b.aborted, id)
		return nil
	}
	return b
}

// object is what completing parts makes, failing the test on a gap.
func (b *bucket) object(parts []Part) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	var obj []byte
	for i, p := range parts {
		if p.Number != int32(i+1) {
			b.t.Errorf("complete: part %d at position %d", p.Number, i+1)
		}
		data, ok := b.parts[p.Number]
		if !ok {
			b.t.Errorf("complete: part %d was never uploaded", p.Number)
		}
		if p.ETag != fmt.Sprintf(`"etag-%d"`, p.Number) || p.Size != int64(len(data)) {
			b.t.Errorf("complete: part %+v, S3 holds %d bytes", p, len(data))
		}
		obj = append(obj, data...)
	}
	return obj
}

type events struct {
	mu       sync.Mutex
	kinds    map[EventKind]int
	progress int64
	kept     int64 // KeptOnS3 bytes
}

func (o *events) Event(ev Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kinds[ev.Kind]++
	o.kept += ev.Bytes
}

func (o *events) Progress(_ string, d int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.progress += d
}

func testEngine(store objectStore) (*Engine, *session, *events) {
	obs := &events{kinds: map[EventKind]int{}}
	e := &Engine{opts: Options{
		Concurrency:  3,
		Retry:        Retry{Retries: 3, Budget: time.Minute, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond},
		Observer:     obs,
		Hooks:        NopHooks{},
		StopGrace:    time.Second,
		StallTimeout: time.Minute,
	}, parts: make(chan struct{}, 3)}
	sess := &session{Session: &contract.Session{SessionID: "s1", Bucket: "videos"}, store: store, mode: &checksumMode{a: defaultChecksum}}
	return e, sess, obs
}

func randomBytes(n int, seed uint64) []byte {
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(data)
	return data
}

func testFile(t *testing.T, data []byte) *asset.Item {
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// testStream is a stream of r whose first parts have size first, as
// UploadStream starts it.
func testStream(t *testing.T, r io.Reader, first int64) (*asset.Item, *UploadRef, *streamParts) {
	src, err := newStreamParts(context.Background(), r, newBufferPool(4), first)
	if err != nil {
		t.Fatal(err)
	}
	f := &asset.Item{Path: StreamPath, Name: "clip.ts", Size: contract.UnknownSize, Stdin: true}
	return f, &UploadRef{Key: "k", PartSize: first, ChecksumAlgorithm: defaultChecksum.name}, src
}

var (
	slowDown     = apiErr(503, "SlowDown")
	accessDenied = apiErr(403, "AccessDenied")
	noSuchUpload = apiErr(404, "NoSuchUpload")
	connReset    = &smithyhttp.RequestSendError{Err: syscall.ECONNRESET}
)

func TestVerify(t *testing.T) {
	a := crc32C
	crc := a.update(0, []byte("123456789"))
	want, other := a.base64(crc), a.base64(crc+1)
	head := func(h headAnswer, err error) func(*checksumAlgorithm) (headAnswer, error) {
		return func(*checksumAlgorithm) (headAnswer, error) { return h, err }
	}
	for _, tt := range []struct {
		name     string
		answer   s3Answer
		head     func(*checksumAlgorithm) (headAnswer, error) // nil: must not be asked
		wantETag string
		wantErr  string
	}{
		{"answer matches", s3Answer{`"e1"`, want}, nil, `"e1"`, ""},
		{"answer differs", s3Answer{`"e1"`, other}, nil, "", "s3://videos/k/clip.mp4 has checksum CRC32C:" + other},
		{"no checksum: head matches", s3Answer{`"e1"`, ""}, head(headAnswer{9, `"e2"`, want}, nil), `"e2"`, ""},
		{"no checksum: head differs", s3Answer{}, head(headAnswer{9, `"e2"`, other}, nil), "", "has checksum CRC32C:" + other},
		{"no checksum: head size differs", s3Answer{}, head(headAnswer{8, `"e2"`, want}, nil), "", "holds 8 bytes, the file has 9"},
		{"no checksum: head refused, answer's ETag stands", s3Answer{`"e1"`, ""}, head(headAnswer{}, accessDenied), `"e1"`, ""},
		{"no checksum: head refused, nothing to verify", s3Answer{}, head(headAnswer{}, accessDenied), "", "HeadObject is not allowed"},
		{"no checksum: head fails", s3Answer{}, head(headAnswer{}, apiErr(404, "NoSuchKey")), "", "verify s3://videos/k/clip.mp4: S3 refused the request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			heads := 0
			store := &fakeStore{t: t}
			if tt.head != nil {
				store.headFn = func(a *checksumAlgorithm) (headAnswer, error) {
					heads++
					if a != crc32C {
						t.Errorf("head asked for %s", a.name)
					}
					return tt.head(a)
				}
			}
			e, sess, _ := testEngine(store)
			f := &asset.Item{Path: "clip.mp4", Size: 9}
			ref := &UploadRef{Key: "k/clip.mp4", ChecksumAlgorithm: "CRC32C"}
			st, err := e.verify(context.Background(), sess, f, ref, want, nil, tt.answer)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || st.etag != tt.wantETag || st.checksum.Value != want || st.checksum.Algorithm != "CRC32C" {
				t.Fatalf("%+v, %v; want ETag %s, checksum %s", st, err, tt.wantETag, want)
			}
			if tt.head != nil && heads != 1 {
				t.Errorf("%d HeadObjects, want 1", heads)
			}
		})
	}
}

func TestReconcileKeepsOnlyPartsS3HoldsAlike(t *testing.T) {
	p := func(n int32, size int64, etag, sum string) Part {
		return asset.Part{Number: n, Size: size, ETag: etag, Checksum: sum}
	}
	rp := &Prior{Ref: UploadRef{Key: "k", S3UploadID: "mpu-1"}, Parts: []Part{
		p(1, 10, `"a"`, "c1"), p(2, 10, `"b"`, "c2"), p(3, 10, `"c"`, "c3"), p(4, 10, `"d"`, "c4"), p(5, 10, `"e"`, "c5"), p(7, 10, `"g"`, "c7"),
	}}
	pages := map[string][]listedPart{
		"": {
			{number: 7, size: 10, etag: `"g"`}, // no checksum listed: ETag and size decide
			{number: 1, size: 10, etag: `"a"`, checksums: []string{"c1"}},
			{number: 2, size: 10, etag: `"other"`, checksums: []string{"c2"}},
		},
		"2": {
			{number: 3, size: 10, etag: `"c"`, checksums: []string{"different"}},
			{number: 4, size: 9, etag: `"d"`, checksums: []string{"c4"}},
			{number: 6, size: 10, etag: `"f"`, checksums: []string{"c6"}},
		},
	}
	next := map[string]string{"": "2", "2": ""}
	store := &fakeStore{t: t, listFn: func(id, marker string) ([]listedPart, string, error) {
		if id != "mpu-1" {
			t.Errorf("ListParts of %q", id)
		}
		return pages[marker], next[marker], nil
	}}
	e, sess, _ := testEngine(store)
	kept, err := e.reconcile(context.Background(), sess, &asset.Item{Path: "clip.mp4"}, &rp.Ref, rp)
	if err != nil {
		t.Fatal(err)
	}
	var got []int32
	for _, k := range kept {
		got = append(got, k.Number)
	}
	if fmt.Sprint(got) != "[1 7]" {
		t.Errorf("kept parts %v, want [1 7] (2: other ETag, 3: other checksum, 4: other size, 5: not listed)", got)
	}

	store.listFn = func(string, string) ([]listedPart, string, error) { return nil, "", noSuchUpload }
	_, err = e.reconcile(context.Background(), sess, &asset.Item{Path: "clip.mp4"}, &rp.Ref, rp)
	var se *S3Error
	if errorCode(err) != "NoSuchUpload" || !errors.As(err, &se) || se.Op != OpListParts {
		t.Errorf("upload gone: %v, want a ListParts S3Error with code NoSuchUpload", err)
	}
}

// A part that fails is sent again alone; the others go once.
func TestFailedPartAloneIsRetried(t *testing.T) {
	data := randomBytes(4*1000+123, 1)
	b := newBucket(t)
	b.failPart = func(n int32, attempt int) error {
		switch {
		case n == 2 && attempt == 1:
			return slowDown
		case n == 4 && attempt == 1:
			return connReset
		}
		return nil
	}
	e, sess, obs := testEngine(b)
	f := testFile(t, data)
	ref := &UploadRef{Key: "k", PartSize: 1000}
	st, err := e.transfer(context.Background(), sess, f, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]int{1: 1, 2: 2, 3: 1, 4: 2, 5: 1}; fmt.Sprint(b.sent) != fmt.Sprint(want) {
		t.Errorf("UploadPart calls %v, want %v", b.sent, want)
	}
	if want := crc32C.base64(crc32C.update(0, data)); st.checksum.Value != want || st.checksum.Algorithm != "CRC32C" || ref.ChecksumAlgorithm != "CRC32C" {
		t.Errorf("stored %+v, want CRC32C %s", st.checksum, want)
	}
	if obs.kinds[PartRetried] != 2 || obs.progress != int64(len(data)) {
		t.Errorf("%d part_retried events, progress %d; want 2 and %d", obs.kinds[PartRetried], obs.progress, len(data))
	}
	if len(b.aborted) != 0 {
		t.Errorf("aborted %v", b.aborted)
	}
}

// A Complete whose answer was lost is retried; its second attempt finds
// the upload gone (the first did complete it), and verify asks S3.
func TestCompleteRetriedAfterALostAnswer(t *testing.T) {
	data := randomBytes(2500, 2)
	b := newBucket(t)
	attempts := 0
	completeOnS3 := b.completeFn
	var sum string
	b.completeFn = func(parts []Part, size int64, a *checksumAlgorithm, s string) (s3Answer, error) {
		attempts++
		if attempts == 1 {
			sum = s
			if _, err := completeOnS3(parts, size, a, s); err != nil {
				return s3Answer{}, err
			}
			return s3Answer{}, connReset // S3 completed it; the answer never came
		}
		return s3Answer{}, noSuchUpload
	}
	heads := 0
	b.headFn = func(a *checksumAlgorithm) (headAnswer, error) {
		heads++
		return headAnswer{size: int64(len(data)), etag: `"mpu-etag"`, checksum: sum}, nil
	}
	e, sess, _ := testEngine(b)
	st, err := e.transfer(context.Background(), sess, testFile(t, data), &UploadRef{Key: "k", PartSize: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || heads != 1 || st.etag != `"mpu-etag"` || st.checksum.Value != crc32C.base64(crc32C.update(0, data)) {
		t.Errorf("%d Completes, %d HeadObjects, stored %+v %+v", attempts, heads, st, st.checksum)
	}
	if len(b.aborted) != 0 {
		t.Errorf("aborted %v", b.aborted)
	}
}

// A part S3 refuses fails the file with a typed error at its first
// attempt, and the multipart upload is aborted.
func TestRefusedPartAbortsTheUpload(t *testing.T) {
	data := randomBytes(6000, 3)
	b := newBucket(t)
	b.failPart = func(n int32, _ int) error {
		if n == 2 {
			return accessDenied
		}
		return nil
	}
	b.completeFn = nil
	e, sess, _ := testEngine(b)
	_, err := e.transfer(context.Background(), sess, testFile(t, data), &UploadRef{Key: "k", PartSize: 1000}, nil)
	var se *S3Error
	if !errors.As(err, &se) || se.Op != OpUploadPart || se.Part != 2 || se.Code != "AccessDenied" || se.Transient || se.Bucket != "videos" || se.Key != "k" {
		t.Fatalf("error %#v, want an UploadPart S3Error of part 2", err)
	}
	if !strings.Contains(err.Error(), "upload part 2 of s3://videos/k: S3 refused the session's credentials (access denied)") {
		t.Errorf("message %q", err)
	}
	if b.sent[2] != 1 {
		t.Errorf("part 2 sent %d times, want once", b.sent[2])
	}
	if fmt.Sprint(b.aborted) != "[mpu-1]" {
		t.Errorf("aborted %v, want [mpu-1]", b.aborted)
	}
}

// A resumed upload sends only the parts S3 lacks, in the algorithm its
// record names: none is CRC64NVME, from before uploads recorded theirs.
func TestResumedUploadKeepsItsChecksum(t *testing.T) {
	data := randomBytes(3500, 4)
	b := newBucket(t)
	b.createFn = nil
	b.parts[1] = data[:1000]
	b.parts[3] = data[2000:3000]
	kept := []Part{
		{Number: 1, Size: 1000, ETag: `"etag-1"`, Checksum: crc64NVME.base64(crc64NVME.update(0, data[:1000]))},
		{Number: 3, Size: 1000, ETag: `"etag-3"`, Checksum: crc64NVME.base64(crc64NVME.update(0, data[2000:3000]))},
	}
	b.algorithm = crc64NVME
	e, sess, obs := testEngine(b)
	ref := &UploadRef{Key: "k", PartSize: 1000, S3UploadID: "mpu-0"}
	st, err := e.transfer(context.Background(), sess, testFile(t, data), ref, &resumeState{kept: kept})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(b.sent) != "map[2:1 4:1]" {
		t.Errorf("UploadPart calls %v, want parts 2 and 4 once", b.sent)
	}
	if want := crc64NVME.base64(crc64NVME.update(0, data)); st.checksum.Value != want || st.checksum.Algorithm != "CRC64NVME" {
		t.Errorf("stored %+v, want CRC64NVME %s", st.checksum, want)
	}
	// The kept parts are not this run's progress; they are reported
	// apart, so that rates count only what the run sends.
	if obs.progress != int64(len(data))-2000 || obs.kept != 2000 {
		t.Errorf("progress %d and %d bytes kept, want %d sent and 2000 kept", obs.progress, obs.kept, len(data)-2000)
	}
}

// A stream's part size doubles every streamGrowEvery parts, and streams
// are checked with CRC32C like files.
func TestStreamPartSizeGrows(t *testing.T) {
	const first = 4
	data := randomBytes(streamGrowEvery*first+3*2*first+5, 5)
	b := newBucket(t)
	b.algorithm = crc32C
	e, sess, _ := testEngine(b)
	f, ref, src := testStream(t, bytes.NewReader(data), first)
	st, err := e.transferStream(context.Background(), sess, f, ref, src)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != int64(len(data)) || st.checksum.Value != crc32C.base64(crc32C.update(0, data)) {
		t.Errorf("size %d, checksum %+v", f.Size, st.checksum)
	}
	if len(b.parts) != streamGrowEvery+4 {
		t.Fatalf("%d parts, want %d", len(b.parts), streamGrowEvery+4)
	}
	for nr, p := range b.parts {
		want := first
		switch {
		case nr == streamGrowEvery+4:
			want = 5
		case nr > streamGrowEvery:
			want = 2 * first
		}
		if len(p) != want {
			t.Errorf("part %d has %d bytes, want %d", nr, len(p), want)
		}
	}
	if len(src.pool.slots) != 0 {
		t.Errorf("%d buffers not given back to the pool", len(src.pool.slots))
	}
}

// A stream whose read fails aborts its multipart upload.
func TestStreamReadErrorAborts(t *testing.T) {
	b := newBucket(t)
	b.completeFn = nil
	e, sess, _ := testEngine(b)
	f, ref, src := testStream(t, io.MultiReader(bytes.NewReader(randomBytes(250, 6)), iotest.ErrReader(errors.New("pipe broke"))), 100)
	_, err := e.transferStream(context.Background(), sess, f, ref, src)
	if err == nil || !strings.Contains(err.Error(), "read: pipe broke") {
		t.Fatalf("error %v, want the read error", err)
	}
	if fmt.Sprint(b.aborted) != "[mpu-1]" {
		t.Errorf("aborted %v, want [mpu-1]", b.aborted)
	}
	if len(src.pool.slots) != 0 {
		t.Errorf("%d buffers not given back to the pool", len(src.pool.slots))
	}
}

// A stream shorter than a part goes up in one PutObject, with CRC32C.
func TestShortStreamIsPut(t *testing.T) {
	data := randomBytes(77, 7)
	store := &fakeStore{t: t, putFn: func(got []byte, a *checksumAlgorithm, sum string) (s3Answer, error) {
		if !bytes.Equal(got, data) || a != crc32C || sum != crc32C.base64(crc32C.update(0, data)) {
			t.Errorf("PutObject of %d bytes with %s %s", len(got), a.name, sum)
		}
		return s3Answer{etag: `"e"`, checksum: sum}, nil
	}}
	e, sess, _ := testEngine(store)
	f, ref, src := testStream(t, bytes.NewReader(data), 100)
	st, err := e.transferStream(context.Background(), sess, f, ref, src)
	if err != nil || st.etag != `"e"` || f.Size != 77 {
		t.Fatalf("%+v, size %d, %v", st, f.Size, err)
	}
	if len(src.pool.slots) != 0 {
		t.Errorf("the buffer was not given back to the pool")
	}
}

// S3Error says what happened and leaves the advice (flags, policies) to
// the CLI.
func TestS3ErrorNamesNoFlags(t *testing.T) {
	for _, err := range []error{accessDenied, noSuchUpload, slowDown, apiErr(400, "EntityTooSmall"), apiErr(400, "ExpiredToken"), connReset} {
		e := s3Failed(err, OpUploadPart, "videos", "k", 3)
		var se *S3Error
		if !errors.As(e, &se) || !errors.Is(e, err) {
			t.Fatalf("%v is not an S3Error wrapping its cause", e)
		}
		if strings.Contains(e.Error(), "--") || !strings.HasPrefix(e.Error(), "upload part 3 of s3://videos/k: ") {
			t.Errorf("message %q", e)
		}
		if se.Transient != (classify(err) == transient) {
			t.Errorf("%v: Transient %v", err, se.Transient)
		}
	}
	if err := s3Failed(errFileChanged, OpUploadPart, "videos", "k", 3); err != errFileChanged {
		t.Errorf("a changed file became %v", err)
	}
}
