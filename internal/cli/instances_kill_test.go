package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/jobs"
	"github.com/vidup/vidup/internal/server/store"
	"github.com/vidup/vidup/internal/server/store/storetest"
	"github.com/vidup/vidup/internal/testenv"
)

// killReceiver is the encoding step of TestServeInstanceKilled: it verifies
// every webhook and keeps the webhook ids of each video.
type killReceiver struct {
	mu      sync.Mutex
	posts   int                        // verified deliveries, duplicates included
	refused int                        // signature or body refused
	byVideo map[string]map[string]bool // video id -> webhook ids
}

func (r *killReceiver) ServeHTTP(key []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev contract.WebhookEvent
		err := jobs.Verify(key, req.Header, body, time.Now(), 5*time.Minute)
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil || ev.Type != contract.EventVideoRegistered || ev.Data.ID == "" {
			r.refused++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.posts++
		if r.byVideo[ev.Data.ID] == nil {
			r.byVideo[ev.Data.ID] = map[string]bool{}
		}
		r.byVideo[ev.Data.ID][req.Header.Get(jobs.HeaderID)] = true
		w.WriteHeader(http.StatusNoContent)
	}
}

func (r *killReceiver) videos() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byVideo)
}

// metricValue reads one sample of a /metrics page (0 when absent).
func metricValue(page, sample string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func scrape(url string) (string, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestServeInstanceKilled: two vidup serve processes on one PostgreSQL,
// 20 vidup upload processes registering 1,000 small files through them at
// once (uploader i talks to instance i%2), and one instance killed -9 in the
// middle. The uploaders it left fail, and run again against the other
// instance, as behind a load balancer; the other instance finishes the
// webhook jobs the dead one held (River rescues them after
// --webhook-rescue-after). Every file is registered exactly once, every
// registration reaches the receiver, signed, under one webhook id, and the
// counters of /metrics match the logs and the database.
func TestServeInstanceKilled(t *testing.T) {
	const (
		uploaders   = 20
		perUploader = 50
		total       = uploaders * perUploader
		concurrency = 4
		camToken    = "kill-test-cam-token-0123"
		pipeToken   = "kill-test-pipe-token-0123"
	)
	m := testenv.MinIO(t)
	dsn := storetest.PostgresURL(t)
	bucket := m.NewBucket(t)
	dir := t.TempDir()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("kill-test-secret-24bytes"))
	key, err := jobs.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	rcv := &killReceiver{byVideo: map[string]map[string]bool{}}
	hs := httptest.NewServer(rcv.ServeHTTP(key))
	defer hs.Close()

	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(pipeToken+" encoder pipeline\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := serveEnv("XDG_CONFIG_HOME="+dir, "AWS_ACCESS_KEY_ID="+m.AccessKey, "AWS_SECRET_ACCESS_KEY="+m.SecretKey,
		"VIDUP_WEBHOOK_SECRET="+secret, "VIDUP_SERVE_DB="+dsn, "VIDUP_SERVER_TOKENS="+camToken)
	args := []string{"--s3-endpoint", m.Endpoint, "--path-style", "--bucket", bucket, "--region", m.Region,
		"--tokens-file", tokens, "--webhook-url", hs.URL + "/hooks", "--session-rate", "0",
		// A delivery the dead instance held is taken back after 6 s
		// (and River's rescuer looks every 30 s).
		"--webhook-timeout", "5s", "--webhook-rescue-after", "6s"}
	a := startServe(t, env, args...)
	b := startServe(t, env, args...)

	// 20 folders of 50 files of 100 bytes, each of its own content.
	names := map[string]bool{}
	for u := range uploaders {
		d := filepath.Join(dir, fmt.Sprintf("in%02d", u))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range perUploader {
			name := fmt.Sprintf("u%02d-f%02d.bin", u, f)
			names[name] = true
			data := bytes.Repeat([]byte(name+"|"), 10)[:100]
			if err := os.WriteFile(filepath.Join(d, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	upload := func(u int, api string) *exec.Cmd {
		cmd := exec.Command(testenv.Vidup(t), "upload", "-r", filepath.Join(dir, fmt.Sprintf("in%02d", u)),
			"-o", "json", "-q", "--no-probe", "--concurrency", strconv.Itoa(concurrency), "--retries", "2", "--retry-budget", "2s")
		cmd.Env = serveEnv("VIDUP_API_URL="+api, "VIDUP_API_TOKEN="+camToken, "VIDUP_CONFIG=",
			"VIDUP_STATE_DIR="+filepath.Join(dir, fmt.Sprintf("state%02d", u)), "XDG_CONFIG_HOME="+dir)
		return cmd
	}

	start := time.Now()
	// A watcher scrapes a's /metrics and kills it -9 once it has
	// registered 150 videos: in the middle of its 500.
	var lastA string
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			page, err := scrape(a.url)
			if err == nil {
				lastA = page
				if metricValue(page, `vidup_registrations_total{outcome="created"}`) >= 150 {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		a.cmd.Process.Signal(syscall.SIGKILL)
		t.Logf("a killed %s after the start", time.Since(start).Round(time.Millisecond))
	}()

	type run struct {
		code   int
		stderr bytes.Buffer
	}
	runs := make([]*run, uploaders)
	var wg sync.WaitGroup
	for u := range uploaders {
		runs[u] = &run{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := upload(u, []*serveProcess{a, b}[u%2].url)
			cmd.Stderr = &runs[u].stderr
			if err := cmd.Run(); err != nil {
				runs[u].code = cmd.ProcessState.ExitCode()
			}
		}()
	}
	wg.Wait()
	firstPass := time.Since(start)
	<-killed
	<-a.done
	aCreatedSeen := metricValue(lastA, `vidup_registrations_total{outcome="created"}`)
	if aCreatedSeen >= perUploader*uploaders/2 {
		t.Fatalf("instance a registered %v videos before it was killed: the kill did not come in the middle", aCreatedSeen)
	}

	// The uploaders a left behind run again through b and finish.
	rerun := 0
	for u, r := range runs {
		if r.code == 0 {
			continue
		}
		if u%2 == 1 {
			t.Fatalf("uploader %d on the living instance exited %d:\n%s", u, r.code, r.stderr.String())
		}
		rerun++
		cmd := upload(u, b.url)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("uploader %d again, through b: %v\n%s\nb's log:\n%s", u, err, stderr.String(), tail(b.log(), 40))
		}
	}
	if rerun == 0 {
		t.Fatal("no uploader of the killed instance failed: the kill changed nothing")
	}
	uploadsDone := time.Since(start)
	t.Logf("the uploaders' first runs ended %s after the start, the second runs of those a left %s after",
		firstPass.Round(time.Millisecond), uploadsDone.Round(time.Millisecond))

	// Every file registered exactly once, as the pipeline lists them.
	byName := map[string]int{}
	cursor := ""
	var videos []contract.Video
	for {
		path := contract.PathVideos + "?limit=1000"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var l contract.VideoList
		if code := b.call(t, "GET", path, pipeToken, nil, nil, &l); code != http.StatusOK {
			t.Fatalf("list: %d", code)
		}
		for _, v := range l.Videos {
			byName[v.Filename]++
			videos = append(videos, v)
		}
		if cursor = l.NextCursor; cursor == "" {
			break
		}
	}
	if len(videos) != total {
		t.Fatalf("%d videos registered, want %d", len(videos), total)
	}
	for name := range names {
		if byName[name] != 1 {
			t.Fatalf("%s is registered %d times, want once", name, byName[name])
		}
	}

	// Every registration reached the receiver, verified, under one webhook
	// id, and the database shows each delivered.
	deadline := time.Now().Add(90 * time.Second)
	for rcv.videos() < total {
		if time.Now().After(deadline) {
			t.Fatalf("the receiver has webhooks of %d videos, want %d\nb's log:\n%s", rcv.videos(), total, tail(b.log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pending := videos
	for len(pending) > 0 {
		var left []contract.Video
		for _, v := range pending {
			ds, err := st.Deliveries(context.Background(), v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].State != contract.DeliveryDelivered {
				left = append(left, v)
			}
		}
		pending = left
		if len(pending) > 0 && time.Now().After(deadline) {
			ds, _ := st.Deliveries(context.Background(), pending[0].ID)
			t.Fatalf("%d videos without a delivered webhook, e.g. %s: %+v", len(pending), pending[0].ID, ds)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rcv.mu.Lock()
	posts, refused := rcv.posts, rcv.refused
	for id, ids := range rcv.byVideo {
		if len(ids) != 1 {
			t.Fatalf("video %s was announced under %d webhook ids, want 1", id, len(ids))
		}
	}
	rcv.mu.Unlock()
	if refused != 0 {
		t.Fatalf("the receiver refused %d webhooks", refused)
	}

	// b's counters are what b's log says it did; with what a logged
	// before it died, they add up to what the database holds.
	pageB, err := scrape(b.url)
	if err != nil {
		t.Fatal(err)
	}
	logA, logB := a.log(), b.log()
	count := func(log, re string) float64 { return float64(len(regexp.MustCompile(re).FindAllStringIndex(log, -1))) }
	const (
		// A registration is answered alone (POST /api/v1/videos) or in a
		// batch (one "batch entry" line each).
		reg201  = `msg=request method=POST path=/api/v1/videos status=201 |msg="batch entry" path=\S+ status=201 `
		reg200  = `msg=request method=POST path=/api/v1/videos status=200 |msg="batch entry" path=\S+ status=200 `
		sess201 = `msg=request method=POST path=/api/v1/uploads status=201 `
		hookOK  = `msg="webhook delivered"`
		hookBad = `msg="webhook not delivered`
	)
	for _, c := range []struct {
		sample string
		want   float64
	}{
		{`vidup_registrations_total{outcome="created"}`, count(logB, reg201)},
		{`vidup_registrations_total{outcome="replayed"}`, count(logB, reg200)},
		{`vidup_registrations_total{outcome="error"}`, 0},
		{`vidup_registrations_total{outcome="conflict"}`, 0},
		{`vidup_registrations_total{outcome="mismatch"}`, 0},
		{`vidup_registrations_total{outcome="unknown"}`, 0},
		{`vidup_sessions_opened_total`, count(logB, sess201)},
		{`vidup_webhook_deliveries_total{outcome="delivered"}`, count(logB, hookOK)},
		{`vidup_webhook_deliveries_total{outcome="failed"}`, count(logB, hookBad)},
		{`vidup_webhook_deliveries_total{outcome="given_up"}`, 0},
	} {
		if got := metricValue(pageB, c.sample); got != c.want {
			t.Errorf("b's %s = %v, want %v (its log)", c.sample, got, c.want)
		}
	}
	createdB := metricValue(pageB, `vidup_registrations_total{outcome="created"}`)
	// a answered 201 for what its log shows; a registration it committed
	// as it died went unanswered, and b answered its retry 200 (a batch
	// commits its registrations in one transaction and answers them after,
	// so a kill may leave a whole batch so). b's replays bound those.
	createdA := total - createdB
	replayedB := count(logB, reg200)
	if logged := count(logA, reg201); createdA < logged || createdA > logged+replayedB || createdA < aCreatedSeen {
		t.Errorf("a created %v videos (the database less b's %v), but its log shows %v answered, b replayed %v and a's last /metrics showed %v",
			createdA, createdB, logged, replayedB, aCreatedSeen)
	}
	if seen, logged := metricValue(lastA, `vidup_sessions_opened_total`), count(logA, sess201); seen > logged || seen == 0 {
		t.Errorf("a's last /metrics counts %v sessions opened, its log %v", seen, logged)
	}
	// The receiver took every delivery both logged, and at most the
	// dead instance's in-flight attempts (10 workers) besides, plus b's
	// attempts that timed out after the receiver had them.
	logged := count(logA, hookOK) + count(logB, hookOK)
	if p := float64(posts); p < logged || p > logged+float64(jobs.DefaultWorkers)+count(logB, hookBad) {
		t.Errorf("the receiver took %v deliveries, the instances logged %v delivered", p, logged)
	}
	t.Logf("%d files by %d uploaders through two instances, one killed -9 after %v registrations: uploads done in %s (%d uploaders ran again through b); "+
		"every webhook verified %s after the start (%d deliveries for %d videos)",
		total, uploaders, aCreatedSeen, uploadsDone.Round(time.Millisecond), rerun, time.Since(start).Round(time.Millisecond), posts, total)
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
