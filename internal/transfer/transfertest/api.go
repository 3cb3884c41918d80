// Package transfertest is a contract server for the upload engine's and the
// CLI's tests: it follows the upload contract v1.1, mints real temporary
// credentials with MinIO's STS AssumeRole and a session policy (or hands out
// static keys on a server without STS, such as versitygw), verifies
// objects before it registers them, and can be told to fail. It stands in
// for any company's API, which is what the uploader must work against.
package transfertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/testenv"
)

// API is a running contract server.
type API struct {
	URL    string
	Token  string
	Bucket string
	// Endpoint is the S3 endpoint handed to clients (MinIO's, or a proxy
	// in front of it). Set it before the first session.
	Endpoint string

	s3  testenv.S3
	sts *sts.Client

	mu sync.Mutex
	// RegisterFault, when set, answers a registration attempt (n counts the
	// attempts of that upload id, from 1) with status and message instead
	// of registering; status 0 lets it through.
	RegisterFault func(uploadID string, n int) (status int, message string)
	// SessionFault, when set, answers POST /api/v1/uploads with a raw
	// status, content type and body.
	SessionFault func() (status int, contentType, body string)
	// AllowRead adds s3:GetObject to the session policy, so that clients
	// may HeadObject what they uploaded. The contract does not promise it.
	AllowRead bool
	// Credentials, when set, changes the credentials handed out.
	Credentials func(contract.Credentials) contract.Credentials
	// Checksum, when set, is the session's checksum mode (contract v1.1).
	Checksum *contract.ChecksumMode
	// Batch serves batch registration (contract v1.1 section 3c); without
	// it the server is v1 and answers 404 there.
	Batch bool

	// V1 answers package requests as a v1 server does: 400.
	V1 bool

	attempts      map[string]int
	videos        map[string]contract.Video // by upload id
	packages      map[string]*contract.PackageRequest
	pkgRegs       []contract.VideoRequest
	registrations []contract.VideoRequest
	sessions      map[string]*contract.Session
	refreshes     int
	batches       int
	trust         bool
}

// New starts a contract server over the MinIO of s, writing to bucket.
func New(t testing.TB, s testenv.S3, bucket string) *API {
	t.Helper()
	a := &API{
		Token: "test-token-" + testenv.RandomHex(8), Bucket: bucket, Endpoint: s.Endpoint, s3: s,
		attempts: map[string]int{}, videos: map[string]contract.Video{}, sessions: map[string]*contract.Session{},
		packages: map[string]*contract.PackageRequest{},
	}
	a.sts = sts.New(sts.Options{
		Region: s.Region, BaseEndpoint: aws.String(s.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+contract.PathUploads, a.createSession)
	mux.HandleFunc("POST "+contract.PathUploads+"/{id}/credentials", a.refresh)
	mux.HandleFunc("POST "+contract.PathVideos, a.register)
	mux.HandleFunc("POST "+contract.PathUploads+"/{id}/videos", a.registerBatch)
	srv := httptest.NewServer(a.auth(mux))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *API) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+a.Token {
			writeError(w, http.StatusUnauthorized, "missing or unknown API token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, contract.Error{Error: msg})
}

func (a *API) mint(ctx context.Context, sessionID string) (contract.Credentials, error) {
	if !a.s3.STS {
		// No STS: the server's keys, static (no token, no expiry).
		c := contract.Credentials{AccessKeyID: a.s3.AccessKey, SecretAccessKey: a.s3.SecretKey}
		a.mu.Lock()
		f := a.Credentials
		a.mu.Unlock()
		if f != nil {
			c = f(c)
		}
		return c, nil
	}
	actions := `"s3:PutObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"`
	a.mu.Lock()
	if a.AllowRead {
		actions += `,"s3:GetObject"`
	}
	a.mu.Unlock()
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[%s],"Resource":["arn:aws:s3:::%s/uploads/%s/*"]}]}`, actions, a.Bucket, sessionID)
	out, err := a.sts.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::000000000000:role/vidup"), RoleSessionName: aws.String("vidup-test"),
		Policy: aws.String(policy), DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		return contract.Credentials{}, err
	}
	c := contract.Credentials{
		AccessKeyID: aws.ToString(out.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken: aws.ToString(out.Credentials.SessionToken), Expiration: aws.ToTime(out.Credentials.Expiration).UTC(),
	}
	a.mu.Lock()
	f := a.Credentials
	a.mu.Unlock()
	if f != nil {
		c = f(c)
	}
	return c, nil
}

func (a *API) createSession(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	fault := a.SessionFault
	a.mu.Unlock()
	if fault != nil {
		status, ct, body := fault()
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		w.Write([]byte(body))
		return
	}
	var req contract.SessionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err == nil && req.Package != nil {
		a.createPackage(w, r, req.Package)
		return
	}
	if len(req.Files) == 0 || len(req.Files) > contract.MaxFilesPerSession {
		writeError(w, http.StatusBadRequest, "a session covers 1 to 100 files")
		return
	}
	id := testenv.RandomHex(8)
	creds, err := a.mint(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusBadGateway, "mint credentials: "+err.Error())
		return
	}
	a.mu.Lock()
	checksum := a.Checksum
	a.mu.Unlock()
	s := &contract.Session{SessionID: id, Bucket: a.Bucket, Region: a.s3.Region, Endpoint: a.Endpoint, PathStyle: true, Checksum: checksum, Credentials: creds}
	for _, f := range req.Files {
		uid := testenv.RandomHex(8)
		name := strings.NewReplacer("/", "_", "\\", "_").Replace(f.Name)
		s.Uploads = append(s.Uploads, contract.Upload{UploadID: uid, Key: "uploads/" + id + "/" + uid + "/" + name})
	}
	a.mu.Lock()
	a.sessions[id] = s
	a.mu.Unlock()
	writeJSON(w, http.StatusCreated, s)
}

func (a *API) refresh(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.mu.Lock()
	_, ok := a.sessions[id]
	a.refreshes++
	a.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no session "+id)
		return
	}
	creds, err := a.mint(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusBadGateway, "mint credentials: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, contract.CredentialsResponse{Credentials: creds})
}

func (a *API) register(w http.ResponseWriter, r *http.Request) {
	var req contract.VideoRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body is not a video registration")
		return
	}
	if req.Package != nil {
		a.registerPackage(w, r, req)
		return
	}
	if r.Header.Get(contract.IdempotencyKeyHeader) != req.UploadID || req.UploadID == "" {
		writeError(w, http.StatusBadRequest, "Idempotency-Key must be the upload_id")
		return
	}
	status, v, msg := a.registerOne(r.Context(), req)
	if v == nil {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, status, v)
}

// registerBatch is contract v1.1 section 3c, served when Batch is set.
func (a *API) registerBatch(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	on := a.Batch
	a.batches++
	a.mu.Unlock()
	if !on {
		http.NotFound(w, r) // as a v1 server answers
		return
	}
	var req contract.BatchRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Videos) == 0 {
		writeError(w, http.StatusBadRequest, "body is not a batch of video registrations")
		return
	}
	out := contract.BatchResponse{Videos: make([]contract.BatchEntry, len(req.Videos))}
	for i, v := range req.Videos {
		if v.SessionID != r.PathValue("id") || v.UploadID == "" {
			out.Videos[i] = contract.BatchEntry{Status: http.StatusNotFound, Error: "upload " + v.UploadID + " is not of session " + r.PathValue("id")}
			continue
		}
		status, video, msg := a.registerOne(r.Context(), v)
		out.Videos[i] = contract.BatchEntry{Status: status, Video: video, Error: msg}
	}
	writeJSON(w, http.StatusOK, out)
}

// registerOne registers req, or answers why not: the status, and the
// video (201, 200) or the error text.
func (a *API) registerOne(ctx context.Context, req contract.VideoRequest) (int, *contract.Video, string) {
	a.mu.Lock()
	a.attempts[req.UploadID]++
	n := a.attempts[req.UploadID]
	fault := a.RegisterFault
	a.mu.Unlock()
	if fault != nil {
		if status, msg := fault(req.UploadID, n); status != 0 {
			return status, nil, msg
		}
	}
	a.mu.Lock()
	if v, ok := a.videos[req.UploadID]; ok {
		a.mu.Unlock()
		return http.StatusOK, &v, ""
	}
	a.mu.Unlock()
	// A client that goes away mid-request does not stop the registration,
	// as on a real server: the tests that kill vidup rely on it.
	head, err := a.s3.Client().HeadObject(context.WithoutCancel(ctx), &s3.HeadObjectInput{
		Bucket: aws.String(req.Bucket), Key: aws.String(req.Key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return http.StatusUnprocessableEntity, nil, "object " + req.Key + " not found: " + err.Error()
	}
	if aws.ToInt64(head.ContentLength) != req.Size {
		return http.StatusUnprocessableEntity, nil, fmt.Sprintf("object %s has %d bytes, not %d", req.Key, aws.ToInt64(head.ContentLength), req.Size)
	}
	// Without a checksum (the store confirmed none: "unverified") the size
	// is all a server can check; with one, the store must hold it.
	held := map[string]string{"CRC64NVME": aws.ToString(head.ChecksumCRC64NVME), "CRC32C": aws.ToString(head.ChecksumCRC32C)}
	if req.Checksum != nil && (held[req.Checksum.Algorithm] == "" || held[req.Checksum.Algorithm] != req.Checksum.Value) && !a.trustChecksum() {
		return http.StatusUnprocessableEntity, nil, fmt.Sprintf("object %s checksums %v do not match %+v", req.Key, held, req.Checksum)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.videos[req.UploadID]; ok {
		return http.StatusOK, &v, "" // registered meanwhile by another request
	}
	v := contract.Video{ID: "vid-" + testenv.RandomHex(6), UploadID: req.UploadID, SessionID: req.SessionID, Bucket: req.Bucket,
		Key: req.Key, Filename: req.Filename, Size: req.Size, ContentType: req.ContentType, ETag: req.ETag,
		Checksum: req.Checksum, Metadata: req.Metadata, CreatedAt: time.Now().UTC()}
	a.videos[req.UploadID] = v
	a.registrations = append(a.registrations, req)
	return http.StatusCreated, &v, ""
}

// Batches counts the batch registration calls (answered or refused).
func (a *API) Batches() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.batches
}

// TrustChecksums, when set, skips the comparison of the registration's
// checksum with what the store holds: for proxies that change what the
// store answers (the registration reads the store directly).
func (a *API) TrustChecksums() { a.Set(func(a *API) { a.trust = true }) }

func (a *API) trustChecksum() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.trust
}

// Registrations returns the registrations that created a video, in order.
func (a *API) Registrations() []contract.VideoRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]contract.VideoRequest(nil), a.registrations...)
}

// Attempts is how many registration requests arrived for uploadID.
func (a *API) Attempts(uploadID string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.attempts[uploadID]
}

// Refreshes counts credential refresh calls.
func (a *API) Refreshes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refreshes
}

// Set runs f under the server's lock, to change its faults safely.
func (a *API) Set(f func(a *API)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

// OpenUploads lists the multipart uploads left open in the bucket.
func (a *API) OpenUploads(t testing.TB) []string {
	t.Helper()
	out, err := a.s3.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(a.Bucket)})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// ForgetSession drops a session, as an API does when it expires sessions:
// its credentials refresh answers 404 from then on.
func (a *API) ForgetSession(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, id)
}

// Sessions counts the sessions opened.
func (a *API) Sessions() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions)
}
