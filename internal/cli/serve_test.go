package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/jobs"
	"github.com/vidup/vidup/internal/server/store/storetest"
	"github.com/vidup/vidup/internal/testenv"
)

// captureServe runs vidup serve's command with a run function that records
// the resolved options instead of serving.
func captureServe(t *testing.T, env map[string]string, args ...string) (*ServeOptions, error) {
	t.Helper()
	var got *ServeOptions
	io := &IOStreams{
		In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{},
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}
	cmd := newCmdServe(io, func(o *ServeOptions) error { got = o; return nil })
	cmd.Flags().String("config", "", "")
	cmd.SetArgs(args)
	cmd.SetOut(io.Out)
	cmd.SetErr(io.ErrOut)
	err := cmd.ExecuteContext(context.Background())
	return got, err
}

func TestServeDefaultsAndSources(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# ops\nfile-token-1\n\nfile-token-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := captureServe(t, map[string]string{"VIDUP_SERVER_TOKENS": "env-token"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:8080" || o.Bucket != "videos" || o.Region != "us-east-1" || o.CredentialsTTL != time.Hour ||
		o.RoleARN != DefaultRoleARN || o.DB != "./vidup.db" || o.PathStyle || o.S3Endpoint != "" {
		t.Fatalf("defaults = %+v", o)
	}
	if o.SessionMaxAge != 7*24*time.Hour || o.SessionRate != 5 || o.SessionBurst != 50 || o.sessionRate() != 5 {
		t.Fatalf("session defaults = %v %v %d", o.SessionMaxAge, o.SessionRate, o.SessionBurst)
	}
	if o.clientEndpoint() != "" || o.stsEndpoint() != "" {
		t.Fatalf("without --s3-endpoint clients and STS must use AWS's endpoints, got %q and %q", o.clientEndpoint(), o.stsEndpoint())
	}

	env := map[string]string{
		"VIDUP_SERVER_TOKENS":     "env-token, ,env-token-2",
		"VIDUP_SERVE_BUCKET":      "from-env",
		"VIDUP_SERVE_S3_ENDPOINT": "http://127.0.0.1:9000",
		"VIDUP_SERVE_PATH_STYLE":  "true",
	}
	o, err = captureServe(t, env, "--bucket", "from-flag", "--tokens-file", tokens, "--credentials-ttl", "15m",
		"--db", filepath.Join(dir, "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Bucket != "from-flag" || o.S3Endpoint != "http://127.0.0.1:9000" || !o.PathStyle || o.CredentialsTTL != 15*time.Minute {
		t.Fatalf("flags and environment not applied: %+v", o)
	}
	if o.clientEndpoint() != "http://127.0.0.1:9000" || o.stsEndpoint() != "http://127.0.0.1:9000" {
		t.Fatalf("endpoints: client %q sts %q, want the S3 endpoint", o.clientEndpoint(), o.stsEndpoint())
	}
	var kept []string
	for _, tok := range o.Tokens {
		if tok.Token != "" {
			kept = append(kept, tok.Token)
		}
	}
	if strings.Join(kept, ",") != "env-token,env-token-2,file-token-1,file-token-2" {
		t.Fatalf("tokens = %q", kept)
	}

	o, err = captureServe(t, env, "--public-endpoint", "https://s3.example.com", "--sts-endpoint", "http://127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	if o.clientEndpoint() != "https://s3.example.com" || o.stsEndpoint() != "http://127.0.0.1:9001" {
		t.Fatalf("endpoints: client %q sts %q", o.clientEndpoint(), o.stsEndpoint())
	}
}

func TestServeRefusesBadSettings(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	tok := map[string]string{"VIDUP_SERVER_TOKENS": "a-token"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no token", nil, nil, "VIDUP_SERVER_TOKENS"},
		{"only blank tokens", map[string]string{"VIDUP_SERVER_TOKENS": " , "}, nil, "--tokens-file"},
		{"missing tokens file", nil, []string{"--tokens-file", "/nonexistent/tokens"}, "--tokens-file /nonexistent/tokens"},
		{"listen without port", tok, []string{"--listen", "127.0.0.1"}, "--listen"},
		{"listen bad port", tok, []string{"--listen", "127.0.0.1:99999"}, "port"},
		{"bad bucket", tok, []string{"--bucket", "Bad_Bucket"}, "--bucket"},
		{"bad region", tok, []string{"--region", "US EAST"}, "--region"},
		{"bad role", tok, []string{"--role-arn", "vidup-uploader"}, "--role-arn"},
		{"ttl too short", tok, []string{"--credentials-ttl", "5m"}, "15m"},
		{"ttl too long", tok, []string{"--credentials-ttl", "13h"}, "12h"},
		{"ftp endpoint", tok, []string{"--s3-endpoint", "ftp://127.0.0.1"}, "--s3-endpoint"},
		{"endpoint with credentials", tok, []string{"--public-endpoint", "http://u:p@127.0.0.1"}, "--public-endpoint"},
		{"bad sts endpoint", tok, []string{"--sts-endpoint", "127.0.0.1:9000"}, "--sts-endpoint"},
		{"db in missing folder", tok, []string{"--db", "/nonexistent/dir/v.db"}, "--db"},
		{"bad env value", map[string]string{"VIDUP_SERVER_TOKENS": "t", "VIDUP_SERVE_CREDENTIALS_TTL": "soon"}, nil, "VIDUP_SERVE_CREDENTIALS_TTL"},
		{"argument", tok, []string{"extra"}, "unknown command"},
		{"session max age zero", tok, []string{"--session-max-age", "0s"}, "--session-max-age"},
		{"negative session rate", tok, []string{"--session-rate", "-1"}, "--session-rate"},
		{"session burst zero", tok, []string{"--session-burst", "0"}, "--session-burst"},
		{"bad credentials mode", tok, []string{"--credentials", "iam"}, "--credentials"},
		{"static without keys", tok, []string{"--credentials", "static"}, "no static key"},
		{"static key file with sts", tok, []string{"--static-keys-file", "/nonexistent/keys"}, "--credentials static"},
		{"static principal without key", map[string]string{"VIDUP_SERVER_TOKENS": "t",
			"VIDUP_SERVE_STATIC_ACCESS_KEY_ID": "AK", "VIDUP_SERVE_STATIC_SECRET_ACCESS_KEY": "SK"},
			[]string{"--credentials", "static", "--tokens-file", writeText(t, "tok-cam cam-3 uploader\n")}, "cam-3"},
		{"bad checksum", tok, []string{"--checksum", "md5"}, "--checksum"},
		{"postgres URL that does not parse", tok, []string{"--db", "postgres://u:secret-pw@host:notaport/db"}, "the PostgreSQL URL does not parse"},
		{"webhook without secret", tok, []string{"--webhook-url", "http://127.0.0.1:9/hooks"}, "VIDUP_WEBHOOK_SECRET"},
		{"webhook secret too short", map[string]string{"VIDUP_SERVER_TOKENS": "t", "VIDUP_WEBHOOK_SECRET": "short"}, []string{"--webhook-url", "http://127.0.0.1:9/hooks"}, "16"},
		{"webhook URL not http", map[string]string{"VIDUP_SERVER_TOKENS": "t", "VIDUP_WEBHOOK_SECRET": "0123456789abcdef0123"}, []string{"--webhook-url", "ftp://127.0.0.1/x"}, "--webhook-url"},
		{"webhook retry too short", map[string]string{"VIDUP_SERVER_TOKENS": "t", "VIDUP_WEBHOOK_SECRET": "0123456789abcdef0123"}, []string{"--webhook-url", "http://127.0.0.1:9/x", "--webhook-retry-for", "1s"}, "--webhook-retry-for"},
		{"webhook timeout too short", map[string]string{"VIDUP_SERVER_TOKENS": "t", "VIDUP_WEBHOOK_SECRET": "0123456789abcdef0123"}, []string{"--webhook-url", "http://127.0.0.1:9/x", "--webhook-timeout", "100ms"}, "--webhook-timeout"},
		{"webhook rescue within the timeout", map[string]string{"VIDUP_SERVER_TOKENS": "t", "VIDUP_WEBHOOK_SECRET": "0123456789abcdef0123"}, []string{"--webhook-url", "http://127.0.0.1:9/x", "--webhook-timeout", "5s", "--webhook-rescue-after", "5s"}, "longer than one attempt's --webhook-timeout 5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.env, append([]string{"serve"}, tt.args...)...)
			if code != ExitUsage {
				t.Fatalf("exit code %d, want %d; stderr %q", code, ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) || !strings.HasPrefix(stderr, "vidup: ") {
				t.Fatalf("stderr %q does not say %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Fatalf("stdout %q, want nothing", stdout)
			}
		})
	}
	// The token never shows in an error about the token file.
	dir := t.TempDir()
	f := filepath.Join(dir, "tokens")
	if err := os.WriteFile(f, []byte("secret-one cam-1 uploader secret-two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, nil, "serve", "--tokens-file", f)
	if code != ExitUsage || strings.Contains(stderr, "secret-one") {
		t.Fatalf("code %d stderr %q: want exit 2 without the file's content", code, stderr)
	}
}

func writeText(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// A store that does not answer stops serve before it listens: exit 2 and
// the reason, instead of a server that answers 502 to every session.
func TestServeExitsWhenTheStoreDoesNotAnswer(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(testenv.Vidup(t), "serve", "--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "v.db"),
		"--s3-endpoint", "http://127.0.0.1:1", "--path-style")
	cmd.Env = serveEnv("XDG_CONFIG_HOME="+dir, "VIDUP_SERVER_TOKENS=tok", "AWS_ACCESS_KEY_ID=AK", "AWS_SECRET_ACCESS_KEY=SK", "AWS_MAX_ATTEMPTS=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitUsage {
		t.Fatalf("err %v, want exit %d; output:\n%s", err, ExitUsage, out)
	}
	if !strings.Contains(string(out), "bucket videos does not answer") || strings.Contains(string(out), "listening") {
		t.Fatalf("output does not say the bucket does not answer:\n%s", out)
	}
}

// --credentials static against a store: sessions carry the principal's
// static key (no SessionToken, no Expiration), which writes to the bucket;
// the server's own key is refused unless allowed.
func TestServeStaticKeys(t *testing.T) {
	m := testenv.MinIO(t)
	bucket := m.NewBucket(t)
	dir := t.TempDir()
	const token = "static-test-token-42"
	env := serveEnv("XDG_CONFIG_HOME="+dir, "VIDUP_SERVER_TOKENS="+token,
		"AWS_ACCESS_KEY_ID="+m.AccessKey, "AWS_SECRET_ACCESS_KEY="+m.SecretKey,
		"VIDUP_SERVE_STATIC_ACCESS_KEY_ID="+m.AccessKey, "VIDUP_SERVE_STATIC_SECRET_ACCESS_KEY="+m.SecretKey)
	args := []string{"--db", filepath.Join(dir, "v.db"), "--s3-endpoint", m.Endpoint, "--path-style", "--bucket", bucket,
		"--credentials", "static", "--checksum", "crc32c"}

	cmd := exec.Command(testenv.Vidup(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitUsage || !strings.Contains(string(out), "the server's own access key") {
		t.Fatalf("serving the server's own key: err %v, output:\n%s", err, out)
	}

	p := startServe(t, env, append(args, "--static-allow-server-key")...)
	var sess contract.Session
	if code := p.call(t, "POST", contract.PathUploads, token, nil,
		contract.SessionRequest{Files: []contract.FileRequest{{Name: "s.mp4", Size: 6}}}, &sess); code != http.StatusCreated {
		t.Fatalf("open session: %d", code)
	}
	if !sess.Credentials.Static() || sess.Credentials.SessionToken != "" {
		t.Fatalf("credentials %+v, want static keys", sess.Credentials)
	}
	if sess.Checksum == nil || sess.Checksum.Algorithm != "CRC32C" || sess.Checksum.Type != "FULL_OBJECT" {
		t.Fatalf("session checksum %+v, want CRC32C FULL_OBJECT", sess.Checksum)
	}
	c := s3.New(s3.Options{
		Region: sess.Region, BaseEndpoint: aws.String(sess.Endpoint), UsePathStyle: sess.PathStyle,
		Credentials: credentials.NewStaticCredentialsProvider(sess.Credentials.AccessKeyID, sess.Credentials.SecretAccessKey, ""),
	})
	up := sess.Uploads[0]
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(up.Key), Body: strings.NewReader("static"),
	}); err != nil {
		t.Fatal(err)
	}
	reg := contract.VideoRequest{UploadID: up.UploadID, SessionID: sess.SessionID, Bucket: bucket, Key: up.Key, Filename: "s.mp4", Size: 6}
	if code := p.call(t, "POST", contract.PathVideos, token, map[string]string{contract.IdempotencyKeyHeader: up.UploadID}, reg, nil); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	p.stop(t)
	if log := p.log(); strings.Contains(log, m.SecretKey) || !strings.Contains(log, "credentials=static") {
		t.Fatalf("serve's log shows a secret or not its mode:\n%s", log)
	}
}

// serveProcess is the vidup binary running serve.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stderr bytes.Buffer
	stdout bytes.Buffer
	done   chan error
}

func (p *serveProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

var listenAddr = regexp.MustCompile(`msg="vidup serve listening" addr=(\S+)`)

func startServe(t *testing.T, env []string, args ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{done: make(chan error, 1)}
	p.cmd = exec.Command(testenv.Vidup(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenAddr.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
		}
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case err := <-p.done:
		t.Fatalf("vidup serve exited before listening: %v\n%s", err, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("vidup serve did not report listening within a minute\n%s", p.log())
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("vidup serve after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("vidup serve did not stop after SIGTERM\n%s", p.log())
	}
}

func (p *serveProcess) call(t *testing.T, method, path, token string, header map[string]string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// serveEnv is the process environment without the developer's own vidup and
// AWS settings, except the CA bundle the machine may need.
func serveEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "VIDUP_") || (strings.HasPrefix(k, "AWS_") && k != "AWS_CA_BUNDLE") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func TestServeBinaryKeepsVideosAcrossRestart(t *testing.T) {
	m := testenv.MinIO(t)
	bucket := m.NewBucket(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "vidup.db")
	const token = "restart-test-token-42"
	env := serveEnv(
		"XDG_CONFIG_HOME="+dir,
		"VIDUP_SERVER_TOKENS="+token,
		"AWS_ACCESS_KEY_ID="+m.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+m.SecretKey,
	)
	args := []string{"--db", db, "--s3-endpoint", m.Endpoint, "--path-style", "--bucket", bucket, "--region", m.Region}

	p := startServe(t, env, args...)
	var sess contract.Session
	if code := p.call(t, "POST", contract.PathUploads, token, nil,
		contract.SessionRequest{Files: []contract.FileRequest{{Name: "keep.mp4", Size: 4}, {Name: "later.mp4", Size: 4}}}, &sess); code != http.StatusCreated {
		t.Fatalf("open session: %d", code)
	}
	c := s3.New(s3.Options{
		Region: sess.Region, BaseEndpoint: aws.String(sess.Endpoint), UsePathStyle: sess.PathStyle,
		Credentials: credentials.NewStaticCredentialsProvider(sess.Credentials.AccessKeyID, sess.Credentials.SecretAccessKey, sess.Credentials.SessionToken),
	})
	up := sess.Uploads[0]
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(up.Key), Body: strings.NewReader("keep"),
	}); err != nil {
		t.Fatal(err)
	}
	reg := contract.VideoRequest{UploadID: up.UploadID, SessionID: sess.SessionID, Bucket: bucket, Key: up.Key, Filename: "keep.mp4", Size: 4}
	idem := map[string]string{contract.IdempotencyKeyHeader: up.UploadID}
	var first contract.Video
	if code := p.call(t, "POST", contract.PathVideos, token, idem, reg, &first); code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}
	p.stop(t)
	if p.stdout.Len() != 0 {
		t.Errorf("serve wrote to stdout: %q", p.stdout.String())
	}
	log := p.log()
	for _, secret := range []string{token, m.SecretKey, sess.Credentials.SecretAccessKey, sess.Credentials.SessionToken} {
		if strings.Contains(log, secret) {
			t.Fatalf("a secret reached serve's log:\n%s", log)
		}
	}
	for _, want := range []string{"bucket=" + bucket, "endpoint=" + m.Endpoint, "db=" + db, "shutting down"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve's log lacks %q:\n%s", want, log)
		}
	}

	p = startServe(t, env, args...)
	var got contract.Video
	if code := p.call(t, "GET", contract.PathVideos+"/"+first.ID, token, nil, nil, &got); code != http.StatusOK {
		t.Fatalf("get the video after a restart: %d", code)
	}
	if got.ID != first.ID || got.Key != first.Key || !strings.HasPrefix(got.Key, "videos/"+first.ID+"/") || got.Size != 4 || !got.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("after a restart: %+v, before: %+v", got, first)
	}
	var replay contract.Video
	if code := p.call(t, "POST", contract.PathVideos, token, idem, reg, &replay); code != http.StatusOK || replay.ID != first.ID {
		t.Fatalf("replay after a restart: %d, video %s, want 200 and %s", code, replay.ID, first.ID)
	}
	var cr contract.CredentialsResponse
	if code := p.call(t, "POST", contract.CredentialsPath(sess.SessionID), token, nil, nil, &cr); code != http.StatusOK || cr.Credentials.SessionToken == "" {
		t.Fatalf("refresh a session of the previous run: %d", code)
	}
	// Another principal learns nothing of it.
	other := filepath.Join(dir, "tokens")
	if err := os.WriteFile(other, []byte("other-principal-token cam-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.stop(t)
	p = startServe(t, env, append(args, "--tokens-file", other, "--session-max-age", "1h")...)
	if code := p.call(t, "GET", contract.PathVideos+"/"+first.ID, "other-principal-token", nil, nil, nil); code != http.StatusNotFound {
		t.Fatalf("another principal gets the video: %d, want 404", code)
	}
	if code := p.call(t, "POST", contract.CredentialsPath(sess.SessionID), "other-principal-token", nil, nil, nil); code != http.StatusNotFound {
		t.Fatalf("another principal refreshes the session: %d, want 404", code)
	}
	var list contract.VideoList
	if code := p.call(t, "GET", contract.PathVideos, token, nil, nil, &list); code != http.StatusOK || len(list.Videos) != 1 || list.Videos[0].ID != first.ID {
		t.Fatalf("list after a restart: %d %+v", code, list)
	}
	p.stop(t)
}

// Two vidup serve processes on one PostgreSQL with webhooks: uploads
// registered through both, a status set by the pipeline on one; the
// receiver gets every webhook once per event, each signed, and the video
// shows their delivery.
func TestServeTwoInstancesOnPostgresWithWebhooks(t *testing.T) {
	m := testenv.MinIO(t)
	dsn := storetest.PostgresURL(t)
	bucket := m.NewBucket(t)
	dir := t.TempDir()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-secret-of-24-bytes-...."))
	key, err := jobs.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]contract.WebhookEvent{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := jobs.Verify(key, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev contract.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("receiver: %v", err)
		}
		mu.Lock()
		got[r.Header.Get(jobs.HeaderID)] = ev
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("cam-token-0123456789 cam-1\npipe-token-0123456789 encoder pipeline\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := serveEnv("XDG_CONFIG_HOME="+dir, "AWS_ACCESS_KEY_ID="+m.AccessKey, "AWS_SECRET_ACCESS_KEY="+m.SecretKey,
		"VIDUP_WEBHOOK_SECRET="+secret, "VIDUP_SERVE_DB="+dsn)
	args := []string{"--s3-endpoint", m.Endpoint, "--path-style", "--bucket", bucket, "--region", m.Region,
		"--tokens-file", tokens, "--webhook-url", rcv.URL + "/hooks"}
	a := startServe(t, env, args...)
	b := startServe(t, env, args...)
	const cam, pipe = "cam-token-0123456789", "pipe-token-0123456789"

	var sess contract.Session
	var files []contract.FileRequest
	for i := range 10 {
		files = append(files, contract.FileRequest{Name: fmt.Sprintf("f%d.mp4", i), Size: 4})
	}
	if code := a.call(t, "POST", contract.PathUploads, cam, nil, contract.SessionRequest{Files: files}, &sess); code != http.StatusCreated {
		t.Fatalf("open session: %d", code)
	}
	c := s3.New(s3.Options{
		Region: sess.Region, BaseEndpoint: aws.String(sess.Endpoint), UsePathStyle: sess.PathStyle,
		Credentials: credentials.NewStaticCredentialsProvider(sess.Credentials.AccessKeyID, sess.Credentials.SecretAccessKey, sess.Credentials.SessionToken),
	})
	var videos []string
	for i, up := range sess.Uploads {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(up.Key), Body: strings.NewReader("data"),
		}); err != nil {
			t.Fatal(err)
		}
		reg := contract.VideoRequest{UploadID: up.UploadID, SessionID: sess.SessionID, Bucket: bucket, Key: up.Key, Filename: files[i].Name, Size: 4}
		var v contract.Video
		if code := []*serveProcess{a, b}[i%2].call(t, "POST", contract.PathVideos, cam, map[string]string{contract.IdempotencyKeyHeader: up.UploadID}, reg, &v); code != http.StatusCreated {
			t.Fatalf("register %d: %d", i, code)
		}
		if v.Status != contract.StatusRegistered {
			t.Fatalf("a new video is %q, want registered", v.Status)
		}
		videos = append(videos, v.ID)
	}
	// The pipeline sets a status on b; an uploader may not.
	if code := b.call(t, "POST", contract.StatusPath(videos[0]), cam, nil, contract.StatusRequest{Status: contract.StatusReady}, nil); code != http.StatusForbidden {
		t.Fatalf("an uploader set a status: %d, want 403", code)
	}
	var v contract.Video
	if code := b.call(t, "POST", contract.StatusPath(videos[0]), pipe, nil, contract.StatusRequest{Status: contract.StatusProcessing}, &v); code != http.StatusOK || v.Status != contract.StatusProcessing {
		t.Fatalf("set processing: %d %q", code, v.Status)
	}
	if code := a.call(t, "POST", contract.StatusPath(videos[0]), pipe, nil, contract.StatusRequest{Status: contract.StatusFailed, Error: "no video stream"}, &v); code != http.StatusOK || v.Error != "no video stream" {
		t.Fatalf("set failed: %d %+v", code, v)
	}
	if code := a.call(t, "POST", contract.StatusPath(videos[0]), pipe, nil, contract.StatusRequest{Status: contract.StatusReady}, nil); code != http.StatusConflict {
		t.Fatalf("failed then ready: %d, want 409", code)
	}
	// 10 registrations and 2 status changes: 12 webhooks, each delivered.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver has %d webhooks after a minute, want 12\n%s\n%s", n, a.log(), b.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var first contract.Video
	waitDelivered := time.Now().Add(30 * time.Second)
	for {
		if code := b.call(t, "GET", contract.PathVideos+"/"+videos[0], cam, nil, nil, &first); code != http.StatusOK {
			t.Fatalf("get: %d", code)
		}
		done := len(first.Webhooks) == 3
		for _, d := range first.Webhooks {
			done = done && d.State == contract.DeliveryDelivered
		}
		if done {
			break
		}
		if time.Now().After(waitDelivered) {
			t.Fatalf("webhooks of the video: %+v", first.Webhooks)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if first.Status != contract.StatusFailed || first.Webhooks[2].Status != contract.StatusFailed {
		t.Fatalf("video = %+v", first)
	}
	// Each instance counts the webhooks it delivered: 12 in all.
	delivered := 0.0
	for _, p := range []*serveProcess{a, b} {
		resp, err := http.Get(p.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`(?m)^vidup_webhook_deliveries_total\{outcome="delivered"\} (\d+)$`).FindSubmatch(page)
		if m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			delivered += float64(n)
		}
	}
	if delivered != 12 {
		t.Fatalf("the instances' /metrics count %v webhooks delivered, want 12", delivered)
	}
	mu.Lock()
	for id, ev := range got {
		if ev.Data.ID == "" || (ev.Type != contract.EventVideoRegistered && ev.Type != contract.EventVideoStatus) {
			t.Errorf("webhook %s = %+v", id, ev)
		}
	}
	mu.Unlock()
	for _, p := range []*serveProcess{a, b} {
		p.stop(t)
		if strings.Contains(p.log(), secret) || strings.Contains(p.log(), strings.TrimPrefix(dsn, "postgres://")) {
			t.Fatalf("a secret reached serve's log:\n%s", p.log())
		}
	}
}
