package cli

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
)

// BenchmarkInspect measures what vidup upload does with each file it finds,
// on 5,000 files of 64 KiB (the small-file case): open, stat and
// inspect (probe, content type, journal sample). "probe" is the gate's
// inspect; "sniff" is the inspect before the gate (512 bytes for the
// content type, then the sample), for the difference. The files are real
// MP4s when ffmpeg is installed (the probe walks their boxes and decodes
// their moov), and bytes that are not media otherwise.
//
//	go test ./internal/cli -run '^$' -bench Inspect -benchtime 5000x
func BenchmarkInspect(b *testing.B) {
	dir := b.TempDir()
	seed := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	kinds := map[string][]byte{"random": seed}
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		p := filepath.Join(dir, "seed.mp4")
		// About 64 KiB of H.264 with its moov at the end.
		out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
			"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "500k", p).CombinedOutput()
		if err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		mp4, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		kinds["mp4"] = mp4
	}
	const n = 5000
	for kind, data := range kinds {
		paths := make([]string, n)
		for i := range paths {
			paths[i] = filepath.Join(dir, kind, fmt.Sprintf("%04d.mp4", i))
			if i == 0 {
				if err := os.MkdirAll(filepath.Dir(paths[i]), 0o755); err != nil {
					b.Fatal(err)
				}
			}
			if err := os.WriteFile(paths[i], data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		o := &UploadOptions{}
		for _, mode := range []string{"probe", "sniff"} {
			inspect := o.inspect
			if mode == "sniff" {
				inspect = sniffInspect
			}
			b.Run(kind+"/"+mode, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for i := 0; b.Loop(); i++ {
					p := paths[i%n]
					h, err := os.Open(p)
					if err != nil {
						b.Fatal(err)
					}
					info, err := h.Stat()
					if err != nil {
						b.Fatal(err)
					}
					it := &asset.Item{Path: p, Size: info.Size()}
					if err := inspect(h, info, it); err != nil {
						b.Fatal(err)
					}
					h.Close()
				}
			})
		}
	}
}

// sniffInspect is inspect as it was before the gate, for the comparison.
func sniffInspect(h *os.File, info os.FileInfo, it *asset.Item) error {
	head := make([]byte, 512)
	n, err := h.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return err
	}
	it.ContentType = transfer.DetectContentType(head[:n], it.Path)
	it.Sample, err = journal.Sample(h, info)
	return err
}
