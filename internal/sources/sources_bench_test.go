package sources

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
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
