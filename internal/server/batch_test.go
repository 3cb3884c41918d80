package server_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
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
