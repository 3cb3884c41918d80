// Package bench measures vidup against other S3 uploaders (mc, s5cmd,
// rclone, aws-cli) on a local MinIO: the data it uploads, how it measures a
// client and the server next to it, and the table it reports.
package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// EnsureFile makes path hold size bytes of incompressible data from seed,
// reusing a file already there with the right size. Files are written under a
// temporary name and renamed, so a run stopped half-way never leaves a short
// file that a later run would take as complete.
func EnsureFile(path string, size int64, seed uint64) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() == size {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fill(f, size, seed); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// fill writes size bytes of a splitmix64 stream: compressors and
// deduplicating servers find nothing to save in it, and it runs at several
// GB/s, so generating gigabytes costs little next to uploading them.
func fill(f *os.File, size int64, seed uint64) error {
	state := seed*0x9E3779B97F4A7C15 + 1
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		for i := 0; i < len(buf); i += 8 {
			state += 0x9E3779B97F4A7C15
			z := state
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
			z = (z ^ (z >> 27)) * 0x94D049BB133111EB
			binary.LittleEndian.PutUint64(buf[i:], z^(z>>31))
		}
		chunk := buf
		if int64(len(chunk)) > left {
			chunk = chunk[:left]
		}
		if _, err := f.Write(chunk); err != nil {
			return err
		}
		left -= int64(len(chunk))
	}
	return nil
}

// EnsureFileSet makes dir hold count files of size bytes each, named
// seg-00000.ts and on, like an HLS package.
func EnsureFileSet(dir string, count int, size int64) ([]string, error) {
	paths := make([]string, count)
	for i := range count {
		paths[i] = filepath.Join(dir, fmt.Sprintf("seg-%05d.ts", i))
		if err := EnsureFile(paths[i], size, uint64(1000+i)); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// ladderVersion names how EnsureHLSLadder makes its package: a folder made
// by another recipe is made again.
const ladderVersion = "hls-ladder v1: testsrc2 3 renditions 2 s segments"

// EnsureHLSLadder makes dir hold an HLS ladder made with ffmpeg: three
// renditions (360p, 480p, 720p) of seconds of test picture and tone, in
// 2-second MPEG-TS segments, with their media playlists in one folder each
// and a master playlist at the top, as a packager lays out a video for a
// CDN. A folder made before by the same recipe is kept.
func EnsureHLSLadder(dir string, seconds int) error {
	// The stamp sits beside the folder: every client uploads what is in it.
	stamp := dir + ".made"
	want := fmt.Sprintf("%s, %d s\n", ladderVersion, seconds)
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return nil
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return fmt.Errorf("ffmpeg makes the HLS ladder and is not installed (scripts/deps.sh ffmpeg): %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	os.Remove(stamp)
	renditions := []struct {
		name          string
		width, height int
		rate          string
	}{{"360p", 640, 360, "800k"}, {"480p", 854, 480, "1400k"}, {"720p", 1280, 720, "2800k"}}
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1280x720:rate=25:duration=%d", seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", seconds)}
	var split strings.Builder
	fmt.Fprintf(&split, "[0:v]split=%d", len(renditions))
	for i := range renditions {
		fmt.Fprintf(&split, "[v%d]", i)
	}
	for i, r := range renditions {
		fmt.Fprintf(&split, ";[v%d]scale=%d:%d[out%d]", i, r.width, r.height, i)
	}
	args = append(args, "-filter_complex", split.String())
	var streamMap []string
	for i, r := range renditions {
		args = append(args, "-map", fmt.Sprintf("[out%d]", i), "-map", "1:a",
			fmt.Sprintf("-c:v:%d", i), "libx264", fmt.Sprintf("-b:v:%d", i), r.rate,
			fmt.Sprintf("-c:a:%d", i), "aac", fmt.Sprintf("-b:a:%d", i), "96k")
		streamMap = append(streamMap, fmt.Sprintf("v:%d,a:%d,name:%s", i, i, r.name))
	}
	args = append(args, "-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
		"-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_flags", "independent_segments",
		"-hls_segment_filename", filepath.Join(dir, "%v", "seg-%05d.ts"),
		"-master_pl_name", "master.m3u8", "-var_stream_map", strings.Join(streamMap, " "),
		filepath.Join(dir, "%v", "index.m3u8"))
	cmd := exec.Command(ffmpeg, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg could not make the HLS ladder: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return os.WriteFile(stamp, []byte(want), 0o644)
}

// Warm reads every file under paths (files, or folders walked) once, so
// that the page cache holds them before the first client's run: whoever
// reads a file first pays for the disk (the kernel's time counts as the
// reader's CPU), and without this it was always the first client of a
// scenario's first turn, three times the CPU of its later runs. It returns
// the bytes read.
func Warm(paths ...string) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	read := func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			m, err := f.Read(buf)
			n += int64(m)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			return read(path)
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
