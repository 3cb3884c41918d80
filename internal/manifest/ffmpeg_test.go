package manifest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The packages here are made by ffmpeg at test time (scripts/deps.sh ffmpeg
// installs it). Without ffmpeg these tests skip, unless VIDUP_REQUIRE_S3=1
// (make test, CI) says the full environment is required.
func needFFmpeg(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("VIDUP_REQUIRE_S3") == "1" {
			tb.Fatal("ffmpeg is required (VIDUP_REQUIRE_S3=1): install it with scripts/deps.sh ffmpeg")
		}
		tb.Skip("ffmpeg is not installed: run scripts/deps.sh ffmpeg to test packages ffmpeg makes")
	}
}

// ffmpeg runs ffmpeg in dir over 6 s of test picture and tone, with args
// after the inputs.
func ffmpeg(t *testing.T, dir string, args ...string) {
	t.Helper()
	needFFmpeg(t)
	in := []string{"-nostdin", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"}
	cmd := exec.Command("ffmpeg", append(in, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// files lists every file under dir, relative and '/'-separated.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// count returns how many objects have each role.
func count(p *Package) map[Role]int {
	m := map[Role]int{}
	for _, o := range p.Objects {
		m[o.Role]++
	}
	return m
}

// checkWhole asserts that the package is accepted, covers every file of dir
// and orders media, then playlists, then the entry points.
func checkWhole(t *testing.T, dir string, p *Package) {
	t.Helper()
	checkOrder(t, p)
	var got []string
	for _, o := range p.Objects {
		got = append(got, o.Path)
	}
	slices.Sort(got)
	if want := files(t, dir); !slices.Equal(got, want) {
		t.Errorf("objects\n got %v\nwant %v", got, want)
	}
	phases := p.Phases()
	if len(phases) != 3 {
		t.Fatalf("%d phases, want 3", len(phases))
	}
	var entries []string
	for _, o := range phases[2] {
		entries = append(entries, o.Path)
	}
	if !slices.Equal(entries, p.Entries) {
		t.Errorf("last phase %v, entries %v", entries, p.Entries)
	}
	for _, o := range phases[0] {
		if o.CacheControl != CacheImmutable || o.Size <= 0 {
			t.Errorf("media object %+v", o)
		}
	}
	for _, o := range append(slices.Clone(phases[1]), phases[2]...) {
		if o.CacheControl != CacheManifest {
			t.Errorf("manifest %+v", o)
		}
	}
}

// TestFFmpegHLSLadderFMP4: three renditions in fMP4 with EXT-X-MAP.
func TestFFmpegHLSLadderFMP4(t *testing.T) {
	dir := t.TempDir()
	ffmpeg(t, dir, "-t", "6",
		"-filter_complex", "[0:v]split=3[a][b][c];[b]scale=160:120[b2];[c]scale=96:72[c2]",
		"-map", "[a]", "-map", "[b2]", "-map", "[c2]", "-map", "1:a", "-map", "1:a", "-map", "1:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-b:a", "64k",
		"-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
		"-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", "v%v/seg%03d.m4s",
		"-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,a:0 v:1,a:1 v:2,a:2", "v%v/index.m3u8")
	p, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkWhole(t, dir, p)
	if p.Kind != KindHLS || !slices.Equal(p.Entries, []string{"master.m3u8"}) || len(p.Unreferenced) != 0 {
		t.Errorf("kind %s entries %v unreferenced %v", p.Kind, p.Entries, p.Unreferenced)
	}
	c := count(p)
	if c[RolePlaylist] != 3 || c[RoleInit] != 3 || c[RoleSegment] < 9 {
		t.Errorf("roles %v", c)
	}
	for _, o := range p.Objects {
		if o.Role == RoleSegment && o.ContentType != "video/iso.segment" {
			t.Errorf("%+v", o)
		}
	}

	// A segment removed: the package is refused before anything is sent,
	// naming the file and the playlist line.
	if err := os.Remove(filepath.Join(dir, "v1", "seg001.m4s")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = OpenDir(dir, Options{})
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Missing) != 1 || re.Missing[0].Path != "v1/seg001.m4s" || re.Missing[0].From != "v1/index.m3u8" {
		t.Fatalf("err = %v", err)
	}
	if !slices.Equal(p.Unreferenced, []string{"notes.txt"}) {
		t.Errorf("unreferenced %v", p.Unreferenced)
	}
}

// TestFFmpegHLSTransportStreamSubtitles: MPEG-TS renditions with a WebVTT
// subtitle rendition.
func TestFFmpegHLSTransportStreamSubtitles(t *testing.T) {
	dir := t.TempDir()
	srt := filepath.Join(t.TempDir(), "sub.srt")
	if err := os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:02,000\nhello\n\n2\n00:00:02,500 --> 00:00:05,000\nworld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, dir, "-i", srt, "-t", "6",
		"-map", "0:v", "-map", "0:v", "-map", "1:a", "-map", "1:a", "-map", "2:s",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-s:v:1", "160x120", "-c:a", "aac", "-c:s", "webvtt",
		"-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_filename", "r%v/seg%03d.ts",
		"-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,a:0,s:0,sgroup:subs v:1,a:1", "r%v/index.m3u8")
	p, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkWhole(t, dir, p)
	c := count(p)
	if c[RolePlaylist] != 3 || c[RoleSubtitle] < 2 || c[RoleSegment] < 6 || len(p.Unreferenced) != 0 {
		t.Errorf("roles %v unreferenced %v", c, p.Unreferenced)
	}
	for _, o := range p.Objects {
		switch {
		case o.Role == RoleSegment && o.ContentType != "video/mp2t",
			o.Role == RoleSubtitle && (o.ContentType != "text/vtt" || !strings.HasSuffix(o.Path, ".vtt")):
			t.Errorf("%+v", o)
		}
	}
}

// TestFFmpegDASH: SegmentTemplate with $Number$ and a duration, and with a
// SegmentTimeline (where ffmpeg also writes HLS playlists beside the MPD).
func TestFFmpegDASH(t *testing.T) {
	for _, timeline := range []string{"0", "1"} {
		t.Run("timeline="+timeline, func(t *testing.T) {
			dir := t.TempDir()
			ffmpeg(t, dir, "-t", "6", "-map", "0:v", "-map", "0:v", "-map", "1:a",
				"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-s:v:1", "160x120", "-c:a", "aac",
				"-f", "dash", "-seg_duration", "2", "-use_template", "1", "-use_timeline", timeline,
				"-hls_playlist", timeline, "-adaptation_sets", "id=0,streams=v id=1,streams=a", "manifest.mpd")
			p, err := OpenDir(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkOrder(t, p)
			c := count(p)
			if c[RoleInit] != 3 || c[RoleSegment] < 9 {
				t.Errorf("roles %v", c)
			}
			if timeline == "1" {
				// Both entry points over the same segments; the timeline
				// names every segment.
				checkWhole(t, dir, p)
				if p.Kind != KindHLSDASH || !slices.Equal(p.Entries, []string{"manifest.mpd", "master.m3u8"}) || len(p.Unreferenced) != 0 {
					t.Errorf("kind %s entries %v unreferenced %v", p.Kind, p.Entries, p.Unreferenced)
				}
				return
			}
			if p.Kind != KindDASH || !slices.Equal(p.Entries, []string{"manifest.mpd"}) {
				t.Errorf("kind %s entries %v", p.Kind, p.Entries)
			}
			// With a fixed duration, the MPD names ceil(6 s / 2 s) segments
			// per representation; the encoder's last few milliseconds of
			// audio (AAC priming) may spill into a segment it does not name.
			for _, u := range p.Unreferenced {
				if !strings.HasPrefix(u, "chunk-stream2-") {
					t.Errorf("unreferenced %s", u)
				}
			}
			if c[RoleSegment]+len(p.Unreferenced) != len(files(t, dir))-4 {
				t.Errorf("roles %v unreferenced %v files %v", c, p.Unreferenced, files(t, dir))
			}
		})
	}
}
