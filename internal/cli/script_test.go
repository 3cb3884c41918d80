package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
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
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vidup/vidup/internal/encoder"
	"github.com/vidup/vidup/internal/testenv"
)

// update rewrites the golden files of testdata/ and the scripts' expected output.
var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// TestMain makes this test binary the vidup command as well: testscript
// copies it under the name vidup into a folder first on PATH, and when it
// runs under that name it is vidup's main. The scripts and the process-level
// Go tests (kill -9, SIGINT, the terminal, bulk) run it; nothing is built.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vidup":     func() { os.Exit(Main()) },
		"setstatus": func() { os.Exit(setStatusMain()) },
		"encoder":   func() { os.Exit(encoder.Main(os.Args[1:], os.Stderr, os.Getenv)) },
	})
}

// TestScripts runs the CLI contract in testdata/script: one .txtar a
// behaviour. Scripts that need S3 start with
//
//	[!s3] skip 'needs MinIO'
//
// and skip without it, or fail when VIDUP_REQUIRE_S3=1.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup:               scriptSetup,
		Condition:           scriptCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":        cmdExits,
			"serve":        cmdServe,
			"mkfile":       cmdMkfile,
			"json":         cmdJSON,
			"ndjson":       cmdNDJSON,
			"jsonvar":      cmdJSONVar,
			"s3ls":         cmdS3ls,
			"await-part":   cmdAwaitPart,
			"stop-server":  cmdStopServer,
			"apiget":       cmdAPIGet,
			"await-size":   cmdAwaitSize,
			"httpanswer":   cmdHTTPAnswer,
			"s3proxy":      cmdS3Proxy,
			"pkgcheck":     cmdPkgCheck,
			"await-held":   cmdAwaitHeld,
			"release-hold": cmdReleaseHold,
		},
	})
}

// scriptSetup gives every script a home, config and state folders of its
// own inside $WORK, so that no script reads the developer's configuration
// or journal.
func scriptSetup(e *testscript.Env) error {
	for k, dir := range map[string]string{
		"HOME":            "home",
		"XDG_CONFIG_HOME": "config",
		"XDG_STATE_HOME":  "state",
	} {
		p := filepath.Join(e.WorkDir, ".env", dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		e.Setenv(k, p)
	}
	// An address nobody listens on: a script that forgets to start a
	// server fails fast instead of reaching a real API.
	e.Setenv("NOAPI", "http://127.0.0.1:1")
	// The repository, for the scripts that test scripts/*.sh.
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	e.Setenv("REPO", repo)
	// The test MinIO, for scripts that run vidup serve themselves.
	if m, err := testenv.LookupMinIO(); err == nil {
		e.Setenv("S3_ENDPOINT", m.Endpoint)
		e.Setenv("S3_ACCESS_KEY", m.AccessKey)
		e.Setenv("S3_SECRET_KEY", m.SecretKey)
	}
	return nil
}

// scriptCondition knows [s3]: a MinIO is configured, and [ffmpeg]: ffmpeg
// and ffprobe are installed (scripts/deps.sh ffmpeg). Without them, with
// VIDUP_REQUIRE_S3=1, asking is an error, so the script fails.
func scriptCondition(cond string) (bool, error) {
	switch cond {
	case "ffmpeg":
		for _, tool := range []string{"ffmpeg", "ffprobe"} {
			if _, err := exec.LookPath(tool); err != nil {
				if testenv.RequireS3() {
					return false, fmt.Errorf("%s is required (%s=1): install it with scripts/deps.sh ffmpeg", tool, testenv.RequireS3Env)
				}
				return false, nil
			}
		}
		return true, nil
	case "s3":
		_, err := testenv.LookupMinIO()
		if err == nil {
			return true, nil
		}
		if testenv.RequireS3() || err != testenv.ErrNoS3 {
			return false, fmt.Errorf("%v (%s=%s)", err, testenv.RequireS3Env, os.Getenv(testenv.RequireS3Env))
		}
		return false, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// cmdExits runs a command as exec does and checks its exit code, which
// `! exec` cannot tell apart (1 failed, 2 usage, 3 token, 130 interrupted):
//
//	exits 2 vidup upload missing.mp4
//	stderr 'missing.mp4'
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARG...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

type scriptServer struct {
	cmd    *exec.Cmd
	done   chan error
	mu     sync.Mutex
	stderr bytes.Buffer
	bucket string
	s3     testenv.S3
}

func (s *scriptServer) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

const scriptToken = "script-dev-token"

// scriptPipelineToken is the token of the pipeline role (the encoding
// step) that serve -pipeline adds, for setstatus.
const scriptPipelineToken = "script-pipeline-token"

// cmdServe starts `vidup serve` on SQLite in $WORK, with a dev token, over a
// fresh bucket of the test MinIO, and points the script's vidup at it:
// VIDUP_API_URL, VIDUP_API_TOKEN and BUCKET are set. Extra arguments go to
// serve. The server is stopped with SIGTERM when the script ends.
//
// serve -pipeline also gives the server a token of the pipeline role (in a
// --tokens-file), which setstatus uses. serve -pipeline -encoder also runs
// the reference encoder (cmd/encoder) with that token, and the server sends
// it webhooks: registered videos become ready or failed. Its log is
// $WORK/.serve/encoder.log.
func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! serve")
	}
	pipeline := len(args) > 0 && args[0] == "-pipeline"
	if pipeline {
		args = args[1:]
	}
	withEncoder := pipeline && len(args) > 0 && args[0] == "-encoder"
	if withEncoder {
		args = args[1:]
	}
	m, err := testenv.LookupMinIO()
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bucket, err := m.CreateBucket(ctx)
	ts.Check(err)
	bin, err := testenv.VidupPath()
	ts.Check(err)

	dir := ts.MkAbs(".serve")
	ts.Check(os.MkdirAll(dir, 0o755))
	if pipeline {
		tokens := filepath.Join(dir, "pipeline.tokens")
		ts.Check(os.WriteFile(tokens, []byte(scriptPipelineToken+" encoder pipeline\n"), 0o600))
		args = append([]string{"--tokens-file", tokens}, args...)
	}
	encoderAddr := ""
	if withEncoder {
		encoderAddr = freeLoopbackAddr(ts)
		args = append([]string{"--webhook-url", "http://" + encoderAddr + "/"}, args...)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0",
		"--db", filepath.Join(dir, "vidup.db"), "--s3-endpoint", m.Endpoint, "--path-style",
		"--bucket", bucket, "--region", m.Region}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + ts.Getenv("PATH"),
		"HOME=" + ts.Getenv("HOME"),
		"XDG_CONFIG_HOME=" + dir,
		"VIDUP_SERVER_TOKENS=" + scriptToken,
		"AWS_ACCESS_KEY_ID=" + m.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + m.SecretKey,
		"VIDUP_WEBHOOK_SECRET=" + scriptWebhookSecret,
	}
	errPipe, err := cmd.StderrPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	s := &scriptServer{cmd: cmd, done: make(chan error, 1), bucket: bucket, s3: m}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listenAddr.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		s.done <- cmd.Wait()
	}()
	ts.Defer(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
			}
		}
	})
	select {
	case a := <-addr:
		ts.Setenv("VIDUP_API_URL", "http://"+a)
	case err := <-s.done:
		ts.Fatalf("vidup serve exited before listening: %v\n%s", err, s.log())
	case <-time.After(60 * time.Second):
		ts.Fatalf("vidup serve did not report listening within a minute\n%s", s.log())
	}
	ts.Setenv("VIDUP_API_TOKEN", scriptToken)
	ts.Setenv("BUCKET", bucket)
	servers.Store(ts, s)
	if withEncoder {
		startEncoder(ts, dir, encoderAddr, m)
	}
}

// scriptWebhookSecret signs the webhooks of the scripts' servers.
const scriptWebhookSecret = "script-webhook-secret-0123456789"

// freeLoopbackAddr is a loopback address nobody listened on a moment ago:
// the server must know the encoder's URL before the encoder knows the API's.
func freeLoopbackAddr(ts *testscript.TestScript) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := ln.Addr().String()
	ts.Check(ln.Close())
	return addr
}

// startEncoder runs the reference encoder (this test binary under the name
// encoder) against the script's server until the script ends.
func startEncoder(ts *testscript.TestScript, dir, addr string, m testenv.S3) {
	bin, err := exec.LookPath(filepath.Join(filepath.Dir(mustVidup(ts)), "encoder"))
	ts.Check(err)
	logf, err := os.Create(filepath.Join(dir, "encoder.log"))
	ts.Check(err)
	cmd := exec.Command(bin, "--listen", addr, "--s3-endpoint", m.Endpoint, "--path-style", "--region", m.Region, "--workers", "2")
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + ts.Getenv("PATH"),
		"HOME=" + ts.Getenv("HOME"),
		"VIDUP_API_URL=" + ts.Getenv("VIDUP_API_URL"),
		"VIDUP_PIPELINE_TOKEN=" + scriptPipelineToken,
		"VIDUP_WEBHOOK_SECRET=" + scriptWebhookSecret,
		"AWS_ACCESS_KEY_ID=" + m.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + m.SecretKey,
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	ts.Check(cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	ts.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(logf.Name())
			ts.Fatalf("the encoder exited before listening: %v\n%s", err, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			ts.Fatalf("the encoder did not listen on %s within a minute", addr)
		}
	}
}

func mustVidup(ts *testscript.TestScript) string {
	bin, err := testenv.VidupPath()
	ts.Check(err)
	return bin
}

// servers maps a running script to its server.
var servers sync.Map

func serverOf(ts *testscript.TestScript) *scriptServer {
	s, ok := servers.Load(ts)
	if !ok {
		ts.Fatalf("no server: run serve first")
	}
	return s.(*scriptServer)
}

// cmdStopServer stops the script's server (SIGTERM) and waits for a clean
// exit; the API is down afterwards.
func cmdStopServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: stop-server")
	}
	s := serverOf(ts)
	ts.Check(s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-s.done:
		if err != nil {
			ts.Fatalf("vidup serve after SIGTERM: %v\n%s", err, s.log())
		}
	case <-time.After(30 * time.Second):
		ts.Fatalf("vidup serve did not stop after SIGTERM\n%s", s.log())
	}
	fmt.Fprint(ts.Stdout(), s.log())
}

// cmdMkfile writes a file of the given size (bytes, or with KiB or MiB) of
// pseudo-random content: mkfile NAME SIZE [SEED].
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: mkfile NAME SIZE [SEED]")
	}
	size := parseScriptSize(ts, args[1])
	seed := uint32(1)
	if len(args) == 3 {
		n, err := strconv.ParseUint(args[2], 10, 32)
		ts.Check(err)
		seed = uint32(n)
	}
	data := make([]byte, size)
	x := seed*2654435761 + 1
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	p := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
	ts.Check(os.WriteFile(p, data, 0o644))
}

func parseScriptSize(ts *testscript.TestScript, s string) int64 {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	ts.Check(err)
	return n * mult
}

// jsonPath walks a decoded JSON value along a dotted path; numbers index
// arrays, "len" is the length of an array or object.
func jsonPath(v any, path string) (any, error) {
	if path == "" || path == "." {
		return v, nil
	}
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			if part == "len" {
				v = float64(len(x))
				continue
			}
			next, ok := x[part]
			if !ok {
				return nil, fmt.Errorf("no field %q", part)
			}
			v = next
		case []any:
			if part == "len" {
				v = float64(len(x))
				continue
			}
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("no element %q of an array of %d", part, len(x))
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("%q: not an object or array", part)
		}
	}
	return v, nil
}

// formatJSONValue prints a leaf as scripts write it: strings bare, numbers
// without a trailing .0, null as null.
func formatJSONValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return "null"
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

var jsonCheck = regexp.MustCompile(`^([^=~]*)(=|~)(.*)$`)

// checkJSON applies checks PATH=VALUE (equal) or PATH~REGEXP (matches) to
// one document and returns the first that fails.
func checkJSON(doc any, checks []string) error {
	for _, c := range checks {
		m := jsonCheck.FindStringSubmatch(c)
		if m == nil {
			return fmt.Errorf("bad check %q: want PATH=VALUE or PATH~REGEXP", c)
		}
		v, err := jsonPath(doc, m[1])
		if err != nil {
			return fmt.Errorf("%s: %v", m[1], err)
		}
		got := formatJSONValue(v)
		switch m[2] {
		case "=":
			if got != m[3] {
				return fmt.Errorf("%s is %q, want %q", m[1], got, m[3])
			}
		case "~":
			re, err := regexp.Compile(m[3])
			if err != nil {
				return err
			}
			if !re.MatchString(got) {
				return fmt.Errorf("%s is %q, does not match %q", m[1], got, m[3])
			}
		}
	}
	return nil
}

// cmdJSON checks that FILE (or stdout/stderr) is exactly one JSON document
// and that its fields are as said:
//
//	json stdout summary.uploaded=2 files.0.status=uploaded files.len=2 files.0.video_id~^vid-
//
// With -line N the Nth line (from 0; -1 is the last) is the document.
// Negated, it passes when at least one check fails.
func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	line := ""
	if len(args) > 1 && args[0] == "-line" {
		line, args = args[1], args[2:]
	}
	if len(args) < 1 {
		ts.Fatalf("usage: json [-line N] FILE [PATH=VALUE | PATH~REGEXP]...")
	}
	text := ts.ReadFile(args[0])
	if line != "" {
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		n, err := strconv.Atoi(line)
		ts.Check(err)
		if n < 0 {
			n += len(lines)
		}
		if n < 0 || n >= len(lines) {
			ts.Fatalf("%s has %d lines, no line %s", args[0], len(lines), line)
		}
		text = lines[n]
	}
	dec := json.NewDecoder(strings.NewReader(text))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		ts.Fatalf("%s is not JSON: %v\n%s", args[0], err, text)
	}
	if dec.More() {
		ts.Fatalf("%s holds more than one JSON document", args[0])
	}
	err := checkJSON(doc, args[1:])
	switch {
	case err != nil && !neg:
		ts.Fatalf("%s: %v", args[0], err)
	case err == nil && neg:
		ts.Fatalf("%s: every check holds", args[0])
	}
}

// cmdJSONVar sets a variable of the script to a field of a JSON document:
//
//	jsonvar ID stdout uploads.0.id
//	exec vidup uploads abort $ID
func cmdJSONVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonvar VAR FILE PATH")
	}
	var doc any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[1])), &doc); err != nil {
		ts.Fatalf("%s is not JSON: %v", args[1], err)
	}
	v, err := jsonPath(doc, args[2])
	if err != nil {
		ts.Fatalf("%s: %s: %v", args[1], args[2], err)
	}
	ts.Setenv(args[0], formatJSONValue(v))
}

// cmdNDJSON checks that every line of FILE is one JSON object with a
// "type", and that the types come in the order given:
//
//	ndjson stdout planned file_started file_uploaded file_registered summary
func cmdNDJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: ndjson FILE TYPE...")
	}
	var types []string
	for i, line := range strings.Split(strings.TrimRight(ts.ReadFile(args[0]), "\n"), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			ts.Fatalf("line %d of %s is not one JSON object: %v\n%s", i+1, args[0], err, line)
		}
		t, ok := ev["type"].(string)
		if !ok {
			ts.Fatalf("line %d of %s has no type: %s", i+1, args[0], line)
		}
		if _, ok := ev["time"].(string); !ok {
			ts.Fatalf("line %d of %s has no time: %s", i+1, args[0], line)
		}
		types = append(types, t)
	}
	if got, want := strings.Join(types, " "), strings.Join(args[1:], " "); got != want {
		ts.Fatalf("events of %s: %s\nwant:      %s", args[0], got, want)
	}
}

// cmdS3ls prints "KEY SIZE" for each object in the script's bucket (or the
// bucket named by -bucket B), for stdout checks.
func cmdS3ls(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! s3ls")
	}
	s := serverOf(ts)
	bucket := s.bucket
	if len(args) == 2 && args[0] == "-bucket" {
		bucket = args[1]
	} else if len(args) != 0 {
		ts.Fatalf("usage: s3ls [-bucket B]")
	}
	w := ts.Stdout() // even when the bucket is empty, stdout is this listing
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.s3.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	ts.Check(err)
	for _, o := range out.Contents {
		fmt.Fprintf(w, "%s %d\n", aws.ToString(o.Key), aws.ToInt64(o.Size))
	}
	mp, err := s.s3.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	ts.Check(err)
	for _, u := range mp.Uploads {
		fmt.Fprintf(w, "open-multipart %s\n", aws.ToString(u.Key))
	}
}

// cmdAwaitPart waits (up to a minute) until `vidup uploads` lists an
// unfinished upload with at least one part done: the moment to kill the
// upload that a script started in the background.
func cmdAwaitPart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: await-part")
	}
	var env []string
	for _, k := range []string{"PATH", "HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "VIDUP_STATE_DIR"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	deadline := time.Now().Add(time.Minute)
	for {
		cmd := exec.Command("vidup", "uploads", "-o", "json")
		cmd.Env = env
		out, err := cmd.Output()
		if err == nil {
			var doc struct {
				Uploads []struct {
					BytesDone int64 `json:"bytes_done"`
				} `json:"uploads"`
			}
			if json.Unmarshal(out, &doc) == nil && len(doc.Uploads) > 0 && doc.Uploads[0].BytesDone > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no unfinished upload with a part done within a minute (last listing: %v %s)", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmdAPIGet asks the script's API (VIDUP_API_URL, with VIDUP_API_TOKEN) for
// PATH and prints the body on stdout; a status other than 200 fails:
//
//	apiget /api/v1/videos/$VIDEO
//	json stdout media.container=mp4
func cmdAPIGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: apiget PATH")
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimRight(ts.Getenv("VIDUP_API_URL"), "/")+args[0], nil)
	ts.Check(err)
	req.Header.Set("Authorization", "Bearer "+ts.Getenv("VIDUP_API_TOKEN"))
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	if resp.StatusCode != http.StatusOK {
		ts.Fatalf("GET %s: %s\n%s", args[0], resp.Status, body)
	}
	ts.Stdout().Write(body)
}

// cmdAwaitSize waits (up to a minute) until FILE holds at least SIZE bytes:
// the moment a recorder started in the background has written some media.
//
//	! exec ffmpeg ... live.mp4 &ffmpeg&
//	await-size live.mp4 64KiB
func cmdAwaitSize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: await-size FILE SIZE")
	}
	p, want := ts.MkAbs(args[0]), parseScriptSize(ts, args[1])
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := os.Stat(p)
		if err == nil && st.Size() >= want {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not reach %s within a minute (stat: %v)", args[0], args[1], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setStatusMain is the setstatus program of the scripts: it plays the
// encoding pipeline (serve -pipeline). It waits (up to a minute) until a
// video of that filename is registered on VIDUP_API_URL, then sets its
// statuses in turn, as the pipeline role does (contract v1.1 section 5).
// A program, not a script command, so that it can run in the background
// while vidup upload --wait runs in the foreground under exits:
//
//	exec setstatus clip.mp4 processing failed:no-video-stream &
//	exits 4 vidup upload --wait clip.mp4
//	wait
func setStatusMain() int {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: setstatus FILENAME STATUS[:ERROR]...")
		return 2
	}
	if err := setStatuses(os.Getenv("VIDUP_API_URL"), os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "setstatus:", err)
		return 1
	}
	return 0
}

func setStatuses(apiURL, filename string, statuses []string) error {
	base := strings.TrimRight(apiURL, "/")
	do := func(method, path string, body any) (int, []byte, error) {
		var r io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return 0, nil, err
			}
			r = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, base+path, r)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+scriptPipelineToken)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return resp.StatusCode, data, err
	}
	id := ""
	deadline := time.Now().Add(time.Minute)
	for id == "" {
		code, data, err := do(http.MethodGet, "/api/v1/videos", nil)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/videos as the pipeline: %d\n%s", code, data)
		}
		var list struct {
			Videos []struct {
				ID       string `json:"id"`
				Filename string `json:"filename"`
			} `json:"videos"`
		}
		if err := json.Unmarshal(data, &list); err != nil {
			return err
		}
		for _, v := range list.Videos {
			if v.Filename == filename {
				id = v.ID
			}
		}
		if id != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no video %s registered within a minute", filename)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, st := range statuses {
		status, reason, _ := strings.Cut(st, ":")
		req := map[string]string{"status": status}
		if reason != "" {
			req["error"] = reason
		}
		code, data, err := do(http.MethodPost, "/api/v1/videos/"+id+"/status", req)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("set status of %s to %s: %d\n%s", filename, status, code, data)
		}
		fmt.Printf("%s %s\n", id, st)
	}
	return nil
}

// cmdHTTPAnswer starts a loopback HTTP server (plain HTTP) that answers
// every request with STATUS, CONTENT-TYPE and the body of FILE, and sets
// NAME to its URL and NAME_HOSTPORT to its host:port (for an https:// URL
// of it). It stops when the script ends:
//
//	httpanswer API 403 application/xml s3-error.xml
//	exits 2 vidup upload --api-url $API a.mp4
func cmdHTTPAnswer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: httpanswer NAME STATUS CONTENT-TYPE FILE")
	}
	status, err := strconv.Atoi(args[1])
	ts.Check(err)
	body := []byte(ts.ReadFile(args[3]))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", args[2])
		w.WriteHeader(status)
		w.Write(body)
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
	ts.Setenv(args[0]+"_HOSTPORT", strings.TrimPrefix(srv.URL, "http://"))
}
