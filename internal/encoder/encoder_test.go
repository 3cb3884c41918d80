package encoder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/jobs"
)

var key = []byte("encoder-test-webhook-key")

// fakeAPI keeps the statuses the encoder sets.
type fakeAPI struct {
	mu     sync.Mutex
	status map[string]string
	errors map[string]string
	sets   []string // "id status"
	busy   int      // answers 503 to this many requests first
}

func newFakeAPI(t *testing.T, videos ...string) (*fakeAPI, string) {
	a := &fakeAPI{status: map[string]string{}, errors: map[string]string{}}
	for _, v := range videos {
		a.status[v] = contract.StatusRegistered
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pipe" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.busy > 0 {
			a.busy--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, contract.PathVideos+"/"), "/status")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == contract.PathVideos:
			var l contract.VideoList
			for id, st := range a.status {
				l.Videos = append(l.Videos, contract.Video{ID: id, Status: st})
			}
			json.NewEncoder(w).Encode(l)
		case r.Method == http.MethodGet:
			json.NewEncoder(w).Encode(contract.Video{ID: id, Status: a.status[id]})
		case r.Method == http.MethodPost:
			var req contract.StatusRequest
			json.NewDecoder(r.Body).Decode(&req)
			a.status[id], a.errors[id] = req.Status, req.Error
			a.sets = append(a.sets, id+" "+req.Status)
			json.NewEncoder(w).Encode(contract.Video{ID: id, Status: req.Status})
		}
	}))
	t.Cleanup(hs.Close)
	return a, hs.URL
}

func (a *fakeAPI) get(id string) (string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status[id], a.errors[id]
}

func newEncoder(t *testing.T, api string, encode func(context.Context, contract.Video) error) *Encoder {
	t.Helper()
	e, err := New(Config{APIURL: api, Token: "pipe", Key: key, Encode: encode, RetryWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func event(t *testing.T, typ, videoID string) []byte {
	b, err := json.Marshal(contract.WebhookEvent{Type: typ, Timestamp: time.Now(), Data: contract.Video{ID: videoID, Bucket: "b", Key: "videos/" + videoID + "/a.mp4"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(e *Encoder, id string, ts time.Time, body []byte, sign []byte) int {
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if id != "" {
		req.Header.Set(jobs.HeaderID, id)
		req.Header.Set(jobs.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set(jobs.HeaderSignature, jobs.Sign(sign, id, ts.Unix(), body))
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w.Code
}

func waitStatus(t *testing.T, a *fakeAPI, id, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, reason := a.get(id)
		if st == want {
			return reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %s is %q, want %q", id, st, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhooksVerified: only a webhook signed with the key, stamped within
// the tolerance, reaches the work; a bad or old signature is 401 and
// changes nothing.
func TestWebhooksVerified(t *testing.T) {
	api, url := newFakeAPI(t, "v1", "v2")
	var mu sync.Mutex
	var encoded []string
	e := newEncoder(t, url, func(_ context.Context, v contract.Video) error {
		mu.Lock()
		defer mu.Unlock()
		encoded = append(encoded, v.ID)
		return nil
	})
	body := event(t, contract.EventVideoRegistered, "v1")
	now := time.Now()
	for _, tc := range []struct {
		name string
		id   string
		ts   time.Time
		key  []byte
		body []byte
	}{
		{"unsigned", "", now, key, body},
		{"other key", "msg_1", now, []byte("not-the-encoder-test-key"), body},
		{"old", "msg_1", now.Add(-10 * time.Minute), key, body},
		{"future", "msg_1", now.Add(10 * time.Minute), key, body},
	} {
		if code := post(e, tc.id, tc.ts, tc.body, tc.key); code != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401", tc.name, code)
		}
	}
	// A body changed after signing.
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(event(t, contract.EventVideoRegistered, "v2")))
	req.Header.Set(jobs.HeaderID, "msg_1")
	req.Header.Set(jobs.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(jobs.HeaderSignature, jobs.Sign(key, "msg_1", now.Unix(), body))
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("changed body: %d, want 401", w.Code)
	}
	time.Sleep(50 * time.Millisecond)
	if st, _ := api.get("v1"); st != contract.StatusRegistered || len(encoded) != 0 {
		t.Fatalf("refused webhooks changed something: v1 %s, encoded %v", st, encoded)
	}

	// The real one, delivered twice, and again under another webhook id
	// (a status event is not work): encoded once.
	if code := post(e, "msg_1", now, body, key); code != http.StatusAccepted {
		t.Fatalf("signed webhook: %d, want 202", code)
	}
	waitStatus(t, api, "v1", contract.StatusReady)
	if code := post(e, "msg_1", now, body, key); code != http.StatusAccepted {
		t.Fatalf("replayed webhook: %d, want 202", code)
	}
	if code := post(e, "msg_2", now, body, key); code != http.StatusAccepted {
		t.Fatalf("second event of the video: %d, want 202", code)
	}
	if code := post(e, "msg_3", now, event(t, contract.EventVideoStatus, "v1"), key); code != http.StatusNoContent {
		t.Fatalf("status event: %d, want 204", code)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(encoded) != 1 || strings.Join(api.sets, ",") != "v1 processing,v1 ready" {
		t.Fatalf("encoded %v, statuses set %v; want v1 once, processing then ready", encoded, api.sets)
	}
}

// TestFailedEncodingSetsFailed: the reason reaches the API; a video found
// ready already is not encoded again; catch-up takes the ones left.
func TestFailedEncodingSetsFailed(t *testing.T) {
	api, url := newFakeAPI(t, "bad", "left")
	api.status["done"] = contract.StatusReady
	e := newEncoder(t, url, func(_ context.Context, v contract.Video) error {
		if v.ID == "bad" {
			return errors.New("ffmpeg could not encode the video: Invalid data found when processing input")
		}
		return nil
	})
	if code := post(e, "msg_1", time.Now(), event(t, contract.EventVideoRegistered, "bad"), key); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	if reason := waitStatus(t, api, "bad", contract.StatusFailed); !strings.Contains(reason, "Invalid data") {
		t.Fatalf("failed with %q", reason)
	}
	n, err := e.CatchUp(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("catch-up took %d videos (%v), want 1 (left)", n, err)
	}
	waitStatus(t, api, "left", contract.StatusReady)
	if st, _ := api.get("done"); st != contract.StatusReady {
		t.Fatalf("done is %s", st)
	}
}

// TestAPIBusyIsRetried: a 503 of the API is waited out, not the end of
// the video.
func TestAPIBusyIsRetried(t *testing.T) {
	api, url := newFakeAPI(t, "v")
	api.busy = 3
	e := newEncoder(t, url, func(context.Context, contract.Video) error { return nil })
	if code := post(e, "msg_1", time.Now(), event(t, contract.EventVideoRegistered, "v"), key); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	waitStatus(t, api, "v", contract.StatusReady)
}

// TestMainUsage: missing settings are usage errors that say what to set.
func TestMainUsage(t *testing.T) {
	env := map[string]string{"VIDUP_API_URL": "http://127.0.0.1:1", "VIDUP_PIPELINE_TOKEN": "pipe", "VIDUP_WEBHOOK_SECRET": string(key)}
	for _, tc := range []struct {
		name, unset, want string
		args              []string
	}{
		{"no api", "VIDUP_API_URL", "set VIDUP_API_URL", nil},
		{"no token", "VIDUP_PIPELINE_TOKEN", "VIDUP_PIPELINE_TOKEN", nil},
		{"short secret", "VIDUP_WEBHOOK_SECRET", "VIDUP_WEBHOOK_SECRET", nil},
		{"prefix of the API", "", "uploads/ and videos/ are the API's", []string{"--prefix", "videos/"}},
		{"no ffmpeg", "", "install ffmpeg", []string{"--ffmpeg", "/nonexistent/ffmpeg"}},
	} {
		var stderr bytes.Buffer
		code := Main(tc.args, &stderr, func(k string) string {
			if k == tc.unset {
				return ""
			}
			return env[k]
		})
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Fatalf("%s: exit %d, %q; want 2 and %q", tc.name, code, stderr.String(), tc.want)
		}
	}
}
