//go:build unix

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// runUploadCmd runs a command line as Run does, with vidup upload's retry
// waits shortened and, when capture is set, the options handed to it
// instead of uploading.
func runUploadCmd(t *testing.T, env map[string]string, capture func(*UploadOptions), args ...string) (int, string, string) {
	t.Helper()
	if _, ok := env["VIDUP_STATE_DIR"]; !ok {
		// Never the user's own journal.
		env = maps.Clone(env)
		if env == nil {
			env = map[string]string{}
		}
		env["VIDUP_STATE_DIR"] = filepath.Join(t.TempDir(), "state")
	}
	var out, errOut bytes.Buffer
	io := &IOStreams{
		In: strings.NewReader(""), Out: &out, ErrOut: &errOut,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}
	root := NewRootCmd(io)
	for _, c := range root.Commands() {
		if c.Name() == "upload" {
			root.RemoveCommand(c)
		}
	}
	ctx := context.Background()
	root.AddCommand(newCmdUpload(io, func(o *UploadOptions) error {
		if capture != nil {
			capture(o)
			return nil
		}
		o.retryDelays = &retryDelays{base: 5 * time.Millisecond, max: 20 * time.Millisecond}
		return runUpload(ctx, o)
	}))
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		if isCobraUsageError(cmd, err) {
			err = asUsage(err)
		}
		printError(io.ErrOut, err)
		return exitCode(err), out.String(), errOut.String()
	}
	return ExitOK, out.String(), errOut.String()
}

func writeTemp(t *testing.T, dir, name string, size int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	data := bytes.Repeat([]byte("vidup-"), size/6+1)[:size]
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// noAPI is an API URL that fails the test when called: input errors must
// be found before any request.
func noAPI(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the API was called (%s %s) although the input was bad", r.Method, r.URL.Path)
		w.WriteHeader(500)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestUploadFlags(t *testing.T) {
	dir := t.TempDir()
	file := writeTemp(t, dir, "clip.mp4", 10)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("from-file\n"), 0o600)
	base := map[string]string{"VIDUP_API_URL": "http://127.0.0.1:1", "VIDUP_API_TOKEN": "s3cr3t-tok"}
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		code  int
		err   string
		check func(*UploadOptions) bool
	}{
		{"defaults", nil, nil, 0, "", func(o *UploadOptions) bool {
			return o.Concurrency == 8 && o.PartSize == 0 && o.Output == "text" && o.Token == "s3cr3t-tok"
		}},
		{"part size 16MiB", nil, []string{"--part-size", "16MiB"}, 0, "", func(o *UploadOptions) bool { return o.PartSize == 16<<20 }},
		{"part size 64M", nil, []string{"--part-size", "64M"}, 0, "", func(o *UploadOptions) bool { return o.PartSize == 64<<20 }},
		{"part size 1GiB", nil, []string{"--part-size=1GiB"}, 0, "", func(o *UploadOptions) bool { return o.PartSize == 1<<30 }},
		{"part size auto", nil, []string{"--part-size", "auto"}, 0, "", func(o *UploadOptions) bool { return o.PartSize == 0 }},
		{"part size under 5MiB", nil, []string{"--part-size", "4MiB"}, ExitUsage, "out of S3's range", nil},
		{"part size over 5GiB", nil, []string{"--part-size", "6GiB"}, ExitUsage, "out of S3's range", nil},
		{"part size not a size", nil, []string{"--part-size", "big"}, ExitUsage, "not a size", nil},
		{"concurrency", nil, []string{"--concurrency", "16"}, 0, "", func(o *UploadOptions) bool { return o.Concurrency == 16 }},
		{"concurrency from env", map[string]string{"VIDUP_CONCURRENCY": "3"}, nil, 0, "", func(o *UploadOptions) bool { return o.Concurrency == 3 }},
		{"negative concurrency", nil, []string{"--concurrency", "-1"}, ExitUsage, "--concurrency -1", nil},
		{"zero concurrency", nil, []string{"--concurrency", "0"}, ExitUsage, "must be 1 or more", nil},
		{"metadata", nil, []string{"--metadata", "camera=cam-3", "--metadata", "take=2=b"}, 0, "", func(o *UploadOptions) bool {
			return o.metadata["camera"] == "cam-3" && o.metadata["take"] == "2=b" && len(o.metadata) == 2
		}},
		{"bad metadata", nil, []string{"--metadata", "camera"}, ExitUsage, "key=value", nil},
		{"negative retries", nil, []string{"--retries", "-2"}, ExitUsage, "--retries", nil},
		{"retry budget", nil, []string{"--retry-budget", "90s"}, 0, "", func(o *UploadOptions) bool { return o.RetryBudget == 90*time.Second }},
		{"bad progress", nil, []string{"--progress", "fancy"}, ExitUsage, "auto, bar, plain or none", nil},
		{"bad output", nil, []string{"--output", "xml"}, ExitUsage, "text, json or ndjson", nil},
		{"no API URL", map[string]string{"VIDUP_API_URL": ""}, nil, ExitUsage, "VIDUP_API_URL", nil},
		{"no token", map[string]string{"VIDUP_API_TOKEN": ""}, nil, ExitUsage, "VIDUP_API_TOKEN", nil},
		{"token file", map[string]string{"VIDUP_API_TOKEN": ""}, []string{"--token-file", tokenFile}, 0, "", func(o *UploadOptions) bool { return o.Token == "from-file" }},
		{"missing token file", nil, []string{"--token-file", filepath.Join(dir, "nope")}, ExitUsage, "token file", nil},
		{"content type", nil, []string{"--content-type", "video/x-test"}, 0, "", func(o *UploadOptions) bool { return o.plan[0].item.ContentType == "video/x-test" }},
		{"detected content type", nil, nil, 0, "", func(o *UploadOptions) bool { return o.plan[0].item.ContentType == "video/mp4" }},
		{"no wait", nil, nil, 0, "", func(o *UploadOptions) bool { return !o.Wait && o.WaitTimeout == time.Hour }},
		{"wait", nil, []string{"--wait", "--wait-timeout", "90s"}, 0, "", func(o *UploadOptions) bool { return o.Wait && o.WaitTimeout == 90*time.Second }},
		{"wait from env", map[string]string{"VIDUP_WAIT": "true", "VIDUP_WAIT_TIMEOUT": "2m"}, nil, 0, "", func(o *UploadOptions) bool { return o.Wait && o.WaitTimeout == 2*time.Minute }},
		{"zero wait timeout", nil, []string{"--wait", "--wait-timeout", "0s"}, ExitUsage, "--wait-timeout 0s", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			var got *UploadOptions
			code, _, stderr := runUploadCmd(t, env, func(o *UploadOptions) { got = o }, append(append([]string{"upload"}, tt.args...), file)...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if tt.err != "" && !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q does not say %q", stderr, tt.err)
			}
			if tt.check != nil && (got == nil || !tt.check(got)) {
				t.Errorf("options not as expected: %+v", got)
			}
			if env["VIDUP_API_TOKEN"] != "" && strings.Contains(stderr, env["VIDUP_API_TOKEN"]) {
				t.Errorf("stderr shows the token: %q", stderr)
			}
		})
	}
}

// One rule for a path that cannot be used, however it was named: it fails
// alone (exit 1, its result names it and says why, the JSON document is
// printed) and the other files are uploaded, as when -r finds it. A folder
// without -r is the command line's mistake: exit 2 before anything is sent.
func TestUploadBadInputFailsAloneNamingThePath(t *testing.T) {
	e := newCLIEnv(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	good := writeTemp(t, dir, "good.mp4", 100)
	tests := []struct {
		name, path, err string
	}{
		{"missing", filepath.Join(dir, "nope.mp4"), "does not exist"},
		{"fifo", fifo, "named pipe"},
		{"device", "/dev/null", "character device"},
	}
	if os.Geteuid() != 0 {
		// root reads every file: the case exists only for other users.
		unreadable := writeTemp(t, dir, "secret.mp4", 10)
		os.Chmod(unreadable, 0)
		tests = append(tests, struct{ name, path, err string }{"unreadable", unreadable, "permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runUploadCmd(t, e.env, nil, "upload", "--force", "-o", "json", "--progress", "none", tt.path, good)
			if code != ExitFailed {
				t.Errorf("exit code %d, want %d; stderr %q", code, ExitFailed, stderr)
			}
			if !strings.Contains(stderr, tt.path) || !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q does not name %s and say %q", stderr, tt.path, tt.err)
			}
			var doc struct {
				Files []struct{ Path, Status, Error string }
			}
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("stdout is not the JSON document: %v\n%s", err, stdout)
			}
			if len(doc.Files) != 2 || doc.Files[0].Path != good || doc.Files[0].Status != "uploaded" ||
				doc.Files[1].Path != tt.path || doc.Files[1].Status != "failed" || !strings.Contains(doc.Files[1].Error, tt.err) {
				t.Errorf("files %+v; want %s uploaded, %s failed saying %q", doc.Files, good, tt.path, tt.err)
			}
		})
	}
	t.Run("directory without -r", func(t *testing.T) {
		env := map[string]string{"VIDUP_API_URL": noAPI(t), "VIDUP_API_TOKEN": "tok"}
		code, stdout, stderr := runUploadCmd(t, env, nil, "upload", good, dir)
		if code != ExitUsage || !strings.Contains(stderr, dir) || !strings.Contains(stderr, "is a directory") || stdout != "" {
			t.Errorf("exit code %d, stdout %q, stderr %q; want %d naming %s, nothing on stdout", code, stdout, stderr, ExitUsage, dir)
		}
	})
}

type cliEnv struct {
	api *transfertest.API
	env map[string]string
	dir string
}

func newCLIEnv(t *testing.T) cliEnv {
	s := testenv.MinIO(t)
	a := transfertest.New(t, s, s.NewBucket(t))
	return cliEnv{api: a, dir: t.TempDir(), env: map[string]string{"VIDUP_API_URL": a.URL, "VIDUP_API_TOKEN": a.Token,
		"VIDUP_STATE_DIR": filepath.Join(t.TempDir(), "state")}}
}

func TestUploadEndToEnd(t *testing.T) {
	e := newCLIEnv(t)
	empty := writeTemp(t, e.dir, "empty.mp4", 0)
	one := writeTemp(t, e.dir, "one.mov", 1)
	big := writeTemp(t, e.dir, "big.mkv", 6<<20+1)
	code, stdout, stderr := runUploadCmd(t, e.env, nil, "upload", "--part-size", "5MiB", "--metadata", "camera=cam-3", "--allow-empty", empty, one, big)
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr %q", code, stderr)
	}
	for _, p := range []string{empty, one, big} {
		if !strings.Contains(stdout, "uploaded\t"+p+"\tvideo vid-") {
			t.Errorf("stdout %q does not list %s as uploaded", stdout, p)
		}
	}
	regs := e.api.Registrations()
	if len(regs) != 3 {
		t.Fatalf("%d registrations, want 3", len(regs))
	}
	for _, r := range regs {
		if r.Metadata["camera"] != "cam-3" || r.Checksum == nil {
			t.Errorf("registration %+v lacks metadata or checksum", r)
		}
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "\x1b") {
		t.Errorf("piped stderr has redraws or escape codes: %q", stderr)
	}
	// One summary line, with the bytes this run sent; plain mode adds no
	// second one.
	if !strings.Contains(stderr, "vidup: 3 files: 3 uploaded; 6.0 MiB sent in ") || strings.Contains(stderr, "vidup: done:") {
		t.Errorf("stderr %q lacks the summary, or has two", stderr)
	}
}

func TestUploadRegistration503ThenOK(t *testing.T) {
	e := newCLIEnv(t)
	e.api.Set(func(a *transfertest.API) {
		a.RegisterFault = func(_ string, n int) (int, string) {
			if n <= 2 {
				return 503, "try later"
			}
			return 0, ""
		}
	})
	code, _, stderr := runUploadCmd(t, e.env, nil, "upload", writeTemp(t, e.dir, "a.mp4", 10))
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr %q", code, stderr)
	}
	regs := e.api.Registrations()
	if len(regs) != 1 || e.api.Attempts(regs[0].UploadID) != 3 {
		t.Errorf("%d registrations, want 1 after 3 attempts", len(regs))
	}
}

func TestUploadFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *cliEnv)
		code  int
		err   string
	}{
		{"registration 422", func(e *cliEnv) {
			e.api.Set(func(a *transfertest.API) {
				a.RegisterFault = func(string, int) (int, string) { return 422, "object size differs from the request" }
			})
		}, ExitFailed, "object size differs from the request"},
		{"API refuses the token", func(e *cliEnv) { e.env["VIDUP_API_TOKEN"] = "wrong" }, ExitAuth, "401"},
		{"API down", func(e *cliEnv) {
			l, _ := net.Listen("tcp", "127.0.0.1:0")
			e.env["VIDUP_API_URL"] = "http://" + l.Addr().String()
			l.Close()
		}, ExitFailed, "a.mp4"},
		{"API answers HTML", func(e *cliEnv) {
			e.api.Set(func(a *transfertest.API) {
				a.SessionFault = func() (int, string, string) { return 201, "text/html", "<html><body>login</body></html>" }
			})
		}, ExitFailed, "HTML"},
		{"API answers truncated JSON", func(e *cliEnv) {
			e.api.Set(func(a *transfertest.API) {
				a.SessionFault = func() (int, string, string) { return 201, "application/json", `{"session_id": "x", "buck` }
			})
		}, ExitFailed, "session"},
		{"credentials lack a field", func(e *cliEnv) {
			e.api.Set(func(a *transfertest.API) {
				a.Credentials = func(c contract.Credentials) contract.Credentials { c.SecretAccessKey = ""; return c }
			})
		}, ExitFailed, "SecretAccessKey"},
		{"S3 refuses the credentials", func(e *cliEnv) {
			e.api.Set(func(a *transfertest.API) {
				a.Credentials = func(c contract.Credentials) contract.Credentials { c.SecretAccessKey = "not-the-secret"; return c }
			})
		}, ExitFailed, "S3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCLIEnv(t)
			tt.setup(&e)
			code, stdout, stderr := runUploadCmd(t, e.env, nil, "upload", writeTemp(t, e.dir, "a.mp4", 10))
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q does not say %q", stderr, tt.err)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing for a failed file", stdout)
			}
			if strings.Contains(stderr, "not-the-secret") || strings.Contains(stderr, e.api.Token) {
				t.Errorf("stderr shows a secret: %q", stderr)
			}
			if n := len(e.api.Registrations()); n != 0 {
				t.Errorf("%d registrations of a failed upload", n)
			}
		})
	}
}

// normalise replaces what changes between runs with placeholders.
func normalise(doc []byte, dir string) []byte {
	s := strings.ReplaceAll(string(doc), dir, "$DIR")
	for _, re := range []struct{ re, with string }{
		{`"(session_id|upload_id)": "[0-9a-f]+"`, `"$1": "<id>"`},
		{`"key": "uploads/[0-9a-f]+/[0-9a-f]+/`, `"key": "uploads/<session>/<upload>/`},
		{`"video_id": "vid-[0-9a-f]+"`, `"video_id": "<video>"`},
		{`"etag": "\\"[0-9a-f-]+\\""`, `"etag": "<etag>"`},
		{`"(duration_seconds|rate_bytes_per_second)": [0-9.e+]+`, `"$1": 0`},
		{`127\.0\.0\.1:[0-9]+`, `127.0.0.1:<port>`},
	} {
		s = regexp.MustCompile(re.re).ReplaceAllString(s, re.with)
	}
	return []byte(s)
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestUploadJSONOutput(t *testing.T) {
	t.Run("uploaded", func(t *testing.T) {
		e := newCLIEnv(t)
		a := writeTemp(t, e.dir, "a.mp4", 10)
		b := writeTemp(t, e.dir, "b.mov", 6<<20)
		code, stdout, stderr := runUploadCmd(t, e.env, nil, "upload", "--output", "json", "--part-size", "5MiB", a, b)
		if code != ExitOK {
			t.Fatalf("exit code %d; stderr %q", code, stderr)
		}
		var doc uploadDocument
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
		}
		if doc.Summary.Bytes != 10+6<<20 || doc.Summary.Uploaded != 2 {
			t.Errorf("summary %+v", doc.Summary)
		}
		checkGolden(t, "upload-json-uploaded.golden", normalise([]byte(stdout), e.dir))
	})
	t.Run("failed", func(t *testing.T) {
		e := newCLIEnv(t)
		e.api.Set(func(a *transfertest.API) {
			a.RegisterFault = func(string, int) (int, string) { return 422, "object checksum differs" }
		})
		code, stdout, _ := runUploadCmd(t, e.env, nil, "upload", "-o", "json", "-q", writeTemp(t, e.dir, "c.mp4", 10))
		if code != ExitFailed {
			t.Fatalf("exit code %d, want %d", code, ExitFailed)
		}
		checkGolden(t, "upload-json-failed.golden", normalise([]byte(stdout), e.dir))
	})
}

// In a real terminal (tmux) the bar ends at 100 % with the right total.
func TestUploadProgressInATerminal(t *testing.T) {
	e := newCLIEnv(t) // skips without S3, first: a fresh clone has neither
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("this test needs tmux: scripts/deps.sh tmux")
	}
	bin := testenv.Vidup(t)
	file := writeTemp(t, e.dir, "tty.mp4", 12<<20)
	done := filepath.Join(e.dir, "done")
	sock := filepath.Join(e.dir, "tmux.sock")
	script := "VIDUP_API_URL=" + e.api.URL + " VIDUP_API_TOKEN=" + e.api.Token + " VIDUP_STATE_DIR=" + e.env["VIDUP_STATE_DIR"] + " " + bin +
		" upload --part-size 5MiB " + file + " >/dev/null; echo exit=$? > " + done + "; sleep 30"
	cmd := exec.Command("tmux", "-S", sock, "new-session", "-d", "-x", "150", "-y", "20", "sh", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("vidup did not finish in tmux within 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	status, _ := os.ReadFile(done)
	pane, err := exec.Command("tmux", "-S", sock, "capture-pane", "-p").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(status)) != "exit=0" {
		t.Fatalf("vidup ended with %s; screen:\n%s", status, pane)
	}
	screen := string(pane)
	if !strings.Contains(screen, "100%") || !strings.Contains(screen, "(12/12 MiB") || strings.Contains(screen, "  99%") {
		t.Errorf("the bar did not end full at 12.0 MiB; screen:\n%s", screen)
	}
}
