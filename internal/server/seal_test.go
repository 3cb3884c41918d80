package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
	"github.com/vidup/vidup/internal/testenv"
)

// countingObjects is the real Objects with every call counted, and the
// sealing copy's answer or DeleteMany's result changed on demand.
type countingObjects struct {
	server.Objects
	mu          sync.Mutex
	stats       []string   // keys headed
	deletes     []string   // keys deleted one by one
	deleteMany  [][]string // keys of each DeleteMany
	copyAnswer  func(server.ObjectInfo) server.ObjectInfo
	statAnswer  func(key string, got server.ObjectInfo) server.ObjectInfo
	deleteError error
	lists       []string // prefixes listed
	copies      int
	// onList, when set, runs after each listing, and its error replaces
	// the listing's.
	onList func() error
}

func (o *countingObjects) List(ctx context.Context, bucket, prefix string) ([]server.ListedObject, error) {
	l, err := o.Objects.List(ctx, bucket, prefix)
	o.mu.Lock()
	o.lists = append(o.lists, prefix)
	f := o.onList
	o.mu.Unlock()
	if f != nil {
		if ferr := f(); ferr != nil {
			return nil, ferr
		}
	}
	return l, err
}

// uploadStats counts the heads of keys not under SealedPrefix: of an
// uploaded object.
func (o *countingObjects) uploadStats() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, k := range o.stats {
		if !strings.HasPrefix(k, server.SealedPrefix) {
			n++
		}
	}
	return n
}

func (o *countingObjects) Stat(ctx context.Context, bucket, key string) (server.ObjectInfo, error) {
	o.mu.Lock()
	o.stats = append(o.stats, key)
	f := o.statAnswer
	o.mu.Unlock()
	got, err := o.Objects.Stat(ctx, bucket, key)
	if err == nil && f != nil {
		got = f(key, got)
	}
	return got, err
}

func (o *countingObjects) Copy(ctx context.Context, bucket, src, dst string, info server.ObjectInfo, alg string) (server.ObjectInfo, error) {
	got, err := o.Objects.Copy(ctx, bucket, src, dst, info, alg)
	o.mu.Lock()
	o.copies++
	f := o.copyAnswer
	o.mu.Unlock()
	if err == nil && f != nil {
		got = f(got)
	}
	return got, err
}

func (o *countingObjects) Delete(ctx context.Context, bucket, key string) error {
	o.mu.Lock()
	o.deletes = append(o.deletes, key)
	o.mu.Unlock()
	return o.Objects.Delete(ctx, bucket, key)
}

func (o *countingObjects) DeleteMany(ctx context.Context, bucket string, keys []string) error {
	o.mu.Lock()
	o.deleteMany = append(o.deleteMany, slices.Clone(keys))
	fail := o.deleteError
	o.mu.Unlock()
	if fail != nil {
		return fail
	}
	return o.Objects.DeleteMany(ctx, bucket, keys)
}

// reset forgets the calls counted so far and sets the copy's answer.
func (o *countingObjects) reset(copyAnswer func(server.ObjectInfo) server.ObjectInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats, o.deletes, o.deleteMany, o.copyAnswer = nil, nil, nil, copyAnswer
	o.lists, o.copies, o.onList, o.statAnswer = nil, 0, nil, nil
}

func (o *countingObjects) failDeletes(err error) {
	o.mu.Lock()
	o.deleteError = err
	o.mu.Unlock()
}

// sealedStats counts the heads of keys under SealedPrefix: of a copy.
func (o *countingObjects) sealedStats() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, k := range o.stats {
		if strings.HasPrefix(k, server.SealedPrefix) {
			n++
		}
	}
	return n
}

// sealHarness runs one instance on m with static keys (no STS, so it works
// on versitygw too), its Objects counted.
func sealHarness(t *testing.T, m testenv.S3, files int, opts ...func(*server.Config)) (*harness, *countingObjects, contract.Session, [][]byte) {
	t.Helper()
	bucket := m.NewBucket(t)
	static, err := server.NewStaticMinter([]server.StaticKey{{Principal: "cam-00", AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	objs := &countingObjects{}
	log := &syncBuffer{}
	inst := newInstance(t, m, bucket, t.TempDir()+"/vidup.db", log, func(c *server.Config) {
		c.Minter = static
		objs.Objects = c.Objects
		c.Objects = objs
		for _, o := range opts {
			o(c)
		}
	})
	h := &harness{t: t, minio: m, bucket: bucket, url: inst.url, log: log}
	var reqs []contract.FileRequest
	for i := range files {
		reqs = append(reqs, contract.FileRequest{Name: fmt.Sprintf("seg-%02d.ts", i), Size: 12})
	}
	s := h.openSessionAs(camToken, reqs...)
	c := sessionClient(s, s.Credentials)
	var data [][]byte
	for i, u := range s.Uploads {
		b := []byte(fmt.Sprintf("segment %04d", i))
		if err := putObject(t, c, bucket, u.Key, b); err != nil {
			t.Fatal(err)
		}
		data = append(data, b)
	}
	return h, objs, s, data
}

func (h *harness) exists(key string) bool {
	h.t.Helper()
	_, err := h.minio.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
	if err != nil && httpStatus(err) != http.StatusNotFound {
		h.t.Fatal(err)
	}
	return err == nil
}

func crcRegistration(s contract.Session, i int, data []byte) contract.VideoRequest {
	return registration(s, i, int64(len(data)), &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)})
}

// TestSealTrustsTheCopysChecksum: the sealing copy is checked on
// CopyObject's own answer when it carries the full-object checksum asked
// for (no head of the copy), and headed only when it does not; a copy
// whose checksum differs is discarded and nothing is registered. On both
// S3 servers, for the real answers, and with the answer changed.
func TestSealTrustsTheCopysChecksum(t *testing.T) {
	testenv.EachS3(t, func(t *testing.T, m testenv.S3) {
		h, objs, s, data := sealHarness(t, m, 3)
		ctx := context.Background()
		register := func(i int) (response, contract.Video) {
			r := h.do("POST", contract.PathVideos, camToken, map[string]string{contract.IdempotencyKeyHeader: s.Uploads[i].UploadID}, crcRegistration(s, i, data[i]))
			var v contract.Video
			if r.status == http.StatusCreated {
				r.decode(t, &v)
			}
			return r, v
		}
		// What the store answers: the registered ETag and checksum are the
		// copy's, whether read from the copy's answer or from a head.
		var carried atomic.Bool
		objs.reset(func(got server.ObjectInfo) server.ObjectInfo {
			carried.Store(got.ETag != "" && got.Checksums["CRC64NVME"] != "")
			return got
		})
		r, v := register(0)
		if r.status != http.StatusCreated {
			t.Fatalf("register: %d %s\n%s", r.status, r.body, h.log.String())
		}
		head, err := m.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(v.Key)})
		if err != nil {
			t.Fatal(err)
		}
		if v.ETag != aws.ToString(head.ETag) || v.Size != int64(len(data[0])) || v.Checksum == nil || v.Checksum.Value != crc64Base64(data[0]) || v.Checksum.Type != "FULL_OBJECT" {
			t.Fatalf("registered etag %s size %d checksum %+v; the copy has etag %s", v.ETag, v.Size, v.Checksum, aws.ToString(head.ETag))
		}
		answered := carried.Load()
		want := 1
		if answered {
			want = 0
		}
		if n := objs.sealedStats(); n != want {
			t.Fatalf("%s's copy answered its checksum: %v; the copy was headed %d times, want %d", m.Name, answered, n, want)
		}
		t.Logf("%s answers the checksum of a CopyObject: %v", m.Name, answered)
		if m.Name == "minio" && !answered {
			t.Fatalf("MinIO answered no CRC64NVME to a CopyObject asked for it; the head it saves is not saved")
		}

		// A store that answers no checksum to the copy: the copy is headed.
		objs.reset(func(got server.ObjectInfo) server.ObjectInfo {
			got.Checksums = map[string]string{}
			return got
		})
		if r, _ := register(1); r.status != http.StatusCreated || objs.sealedStats() != 1 {
			t.Fatalf("copy without a checksum in its answer: %d %s, %d heads of the copy, want 201 and 1", r.status, r.body, objs.sealedStats())
		}

		// A copy whose answered checksum differs from the verified one is
		// discarded, nothing is registered, the upload stays for a retry.
		var sealedKey string
		objs.reset(func(got server.ObjectInfo) server.ObjectInfo {
			got.Checksums = map[string]string{"CRC64NVME": crc64Base64([]byte("other bytes"))}
			return got
		})
		r, _ = register(2)
		if r.status != http.StatusBadGateway || !strings.Contains(r.errorText(t), "copy") {
			t.Fatalf("copy with another checksum: %d %s, want 502", r.status, r.body)
		}
		for _, l := range strings.Split(h.log.String(), "\n") {
			if strings.Contains(l, "the sealed copy differs") {
				_, sealedKey, _ = strings.Cut(l, "key=")
				sealedKey, _, _ = strings.Cut(sealedKey, " ")
			}
		}
		if !strings.HasPrefix(sealedKey, server.SealedPrefix) || h.exists(sealedKey) {
			t.Fatalf("the refused copy %q is still there (or the log does not name it)\n%s", sealedKey, h.log.String())
		}
		if !h.exists(s.Uploads[2].Key) {
			t.Fatal("a refused registration deleted the upload")
		}
		objs.reset(nil)
		if r, _ := register(2); r.status != http.StatusCreated {
			t.Fatalf("retry after a bad copy: %d %s", r.status, r.body)
		}
	})
}

// TestBatchDeletesItsUploadsAtOnce: a batch deletes the uploads it sealed
// with one DeleteMany once every entry is registered (not one Delete per
// entry), keeps the uploads of refused entries, and a failed delete leaves
// the registrations registered. A single call deletes its own upload.
func TestBatchDeletesItsUploadsAtOnce(t *testing.T) {
	testenv.EachS3(t, func(t *testing.T, m testenv.S3) {
		h, objs, s, data := sealHarness(t, m, 8)
		reqs := []contract.VideoRequest{crcRegistration(s, 0, data[0]), crcRegistration(s, 1, data[1]),
			registration(s, 2, 13, nil), crcRegistration(s, 3, data[3])}
		objs.reset(nil)
		r, entries := h.batch(camToken, s.SessionID, reqs...)
		if r.status != http.StatusOK {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		for i, want := range []int{201, 201, 422, 201} {
			if entries[i].Status != want {
				t.Fatalf("entry %d: %d %s, want %d", i, entries[i].Status, entries[i].Error, want)
			}
		}
		wantKeys := slices.Sorted(slices.Values([]string{s.Uploads[0].Key, s.Uploads[1].Key, s.Uploads[3].Key}))
		if len(objs.deleteMany) != 1 || len(objs.deletes) != 0 {
			t.Fatalf("the batch deleted with %d DeleteMany and %d Delete, want 1 and 0", len(objs.deleteMany), len(objs.deletes))
		}
		got := slices.Sorted(slices.Values(objs.deleteMany[0]))
		if !slices.Equal(got, wantKeys) {
			t.Fatalf("the batch deleted %q, want %q", got, wantKeys)
		}
		for i := range 4 {
			if h.exists(s.Uploads[i].Key) != (i == 2) {
				t.Fatalf("upload %d exists: %v after the batch", i, i == 2)
			}
		}
		// A replayed batch seals nothing, so deletes nothing.
		objs.reset(nil)
		if _, again := h.batch(camToken, s.SessionID, reqs[0], reqs[1]); again[0].Status != 200 || again[1].Status != 200 || len(objs.deleteMany) != 0 {
			t.Fatalf("replayed batch: %+v, %d DeleteMany", again, len(objs.deleteMany))
		}

		// A failed delete is a warning: the entries are registered.
		objs.reset(nil)
		objs.failDeletes(errors.New("store refuses deletes"))
		_, entries = h.batch(camToken, s.SessionID, crcRegistration(s, 4, data[4]), crcRegistration(s, 5, data[5]))
		objs.failDeletes(nil)
		if entries[0].Status != 201 || entries[1].Status != 201 || !strings.Contains(h.log.String(), "store refuses deletes") {
			t.Fatalf("batch with a failing delete: %+v\n%s", entries, h.log.String())
		}
		if !h.exists(s.Uploads[4].Key) {
			t.Fatal("the failing delete deleted")
		}

		// The single call deletes its own upload, alone.
		objs.reset(nil)
		r = h.do("POST", contract.PathVideos, camToken, map[string]string{contract.IdempotencyKeyHeader: s.Uploads[6].UploadID}, crcRegistration(s, 6, data[6]))
		if r.status != http.StatusCreated || !slices.Equal(objs.deletes, []string{s.Uploads[6].Key}) || len(objs.deleteMany) != 0 || h.exists(s.Uploads[6].Key) {
			t.Fatalf("single registration: %d, deleted %q one by one and %d DeleteMany, upload exists %v", r.status, objs.deletes, len(objs.deleteMany), h.exists(s.Uploads[6].Key))
		}
	})
}
