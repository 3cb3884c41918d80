package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The corpus is real media made by ffmpeg at test time (scripts/deps.sh
// ffmpeg installs it). Without ffmpeg the tests that need it skip, unless
// VIDUP_REQUIRE_S3=1 (make test, CI) says the full environment is required.
func needFFmpeg(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("VIDUP_REQUIRE_S3") == "1" {
				tb.Fatalf("%s is required (VIDUP_REQUIRE_S3=1): install it with scripts/deps.sh ffmpeg", tool)
			}
			tb.Skipf("%s is not installed: run scripts/deps.sh ffmpeg to test against real media", tool)
		}
	}
}

type corpusFile struct {
	name       string
	container  string
	args       []string // ffmpeg output options, before the output file
	fragmented bool
	faststart  bool
	timecode   string
	noDims     bool // the probe does not read the picture size of this format
}

const (
	srcVideo = "testsrc2=size=320x240:rate=25"
	srcAudio = "sine=frequency=440:sample_rate=48000"
)

var corpus = []corpusFile{
	{name: "clip.mp4", container: ContainerMP4, args: []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}},
	{name: "faststart.mp4", container: ContainerMP4, faststart: true, timecode: "10:00:00:00",
		args: []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-movflags", "+faststart", "-timecode", "10:00:00:00"}},
	{name: "clip.mov", container: ContainerMOV, timecode: "01:02:03:04",
		args: []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-timecode", "01:02:03:04"}},
	{name: "prores.mov", container: ContainerMOV, args: []string{"-c:v", "prores", "-profile:v", "3", "-c:a", "pcm_s24le"}},
	{name: "fragmented.mp4", container: ContainerMP4, fragmented: true, faststart: true,
		args: []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-movflags", "frag_keyframe+empty_moov+default_base_moof"}},
	{name: "op1a.mxf", container: ContainerMXF, timecode: "09:59:50:00",
		args: []string{"-c:v", "mpeg2video", "-c:a", "pcm_s16le", "-timecode", "09:59:50:00"}},
	{name: "clip.ts", container: ContainerMPEGTS, noDims: true, args: []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}},
	{name: "clip.mkv", container: ContainerMatroska, args: []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}},
	{name: "clip.webm", container: ContainerWebM, args: []string{"-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"}},
	{name: "tone.wav", container: ContainerWAV, args: []string{"-vn", "-c:a", "pcm_s16le"}},
}

var (
	corpusOnce sync.Once
	corpusDir  string
	corpusErr  error
)

// corpusPath makes the corpus once per test binary and returns a file's path.
func corpusPath(t testing.TB, name string) string {
	t.Helper()
	needFFmpeg(t)
	corpusOnce.Do(func() {
		corpusDir, corpusErr = os.MkdirTemp("", "vidup-media-corpus-")
		if corpusErr != nil {
			return
		}
		var wg sync.WaitGroup
		errs := make([]error, len(corpus))
		for i, c := range corpus {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", srcVideo, "-f", "lavfi", "-i", srcAudio, "-t", "2"}
				args = append(append(args, c.args...), filepath.Join(corpusDir, c.name))
				if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("ffmpeg %s: %v\n%s", c.name, err, out)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				corpusErr = err
				return
			}
		}
	})
	if corpusErr != nil {
		t.Fatal(corpusErr)
	}
	return filepath.Join(corpusDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusDir != "" {
		os.RemoveAll(corpusDir)
	}
	os.Exit(code)
}

func probeFile(t testing.TB, path string) *Info {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	info, err := Probe(f, st.Size(), filepath.Base(path))
	if err != nil {
		t.Fatalf("Probe(%s): %v", filepath.Base(path), err)
	}
	return info
}

type ffprobeOut struct {
	Format struct {
		Duration string            `json:"duration"`
		Tags     map[string]string `json:"tags"`
	} `json:"format"`
	Streams []struct {
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		Profile      string            `json:"profile"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		SampleRate   string            `json:"sample_rate"`
		Channels     int               `json:"channels"`
		Tags         map[string]string `json:"tags"`
	} `json:"streams"`
}

func ffprobe(t testing.TB, path string) ffprobeOut {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p ffprobeOut
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return p
}

func rate(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	num, _ := strconv.ParseFloat(n, 64)
	den, _ := strconv.ParseFloat(d, 64)
	if !ok || den == 0 {
		return 0
	}
	return num / den
}

// TestProbeMatchesFFprobe probes every file of the corpus and checks the
// answer against ffprobe's for the same file.
func TestProbeMatchesFFprobe(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			path := corpusPath(t, c.name)
			info := probeFile(t, path)
			want := ffprobe(t, path)
			if !info.Recognised || !info.Complete || info.Incomplete != nil {
				t.Fatalf("recognised %v complete %v (%v), want a complete file", info.Recognised, info.Complete, info.Incomplete)
			}
			if info.Container != c.container {
				t.Errorf("container %q, want %q", info.Container, c.container)
			}
			if info.Fragmented != c.fragmented || info.FastStart != c.faststart {
				t.Errorf("fragmented %v faststart %v, want %v %v", info.Fragmented, info.FastStart, c.fragmented, c.faststart)
			}
			wantDur, _ := strconv.ParseFloat(want.Format.Duration, 64)
			if d := info.Duration.Seconds(); math.Abs(d-wantDur) > 0.1 {
				t.Errorf("duration %.3f s, ffprobe says %.3f s", d, wantDur)
			}
			var streams []Stream
			for _, s := range info.Streams {
				if s.Type == StreamVideo || s.Type == StreamAudio {
					streams = append(streams, s)
				}
			}
			i := 0
			timecode := want.Format.Tags["timecode"]
			for _, w := range want.Streams {
				if tc := w.Tags["timecode"]; tc != "" && timecode == "" {
					timecode = tc
				}
				if w.CodecType != "video" && w.CodecType != "audio" {
					continue
				}
				if i >= len(streams) {
					t.Fatalf("probe found %d streams, ffprobe more: %+v", len(streams), want.Streams)
				}
				got := streams[i]
				i++
				if got.Type != w.CodecType || got.Codec != w.CodecName {
					t.Errorf("stream %d: %s %s, ffprobe says %s %s", i, got.Type, got.Codec, w.CodecType, w.CodecName)
				}
				if got.Profile != "" && got.Profile != w.Profile {
					t.Errorf("stream %d: profile %q, ffprobe says %q", i, got.Profile, w.Profile)
				}
				if w.CodecType == "video" {
					if !c.noDims && (got.Width != w.Width || got.Height != w.Height) {
						t.Errorf("stream %d: %dx%d, ffprobe says %dx%d", i, got.Width, got.Height, w.Width, w.Height)
					}
					if got.FPS != 0 && math.Abs(got.FPS-rate(w.AvgFrameRate)) > 0.01 {
						t.Errorf("stream %d: %.3f fps, ffprobe says %s", i, got.FPS, w.AvgFrameRate)
					}
				}
				if w.CodecType == "audio" {
					if sr, _ := strconv.Atoi(w.SampleRate); got.SampleRate != 0 && got.SampleRate != sr {
						t.Errorf("stream %d: %d Hz, ffprobe says %d", i, got.SampleRate, sr)
					}
					if got.Channels != 0 && got.Channels != w.Channels {
						t.Errorf("stream %d: %d channels, ffprobe says %d", i, got.Channels, w.Channels)
					}
				}
			}
			if i != len(streams) {
				t.Errorf("probe found %d audio and video streams, ffprobe %d", len(streams), i)
			}
			if info.StartTimecode != c.timecode || timecode != c.timecode {
				t.Errorf("start timecode %q, ffprobe says %q, made with %q", info.StartTimecode, timecode, c.timecode)
			}
			if limit := readLimit(c.container, fileSize(t, path)); info.BytesRead > limit {
				t.Errorf("read %d bytes of the file, want at most %d", info.BytesRead, limit)
			}
		})
	}
}

// readLimit is what the probe may read of a small corpus file: box and
// element headers and the index for MP4, Matroska and WAV; MXF metadata; a
// window at each end of a transport stream.
func readLimit(container string, size int64) int64 {
	switch container {
	case ContainerMPEGTS:
		return min(size, 2*tsWindow) + headSize
	case ContainerMXF:
		return 128 << 10
	}
	return 32 << 10
}

func fileSize(t testing.TB, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestProbeTruncated cuts every corpus file short, as an interrupted copy or
// a full card does, and expects the probe to say so.
func TestProbeTruncated(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			src, err := os.ReadFile(corpusPath(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			size := int64(len(src))
			cuts := []int64{100, 1000, size / 4, size / 2, size * 3 / 4, size - 1}
			for _, cut := range cuts {
				if c.container == ContainerMPEGTS && cut < 3*188 {
					continue // too short to be told from any file that starts with 0x47
				}
				if c.container == ContainerMPEGTS && cut%188 == 0 {
					cut++ // a cut between two packets leaves a valid stream
				}
				path := filepath.Join(t.TempDir(), c.name)
				if err := os.WriteFile(path, src[:cut], 0o644); err != nil {
					t.Fatal(err)
				}
				info := probeFile(t, path)
				if !info.Recognised || info.Complete || info.Incomplete == nil {
					t.Errorf("cut at %d of %d: recognised %v complete %v, want an incomplete %s", cut, size, info.Recognised, info.Complete, c.container)
					continue
				}
				if info.Incomplete.Reason != ReasonTruncated {
					t.Errorf("cut at %d of %d: reason %s (%s), want truncated", cut, size, info.Incomplete.Reason, info.Incomplete.Detail)
				}
				if !strings.Contains(info.Incomplete.Detail, "cut short") || strings.Contains(info.Incomplete.Detail, "--") {
					t.Errorf("cut at %d: detail %q should say the file was cut short, and name no flag", cut, info.Incomplete.Detail)
				}
			}
		})
	}
}

// TestProbeMoovNeverWritten: an MP4 that stops where the recorder would have
// written its moov box, every box complete.
func TestProbeMoovNeverWritten(t *testing.T) {
	src, err := os.ReadFile(corpusPath(t, "clip.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	moov := topLevelBox(t, src, "moov")
	path := filepath.Join(t.TempDir(), "no-moov.mp4")
	if err := os.WriteFile(path, src[:moov], 0o644); err != nil {
		t.Fatal(err)
	}
	info := probeFile(t, path)
	if info.Complete || info.Incomplete == nil || info.Incomplete.Reason != ReasonNotFinalised {
		t.Fatalf("complete %v, incomplete %+v; want not_finalised", info.Complete, info.Incomplete)
	}
	if !strings.Contains(info.Incomplete.Detail, "no moov box") {
		t.Errorf("detail %q should name the missing moov box", info.Incomplete.Detail)
	}
}

func topLevelBox(t *testing.T, b []byte, typ string) int {
	for off := 0; off+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[off:]))
		if string(b[off+4:off+8]) == typ {
			return off
		}
		if size == 1 {
			size = int(binary.BigEndian.Uint64(b[off+8:]))
		}
		if size < 8 {
			break
		}
		off += size
	}
	t.Fatalf("no %s box", typ)
	return 0
}

// TestProbeRecordingKilled records live with ffmpeg and kills it mid-way: the
// MP4 has an mdat of size 0 and no moov, the MXF an open header and no
// footer.
func TestProbeRecordingKilled(t *testing.T) {
	needFFmpeg(t)
	for _, tc := range []struct {
		name   string
		args   []string
		reason Reason
	}{
		{"live.mp4", []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "5"}, ReasonStillWriting},
		{"live.mxf", []string{"-c:v", "mpeg2video"}, ReasonNotFinalised},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			args := append([]string{"-v", "error", "-y", "-re", "-f", "lavfi", "-i", srcVideo}, tc.args...)
			cmd := exec.Command("ffmpeg", append(args, path)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Kill it once it has written some media, as a crash or a pulled
			// cable would.
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				if st, err := os.Stat(path); err == nil && st.Size() > 64<<10 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			info := probeFile(t, path)
			if !info.Recognised || info.Complete || info.Incomplete == nil || info.Incomplete.Reason != tc.reason {
				t.Fatalf("recognised %v complete %v incomplete %+v; want %s", info.Recognised, info.Complete, info.Incomplete, tc.reason)
			}
		})
	}
}

// TestProbeDASHSegments: a CMAF/DASH package made by ffmpeg: the init
// segment, a media segment (moof and mdat, no moov), the manifest.
func TestProbeDASHSegments(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	out, err := exec.CommandContext(context.Background(), "ffmpeg", "-v", "error", "-f", "lavfi", "-i", srcVideo, "-t", "3",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-f", "dash", "-seg_duration", "1",
		"-init_seg_name", "init.m4s", "-media_seg_name", "seg-$Number$.m4s", filepath.Join(dir, "manifest.mpd")).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg dash: %v\n%s", err, out)
	}
	for _, tc := range []struct{ file, ctype string }{
		{"init.m4s", "video/iso.segment"},
		{"seg-1.m4s", "video/iso.segment"},
		{"manifest.mpd", "application/dash+xml"},
	} {
		info := probeFile(t, filepath.Join(dir, tc.file))
		if info.ContentType != tc.ctype || !info.Complete {
			t.Errorf("%s: content type %q complete %v (%v), want %q, complete", tc.file, info.ContentType, info.Complete, info.Incomplete, tc.ctype)
		}
		if strings.HasSuffix(tc.file, ".m4s") && (!info.Recognised || info.Container != ContainerMP4) {
			t.Errorf("%s: recognised %v container %q, want an MP4 segment", tc.file, info.Recognised, info.Container)
		}
	}
	if info := probeFile(t, filepath.Join(dir, "seg-1.m4s")); !info.Fragmented {
		t.Errorf("seg-1.m4s: not fragmented")
	}
	// A media segment cut short is refused like any other MP4.
	seg, err := os.ReadFile(filepath.Join(dir, "seg-1.m4s"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.m4s")
	if err := os.WriteFile(cut, seg[:len(seg)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if info := probeFile(t, cut); info.Complete || info.Incomplete.Reason != ReasonTruncated {
		t.Errorf("cut segment: complete %v %+v, want truncated", info.Complete, info.Incomplete)
	}
}

// TestProbeNotMedia: files that are not media are not judged; an empty file
// says so.
func TestProbeNotMedia(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
		ctype   string
	}{
		{"notes.txt", []byte("shot list\nscene 4, take 2\n"), "text/plain; charset=utf-8"},
		{"clip.json", []byte(`{"camera": "cam-3"}`), "application/json"},
		{"random.bin", bytes.Repeat([]byte{0x13, 0x37, 0x42, 0x99}, 3000), "application/octet-stream"},
		{"zeros.mp4", make([]byte, 4096), "video/mp4"},
		{"master.m3u8", []byte("#EXTM3U\n#EXT-X-VERSION:3\n"), "application/vnd.apple.mpegurl"},
		{"subs.vtt", []byte("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n"), "text/vtt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			info := probeFile(t, path)
			if info.Recognised || !info.Complete || info.Incomplete != nil || info.Container != "" {
				t.Errorf("recognised %v complete %v container %q incomplete %v; want not judged", info.Recognised, info.Complete, info.Container, info.Incomplete)
			}
			if info.ContentType != tc.ctype {
				t.Errorf("content type %q, want %q", info.ContentType, tc.ctype)
			}
			if info.Media() != nil {
				t.Errorf("a file that is not media has a media object: %+v", info.Media())
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		info, err := Probe(bytes.NewReader(nil), 0, "clip.mp4")
		if err != nil {
			t.Fatal(err)
		}
		if info.Recognised || info.Complete || info.Incomplete == nil || info.Incomplete.Reason != ReasonEmpty {
			t.Errorf("empty file: %+v, want reason empty", info)
		}
	})
}

// TestMediaObject: the registration's media object of contract v1.1.
func TestMediaObject(t *testing.T) {
	info := probeFile(t, corpusPath(t, "faststart.mp4"))
	b, err := json.Marshal(info.Media())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["container"] != "mp4" || m["complete"] != true || m["duration_s"] != 2.0 || m["faststart"] != true || m["start_timecode"] != "10:00:00:00" {
		t.Errorf("media object %s", b)
	}
	streams, _ := m["streams"].([]any)
	if len(streams) != 2 {
		t.Fatalf("media object streams %s", b)
	}
	v := streams[0].(map[string]any)
	if v["type"] != "video" || v["codec"] != "h264" || v["width"] != 320.0 || v["height"] != 240.0 || v["fps"] != 25.0 {
		t.Errorf("video stream %v", v)
	}
}
