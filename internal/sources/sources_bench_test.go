package sources

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/media"
)

// BenchmarkExpandTree walks a 10,000-file tree and reports the time and the
// memory still held per file listed (the Result a caller keeps until the
// uploads are done), which is what limits how large a tree fits in memory.
func BenchmarkExpandTree(b *testing.B) {
	const files = 10000
	dir := b.TempDir()
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("cam%02d/day%02d/clip-%05d.mp4", i%20, i%31, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	opts := Options{Args: []string{dir}, Recursive: true}
	var held float64
	for b.Loop() {
		var before, after runtime.MemStats
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		res, err := Expand(context.Background(), opts)
		if err != nil || len(res.Files) != files {
			b.Fatalf("got %d files, err %v; want %d", len(res.Files), err, files)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.StartTimer()
		held = float64(after.HeapAlloc-before.HeapAlloc) / files
		runtime.KeepAlive(res)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*files), "ns/file")
	b.ReportMetric(held, "heldB/file")
}

// BenchmarkExpandInspect expands a folder of 5,000 files of about 64 KiB
// (the small-file case) with an Inspect that does what the upload's
// does: probe the media and sample the content for the journal. The files
// are real MP4s when ffmpeg is installed, bytes that are not media otherwise
// (the probe gives up early on those). It reports the time per file, with
// one worker (as before Options.Workers) and with DefaultWorkers.
//
//	go test ./internal/sources -run '^$' -bench ExpandInspect -benchtime 3x
func BenchmarkExpandInspect(b *testing.B) {
	dir := b.TempDir()
	seed := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	kinds := map[string][]byte{"other": seed}
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		p := filepath.Join(dir, "seed.mp4")
		out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
			"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "500k", p).CombinedOutput()
		if err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		if kinds["mp4"], err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	}
	inspect := func(h *os.File, info fs.FileInfo, it *asset.Item) error {
		p, err := media.Probe(h, info.Size(), it.Path)
		if err != nil {
			return err
		}
		it.ContentType = p.ContentType
		it.Sample, err = journal.Sample(h, info)
		return err
	}
	const files = 5000
	for kind, data := range kinds {
		root := filepath.Join(dir, kind)
		if err := os.Mkdir(root, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range files {
			if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("%04d.mp4", i)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		for _, workers := range []int{1, DefaultWorkers()} {
			b.Run(fmt.Sprintf("%s/workers=%d", kind, workers), func(b *testing.B) {
				opts := Options{Args: []string{root}, Recursive: true, Inspect: inspect, Workers: workers}
				for b.Loop() {
					res, err := Expand(context.Background(), opts)
					if err != nil || len(res.Files) != files {
						b.Fatalf("got %d files, %d problems, err %v; want %d", len(res.Files), len(res.Problems), err, files)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*files), "ns/file")
			})
		}
	}
}
