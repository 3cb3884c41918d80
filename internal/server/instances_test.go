package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
	"github.com/vidup/vidup/internal/server/jobs"
	"github.com/vidup/vidup/internal/server/store"
	"github.com/vidup/vidup/internal/server/store/storetest"
	"github.com/vidup/vidup/internal/testenv"
)

// instance is one API instance: its own store handle (its own connections)
// on a database other instances share, its own handler and listener.
type instance struct {
	url   string
	store store.Store
	srv   *server.Server
}

// newInstance starts an API instance on the database dsn, against bucket.
func newInstance(t *testing.T, m testenv.S3, bucket, dsn string, log *syncBuffer, opts ...func(*server.Config)) *instance {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	minter, objects, err := server.NewAWS(ctx, server.AWSOptions{
		Region: m.Region, S3Endpoint: m.Endpoint, STSEndpoint: m.Endpoint, PathStyle: true,
		RoleARN: "arn:aws:iam::000000000000:role/vidup-uploader", Bucket: bucket, TTL: server.MinTTL,
		Credentials: credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	var entries []server.TokenEntry
	for i := range 20 {
		entries = append(entries, server.TokenEntry{Token: fmt.Sprintf("uploader-token-%02d", i),
			Principal: server.Principal{Name: fmt.Sprintf("cam-%02d", i), Role: server.RoleUploader}})
	}
	entries = append(entries, server.TokenEntry{Token: pipelineToken, Principal: server.Principal{Name: "encoder", Role: server.RolePipeline}})
	tokens, err := server.NewPrincipalTokens(entries)
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		Store: st, Minter: minter, Objects: objects, Tokens: tokens,
		Bucket: bucket, Region: m.Region, Endpoint: m.Endpoint, PathStyle: true,
		Logger:      slog.New(slog.NewTextHandler(log, nil)),
		SessionRate: -1,
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
	return &instance{url: hs.URL, store: st, srv: srv}
}

// TestTwoInstancesRegisterEachUploadOnce runs two API instances on one
// database (PostgreSQL, and SQLite's one file as a baseline): 20 uploaders
// each open sessions on one instance and register every file on both at
// once. Every upload is registered exactly once (one 201, the other answer
// 200 with the same video), lists page across instances, and refreshing one
// session on both instances at once works on each.
func TestTwoInstancesRegisterEachUploadOnce(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			m := testenv.MinIO(t)
			bucket := m.NewBucket(t)
			dsn := filepath.Join(t.TempDir(), "vidup.db")
			if backend == "postgres" {
				dsn = storetest.PostgresURL(t) + "&pool_max_conns=12"
			}
			log := &syncBuffer{}
			a := newInstance(t, m, bucket, dsn, log)
			b := newInstance(t, m, bucket, dsn, log)
			rcv := newReceiver(t)
			for _, inst := range []*instance{a, b} {
				startWebhooks(t, inst, rcv.url, log)
			}
			registerThroughBoth(t, backend, bucket, a, b, log)
			// Every registration reached the receiver, verified, at least
			// once; the video shows it delivered.
			rcv.waitFor(t, uploadersTotal, 60*time.Second, log)
			for id := range rcv.byVideo() {
				v, err := a.store.Video(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				waitUntil(t, 30*time.Second, func() bool {
					ds, err := b.store.Deliveries(context.Background(), v.ID)
					return err == nil && len(ds) == 1 && ds[0].State == contract.DeliveryDelivered
				})
			}
		})
	}
}

const uploadersTotal = 200 // registerThroughBoth's files

var webhookKey = []byte("instances-test-webhook-key")

// startWebhooks starts the job queue of an instance.
func startWebhooks(t *testing.T, inst *instance, url string, log *syncBuffer) {
	t.Helper()
	q, err := jobs.Start(context.Background(), inst.store, jobs.Config{
		URL: url, Key: webhookKey, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		PollInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
}

// webhookReceiver verifies every webhook and keeps them by video.
type webhookReceiver struct {
	url  string
	mu   sync.Mutex
	seen map[string]map[string]int // video id -> webhook id -> deliveries
}

func newReceiver(t *testing.T) *webhookReceiver {
	r := &webhookReceiver{seen: map[string]map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := jobs.Verify(webhookKey, req.Header, body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev contract.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil || ev.Type != contract.EventVideoRegistered {
			t.Errorf("receiver: %s: %v", body, err)
		}
		r.mu.Lock()
		if r.seen[ev.Data.ID] == nil {
			r.seen[ev.Data.ID] = map[string]int{}
		}
		r.seen[ev.Data.ID][req.Header.Get(jobs.HeaderID)]++
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

func (r *webhookReceiver) byVideo() map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[string]int{}
	for k, v := range r.seen {
		out[k] = v
	}
	return out
}

func (r *webhookReceiver) waitFor(t *testing.T, videos int, within time.Duration, log *syncBuffer) {
	t.Helper()
	start := time.Now()
	waitUntil(t, within, func() bool { return len(r.byVideo()) >= videos })
	got := r.byVideo()
	dup := 0
	for v, ids := range got {
		if len(ids) != 1 {
			t.Fatalf("video %s was announced by %d events, want 1", v, len(ids))
		}
		for _, n := range ids {
			dup += n - 1
		}
	}
	if len(got) != videos {
		t.Fatalf("receiver has %d videos, want %d\n%s", len(got), videos, log.String())
	}
	t.Logf("every one of %d webhooks verified by the receiver (%d sent twice), the last %s after the registrations", videos, dup, time.Since(start).Round(time.Millisecond))
}

func waitUntil(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not done within %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func registerThroughBoth(t *testing.T, backend, bucket string, a, b *instance, log *syncBuffer) {
	const uploaders, sessions, files = 20, 2, 5 // uploadersTotal files
	h := &harness{t: t}
	do := func(inst *instance, method, path, token string, header map[string]string, body any) response {
		return h.doURL(inst.url, method, path, token, header, body)
	}
	type result struct {
		uploadID string
		video    string
		status   int
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		errs    = make(chan error, uploaders*sessions*files*2)
	)
	start := time.Now()
	for u := range uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := fmt.Sprintf("uploader-token-%02d", u)
			for k := range sessions {
				open := []*instance{a, b}[(u+k)%2]
				var req contract.SessionRequest
				for f := range files {
					req.Files = append(req.Files, contract.FileRequest{Name: fmt.Sprintf("u%02d-s%d-f%d.mp4", u, k, f), Size: 16})
				}
				r := do(open, "POST", contract.PathUploads, token, nil, req)
				if r.status != http.StatusCreated {
					errs <- fmt.Errorf("open session: %d %s", r.status, r.body)
					return
				}
				var sess contract.Session
				r.decode(t, &sess)
				c := sessionClient(sess, sess.Credentials)
				for f, up := range sess.Uploads {
					data := []byte(fmt.Sprintf("%02d-%d-%d-0123456789", u, k, f))[:16]
					if err := putObject(t, c, bucket, up.Key, data); err != nil {
						errs <- err
						return
					}
					vreq := contract.VideoRequest{UploadID: up.UploadID, SessionID: sess.SessionID, Bucket: bucket, Key: up.Key,
						Filename: req.Files[f].Name, Size: 16,
						Checksum: &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)}}
					// The same registration on both instances at once.
					var inner sync.WaitGroup
					for _, inst := range []*instance{a, b} {
						inner.Add(1)
						go func() {
							defer inner.Done()
							r := do(inst, "POST", contract.PathVideos, token, map[string]string{contract.IdempotencyKeyHeader: up.UploadID}, vreq)
							if r.status != http.StatusCreated && r.status != http.StatusOK {
								errs <- fmt.Errorf("register %s: %d %s", up.UploadID, r.status, r.body)
								return
							}
							var v contract.Video
							r.decode(t, &v)
							mu.Lock()
							results = append(results, result{up.UploadID, v.ID, r.status})
							mu.Unlock()
						}()
					}
					inner.Wait()
				}
				// Refresh of a fully registered session is 404 on both.
				for _, inst := range []*instance{a, b} {
					if r := do(inst, "POST", contract.CredentialsPath(sess.SessionID), token, nil, nil); r.status != http.StatusNotFound {
						errs <- fmt.Errorf("refresh of a registered session on %s: %d %s", inst.url, r.status, r.body)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatalf("%v\nserver log:\n%s", err, log.String())
	}
	byUpload := map[string][]result{}
	for _, r := range results {
		byUpload[r.uploadID] = append(byUpload[r.uploadID], r)
	}
	const total = uploaders * sessions * files
	if len(byUpload) != total {
		t.Fatalf("%d uploads answered, want %d", len(byUpload), total)
	}
	for id, rs := range byUpload {
		created := 0
		for _, r := range rs {
			if r.status == http.StatusCreated {
				created++
			}
			if r.video != rs[0].video {
				t.Fatalf("upload %s answered videos %s and %s", id, rs[0].video, r.video)
			}
		}
		if created != 1 {
			t.Fatalf("upload %s was created %d times, want once", id, created)
		}
	}
	t.Logf("%s, two instances: %d files registered (each on both at once) in %s: %.0f registrations/s",
		backend, total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())

	// The pipeline lists every video, each page from a random instance.
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		inst := []*instance{a, b}[rand.IntN(2)]
		path := contract.PathVideos + "?limit=7"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := do(inst, "GET", path, pipelineToken, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		var l contract.VideoList
		r.decode(t, &l)
		for _, v := range l.Videos {
			if seen[v.ID] {
				t.Fatalf("video %s listed twice", v.ID)
			}
			seen[v.ID] = true
		}
		if cursor = l.NextCursor; cursor == "" {
			break
		}
		if pages > total {
			t.Fatal("the list does not end")
		}
	}
	if len(seen) != total {
		t.Fatalf("the list across instances holds %d videos, want %d", len(seen), total)
	}
}

// TestRefreshOneSessionOnTwoInstances: both instances refresh one session
// at once, many times; each answer is fresh credentials.
func TestRefreshOneSessionOnTwoInstances(t *testing.T) {
	m := testenv.MinIO(t)
	bucket := m.NewBucket(t)
	dsn := storetest.PostgresURL(t)
	log := &syncBuffer{}
	a := newInstance(t, m, bucket, dsn, log)
	b := newInstance(t, m, bucket, dsn, log)
	h := &harness{t: t}
	token := "uploader-token-00"
	r := h.doURL(a.url, "POST", contract.PathUploads, token, nil, contract.SessionRequest{Files: []contract.FileRequest{{Name: "a.mp4", Size: 3}}})
	if r.status != http.StatusCreated {
		t.Fatalf("open: %d %s", r.status, r.body)
	}
	var sess contract.Session
	r.decode(t, &sess)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := []*instance{a, b}[i%2]
			r := h.doURL(inst.url, "POST", contract.CredentialsPath(sess.SessionID), token, nil, nil)
			if r.status != http.StatusOK {
				errs <- fmt.Errorf("refresh %d: %d %s", i, r.status, r.body)
				return
			}
			var c contract.CredentialsResponse
			r.decode(t, &c)
			if c.Credentials.SessionToken == "" {
				errs <- fmt.Errorf("refresh %d: no session token", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
