package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/testenv"
)

// lockedBuffer is a bytes.Buffer that the test reads while vidup writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A run of a small file and a large one whose parts after the first are
// held: the small file's result line reaches stdout while the large one is
// still going (results stream); Ctrl-C then calls the large file
// interrupted, not failed, and the one summary line counts the bytes this
// run sent. The next run skips the small file with its video id and size,
// says in plain lines that it continues the large one, counts what S3 had
// apart from what it sends, and its rate never exceeds --bwlimit.
func TestResultsStreamAndNumbersStayHonestAcrossAnInterrupt(t *testing.T) {
	const part = 5 << 20
	k := newKillEnv(t, 4*part)
	state := filepath.Join(t.TempDir(), "state")
	small := filepath.Join(filepath.Dir(k.file), "a.mp4")
	if err := os.WriteFile(small, []byte("frames"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Parts 2 to 4 of the large file are held until vidup stops; part 1
	// and the small file go through (--concurrency leaves them slots).
	k.setHold(func(ri *faultproxy.RequestInfo) bool {
		return ri.Kind == faultproxy.KindUploadPart && ri.PartNumber >= 2
	})
	cmd, _, _ := k.command(state, "upload", "--part-size", "5MiB", "--concurrency", "8", "--progress", "plain", small, k.file)
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for !regexp.MustCompile(`(?m)^uploaded\t\S*/a\.mp4\tvideo `).MatchString(stdout.String()) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no result line of the small file on stdout while the large file uploads:\nstdout: %s\nstderr: %s", stdout, stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, "part 1 of the large file recorded", func() bool { return recordedParts(t, state) >= 1 })
	select {
	case err := <-done:
		t.Fatalf("vidup ended before the interrupt (%v): results were not written as files ended?\nstderr: %s", err, stderr)
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("interrupted run: %v", err)
		}
		code = ee.ExitCode()
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("vidup did not stop after SIGINT")
	}
	errOut := stderr.String()
	if code != ExitInterrupted {
		t.Fatalf("exit %d after SIGINT, want 130; stderr: %s", code, errOut)
	}
	for _, want := range []string{
		"vidup: interrupted; parts in flight get a few seconds to finish",
		"take.mxf: interrupted; S3 keeps what it has, and the next run continues it",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if regexp.MustCompile(`(?m)^vidup: .*take\.mxf.*failed`).MatchString(errOut) {
		t.Errorf("the interrupted file is called failed:\n%s", errOut)
	}
	summaries := regexp.MustCompile(`(?m)^vidup: (?:2 files: .*|done: .*|incomplete: .*)$`).FindAllString(errOut, -1)
	if len(summaries) != 1 || !strings.HasPrefix(summaries[0], "vidup: 2 files: 1 uploaded, 1 interrupted; ") {
		t.Fatalf("want one summary line of 1 uploaded, 1 interrupted; got %q\n%s", summaries, errOut)
	}
	if strings.Contains(summaries[0], "; 0 B sent") {
		t.Errorf("the summary says nothing was sent after part 1 went: %q", summaries[0])
	}
	firstVideo := regexp.MustCompile(`uploaded\t\S*/a\.mp4\tvideo (\S+)`).FindStringSubmatch(stdout.String())

	// The next run, under --bwlimit.
	k.setHold(nil)
	const limit = 4 << 20
	rerun, out, errBuf := k.command(state, "upload", "--part-size", "5MiB", "--concurrency", "8", "--progress", "plain", "--bwlimit", "4MiB", "-o", "json", small, k.file)
	if code := runExit(t, rerun); code != 0 {
		t.Fatalf("re-run: exit %d: %s", code, errBuf)
	}
	var doc struct {
		Files []struct {
			Path, Status string
			VideoID      string `json:"video_id"`
			Size         int64
		}
		Summary struct {
			Bytes        int64   `json:"bytes"`
			BytesSent    int64   `json:"bytes_sent"`
			BytesResumed int64   `json:"bytes_resumed"`
			Rate         float64 `json:"rate_bytes_per_second"`
			Duration     float64 `json:"duration_seconds"`
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Files) != 2 {
		t.Fatalf("re-run output: %v\n%s", err, out)
	}
	if f := doc.Files[0]; f.Status != "skipped" || f.VideoID == "" || len(firstVideo) < 2 || f.VideoID != firstVideo[1] || f.Size != 6 {
		t.Errorf("the skipped file: %+v; want its video id %v and size 6", f, firstVideo)
	}
	if !strings.Contains(errBuf.String(), "take.mxf: continuing an earlier upload: S3 holds 1 part (5.0 MiB) of it") {
		t.Errorf("the re-run does not say it continues the upload:\n%s", errBuf)
	}
	s := doc.Summary
	if s.BytesResumed != part || s.BytesSent != 3*part {
		t.Errorf("bytes_resumed %d, bytes_sent %d; want %d on S3 before and %d sent", s.BytesResumed, s.BytesSent, part, 3*part)
	}
	if s.Rate > limit*1.05 {
		t.Errorf("rate %.0f B/s over --bwlimit %d B/s: bytes already on S3 were counted", s.Rate, limit)
	}
	if !strings.Contains(errBuf.String(), "resumed: 5.0 MiB already on S3") {
		t.Errorf("the summary line does not name the bytes already on S3:\n%s", errBuf)
	}
}

// An API whose sessions name an S3 endpoint nothing listens on: each retry
// of the S3 request is a line that says what, attempt n of m, and why in
// a few words; the final error names the endpoint and where it came from,
// without the SDK's text, and the advice is to check the endpoint, not to
// raise --retries.
func TestUnreachableS3IsSaidPlainly(t *testing.T) {
	k := newKillEnv(t, 1<<20)
	k.api.Endpoint = "http://127.0.0.1:1"
	cmd, _, stderr := k.command(filepath.Join(t.TempDir(), "state"), "upload", "--retries", "2", "--progress", "plain", k.file)
	if code := runExit(t, cmd); code != ExitFailed {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	out := stderr.String()
	for _, re := range []string{
		`(?m)^vidup: .*take\.mxf: PutObject: attempt 1 of 3 failed: connection refused by http://127\.0\.0\.1:1; retrying in \d+\.\ds$`,
		`(?m)^vidup: .*take\.mxf: PutObject: attempt 2 of 3 failed: connection refused by http://127\.0\.0\.1:1; retrying in \d+\.\ds$`,
		`S3 endpoint http://127\.0\.0\.1:1, from the API's upload session`,
		`check that this machine can reach the S3 endpoint the API hands out`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("stderr does not match %s:\n%s", re, out)
		}
	}
	for _, bad := range []string{"StatusCode", "RequestID", "HostID", "raise --retries"} {
		if strings.Contains(out, bad) {
			t.Errorf("stderr holds %q:\n%s", bad, out)
		}
	}
}

// In a real terminal (tmux), with the API down: the bar shows the retry it
// waits on and its elapsed time keeps moving; Ctrl-C puts a line of its own
// above the bar at once, the file is interrupted, and one summary follows.
func TestBarWaitsAndInterruptsInATerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("this test needs tmux: scripts/deps.sh tmux")
	}
	dir := t.TempDir()
	bin := testenv.Vidup(t)
	file := filepath.Join(dir, "a.mp4")
	if err := os.WriteFile(file, []byte("frames"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := filepath.Join(dir, "done")
	sock := filepath.Join(dir, "tmux.sock")
	// The shell outlives the Ctrl-C (its trap) to record vidup's exit.
	script := "trap true INT; VIDUP_API_URL=http://127.0.0.1:1 VIDUP_API_TOKEN=t XDG_CONFIG_HOME=" + dir + " " + bin +
		" upload --state-dir " + filepath.Join(dir, "state") + " " + file + " >/dev/null; echo exit=$? > " + done + "; sleep 30"
	cmd := exec.Command("tmux", "-S", sock, "new-session", "-d", "-x", "150", "-y", "20", "sh", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	screen := func() string {
		pane, err := exec.Command("tmux", "-S", sock, "capture-pane", "-p").Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(pane)
	}
	waiting := regexp.MustCompile(`open upload session: attempt (\d+) of 11 failed, next in \d+\.\ds \(connection refused\).*\[(\d+)s:`)
	var first []string
	waitFor(t, "the bar's waiting state", func() bool {
		first = waiting.FindStringSubmatch(screen())
		return first != nil && first[1] != "1"
	})
	time.Sleep(2500 * time.Millisecond)
	second := waiting.FindStringSubmatch(screen())
	if second == nil || second[2] == first[2] {
		t.Errorf("the bar's elapsed time did not move in 2.5s: %q then %q\n%s", first, second, screen())
	}
	if err := exec.Command("tmux", "-S", sock, "send-keys", "C-c").Run(); err != nil {
		t.Fatal(err)
	}
	// The shell creates the file before echo writes it: wait for its line.
	waitFor(t, "vidup's exit after Ctrl-C", func() bool { b, err := os.ReadFile(done); return err == nil && strings.Contains(string(b), "\n") })
	status, _ := os.ReadFile(done)
	out := screen()
	if strings.TrimSpace(string(status)) != "exit=130" {
		t.Errorf("vidup ended with %s, want 130", status)
	}
	for _, re := range []string{
		`(?m)^vidup: interrupted; parts in flight get a few seconds to finish`,
		`(?m)^vidup: .*a\.mp4: interrupted; S3 keeps what it has`,
		`(?m)^vidup: 1 file: 0 uploaded, 1 interrupted; 0 B sent in `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the screen does not match %s:\n%s", re, out)
		}
	}
	if strings.Count(out, "vidup: 1 file:") != 1 {
		t.Errorf("want one summary line:\n%s", out)
	}
}
