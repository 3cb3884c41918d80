package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/jobs"
	"github.com/vidup/vidup/internal/server/store"
	"github.com/vidup/vidup/internal/server/store/storetest"
)

var testKey = []byte("0123456789abcdef-test-key")

// eachBackend runs test on a fresh SQLite file and a fresh PostgreSQL
// database; dsn opens either with store.Open.
func eachBackend(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, filepath.Join(t.TempDir(), "vidup.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, storetest.PostgresURL(t)) })
}

func open(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// syncBuffer collects a log written from several goroutines.
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

func startQueue(t *testing.T, st store.Store, url string, log io.Writer, change func(*jobs.Config)) *jobs.Queue {
	t.Helper()
	cfg := jobs.Config{
		URL: url, Key: testKey,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Timeout: 2 * time.Second, RescueAfter: 3 * time.Second,
		PollInterval: 100 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(log, nil)),
	}
	if change != nil {
		change(&cfg)
	}
	q, err := jobs.Start(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return q
}

// receiver is the encoding step's endpoint: it verifies every message as
// a receiver must and keeps the valid ones. answer picks each reply.
type receiver struct {
	t      *testing.T
	mu     sync.Mutex
	got    []received
	calls  int
	answer func(n int) int
}

type received struct {
	id    string
	event contract.WebhookEvent
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := jobs.Verify(testKey, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		r.t.Errorf("receiver: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev contract.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		r.t.Errorf("receiver: body is not a webhook event: %v", err)
	}
	r.mu.Lock()
	r.calls++
	n := r.calls
	status := http.StatusNoContent
	if r.answer != nil {
		status = r.answer(n)
	}
	if status/100 == 2 {
		r.got = append(r.got, received{req.Header.Get(jobs.HeaderID), ev})
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func seed(t *testing.T, st store.Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	sid := fmt.Sprintf("s-%d", time.Now().UnixNano())
	var ups []store.Upload
	for i := range n {
		ups = append(ups, store.Upload{ID: fmt.Sprintf("%s-u%d", sid, i), Key: fmt.Sprintf("uploads/%s/%d/a.mp4", sid, i), Name: "a.mp4", Size: 1})
	}
	if err := st.CreateSession(ctx, store.Session{ID: sid, Principal: "cam-1", CreatedAt: time.Now()}, ups); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, u := range ups {
		id := fmt.Sprintf("%s-v%d", sid, i)
		if _, _, err := st.RegisterVideo(ctx, store.Registration{Video: contract.Video{
			ID: id, UploadID: u.ID, SessionID: sid, Bucket: "videos", Key: "videos/" + id + "/a.mp4",
			Filename: "a.mp4", Size: 1, CreatedAt: time.Now().UTC(), Principal: "cam-1",
		}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// waitDeliveries waits until every webhook of every video is in a final
// state, and returns them.
func waitDeliveries(t *testing.T, st store.Store, videos []string, perVideo int, within time.Duration) map[string][]contract.WebhookDelivery {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		all := map[string][]contract.WebhookDelivery{}
		done := true
		for _, v := range videos {
			ds, err := st.Deliveries(context.Background(), v)
			if err != nil {
				t.Fatal(err)
			}
			all[v] = ds
			if len(ds) != perVideo {
				done = false
			}
			for _, d := range ds {
				if d.State != contract.DeliveryDelivered && d.State != contract.DeliveryFailed {
					done = false
				}
			}
		}
		if done {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks not final within %s: %+v", within, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebhooksDeliveredSigned(t *testing.T) { eachBackend(t, testWebhooksDeliveredSigned) }

// Every registration and every status change reaches the receiver, signed,
// with the event's body; the video shows each delivery.
func testWebhooksDeliveredSigned(t *testing.T, dsn string) {
	rcv := &receiver{t: t}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	st := open(t, dsn)
	startQueue(t, st, hs.URL, io.Discard, nil)
	videos := seed(t, st, 20)
	for _, v := range videos[:5] {
		if _, _, err := st.SetStatus(context.Background(), v, contract.StatusReady, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	all := waitDeliveries(t, st, videos[5:], 1, 30*time.Second)
	for k, v := range waitDeliveries(t, st, videos[:5], 2, 30*time.Second) {
		all[k] = v
	}
	for v, ds := range all {
		for _, d := range ds {
			if d.State != contract.DeliveryDelivered || d.Attempts != 1 {
				t.Errorf("video %s: webhook %+v, want delivered at the first attempt", v, d)
			}
		}
	}
	byID := map[string]received{}
	for _, r := range rcv.received() {
		byID[r.id] = r
	}
	if len(byID) != 25 {
		t.Fatalf("receiver has %d distinct webhooks, want 25", len(byID))
	}
	for v, ds := range all {
		for i, d := range ds {
			r, ok := byID[d.ID]
			if !ok {
				t.Fatalf("webhook %s of %s never reached the receiver", d.ID, v)
			}
			wantType, wantStatus := contract.EventVideoRegistered, contract.StatusRegistered
			if i == 1 {
				wantType, wantStatus = contract.EventVideoStatus, contract.StatusReady
			}
			if r.event.Type != wantType || r.event.Data.ID != v || r.event.Data.Status != wantStatus {
				t.Errorf("webhook %s = %s of %s (%s), want %s of %s (%s)", d.ID, r.event.Type, r.event.Data.ID, r.event.Data.Status, wantType, v, wantStatus)
			}
		}
	}
}

func TestWebhookRetriedUntilDelivered(t *testing.T) { eachBackend(t, testWebhookRetriedUntilDelivered) }

func testWebhookRetriedUntilDelivered(t *testing.T, dsn string) {
	rcv := &receiver{t: t, answer: func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	st := open(t, dsn)
	log := &syncBuffer{}
	startQueue(t, st, hs.URL, log, nil)
	videos := seed(t, st, 1)
	ds := waitDeliveries(t, st, videos, 1, 30*time.Second)[videos[0]]
	if d := ds[0]; d.State != contract.DeliveryDelivered || d.Attempts != 3 {
		t.Fatalf("delivery = %+v, want delivered at attempt 3", d)
	}
	if !strings.Contains(log.String(), "webhook not delivered; it will be retried") || !strings.Contains(log.String(), "503") {
		t.Fatalf("the failed attempts are not in the log:\n%s", log)
	}
}

func TestWebhookGivenUpAfterRetryFor(t *testing.T) { eachBackend(t, testWebhookGivenUpAfterRetryFor) }

// A receiver that never takes the webhook: it is retried with backoff for
// RetryFor, then marked failed, logged, and shown on the video.
func testWebhookGivenUpAfterRetryFor(t *testing.T, dsn string) {
	rcv := &receiver{t: t, answer: func(int) int { return http.StatusInternalServerError }}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	st := open(t, dsn)
	log := &syncBuffer{}
	startQueue(t, st, hs.URL, log, func(c *jobs.Config) { c.RetryFor = 1500 * time.Millisecond })
	videos := seed(t, st, 1)
	d := waitDeliveries(t, st, videos, 1, 30*time.Second)[videos[0]][0]
	if d.State != contract.DeliveryFailed || d.Attempts < 3 || !strings.Contains(d.LastError, "500") {
		t.Fatalf("delivery = %+v, want failed after several attempts with the 500 in last_error", d)
	}
	rcv.mu.Lock()
	calls := rcv.calls
	rcv.mu.Unlock()
	if calls != d.Attempts {
		t.Fatalf("receiver saw %d attempts, the video says %d", calls, d.Attempts)
	}
	if !strings.Contains(log.String(), "webhook given up") {
		t.Fatalf("giving up is not in the log:\n%s", log)
	}
	// It stays given up.
	time.Sleep(300 * time.Millisecond)
	rcv.mu.Lock()
	after := rcv.calls
	rcv.mu.Unlock()
	if after != calls {
		t.Fatalf("a given up webhook was sent again (%d calls, then %d)", calls, after)
	}
}

func TestSignatureVectors(t *testing.T) {
	// The example of the Standard Webhooks specification.
	key, err := jobs.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	got := jobs.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
	h := http.Header{}
	h.Set(jobs.HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(jobs.HeaderTimestamp, "1614265330")
	h.Set(jobs.HeaderSignature, "v1,bm9wZQ== "+got)
	at := time.Unix(1614265330, 0)
	if err := jobs.Verify(key, h, body, at, time.Minute); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := jobs.Verify(key, h, append(body, ' '), at, time.Minute); err == nil {
		t.Fatal("a changed body verified")
	}
	if err := jobs.Verify(key, h, body, at.Add(10*time.Minute), time.Minute); err == nil {
		t.Fatal("an old message verified")
	}
	if _, err := jobs.ParseSecret("short"); err == nil {
		t.Fatal("a 5-byte secret was taken")
	}
}

// TestMain runs the helper process of TestKilledInstanceLosesNoJob when
// that test starts the test binary again: a queue that works until killed.
func TestMain(m *testing.M) {
	if dsn := os.Getenv("VIDUP_JOBS_HELPER_DSN"); dsn != "" {
		helperQueue(dsn, os.Getenv("VIDUP_JOBS_HELPER_URL"))
		return
	}
	os.Exit(m.Run())
}

func helperQueue(dsn, url string) {
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := jobs.Start(ctx, st, jobs.Config{
		URL: url, Key: testKey, Timeout: 2 * time.Second, RescueAfter: 3 * time.Second,
		PollInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("queue started")
	select {}
}

func TestKilledInstanceLosesNoJob(t *testing.T) { eachBackend(t, testKilledInstanceLosesNoJob) }

// An instance is killed (SIGKILL) while it delivers a webhook; another
// instance takes the job back after RescueAfter and delivers it.
func testKilledInstanceLosesNoJob(t *testing.T, dsn string) {
	inFlight := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	rcv := &receiver{t: t}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		once.Do(func() { first = true })
		if first {
			// The first attempt hangs until its sender is dead.
			inFlight <- struct{}{}
			<-release
			return
		}
		rcv.ServeHTTP(w, r)
	}))
	defer hs.Close()
	defer close(release)

	st := open(t, dsn)
	// This instance only enqueues: the helper is the one that works jobs.
	startQueue(t, st, hs.URL, io.Discard, func(c *jobs.Config) { c.InsertOnly = true })
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "VIDUP_JOBS_HELPER_DSN="+dsn, "VIDUP_JOBS_HELPER_URL="+hs.URL)
	helperLog := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = helperLog, helperLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(helperLog.String(), "queue started") }, helperLog)

	videos := seed(t, st, 1)
	select {
	case <-inFlight:
	case <-time.After(30 * time.Second):
		t.Fatalf("the helper never sent the webhook; its log:\n%s", helperLog)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	start := time.Now()
	other := open(t, dsn)
	startQueue(t, other, hs.URL, io.Discard, nil)
	d := waitDeliveries(t, st, videos, 1, 90*time.Second)[videos[0]][0]
	if d.State != contract.DeliveryDelivered {
		t.Fatalf("delivery after the kill = %+v", d)
	}
	got := rcv.received()
	if len(got) != 1 || got[0].event.Data.ID != videos[0] {
		t.Fatalf("receiver got %+v, want the one webhook of %s", got, videos[0])
	}
	t.Logf("the webhook the killed instance was sending was delivered by another %s after it died", time.Since(start).Round(100*time.Millisecond))
}

func waitFor(t *testing.T, within time.Duration, ok func() bool, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; log:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkRegisterWithWebhookJob: a registration that commits its event
// and its River job in one transaction, on each database.
func BenchmarkRegisterWithWebhookJob(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			dsn := filepath.Join(b.TempDir(), "vidup.db")
			if backend == "postgres" {
				dsn = storetest.PostgresURL(b)
			}
			ctx := context.Background()
			st, err := store.Open(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			q, err := jobs.Start(ctx, st, jobs.Config{URL: "http://127.0.0.1:9/", Key: testKey, InsertOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Stop(ctx)
			var ups []store.Upload
			for i := range b.N {
				ups = append(ups, store.Upload{ID: fmt.Sprintf("u%d", i), Key: fmt.Sprintf("uploads/s/%d", i), Name: "a.mp4", Size: 1})
			}
			if err := st.CreateSession(ctx, store.Session{ID: "s", Principal: "cam-1", CreatedAt: time.Now()}, ups); err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			next := 0
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if _, _, err := st.RegisterVideo(ctx, store.Registration{Video: contract.Video{
						ID: fmt.Sprintf("v%d", i), UploadID: ups[i].ID, SessionID: "s", Bucket: "videos", Key: "videos/x",
						Filename: "a.mp4", Size: 1, CreatedAt: time.Now(), Principal: "cam-1",
					}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
		})
	}
}

func TestInstancesStartTogether(t *testing.T) { eachBackend(t, testInstancesStartTogether) }

// Four instances start at once on an empty database: the store's and
// River's migrations run once, and every instance starts.
func testInstancesStartTogether(t *testing.T, dsn string) {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			st, err := store.Open(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() { st.Close() })
			q, err := jobs.Start(ctx, st, jobs.Config{URL: "http://127.0.0.1:9/", Key: testKey, PollInterval: 100 * time.Millisecond})
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				q.Stop(ctx)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
