package progress

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
)

// syncBuffer is a bytes.Buffer safe for the renderers' goroutines.
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

const mib = 1 << 20

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeAuto, "auto": ModeAuto, "BAR": ModeBar, " plain ": ModePlain, "none": ModeNone} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"json", "ndjson", "quiet", "yes"} {
		if _, err := ParseMode(in); err == nil || !strings.Contains(err.Error(), "auto, bar, plain or none") {
			t.Errorf("ParseMode(%q): err = %v", in, err)
		}
	}
}

func TestNewChoosesByTerminal(t *testing.T) {
	for _, tc := range []struct {
		mode  Mode
		isTTY bool
		want  string
	}{
		{ModeAuto, true, "*progress.bar"},
		{ModeAuto, false, "*progress.plain"},
		{ModeBar, false, "*progress.bar"},
		{ModePlain, true, "*progress.plain"},
		{ModeNone, true, "progress.none"},
	} {
		r := New(tc.mode, &syncBuffer{}, tc.isTTY)
		if got := typeName(r); got != tc.want {
			t.Errorf("New(%q, tty=%v) = %s, want %s", tc.mode, tc.isTTY, got, tc.want)
		}
		r.Close()
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *bar:
		return "*progress.bar"
	case *plain:
		return "*progress.plain"
	case none:
		return "progress.none"
	}
	return "?"
}

// feed plays a run of files, each uploaded in parts by its own goroutine,
// with a failed attempt rolled back in each file, then registered.
func feed(r Renderer, files int, fileSize int64) {
	r.Event(transfer.Event{Kind: transfer.Planned, Files: files, Size: int64(files) * fileSize})
	var wg sync.WaitGroup
	for i := range files {
		path := "clip-" + strconv.Itoa(i) + ".mp4"
		wg.Go(func() {
			r.Event(transfer.Event{Kind: transfer.FileStarted, Path: path, Size: fileSize})
			const part = 64 << 10
			for off := int64(0); off < fileSize; off += part {
				n := min(part, fileSize-off)
				if off == part {
					r.Progress(path, n)
					r.Progress(path, -n) // the attempt failed
					r.Event(transfer.Event{Kind: transfer.PartRetried, Path: path, Op: "UploadPart", Part: 2, Attempt: 1, Attempts: 11, Wait: time.Second, Reason: "connection reset", Err: errors.New("connection reset")})
				}
				r.Progress(path, n)
			}
			r.Event(transfer.Event{Kind: transfer.FileUploaded, Path: path, Size: fileSize, Checksum: "CRC64NVME:AAAAAAAAAAA="})
			r.Event(transfer.Event{Kind: transfer.FileRegistered, Path: path, VideoID: "v-" + strconv.Itoa(i)})
		})
	}
	wg.Wait()
}

var percentRE = regexp.MustCompile(`(-?\d+)%`)

// checkPercents fails when any drawn percentage is outside [0, 100].
func checkPercents(t *testing.T, out string) {
	t.Helper()
	for _, m := range percentRE.FindAllStringSubmatch(out, -1) {
		if p, _ := strconv.Atoi(m[1]); p < 0 || p > 100 {
			t.Errorf("drew %s%%", m[1])
		}
	}
}

// lastFrame is what a terminal shows last: the text after the last '\r'
// of the last non-empty line.
func lastFrame(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	return last[strings.LastIndex(last, "\r")+1:]
}

func TestBarEndsAtTotal(t *testing.T) {
	var buf syncBuffer
	r := New(ModeAuto, &buf, true, WithThrottle(time.Millisecond))
	feed(r, 3, 4*mib)
	r.Close()
	out := buf.String()
	frame := lastFrame(out)
	if !strings.Contains(frame, "100%") || !strings.Contains(frame, "12/12 MiB") || !strings.Contains(frame, "3/3 files") {
		t.Errorf("final frame %q: want 100%%, 12/12 MiB and 3/3 files", frame)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Error("the bar's line is not ended at Close")
	}
	if strings.Contains(out, "\x1b") {
		t.Error("the bar wrote an escape code (colour or ANSI)")
	}
	if strings.Contains(out, "retrying") {
		t.Error("a part retry was shown in bar mode without verbose")
	}
	checkPercents(t, out)
}

func TestBarNegativeDeltasStayInRange(t *testing.T) {
	var buf syncBuffer
	r := New(ModeBar, &buf, true, WithThrottle(0))
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 1, Size: 10 * mib})
	r.Progress("a", -3*mib) // a rollback before anything counted
	r.Progress("a", 4*mib)
	r.Progress("a", 20*mib) // more than planned
	r.Progress("a", -25*mib)
	r.Progress("a", 2*mib)
	b := r.(*bar)
	if got := b.t.snapshot().bytes; got != 0 {
		t.Errorf("shown bytes %d after the counter went below zero, want 0", got)
	}
	r.Event(transfer.Event{Kind: transfer.FileFailed, Path: "a", Err: errors.New("boom")})
	r.Close()
	out := buf.String()
	checkPercents(t, out)
	if regexp.MustCompile(`\(\s*-\d`).MatchString(out) {
		t.Errorf("drew a negative count: %q", out)
	}
	if !strings.Contains(out, "100%") {
		t.Error("the bar never drew 100% while the counter was above the total")
	}
	if !strings.Contains(lastFrame(out), "vidup: incomplete:") {
		t.Errorf("no final line for an incomplete run: %q", lastFrame(out))
	}
}

func TestBarPrintsFailuresAboveIt(t *testing.T) {
	var buf syncBuffer
	r := New(ModeBar, &buf, true, WithThrottle(0))
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 2, Size: 10 * mib})
	r.Progress("a.mp4", 5*mib)
	r.Event(transfer.Event{Kind: transfer.FileFailed, Path: "b\r\x1b[31m.mp4", Err: errors.New("the API refused the token (401)")})
	r.Progress("a.mp4", mib)
	r.Close()
	out := buf.String()
	if !strings.Contains(out, `vidup: "b\r\x1b[31m.mp4": the API refused the token (401)`+"\n") {
		t.Errorf("no failure line in %q", out)
	}
	if strings.Contains(out, "\x1b") {
		t.Error("a path's escape code reached the terminal")
	}
	frame := lastFrame(out)
	if !strings.Contains(frame, "6.0 MiB / 10 MiB (60%)") || !strings.Contains(frame, "1 failed") {
		t.Errorf("final line %q", frame)
	}
	checkPercents(t, out)
}

func TestBarVerboseShowsRetries(t *testing.T) {
	var buf syncBuffer
	r := New(ModeBar, &buf, true, WithVerbose(true))
	feed(r, 1, 256<<10)
	r.Close()
	if !strings.Contains(buf.String(), "vidup: clip-0.mp4: UploadPart part 2: attempt 1 of 11 failed: connection reset; retrying in 1.0s") {
		t.Errorf("no retry line in %q", buf.String())
	}
}

func TestBarUnknownSize(t *testing.T) {
	var buf syncBuffer
	r := New(ModeBar, &buf, true, WithThrottle(0))
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 1, Size: -1})
	for range 3 {
		r.Progress("-", mib)
	}
	r.Event(transfer.Event{Kind: transfer.FileRegistered, Path: "-"})
	r.Close()
	b := r.(*bar)
	if !b.pb.IsFinished() {
		t.Error("the spinner is still running after Close")
	}
	frame := lastFrame(buf.String())
	if !strings.Contains(frame, "3.0 MiB") || !strings.Contains(frame, "1/1 files") {
		t.Errorf("final frame %q", frame)
	}
	checkPercents(t, buf.String())
}

func TestBarWithoutEventsWritesNothing(t *testing.T) {
	var buf syncBuffer
	r := New(ModeBar, &buf, true)
	r.Close()
	if buf.String() != "" {
		t.Errorf("wrote %q for an empty run", buf.String())
	}
}

func TestPlainLines(t *testing.T) {
	var buf syncBuffer
	r := New(ModePlain, &buf, false)
	p := r.(*plain)
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 2, Size: 4 * mib})
	start := p.last.at
	r.Progress("a.mp4", mib)
	p.tick(start.Add(time.Second))
	p.tick(start.Add(2 * time.Second)) // nothing changed: no line
	r.Progress("a.mp4", mib)
	r.Event(transfer.Event{Kind: transfer.FileUploaded, Path: "a.mp4", Size: 2 * mib, Checksum: "CRC64NVME:abc="})
	r.Event(transfer.Event{Kind: transfer.FileRegistered, Path: "a.mp4", VideoID: "v-1"})
	r.Event(transfer.Event{Kind: transfer.PartRetried, Path: "b\x1b.mp4", Op: "UploadPart", Part: 3, Attempt: 2, Attempts: 11, Wait: 1500 * time.Millisecond, Err: errors.New("503 SlowDown")})
	p.tick(start.Add(3 * time.Second))
	r.Event(transfer.Event{Kind: transfer.FileFailed, Path: "b\x1b.mp4", Err: errors.New("part 3: gave up")})
	r.Close()

	want := []string{
		`vidup: 2 files, 4.0 MiB to upload`,
		`vidup: 1.0 MiB / 4.0 MiB (25%), 1.0 MiB/s, 0/2 files, eta 3s`,
		`vidup: a.mp4: uploaded (2.0 MiB), CRC64NVME:abc=`,
		`vidup: a.mp4: registered as video v-1`,
		`vidup: "b\x1b.mp4": UploadPart part 3: attempt 2 of 11 failed: 503 SlowDown; retrying in 1.5s`,
		`vidup: 2.0 MiB / 4.0 MiB (50%), 512 KiB/s, 1/2 files, eta 4s`,
		`vidup: "b\x1b.mp4": part 3: gave up`,
		`vidup: incomplete: 2.0 MiB / 4.0 MiB (50%), 1/2 files, 1 failed in `,
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], w)
		}
	}
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("plain output holds a carriage return or an escape code: %q", out)
	}
}

func TestPlainDoneLineShowsTotal(t *testing.T) {
	var buf syncBuffer
	r := New(ModePlain, &buf, false)
	feed(r, 2, 3*mib)
	r.Close()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "vidup: done: 6.0 MiB / 6.0 MiB (100%), 2/2 files in ") {
		t.Errorf("final line %q", last)
	}
	if strings.ContainsAny(buf.String(), "\r\x1b") {
		t.Error("plain output holds a carriage return or an escape code")
	}
}

func TestPlainTicker(t *testing.T) {
	var buf syncBuffer
	r := New(ModePlain, &buf, false, WithInterval(5*time.Millisecond))
	defer r.Close()
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 1, Size: 8 * mib})
	r.Progress("a", 2*mib)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "vidup: 2.0 MiB / 8.0 MiB (25%)") {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line from the ticker: %q", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Once shown, an unchanged state is not repeated.
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(buf.String(), "(25%)"); n != 1 {
		t.Errorf("the same state was written %d times", n)
	}
}

func TestNoneWritesNothing(t *testing.T) {
	var buf syncBuffer
	r := New(ModeNone, &buf, true)
	feed(r, 2, mib)
	r.Close()
	if buf.String() != "" {
		t.Errorf("none wrote %q", buf.String())
	}
}

func TestNDJSON(t *testing.T) {
	var buf syncBuffer
	r := NewNDJSON(&buf)
	at := time.Date(2026, 11, 23, 20, 0, 0, 123456789, time.UTC)
	badPath := "dir/cam\xff\xfe.mp4"
	r.Event(transfer.Event{Kind: transfer.Planned, Time: at, Files: 2, Size: -1})
	r.Event(transfer.Event{Kind: transfer.FileStarted, Time: at, Path: "a.mp4", Name: "a.mp4", Size: 0, SessionID: "s1", UploadID: "u1", Key: "uploads/s1/u1/a.mp4"})
	r.Progress("a.mp4", 100)
	r.Event(transfer.Event{Kind: transfer.PartRetried, Time: at, Path: "a.mp4", Size: 0, Part: 2, Attempt: 1, Wait: 1500 * time.Millisecond, Err: errors.New("reset")})
	r.Event(transfer.Event{Kind: transfer.CredentialsRefreshed, Time: at, SessionID: "s1"})
	r.Event(transfer.Event{Kind: transfer.FileUploaded, Time: at, Path: "a.mp4", Size: 0, ETag: `"e-1"`, Checksum: "CRC64NVME:x="})
	r.Event(transfer.Event{Kind: transfer.FileRegistered, Time: at, Path: "a.mp4", VideoID: "v-1"})
	r.Event(transfer.Event{Kind: transfer.FileSkipped, Time: at, Path: "c.mp4", Size: 5, Reason: "already registered"})
	r.Event(transfer.Event{Kind: transfer.FileFailed, Time: at, Path: badPath, Size: -1, Err: errors.New("boom <&>")})
	if err := r.(*NDJSON).WriteSummary(map[string]any{"type": "summary", "failed": 1}); err != nil {
		t.Fatal(err)
	}
	r.Close()

	var got []map[string]any
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	want := []map[string]any{
		{"type": "planned", "files": 2.0, "size": -1.0},
		{"type": "file_started", "path": "a.mp4", "name": "a.mp4", "size": 0.0, "session_id": "s1", "upload_id": "u1", "key": "uploads/s1/u1/a.mp4"},
		{"type": "part_retried", "path": "a.mp4", "size": 0.0, "part": 2.0, "attempt": 1.0, "wait_seconds": 1.5, "error": "reset"},
		{"type": "credentials_refreshed", "session_id": "s1"},
		{"type": "file_uploaded", "path": "a.mp4", "size": 0.0, "etag": `"e-1"`, "checksum": "CRC64NVME:x="},
		{"type": "file_registered", "path": "a.mp4", "size": 0.0, "video_id": "v-1"},
		{"type": "file_skipped", "path": "c.mp4", "size": 5.0, "reason": "already registered"},
		{"type": "file_failed", "path": "dir/cam\ufffd\ufffd.mp4", "path_b64": base64.StdEncoding.EncodeToString([]byte(badPath)), "size": -1.0, "error": "boom <&>"},
		{"type": "summary", "failed": 1.0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		if w["type"] != "summary" {
			w["time"] = "2026-11-23T20:00:00.123456789Z"
		}
		if len(got[i]) != len(w) {
			t.Errorf("line %d has fields %v, want %v", i+1, got[i], w)
			continue
		}
		for k, v := range w {
			if got[i][k] != v {
				t.Errorf("line %d: %s = %#v, want %#v", i+1, k, got[i][k], v)
			}
		}
	}
	raw, _ := base64.StdEncoding.DecodeString(got[7]["path_b64"].(string))
	if string(raw) != badPath {
		t.Errorf("path_b64 decodes to %q, want %q", raw, badPath)
	}
}

// TestConcurrentUse runs every renderer under many goroutines; run with
// -race.
func TestConcurrentUse(t *testing.T) {
	renderers := map[string]func(*syncBuffer) Renderer{
		"bar":     func(b *syncBuffer) Renderer { return New(ModeBar, b, true, WithThrottle(0), WithVerbose(true)) },
		"spinner": func(b *syncBuffer) Renderer { return New(ModeBar, b, true, WithThrottle(0)) },
		"plain":   func(b *syncBuffer) Renderer { return New(ModePlain, b, false, WithInterval(time.Millisecond)) },
		"ndjson":  func(b *syncBuffer) Renderer { return NewNDJSON(b) },
	}
	for name, mk := range renderers {
		t.Run(name, func(t *testing.T) {
			var buf syncBuffer
			r := mk(&buf)
			size := int64(8 * mib)
			if name == "spinner" {
				size = -1
			}
			r.Event(transfer.Event{Kind: transfer.Planned, Files: 8, Size: size})
			var wg sync.WaitGroup
			for i := range 8 {
				path := "f" + strconv.Itoa(i)
				wg.Go(func() {
					for range 64 {
						r.Progress(path, 32<<10)
						r.Progress(path, -16<<10)
						r.Progress(path, 16<<10)
					}
					if i%3 == 0 {
						r.Event(transfer.Event{Kind: transfer.FileFailed, Path: path, Err: errors.New("x")})
					} else {
						r.Event(transfer.Event{Kind: transfer.FileRegistered, Path: path})
					}
				})
			}
			wg.Wait()
			r.Close()
			r.Close() // twice is harmless
			r.Progress("late", 1)
			r.Event(transfer.Event{Kind: transfer.FileFailed, Path: "late"})
			out := buf.String()
			if strings.Contains(out, "late") {
				t.Errorf("%s wrote an event after Close", name)
			}
			if name != "ndjson" {
				checkPercents(t, out)
				if !strings.Contains(out, "5/8 files, 3 failed") {
					t.Errorf("%s never showed 5/8 files, 3 failed: %q", name, lastFrame(out))
				}
			}
		})
	}
}

func TestFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 85 * mib: "85 MiB", 1288490189: "1.2 GiB", 4 << 30: "4.0 GiB"} {
		if got := units.Bytes(n); got != want {
			t.Errorf("units.Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{34 * time.Second: "34s", 312 * time.Second: "5m12s", 2*time.Hour + 3*time.Minute: "2h03m"} {
		if got := units.Duration(d); got != want {
			t.Errorf("units.Duration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := printable("ok/é.mp4"); got != "ok/é.mp4" {
		t.Errorf("printable changed a clean name: %q", got)
	}
	if got := printable("a\r\x1b\xff"); strings.ContainsAny(got, "\r\x1b") || !strings.Contains(got, `\xff`) {
		t.Errorf("printable = %q", got)
	}
}

// withTick makes the bar redraw every d when nothing else moves it.
func withTick(d time.Duration) Option { return func(o *options) { o.tick = d } }

// While a call is retried and nothing moves, the bar says what it waits
// on (what, attempt n of m, next in s) and keeps redrawing, so that its
// elapsed time does not freeze.
func TestBarShowsTheRetryItWaitsOn(t *testing.T) {
	var buf syncBuffer
	r := New(ModeBar, &buf, true, withTick(20*time.Millisecond))
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 1, Size: 4 * mib})
	r.Event(transfer.Event{Kind: transfer.APIRetried, Time: time.Now(), Op: "open upload session", Attempt: 2, Attempts: 11,
		Wait: 30 * time.Second, Reason: "connection refused"})
	before := strings.Count(buf.String(), "\r")
	time.Sleep(200 * time.Millisecond)
	out := buf.String()
	if !strings.Contains(out, "open upload session: attempt 2 of 11 failed, next in 30s (connection refused)") {
		t.Errorf("the bar does not show the retry it waits on: %q", lastFrame(out))
	}
	if after := strings.Count(out, "\r"); after < before+4 {
		t.Errorf("the bar was redrawn %d times in 200ms without events; it must keep ticking", (after-before)/2)
	}
	// Bytes moving again end the waiting state.
	r.Progress("a.mp4", mib)
	time.Sleep(60 * time.Millisecond)
	if frame := lastFrame(buf.String()); strings.Contains(frame, "attempt 2") {
		t.Errorf("still waiting after bytes moved: %q", frame)
	}
	r.Close()
}

// Bytes on S3 from an earlier run are named, not counted in the bar: its
// max is what this run sends, so its rate is this run's.
func TestBarCountsOnlyBytesSentThisRun(t *testing.T) {
	var buf syncBuffer
	r := New(ModeBar, &buf, true, WithThrottle(0))
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 1, Size: 768 * mib})
	r.Event(transfer.Event{Kind: transfer.FileResumed, Path: "a.mp4", Reason: "continuing an earlier upload: S3 holds 32 of 48 parts"})
	r.Event(transfer.Event{Kind: transfer.KeptOnS3, Path: "a.mp4", Bytes: 512 * mib})
	r.Progress("a.mp4", 16*mib)
	frame := lastFrame(buf.String())
	if !strings.Contains(frame, "resumed: 512 MiB already on S3") || !strings.Contains(frame, "16/256 MiB") {
		t.Errorf("frame %q: want the 512 MiB on S3 named and 16 of the 256 MiB to send", frame)
	}
	if !strings.Contains(buf.String(), "vidup: a.mp4: continuing an earlier upload: S3 holds 32 of 48 parts\n") {
		t.Errorf("the bar does not say the file continues an earlier upload: %q", buf.String())
	}
	r.Close()
}

// A run whose every byte an earlier run left on S3 (an interrupted run's
// parts in flight finished) sends nothing: its bar ends without a
// percentage of a total it never had to send, not at "0%" of the file.
func TestBarAllOnS3AlreadyEndsWithoutPercent(t *testing.T) {
	var buf syncBuffer
	r := New(ModeBar, &buf, true, WithThrottle(0))
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 1, Size: 86 * mib})
	r.Progress("a.ts", 0)
	r.Event(transfer.Event{Kind: transfer.FileResumed, Path: "a.ts", Reason: "continuing an earlier upload: S3 holds 6 parts (86 MiB) of it"})
	r.Event(transfer.Event{Kind: transfer.KeptOnS3, Path: "a.ts", Bytes: 86 * mib})
	r.Event(transfer.Event{Kind: transfer.FileUploaded, Path: "a.ts", Size: 86 * mib})
	r.Event(transfer.Event{Kind: transfer.FileRegistered, Path: "a.ts", VideoID: "v-1"})
	r.Close()
	frame := lastFrame(buf.String())
	if !strings.Contains(frame, "1/1 files, resumed: 86 MiB already on S3") || strings.Contains(frame, "%") || strings.Contains(frame, "/86 MiB") {
		t.Errorf("final frame %q: want the 86 MiB on S3 named, and no percentage of 86 MiB", frame)
	}
	checkPercents(t, buf.String())
}

// The bar prints a line per file that ended, and a line written through
// Println to another stream (stdout) never lands inside the bar.
func TestBarLinesAboveIt(t *testing.T) {
	var buf, stdout syncBuffer
	r := New(ModeBar, &buf, true, WithThrottle(0))
	r.Event(transfer.Event{Kind: transfer.Planned, Files: 2, Size: 2 * mib})
	r.Progress("a.mp4", mib)
	r.Event(transfer.Event{Kind: transfer.FileRegistered, Path: "a.mp4", VideoID: "v-1"})
	r.(Printer).Println(&stdout, "uploaded\ta.mp4\tvideo v-1\tk")
	r.Event(transfer.Event{Kind: transfer.FileInterrupted, Path: "b.mp4", Err: transfer.ErrStopped})
	r.Close()
	out := buf.String()
	for _, want := range []string{"vidup: a.mp4: registered as video v-1\n", "vidup: b.mp4: interrupted; S3 keeps what it has, and the next run continues it\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q above the bar: %q", want, out)
		}
	}
	if strings.Contains(out, "failed") {
		t.Errorf("an interrupted file is called failed: %q", out)
	}
	if stdout.String() != "uploaded\ta.mp4\tvideo v-1\tk\n" {
		t.Errorf("stdout %q", stdout.String())
	}
	if !strings.Contains(lastFrame(out), "1/2 files, 1 interrupted") {
		t.Errorf("final frame %q", lastFrame(out))
	}
}

// WithoutFinalLine leaves the one summary to the caller.
func TestPlainWithoutFinalLine(t *testing.T) {
	var buf syncBuffer
	r := New(ModePlain, &buf, false, WithoutFinalLine())
	feed(r, 1, mib)
	r.Close()
	if strings.Contains(buf.String(), "vidup: done:") || strings.Contains(buf.String(), "incomplete") {
		t.Errorf("a final line despite WithoutFinalLine: %q", buf.String())
	}
}

// A problem found before the upload names the file itself: the failed line
// does not say its path twice.
func TestPlainFailedLineNamesTheFileOnce(t *testing.T) {
	for _, c := range []struct{ err, want string }{
		{"nope.ts does not exist; check the path", "vidup: nope.ts does not exist; check the path"},
		{"nope.ts: permission denied", "vidup: nope.ts: permission denied"},
		{"open upload session: refused", "vidup: nope.ts: open upload session: refused"},
		{"nope.tsx does not exist", "vidup: nope.ts: nope.tsx does not exist"},
	} {
		got := fileLine(transfer.Event{Kind: transfer.FileFailed, Path: "nope.ts", Err: errors.New(c.err)}, false)
		if got != c.want {
			t.Errorf("failed line for %q = %q, want %q", c.err, got, c.want)
		}
	}
}
