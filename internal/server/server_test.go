package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
	"github.com/vidup/vidup/internal/server/store"
	"github.com/vidup/vidup/internal/testenv"
)

// Tokens of the harness: two of principal cam-1 (rotation), one of cam-2,
// one of the pipeline.
const (
	testToken     = "test-token-0123456789"
	rotatedToken  = "second-token-abcdef"
	otherToken    = "other-principal-token-42"
	pipelineToken = "pipeline-token-777"
)

// syncBuffer collects the server's log from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t      *testing.T
	minio  testenv.S3
	bucket string
	dbPath string
	url    string
	log    *syncBuffer
	store  *store.SQLite
	clock  *clock
}

// clock is the server's time, moved by tests.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// newHarness runs the real handler on a loopback listener, with the real
// SQLite store and MinIO's real STS and S3; the server's own credentials are
// MinIO's root credentials. opts may change the configuration.
func newHarness(t *testing.T, opts ...func(*server.Config)) *harness {
	t.Helper()
	m := testenv.MinIO(t)
	h := &harness{t: t, minio: m, bucket: m.NewBucket(t), dbPath: filepath.Join(t.TempDir(), "vidup.db"), log: &syncBuffer{}, clock: &clock{}}
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	minter, objects, err := server.NewAWS(ctx, server.AWSOptions{
		Region:      m.Region,
		S3Endpoint:  m.Endpoint,
		STSEndpoint: m.Endpoint,
		PathStyle:   true,
		RoleARN:     "arn:aws:iam::000000000000:role/vidup-uploader",
		Bucket:      h.bucket,
		TTL:         server.MinTTL,
		Credentials: credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.store = st
	cam1 := server.Principal{Name: "cam-1", Role: server.RoleUploader}
	tokens, err := server.NewPrincipalTokens([]server.TokenEntry{
		{Token: testToken, Principal: cam1},
		{Token: rotatedToken, Principal: cam1},
		{Token: otherToken, Principal: server.Principal{Name: "cam-2", Role: server.RoleUploader}},
		{Token: pipelineToken, Principal: server.Principal{Name: "encoder", Role: server.RolePipeline}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		Store: st, Minter: minter, Objects: objects, Tokens: tokens,
		Bucket: h.bucket, Region: m.Region, Endpoint: m.Endpoint, PathStyle: true,
		Logger: slog.New(slog.NewTextHandler(h.log, nil)),
		Now:    h.clock.now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	h.url = hs.URL
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

// errorText checks the answer is a JSON error and returns its text.
func (r response) errorText(t *testing.T) string {
	t.Helper()
	var e contract.Error
	r.decode(t, &e)
	if e.Error == "" {
		t.Fatalf("answer %d has no error text: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer has Content-Type %q", ct)
	}
	return e.Error
}

func (h *harness) do(method, path, token string, header map[string]string, body any) response {
	h.t.Helper()
	return h.doURL(h.url, method, path, token, header, body)
}

// doURL sends a request to the server at base (one of several instances).
func (h *harness) doURL(base, method, path, token string, header map[string]string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (h *harness) openSession(files ...contract.FileRequest) contract.Session {
	h.t.Helper()
	return h.openSessionAs(testToken, files...)
}

func (h *harness) openSessionAs(token string, files ...contract.FileRequest) contract.Session {
	h.t.Helper()
	r := h.do("POST", contract.PathUploads, token, nil, contract.SessionRequest{Files: files})
	if r.status != http.StatusCreated {
		h.t.Fatalf("open session: %d %s", r.status, r.body)
	}
	var s contract.Session
	r.decode(h.t, &s)
	return s
}

// sessionClient is an S3 client with a session's temporary credentials, set
// up from the session answer alone, as an uploader would.
func sessionClient(s contract.Session, c contract.Credentials) *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: s.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
	})
}

var crc64nvme = crc64.MakeTable(0x9a6c9329ac4bc9b5)

func crc64Base64(data []byte) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], crc64.Checksum(data, crc64nvme))
	return base64.StdEncoding.EncodeToString(b[:])
}

func putObject(t *testing.T, c *s3.Client, bucket, key string, data []byte) error {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		Body:              bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme,
	})
	return err
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestSessionAnswer(t *testing.T) {
	h := newHarness(t)
	before := time.Now()
	s := h.openSession(
		contract.FileRequest{Name: "clip.mp4", Size: 1 << 30, ContentType: "video/mp4"},
		contract.FileRequest{Name: "stdin.ts", Size: contract.UnknownSize},
	)
	if s.Bucket != h.bucket || s.Region != h.minio.Region || s.Endpoint != h.minio.Endpoint || !s.PathStyle {
		t.Fatalf("session target = bucket %q region %q endpoint %q path_style %v", s.Bucket, s.Region, s.Endpoint, s.PathStyle)
	}
	c := s.Credentials
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		t.Fatal("session credentials are incomplete")
	}
	if c.Expiration.Location() != time.UTC || c.Expiration.Before(before.Add(10*time.Minute)) || c.Expiration.After(before.Add(server.MinTTL+time.Minute)) {
		t.Fatalf("expiration %v is not about %s from now, in UTC", c.Expiration, server.MinTTL)
	}
	if len(s.Uploads) != 2 {
		t.Fatalf("%d uploads for 2 files", len(s.Uploads))
	}
	for i, name := range []string{"clip.mp4", "stdin.ts"} {
		u := s.Uploads[i]
		if want := "uploads/" + s.SessionID + "/" + u.UploadID + "/" + name; u.Key != want {
			t.Errorf("uploads[%d].key = %q, want %q", i, u.Key, want)
		}
	}
	if s.Uploads[0].UploadID == s.Uploads[1].UploadID {
		t.Fatal("two uploads share an id")
	}
	// Expiration on the wire is RFC 3339 in UTC.
	r := h.do("POST", contract.PathUploads, testToken, nil, `{"files":[{"name":"a.mp4","size":1}],"future_field":true}`)
	if r.status != http.StatusCreated {
		t.Fatalf("unknown field: %d %s", r.status, r.body)
	}
	var raw struct {
		Credentials struct{ Expiration string } `json:"credentials"`
	}
	r.decode(t, &raw)
	if _, err := time.Parse(time.RFC3339, raw.Credentials.Expiration); err != nil || !strings.HasSuffix(raw.Credentials.Expiration, "Z") {
		t.Fatalf("Expiration %q is not RFC 3339 in UTC", raw.Credentials.Expiration)
	}
}

func TestSessionCredentialsScope(t *testing.T) {
	h := newHarness(t)
	other := h.minio.NewBucket(t)
	s := h.openSession(contract.FileRequest{Name: "clip.mp4", Size: 3})
	own := s.Uploads[0].Key
	c := sessionClient(s, s.Credentials)
	ctx := context.Background()
	data := []byte("abc")

	if err := putObject(t, c, h.bucket, own, data); err != nil {
		t.Fatalf("put the session's own key: %v", err)
	}
	// A multipart upload of the session's key: create, part, list parts, abort.
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(own)})
	if err != nil {
		t.Fatalf("create multipart upload of the session's key: %v", err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(h.bucket), Key: aws.String(own),
		UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("upload part of the session's key: %v", err)
	}
	parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(h.bucket), Key: aws.String(own), UploadId: mp.UploadId})
	if err != nil || len(parts.Parts) != 1 {
		t.Fatalf("list parts of the session's key: %v (%d parts)", err, len(parts.Parts))
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(own), UploadId: mp.UploadId}); err != nil {
		t.Fatalf("abort multipart upload of the session's key: %v", err)
	}
	if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(own + ".mp")}); httpStatus(err) != http.StatusForbidden {
		t.Errorf("multipart upload of another key under the session's prefix: err = %v, want 403", err)
	}

	refused := []struct{ name, bucket, key string }{
		{"another key of the session's prefix", h.bucket, own + ".extra"},
		{"the session's folder", h.bucket, strings.TrimSuffix(own, "clip.mp4") + "other.mp4"},
		{"the sealed prefix", h.bucket, server.SealedPrefix + "x/clip.mp4"},
		{"another session's prefix", h.bucket, "uploads/" + "00000000-0000-0000-0000-000000000000/x/clip.mp4"},
		{"outside uploads/", h.bucket, "clip.mp4"},
		{"a sibling prefix", h.bucket, "uploads/" + s.SessionID + "x/clip.mp4"},
		{"another bucket, same key", other, own},
	}
	for _, tt := range refused {
		err := putObject(t, c, tt.bucket, tt.key, data)
		if httpStatus(err) != http.StatusForbidden {
			t.Errorf("put on %s (s3://%s/%s): err = %v, want 403", tt.name, tt.bucket, tt.key, err)
		}
	}
	// Writing their own keys, and reading them back to confirm an upload,
	// is all they may do: no reading elsewhere, listing or deleting.
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(own)}); err != nil && httpStatus(err) != http.StatusNotFound {
		t.Errorf("head own key: err = %v, want it allowed", err)
	}
	for _, key := range []string{server.SealedPrefix + "x/clip.mp4", own + ".extra", "clip.mp4"} {
		if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)}); httpStatus(err) != http.StatusForbidden {
			t.Errorf("get s3://%s/%s: err = %v, want 403", h.bucket, key, err)
		}
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(own)}); httpStatus(err) != http.StatusForbidden {
		t.Errorf("delete own key: err = %v, want 403", err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(h.bucket)}); httpStatus(err) != http.StatusForbidden {
		t.Errorf("list bucket: err = %v, want 403", err)
	}

	// Refreshed credentials have the same scope.
	r := h.do("POST", contract.CredentialsPath(s.SessionID), testToken, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	var cr contract.CredentialsResponse
	r.decode(t, &cr)
	if cr.Credentials.AccessKeyID == s.Credentials.AccessKeyID {
		t.Fatal("refresh returned the same access key")
	}
	rc := sessionClient(s, cr.Credentials)
	if err := putObject(t, rc, h.bucket, own, data); err != nil {
		t.Fatalf("put with refreshed credentials: %v", err)
	}
	if err := putObject(t, rc, other, own, data); httpStatus(err) != http.StatusForbidden {
		t.Fatalf("refreshed credentials on another bucket: err = %v, want 403", err)
	}

	r = h.do("POST", contract.CredentialsPath("3f1b7c2e-0000-4000-8000-000000000000"), testToken, nil, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("refresh of an unknown session: %d, want 404", r.status)
	}
	r.errorText(t)

	// Neither the credentials nor the API token reach the log.
	log := h.log.String()
	for _, secret := range []string{testToken, s.Credentials.SecretAccessKey, s.Credentials.SessionToken, cr.Credentials.SecretAccessKey, cr.Credentials.SessionToken, h.minio.SecretKey} {
		if strings.Contains(log, secret) {
			t.Fatalf("a secret reached the server log:\n%s", log)
		}
	}
	if !strings.Contains(log, "path="+contract.PathUploads) {
		t.Fatalf("no access log line for the session request:\n%s", log)
	}
}

func registration(s contract.Session, i int, size int64, ck *contract.Checksum) contract.VideoRequest {
	u := s.Uploads[i]
	return contract.VideoRequest{
		UploadID: u.UploadID, SessionID: s.SessionID, Bucket: s.Bucket, Key: u.Key,
		Filename: filepath.Base(u.Key), Size: size, ContentType: "video/mp4",
		Checksum: ck, Metadata: map[string]string{"camera": "cam-3"},
	}
}

func (h *harness) register(req contract.VideoRequest) response {
	h.t.Helper()
	return h.do("POST", contract.PathVideos, testToken, map[string]string{contract.IdempotencyKeyHeader: req.UploadID}, req)
}

func (h *harness) countVideos(uploadID string) int {
	h.t.Helper()
	db, err := sql.Open("sqlite", "file:"+h.dbPath)
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM videos WHERE upload_id = ?`, uploadID).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestRegisterVideo(t *testing.T) {
	h := newHarness(t)
	s := h.openSession(
		contract.FileRequest{Name: "good.mp4", Size: 11},
		contract.FileRequest{Name: "size.mp4", Size: 11},
		contract.FileRequest{Name: "sum.mp4", Size: 11},
		contract.FileRequest{Name: "missing.mp4", Size: 11},
	)
	other := h.openSession(contract.FileRequest{Name: "other.mp4", Size: 11})
	c := sessionClient(s, s.Credentials)
	data := []byte("hello video")
	for i := range 3 {
		if err := putObject(t, c, h.bucket, s.Uploads[i].Key, data); err != nil {
			t.Fatal(err)
		}
	}
	oc := sessionClient(other, other.Credentials)
	if err := putObject(t, oc, h.bucket, other.Uploads[0].Key, data); err != nil {
		t.Fatal(err)
	}
	sum := &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)}

	good := registration(s, 0, int64(len(data)), sum)
	good.Media = &contract.Media{Container: "mp4", DurationS: 2, Complete: true, FastStart: true,
		Streams: []contract.MediaStream{{Type: "video", Codec: "h264", Profile: "High", Width: 320, Height: 240, FPS: 25}}}
	r := h.register(good)
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var first contract.Video
	r.decode(t, &first)
	if first.ID == "" || first.UploadID != good.UploadID || !strings.HasPrefix(first.Key, server.SealedPrefix+first.ID+"/") || first.Size != int64(len(data)) || first.Principal != "cam-1" ||
		first.Checksum == nil || first.Checksum.Value != sum.Value || first.ETag == "" || first.Metadata["camera"] != "cam-3" ||
		!reflect.DeepEqual(first.Media, good.Media) {
		t.Fatalf("registered video = %+v", first)
	}
	// A replay without the media object (a client completing the
	// registration from its outbox, without probing again) is the same
	// registration: 200, the first media kept.
	noMedia := good
	noMedia.Media = nil
	if r := h.register(noMedia); r.status != http.StatusOK {
		t.Fatalf("replay without media: %d %s, want 200", r.status, r.body)
	} else {
		var again contract.Video
		r.decode(t, &again)
		if again.ID != first.ID || !reflect.DeepEqual(again.Media, good.Media) {
			t.Fatalf("replay without media answered %+v", again)
		}
	}

	for range 2 {
		r = h.register(good)
		if r.status != http.StatusOK {
			t.Fatalf("replay: %d %s, want 200", r.status, r.body)
		}
		var again contract.Video
		r.decode(t, &again)
		if again.ID != first.ID {
			t.Fatalf("replay answered video %s, first was %s", again.ID, first.ID)
		}
	}
	if n := h.countVideos(good.UploadID); n != 1 {
		t.Fatalf("%d rows for one upload, want 1", n)
	}

	r = h.do("GET", contract.PathVideos+"/"+first.ID, testToken, nil, nil)
	var got contract.Video
	r.decode(t, &got)
	if r.status != http.StatusOK || got.ID != first.ID || got.Key != first.Key || !reflect.DeepEqual(got.Media, good.Media) {
		t.Fatalf("get video: %d %s", r.status, r.body)
	}

	wrongSum := &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64([]byte("other bytes"))}
	withoutSessionKey := registration(s, 1, 11, nil)
	withoutSessionKey.Key = other.Uploads[0].Key
	claimOther := registration(other, 0, 11, nil)
	claimOther.SessionID = s.SessionID
	badBucket := registration(s, 1, 11, nil)
	badBucket.Bucket = "not-" + h.bucket
	tooManyStreams := registration(s, 1, 11, nil)
	tooManyStreams.Media = &contract.Media{Container: "mxf", Streams: make([]contract.MediaStream, 200)}

	tests := []struct {
		name   string
		req    contract.VideoRequest
		status int
		want   string // a piece of the error text
	}{
		{"wrong size", registration(s, 1, 12, nil), http.StatusUnprocessableEntity, "12"},
		{"wrong checksum", registration(s, 2, 11, wrongSum), http.StatusUnprocessableEntity, "checksum"},
		{"checksum S3 does not hold", registration(s, 2, 11, &contract.Checksum{Algorithm: "CRC32C", Value: "AAAAAA=="}), http.StatusUnprocessableEntity, "CRC32C"},
		{"missing object", registration(s, 3, 11, nil), http.StatusNotFound, "no object"},
		{"another session's key", withoutSessionKey, http.StatusBadRequest, "not the key"},
		{"another session's upload", claimOther, http.StatusBadRequest, "does not belong"},
		{"another bucket", badBucket, http.StatusBadRequest, "bucket"},
		{"negative size", registration(s, 1, -1, nil), http.StatusBadRequest, "size"},
		{"unknown algorithm", registration(s, 1, 11, &contract.Checksum{Algorithm: "MD5", Value: "x"}), http.StatusBadRequest, "MD5"},
		{"media with too many streams", tooManyStreams, http.StatusBadRequest, "streams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.register(tt.req)
			if r.status != tt.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.status)
			}
			if msg := r.errorText(t); !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q does not mention %q", msg, tt.want)
			}
			if n := h.countVideos(tt.req.UploadID); n != 0 && tt.req.UploadID != good.UploadID {
				t.Fatalf("a refused registration stored %d rows", n)
			}
		})
	}

	t.Run("unknown upload", func(t *testing.T) {
		req := registration(s, 1, 11, nil)
		req.UploadID = "00000000-0000-4000-8000-000000000000"
		r := h.register(req)
		if r.status != http.StatusNotFound {
			t.Fatalf("status %d %s, want 404", r.status, r.body)
		}
	})
	t.Run("idempotency key", func(t *testing.T) {
		req := registration(s, 1, 11, nil)
		for _, hdr := range []map[string]string{nil, {contract.IdempotencyKeyHeader: s.Uploads[2].UploadID}} {
			r := h.do("POST", contract.PathVideos, testToken, hdr, req)
			if r.status != http.StatusBadRequest {
				t.Fatalf("header %v: status %d %s, want 400", hdr, r.status, r.body)
			}
			if msg := r.errorText(t); !strings.Contains(msg, contract.IdempotencyKeyHeader) {
				t.Fatalf("error %q does not name the header", msg)
			}
		}
	})
	// The refused upload registers once it is right.
	r = h.register(registration(s, 1, 11, sum))
	if r.status != http.StatusCreated {
		t.Fatalf("register after a refusal: %d %s", r.status, r.body)
	}
}

// A multipart object with a full-object checksum registers, and its sealed
// copy holds the same bytes and checksum: by CopyObject, and part by part
// (UploadPartCopy, used above 5 GiB) when the threshold is lowered.
func TestRegisterMultipartFullObjectChecksum(t *testing.T) {
	for _, tt := range []struct {
		name      string
		threshold int64
	}{{"copy object", 0}, {"part copy", 5 << 20}} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *server.Config) {
				o := c.Objects.(server.S3Objects)
				o.CopyThreshold, o.CopyPartSize = tt.threshold, 5<<20
				c.Objects = o
			})
			registerMultipart(t, h, tt.threshold > 0)
		})
	}
}

func registerMultipart(t *testing.T, h *harness, partCopy bool) {
	const partSize = 5 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), (partSize+1000)/16)
	s := h.openSession(contract.FileRequest{Name: "big.mov", Size: int64(len(data))})
	c := sessionClient(s, s.Credentials)
	ctx := context.Background()
	key := s.Uploads[0].Key
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(h.bucket), Key: aws.String(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme, ChecksumType: types.ChecksumTypeFullObject,
	})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i, part := range [][]byte{data[:partSize], data[partSize:]} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: mp.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(part),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme,
		})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC64NVME: out.ChecksumCRC64NVME})
	}
	full := crc64Base64(data)
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: mp.UploadId,
		MultipartUpload:   &types.CompletedMultipartUpload{Parts: done},
		ChecksumCRC64NVME: aws.String(full), ChecksumType: types.ChecksumTypeFullObject,
	}); err != nil {
		t.Fatal(err)
	}
	r := h.register(registration(s, 0, int64(len(data)), &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: full}))
	if r.status != http.StatusCreated {
		t.Fatalf("register a multipart object: %d %s", r.status, r.body)
	}
	var v contract.Video
	r.decode(t, &v)
	// The record describes the sealed copy, which is what the pipeline reads.
	head, err := h.minio.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(v.Key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("head the sealed copy %s: %v", v.Key, err)
	}
	if aws.ToString(head.ETag) != v.ETag || aws.ToInt64(head.ContentLength) != int64(len(data)) {
		t.Fatalf("sealed copy: ETag %s size %d; the record says %s %d", aws.ToString(head.ETag), aws.ToInt64(head.ContentLength), v.ETag, v.Size)
	}
	if multi := strings.HasSuffix(strings.Trim(v.ETag, `"`), "-2"); multi != partCopy {
		t.Fatalf("sealed copy ETag %s: copied in two parts = %v, want %v", v.ETag, multi, partCopy)
	}
	if !partCopy && aws.ToString(head.ChecksumCRC64NVME) != full {
		t.Fatalf("sealed copy's CRC64NVME = %q, want %q", aws.ToString(head.ChecksumCRC64NVME), full)
	}
	if got := sha256Of(t, h, v.Key); got != sha256.Sum256(data) {
		t.Fatal("the sealed copy's bytes differ from the upload's")
	}
	if _, err := h.minio.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)}); httpStatus(err) != http.StatusNotFound {
		t.Fatalf("the uploaded object is still there after sealing: err = %v", err)
	}
}

// sha256Of reads an object as the pipeline would and hashes it.
func sha256Of(t *testing.T, h *harness, key string) [sha256.Size]byte {
	t.Helper()
	out, err := h.minio.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", h.bucket, key, err)
	}
	defer out.Body.Close()
	d := sha256.New()
	if _, err := io.Copy(d, out.Body); err != nil {
		t.Fatal(err)
	}
	return [sha256.Size]byte(d.Sum(nil))
}

func TestBadSessionRequests(t *testing.T) {
	h := newHarness(t)
	files := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"name":"f%d.mp4","size":1}`, i)
		}
		return `{"files":[` + strings.Join(parts, ",") + `]}`
	}
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"malformed JSON", `{"files":[`, http.StatusBadRequest},
		{"not an object", `[1,2]`, http.StatusBadRequest},
		{"empty body", ``, http.StatusBadRequest},
		{"no files", `{"files":[]}`, http.StatusBadRequest},
		{"files missing", `{}`, http.StatusBadRequest},
		{"101 files", files(101), http.StatusRequestEntityTooLarge},
		{"size -2", `{"files":[{"name":"a.mp4","size":-2}]}`, http.StatusBadRequest},
		{"size above 48.8 TiB", fmt.Sprintf(`{"files":[{"name":"a.mp4","size":%d}]}`, server.MaxObjectSize+1), http.StatusBadRequest},
		{"size not a number", `{"files":[{"name":"a.mp4","size":"big"}]}`, http.StatusBadRequest},
		{"control char in content type", `{"files":[{"name":"a.mp4","size":1,"content_type":"video/mp4\r\nX: y"}]}`, http.StatusBadRequest},
		{"body above 1 MiB", `{"files":[{"name":"` + strings.Repeat("a", 2<<20) + `","size":1}]}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", contract.PathUploads, testToken, nil, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tt.status)
			}
			r.errorText(t)
		})
	}

	// The edges that are accepted.
	s := h.openSession(
		contract.FileRequest{Name: "../../etc/passwd", Size: 0},
		contract.FileRequest{Name: "", Size: contract.UnknownSize},
		contract.FileRequest{Name: strings.Repeat("x", 5000) + ".mp4", Size: server.MaxObjectSize},
		contract.FileRequest{Name: "a\x00b\nc\x1b.mp4", Size: 1},
	)
	prefix := "uploads/" + s.SessionID + "/"
	wantNames := []string{"passwd", server.FallbackName, strings.Repeat("x", server.MaxNameBytes-4) + ".mp4", "abc.mp4"}
	for i, want := range wantNames {
		u := s.Uploads[i]
		if u.Key != prefix+u.UploadID+"/"+want {
			t.Errorf("file %d: key %q, want name %q", i, u.Key, want)
		}
	}
	r := h.do("POST", contract.PathUploads, testToken, nil, files(100))
	if r.status != http.StatusCreated {
		t.Fatalf("100 files: %d %s", r.status, r.body)
	}
}

func TestAuthAndRoutes(t *testing.T) {
	h := newHarness(t)
	s := h.openSession(contract.FileRequest{Name: "a.mp4", Size: 1})
	endpoints := []struct{ method, path, body string }{
		{"POST", contract.PathUploads, `{"files":[{"name":"a.mp4","size":1}]}`},
		{"POST", contract.CredentialsPath(s.SessionID), ``},
		{"POST", contract.PathVideos, `{}`},
		{"GET", contract.PathVideos, ``},
		{"GET", contract.PathVideos + "/x", ``},
		{"GET", "/api/v1/nothing", ``},
	}
	for _, e := range endpoints {
		for _, tok := range []string{"", "wrong-token", testToken + "x", strings.ToUpper(testToken)} {
			r := h.do(e.method, e.path, tok, nil, e.body)
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d, want 401", e.method, e.path, tok, r.status)
				continue
			}
			r.errorText(t)
		}
	}
	// Either configured token works.
	if r := h.do("GET", contract.PathVideos, rotatedToken, nil, nil); r.status != http.StatusOK {
		t.Fatalf("second token: %d %s", r.status, r.body)
	}

	r := h.do("GET", "/api/v1/nothing", testToken, nil, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("unknown route: %d", r.status)
	}
	r.errorText(t)
	r = h.do("DELETE", contract.PathUploads, testToken, nil, nil)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
		t.Fatalf("wrong method: %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	r.errorText(t)
	r = h.do("GET", contract.PathVideos+"/nope", testToken, nil, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("unknown video: %d", r.status)
	}
	r.errorText(t)

	r = h.do("GET", server.PathHealth, "", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("health without a token: %d %s", r.status, r.body)
	}
}

func TestListVideosPagination(t *testing.T) {
	h := newHarness(t)
	var files []contract.FileRequest
	for i := range 5 {
		files = append(files, contract.FileRequest{Name: fmt.Sprintf("v%d.mp4", i), Size: 1})
	}
	s := h.openSession(files...)
	c := sessionClient(s, s.Credentials)
	for i := range s.Uploads {
		if err := putObject(t, c, h.bucket, s.Uploads[i].Key, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if r := h.register(registration(s, i, 1, nil)); r.status != http.StatusCreated {
			t.Fatalf("register %d: %d %s", i, r.status, r.body)
		}
	}
	var names []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		path := contract.PathVideos + "?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := h.do("GET", path, testToken, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		var l contract.VideoList
		r.decode(t, &l)
		if len(l.Videos) > 2 {
			t.Fatalf("page of %d videos with limit 2", len(l.Videos))
		}
		for _, v := range l.Videos {
			names = append(names, v.Filename)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if got, want := strings.Join(names, ","), "v4.mp4,v3.mp4,v2.mp4,v1.mp4,v0.mp4"; got != want {
		t.Fatalf("listed %s, want newest first %s", got, want)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?cursor=garbage"} {
		r := h.do("GET", contract.PathVideos+q, testToken, nil, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("list%s: %d, want 400", q, r.status)
		}
	}
}
