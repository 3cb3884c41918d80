package server_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
	"github.com/vidup/vidup/internal/server/store"
	"github.com/vidup/vidup/internal/server/store/storetest"
	"github.com/vidup/vidup/internal/testenv"
)

// eachStore runs f against one API instance on each database, SQLite and
// PostgreSQL, with MinIO (and its STS) as the store. Principal cam-00 has
// token uploader-token-00, cam-01 uploader-token-01.
func eachStore(t *testing.T, f func(t *testing.T, h *harness, inst *instance)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			m := testenv.MinIO(t)
			bucket := m.NewBucket(t)
			dsn := filepath.Join(t.TempDir(), "vidup.db")
			if backend == "postgres" {
				dsn = storetest.PostgresURL(t)
			}
			log := &syncBuffer{}
			inst := newInstance(t, m, bucket, dsn, log)
			h := &harness{t: t, minio: m, bucket: bucket, url: inst.url, log: log, clock: &clock{}}
			f(t, h, inst)
		})
	}
}

const (
	camToken   = "uploader-token-00" // principal cam-00
	cam01Token = "uploader-token-01" // principal cam-01
)

func (h *harness) batch(token, sessionID string, reqs ...contract.VideoRequest) (response, []contract.BatchEntry) {
	h.t.Helper()
	r := h.do("POST", contract.BatchPath(sessionID), token, nil, contract.BatchRequest{Videos: reqs})
	if r.status != http.StatusOK {
		return r, nil
	}
	var out contract.BatchResponse
	r.decode(h.t, &out)
	if len(out.Videos) != len(reqs) {
		h.t.Fatalf("batch of %d answered %d entries: %s", len(reqs), len(out.Videos), r.body)
	}
	return r, out.Videos
}

// TestBatchRegistration (contract v1.1 section 3c): one call registers many
// uploads of a session; each entry answers what its single call would,
// in order, and is idempotent by its upload id like the single call.
func TestBatchRegistration(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness, inst *instance) {
		var files []contract.FileRequest
		for i := range 6 {
			files = append(files, contract.FileRequest{Name: fmt.Sprintf("clip-%d.mp4", i), Size: 11})
		}
		s := h.openSessionAs(camToken, files...)
		other := h.openSessionAs(camToken, contract.FileRequest{Name: "other.mp4", Size: 11})
		c := sessionClient(s, s.Credentials)
		data := []byte("hello video")
		for _, i := range []int{0, 1, 2, 4} {
			if err := putObject(t, c, h.bucket, s.Uploads[i].Key, data); err != nil {
				t.Fatal(err)
			}
		}
		sum := &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)}
		reg := func(i int) contract.VideoRequest { return registration(s, i, 11, sum) }

		// A v1 single call still works beside the batch.
		r := h.do("POST", contract.PathVideos, camToken, map[string]string{contract.IdempotencyKeyHeader: s.Uploads[0].UploadID}, reg(0))
		if r.status != http.StatusCreated {
			t.Fatalf("single registration: %d %s", r.status, r.body)
		}
		var single contract.Video
		r.decode(t, &single)

		wrongSize := registration(s, 2, 12, nil)
		conflict := reg(0)
		conflict.Metadata = map[string]string{"camera": "another"}
		foreign := registration(other, 0, 11, nil)
		unknown := reg(5)
		unknown.UploadID = "00000000-0000-4000-8000-000000000000"
		reqs := []contract.VideoRequest{reg(0), reg(1), wrongSize, reg(3), conflict, foreign, unknown, reg(4)}
		want := []int{200, 201, 422, 404, 409, 400, 404, 201}
		r, entries := h.batch(camToken, s.SessionID, reqs...)
		if r.status != http.StatusOK {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		ids := map[int]string{}
		for i, e := range entries {
			if e.Status != want[i] {
				t.Errorf("entry %d: status %d (%s), want %d", i, e.Status, e.Error, want[i])
				continue
			}
			switch ok := e.Status == 200 || e.Status == 201; {
			case ok && (e.Video == nil || e.Video.ID == "" || e.Video.UploadID != reqs[i].UploadID || e.Error != ""):
				t.Errorf("entry %d: %d with video %+v error %q", i, e.Status, e.Video, e.Error)
			case ok:
				ids[i] = e.Video.ID
			case e.Video != nil || e.Error == "":
				t.Errorf("entry %d: %d with video %+v and error %q, want an error text only", i, e.Status, e.Video, e.Error)
			}
		}
		if ids[0] != single.ID {
			t.Fatalf("the batch's replay of upload 0 answered video %s, the single call registered %s", ids[0], single.ID)
		}
		if !strings.Contains(entries[2].Error, "12") || !strings.Contains(entries[5].Error, "batch's session") {
			t.Fatalf("entry errors do not say what is wrong: %q, %q", entries[2].Error, entries[5].Error)
		}
		if v, err := inst.store.Video(context.Background(), ids[1]); err != nil || !strings.HasPrefix(v.Key, server.SealedPrefix) || v.Principal != "cam-00" {
			t.Fatalf("the batch's video is not stored sealed: %+v, %v", v, err)
		}

		// The same batch again: every registered entry replays (200, same
		// video), every refused one is refused again, nothing is stored
		// twice.
		_, again := h.batch(camToken, s.SessionID, reqs...)
		for i, e := range again {
			w := want[i]
			if w == 201 {
				w = 200
			}
			if e.Status != w || (ids[i] != "" && e.Video.ID != ids[i]) {
				t.Errorf("replayed entry %d: %d %+v, want %d with video %s", i, e.Status, e.Video, w, ids[i])
			}
		}
		// The fixed upload registers in a later batch, and a single call
		// replays it.
		if err := putObject(t, c, h.bucket, s.Uploads[3].Key, data); err != nil {
			t.Fatal(err)
		}
		_, later := h.batch(camToken, s.SessionID, reg(3))
		if later[0].Status != 201 {
			t.Fatalf("batch after the upload: %d %s", later[0].Status, later[0].Error)
		}
		r = h.do("POST", contract.PathVideos, camToken, map[string]string{contract.IdempotencyKeyHeader: s.Uploads[3].UploadID}, reg(3))
		var v3 contract.Video
		r.decode(t, &v3)
		if r.status != http.StatusOK || v3.ID != later[0].Video.ID {
			t.Fatalf("single replay of a batch registration: %d %s", r.status, r.body)
		}
		for i := range 5 {
			reg, err := inst.store.VideoByUpload(context.Background(), s.Uploads[i].UploadID)
			if (i == 2) != (err != nil) {
				t.Fatalf("upload %d: registration %+v, %v", i, reg.Video, err)
			}
		}

		// Another principal's token, an unknown session: 404, whatever
		// the body.
		for _, tt := range []struct{ token, session string }{{cam01Token, s.SessionID}, {camToken, "00000000-0000-4000-8000-000000000000"}} {
			r, _ := h.batch(tt.token, tt.session, reg(4))
			if r.status != http.StatusNotFound {
				t.Fatalf("batch of %s on session %s: %d %s, want 404", tt.token, tt.session, r.status, r.body)
			}
			r.errorText(t)
		}
		// Bounds: no entry, more than a session's files.
		if r, _ := h.batch(camToken, s.SessionID); r.status != http.StatusBadRequest {
			t.Fatalf("empty batch: %d %s, want 400", r.status, r.body)
		}
		many := make([]contract.VideoRequest, server.MaxBatch+1)
		for i := range many {
			many[i] = reg(4)
		}
		if r, _ := h.batch(camToken, s.SessionID, many...); r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("batch of %d: %d %s, want 413", len(many), r.status, r.body)
		}
		// The pipeline role registers nothing.
		if r, _ := h.batch(pipelineToken, s.SessionID, reg(4)); r.status != http.StatusForbidden {
			t.Fatalf("batch with the pipeline's token: %d, want 403", r.status)
		}
	})
}

// A batch of a full session (100 uploads) registers every one, verified in
// parallel.
func TestBatchOfAFullSession(t *testing.T) {
	h := newHarness(t, func(c *server.Config) { c.SessionRate = -1 })
	var files []contract.FileRequest
	for i := range server.MaxBatch {
		files = append(files, contract.FileRequest{Name: fmt.Sprintf("f%03d.ts", i), Size: 4})
	}
	s := h.openSession(files...)
	c := sessionClient(s, s.Credentials)
	var reqs []contract.VideoRequest
	for i, u := range s.Uploads {
		data := []byte(fmt.Sprintf("%04d", i))
		if err := putObject(t, c, h.bucket, u.Key, data); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, registration(s, i, 4, &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)}))
	}
	r, entries := h.batch(testToken, s.SessionID, reqs...)
	if r.status != http.StatusOK {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	seen := map[string]bool{}
	for i, e := range entries {
		if e.Status != http.StatusCreated || e.Video.UploadID != s.Uploads[i].UploadID || seen[e.Video.ID] {
			t.Fatalf("entry %d: %d %+v %s", i, e.Status, e.Video, e.Error)
		}
		seen[e.Video.ID] = true
		if n := h.countVideos(s.Uploads[i].UploadID); n != 1 {
			t.Fatalf("upload %d has %d rows", i, n)
		}
	}
	// Refreshing the session now answers 404: everything is registered.
	if r := h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("refresh of a fully registered session: %d, want 404", r.status)
	}
}

// countingStore is the real store with its registrations counted, and the
// batch's transaction failing on demand.
type countingStore struct {
	store.Store
	mu      sync.Mutex
	single  int // RegisterVideo calls
	batches int // RegisterVideos calls
	fail    error
}

func (c *countingStore) RegisterVideo(ctx context.Context, r store.Registration) (store.Registration, bool, error) {
	c.mu.Lock()
	c.single++
	c.mu.Unlock()
	return c.Store.RegisterVideo(ctx, r)
}

func (c *countingStore) RegisterVideos(ctx context.Context, rs []store.Registration) ([]store.RegisterResult, error) {
	c.mu.Lock()
	c.batches++
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return c.Store.RegisterVideos(ctx, rs)
}

func (c *countingStore) counts() (single, batches int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.single, c.batches
}

func (c *countingStore) reset(fail error) {
	c.mu.Lock()
	c.single, c.batches, c.fail = 0, 0, fail
	c.mu.Unlock()
}

func (c *countingStore) wrap(cfg *server.Config) { c.Store = cfg.Store; cfg.Store = c }

// sealedKeys lists the bucket's keys under SealedPrefix: the registered
// copies, and any copy left behind.
func (h *harness) sealedKeys() []string {
	h.t.Helper()
	out, err := h.minio.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(h.bucket), Prefix: aws.String(server.SealedPrefix)})
	if err != nil {
		h.t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func wantStatuses(t *testing.T, what string, entries []contract.BatchEntry, want ...int) {
	t.Helper()
	for i, e := range entries {
		if e.Status != want[i] {
			t.Errorf("%s: entry %d: %d %s, want %d", what, i, e.Status, e.Error, want[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestBatchListsInsteadOfHeads: a batch lists the session's uploads once
// instead of heading each (the copy, conditional on the listed ETag,
// answers the checksum), and registers what it sealed in one transaction.
// The listing keeps every answer of the heads: 422 for an object of
// another checksum (its copy discarded) or size, 404 for an object not
// uploaded, 200 for replays, which neither list nor copy again.
func TestBatchListsInsteadOfHeads(t *testing.T) {
	testenv.EachS3(t, func(t *testing.T, m testenv.S3) {
		st := &countingStore{}
		h, objs, s, data := sealHarness(t, m, 10, st.wrap)
		if _, err := m.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(s.Uploads[8].Key)}); err != nil {
			t.Fatal(err)
		}
		var reqs []contract.VideoRequest
		for i := range 6 {
			reqs = append(reqs, crcRegistration(s, i, data[i]))
		}
		otherSum := crcRegistration(s, 6, []byte("segment XXXX")) // the size of data[6], other bytes
		otherSize := registration(s, 7, 13, &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data[7])})
		reqs = append(reqs, otherSum, otherSize, crcRegistration(s, 8, data[8]))
		objs.reset(nil)
		st.reset(nil)
		r, entries := h.batch(camToken, s.SessionID, reqs...)
		if r.status != http.StatusOK {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		wantStatuses(t, "batch", entries, 201, 201, 201, 201, 201, 201, 422, 422, 404)
		if len(objs.lists) != 1 || objs.lists[0] != server.SessionPrefix(s.SessionID) {
			t.Fatalf("the batch listed %q, want the session's prefix once", objs.lists)
		}
		// Only the object not uploaded, which the listing lacks, is headed.
		if n, want := objs.uploadStats(), 1; n != want {
			t.Fatalf("the batch headed %d uploaded objects (%q), want %d", n, objs.stats, want)
		}
		if n := objs.sealedStats(); n != 0 {
			t.Fatalf("%s answers the copy's checksum, yet %d copies were headed", m.Name, n)
		}
		if single, batches := st.counts(); single != 0 || batches != 1 {
			t.Fatalf("the batch registered in %d transactions of one video and %d of many, want 0 and 1", single, batches)
		}
		if e := entries[6].Error; !strings.Contains(e, s.Uploads[6].Key) || !strings.Contains(e, "CRC64NVME") || !strings.Contains(e, "upload it again") {
			t.Fatalf("another checksum: %q does not name the object and what to do", e)
		}
		if e := entries[7].Error; !strings.Contains(e, "13") || !strings.Contains(e, s.Uploads[7].Key) {
			t.Fatalf("another size: %q", e)
		}
		if e := entries[8].Error; !strings.Contains(e, "no object") || !strings.Contains(e, "finish the upload") {
			t.Fatalf("not uploaded: %q", e)
		}
		// Six copies are registered; the refused one is gone, its upload
		// kept for another try.
		sealedKeys := h.sealedKeys()
		if len(sealedKeys) != 6 {
			t.Fatalf("%d objects under %s after the batch, want the 6 registered: %q", len(sealedKeys), server.SealedPrefix, sealedKeys)
		}
		for i := range 6 {
			v, err := h.storeVideo(entries[i].Video.ID)
			if err != nil || !slices.Contains(sealedKeys, v.Key) || v.Checksum == nil || v.Checksum.Value != crc64Base64(data[i]) || v.Checksum.Type != "FULL_OBJECT" || v.ETag == "" {
				t.Fatalf("entry %d registered %+v, %v", i, v, err)
			}
		}
		if !h.exists(s.Uploads[6].Key) || !h.exists(s.Uploads[7].Key) {
			t.Fatal("a refused entry's upload was deleted")
		}

		// The same batch again: registered entries replay without S3.
		objs.reset(nil)
		_, again := h.batch(camToken, s.SessionID, reqs...)
		wantStatuses(t, "replayed batch", again, 200, 200, 200, 200, 200, 200, 422, 422, 404)
		for i := range 6 {
			if again[i].Video.ID != entries[i].Video.ID {
				t.Fatalf("replayed entry %d answered video %s, first %s", i, again[i].Video.ID, entries[i].Video.ID)
			}
		}
		if objs.copies != 1 {
			t.Fatalf("the replayed batch copied %d objects, want 1 (the one of another checksum, checked again)", objs.copies)
		}
		// Fixed, the refused entry registers.
		c := sessionClient(s, s.Credentials)
		if err := putObject(t, c, h.bucket, s.Uploads[6].Key, []byte("segment XXXX")); err != nil {
			t.Fatal(err)
		}
		_, fixed := h.batch(camToken, s.SessionID, otherSum, crcRegistration(s, 9, data[9]))
		wantStatuses(t, "fixed", fixed, 201, 201)
	})
}

// TestBatchHeadsWhatTheListingDoesNotSettle: the listing failing, an
// object changed since it was listed (the copy is conditional on the
// listed ETag), a copy whose answer carries no checksum, a copy that keeps
// none: each entry falls back to the heads, with their answers.
func TestBatchHeadsWhatTheListingDoesNotSettle(t *testing.T) {
	testenv.EachS3(t, func(t *testing.T, m testenv.S3) {
		h, objs, s, data := sealHarness(t, m, 12)

		// The listing fails: every object is headed.
		objs.reset(nil)
		objs.onList = func() error { return errors.New("listing refused") }
		_, entries := h.batch(camToken, s.SessionID, crcRegistration(s, 0, data[0]), crcRegistration(s, 1, data[1]))
		wantStatuses(t, "listing failed", entries, 201, 201)
		if n := objs.uploadStats(); n != 2 || !strings.Contains(h.log.String(), "listing refused") {
			t.Fatalf("listing failed: %d heads of uploads, want 2\n%s", n, h.log.String())
		}

		// Objects 2 and 3 change after the listing: the copy of the listed
		// object fails its condition, and the heads verify what is there
		// now. Object 2 is registered with its new bytes; object 3's
		// request still describes the old ones: 422.
		changed := []byte("segment XXXX")
		objs.reset(nil)
		objs.onList = func() error {
			for _, i := range []int{2, 3} {
				if err := putObject(t, m.Client(), h.bucket, s.Uploads[i].Key, changed); err != nil {
					return err
				}
			}
			return nil
		}
		_, entries = h.batch(camToken, s.SessionID, crcRegistration(s, 2, changed), crcRegistration(s, 3, data[3]), crcRegistration(s, 4, data[4]))
		wantStatuses(t, "changed after the listing", entries, 201, 422, 201)
		v, err := h.storeVideo(entries[0].Video.ID)
		if err != nil || v.Checksum.Value != crc64Base64(changed) || sha256Of(t, h, v.Key) != sha256.Sum256(changed) {
			t.Fatalf("changed object registered as %+v, %v", v, err)
		}
		if n := objs.uploadStats(); n != 2 {
			t.Fatalf("changed after the listing: %d heads of uploads, want 2 (the changed ones)", n)
		}
		if !strings.Contains(entries[1].Error, "differs from the file") {
			t.Fatalf("changed object of the old request: %q", entries[1].Error)
		}

		// The copy's answer carries no checksum: the copies are headed,
		// not the uploads.
		objs.reset(func(got server.ObjectInfo) server.ObjectInfo {
			got.Checksums = map[string]string{}
			return got
		})
		_, entries = h.batch(camToken, s.SessionID, crcRegistration(s, 5, data[5]), crcRegistration(s, 6, data[6]))
		wantStatuses(t, "copy without checksum", entries, 201, 201)
		if u, c := objs.uploadStats(), objs.sealedStats(); u != 0 || c != 2 {
			t.Fatalf("copy without checksum: %d heads of uploads and %d of copies, want 0 and 2", u, c)
		}

		// Neither the copy's answer nor its head has the checksum: the
		// uploads are headed and verified, the one of other bytes refused
		// and its copy discarded.
		objs.reset(func(got server.ObjectInfo) server.ObjectInfo {
			got.Checksums = map[string]string{}
			return got
		})
		objs.statAnswer = func(key string, got server.ObjectInfo) server.ObjectInfo {
			if strings.HasPrefix(key, server.SealedPrefix) {
				got.Checksums = map[string]string{}
			}
			return got
		}
		before := len(h.sealedKeys())
		_, entries = h.batch(camToken, s.SessionID, crcRegistration(s, 7, data[7]), crcRegistration(s, 8, changed))
		wantStatuses(t, "copy keeps no checksum", entries, 201, 422)
		if u := objs.uploadStats(); u != 2 {
			t.Fatalf("copy keeps no checksum: %d heads of uploads, want 2", u)
		}
		if v, err := h.storeVideo(entries[0].Video.ID); err != nil || v.Checksum == nil || v.Checksum.Value != crc64Base64(data[7]) {
			t.Fatalf("registered from the upload's head: %+v, %v", v, err)
		}
		if after := len(h.sealedKeys()); after != before+1 {
			t.Fatalf("%d sealed objects after, %d before: the refused copy is not discarded", after, before)
		}
	})
}

// TestBatchTransactionFailureLeavesNoCopy: when the batch's transaction
// fails, every entry answers 500, the sealed copies are deleted and the
// uploads kept; the batch registers once the database is back.
func TestBatchTransactionFailureLeavesNoCopy(t *testing.T) {
	st := &countingStore{}
	h, _, s, data := sealHarness(t, testenv.MinIO(t), 3, st.wrap)
	reqs := []contract.VideoRequest{crcRegistration(s, 0, data[0]), crcRegistration(s, 1, data[1]), crcRegistration(s, 2, data[2])}
	st.reset(errors.New("database down"))
	_, entries := h.batch(camToken, s.SessionID, reqs...)
	wantStatuses(t, "failed transaction", entries, 500, 500, 500)
	if keys := h.sealedKeys(); len(keys) != 0 {
		t.Fatalf("copies left after a failed transaction: %q", keys)
	}
	for i := range 3 {
		if !h.exists(s.Uploads[i].Key) {
			t.Fatalf("upload %d deleted by a failed registration", i)
		}
	}
	if !strings.Contains(h.log.String(), "database down") {
		t.Fatalf("the log does not say why:\n%s", h.log.String())
	}
	st.reset(nil)
	_, entries = h.batch(camToken, s.SessionID, reqs...)
	wantStatuses(t, "retried", entries, 201, 201, 201)
	if keys := h.sealedKeys(); len(keys) != 3 {
		t.Fatalf("sealed objects after the retry: %q", keys)
	}
}

// TestBatchClaims: an upload twice in a batch, and two identical batches
// at once (a client that gave up waiting and retried), register each
// upload once: one 201, the others 200 with the same video, and no batch
// waits for the other forever.
func TestBatchClaims(t *testing.T) {
	eachStore(t, func(t *testing.T, h *harness, inst *instance) {
		var files []contract.FileRequest
		for i := range 20 {
			files = append(files, contract.FileRequest{Name: fmt.Sprintf("clip-%02d.mp4", i), Size: 11})
		}
		s := h.openSessionAs(camToken, files...)
		c := sessionClient(s, s.Credentials)
		data := []byte("hello video")
		for _, u := range s.Uploads {
			if err := putObject(t, c, h.bucket, u.Key, data); err != nil {
				t.Fatal(err)
			}
		}
		sum := &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)}
		reg := func(i int) contract.VideoRequest { return registration(s, i, 11, sum) }

		_, entries := h.batch(camToken, s.SessionID, reg(0), reg(0), reg(1))
		wantStatuses(t, "an upload twice", entries, 201, 200, 201)
		if entries[0].Video.ID != entries[1].Video.ID {
			t.Fatalf("an upload twice in a batch answered videos %s and %s", entries[0].Video.ID, entries[1].Video.ID)
		}

		var reqs []contract.VideoRequest
		for i := 2; i < 20; i++ {
			reqs = append(reqs, reg(i))
		}
		var wg sync.WaitGroup
		answers := make([][]contract.BatchEntry, 2)
		for k := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.do("POST", contract.BatchPath(s.SessionID), camToken, nil, contract.BatchRequest{Videos: reqs})
				var out contract.BatchResponse
				if r.status == http.StatusOK {
					r.decode(t, &out)
				}
				answers[k] = out.Videos
			}()
		}
		wg.Wait()
		for i := range reqs {
			if len(answers[0]) != len(reqs) || len(answers[1]) != len(reqs) {
				t.Fatalf("batches at once answered %d and %d entries", len(answers[0]), len(answers[1]))
			}
			a, b := answers[0][i], answers[1][i]
			if a.Status+b.Status != 401 || a.Video == nil || b.Video == nil || a.Video.ID != b.Video.ID {
				t.Fatalf("entry %d of two batches at once: %d %s and %d %s, want one 201 and one 200 with the same video", i, a.Status, a.Error, b.Status, b.Error)
			}
		}
	})
}

// storeVideo reads a video of cam-00 through the API.
func (h *harness) storeVideo(id string) (contract.Video, error) {
	h.t.Helper()
	r := h.do("GET", contract.PathVideos+"/"+id, camToken, nil, nil)
	var v contract.Video
	if r.status != http.StatusOK {
		return v, fmt.Errorf("get video %s: %d %s", id, r.status, r.body)
	}
	r.decode(h.t, &v)
	return v, nil
}
