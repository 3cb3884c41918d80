package media

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// sparseMP4 writes a 2 GiB MP4 with its moov at the end, as a camera writes
// it: the ftyp and moov of a real corpus file around an mdat of 2 GiB that
// holds no data on disk (a sparse file). The structure is valid; only the
// samples are zeros.
func sparseMP4(tb testing.TB) string {
	tb.Helper()
	src, err := os.ReadFile(corpusPath(tb, "clip.mp4"))
	if err != nil {
		tb.Fatal(err)
	}
	box := func(typ string) []byte {
		for off := 0; off+8 <= len(src); {
			size := int(binary.BigEndian.Uint32(src[off:]))
			if string(src[off+4:off+8]) == typ {
				return src[off : off+size]
			}
			off += size
		}
		tb.Fatalf("no %s box in clip.mp4", typ)
		return nil
	}
	ftyp, moov := box("ftyp"), box("moov")
	const mdatSize = 2 << 30
	path := filepath.Join(tb.TempDir(), "big.mp4")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 16)
	binary.BigEndian.PutUint32(hdr, 1)
	copy(hdr[4:], "mdat")
	binary.BigEndian.PutUint64(hdr[8:], mdatSize)
	if _, err := f.Write(append(append([]byte{}, ftyp...), hdr...)); err != nil {
		tb.Fatal(err)
	}
	if _, err := f.WriteAt(moov, int64(len(ftyp))+mdatSize); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestProbeLargeFileReadsLittle: a 2 GiB MP4 whose index is at its end is
// probed by seeking, reading a few KiB.
func TestProbeLargeFileReadsLittle(t *testing.T) {
	info := probeFile(t, sparseMP4(t))
	if !info.Complete || info.FastStart || info.Duration.Seconds() != 2 || len(info.Streams) != 2 {
		t.Fatalf("complete %v (%v) faststart %v duration %v streams %d; want a complete 2 s clip with its moov at the end",
			info.Complete, info.Incomplete, info.FastStart, info.Duration, len(info.Streams))
	}
	if info.BytesRead > 16<<10 {
		t.Errorf("read %d bytes of a 2 GiB file, want at most 16 KiB", info.BytesRead)
	}
	t.Logf("read %d bytes of a 2 GiB MP4", info.BytesRead)
}

func BenchmarkProbe2GiBMP4(b *testing.B) {
	path := sparseMP4(b)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var read int64
	b.ResetTimer()
	for b.Loop() {
		info, err := Probe(f, st.Size(), "big.mp4")
		if err != nil || !info.Complete {
			b.Fatalf("probe: %v %+v", err, info)
		}
		read = info.BytesRead
	}
	b.ReportMetric(float64(read), "bytes-read/op")
}

// BenchmarkProbeCorpus probes each file of the corpus (2 s clips).
func BenchmarkProbeCorpus(b *testing.B) {
	for _, c := range corpus {
		b.Run(c.name, func(b *testing.B) {
			f, err := os.Open(corpusPath(b, c.name))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			var read int64
			for b.Loop() {
				info, err := Probe(f, st.Size(), c.name)
				if err != nil {
					b.Fatal(err)
				}
				read = info.BytesRead
			}
			b.ReportMetric(float64(read), "bytes-read/op")
		})
	}
}
