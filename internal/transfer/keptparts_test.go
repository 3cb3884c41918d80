package transfer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// keptFile writes size bytes in parts of partSize and returns the open file
// and its parts as a resumed upload recorded them.
func keptFile(tb testing.TB, a *checksumAlgorithm, size, partSize int64) (*os.File, []Part) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{1}), size); err != nil {
		tb.Fatal(err)
	}
	var parts []Part
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+partSize {
		ps := min(partSize, size-off)
		crc, _, err := a.of(io.NewSectionReader(f, off, ps))
		if err != nil {
			tb.Fatal(err)
		}
		parts = append(parts, Part{Number: n, Size: ps, ETag: `"x"`, Checksum: a.base64(crc)})
	}
	return f, parts
}

func TestKeptPartsDropsWhatTheFileNoLongerHolds(t *testing.T) {
	a, err := checksumOf(&UploadRef{ChecksumAlgorithm: "CRC32C"})
	if err != nil {
		t.Fatal(err)
	}
	const ps = 1 << 16
	f, parts := keptFile(t, a, 3*ps+5, ps)
	if _, err := f.WriteAt([]byte{'!'}, ps+100); err != nil { // part 2
		t.Fatal(err)
	}
	parts = append(parts, Part{Number: 9, Size: ps, Checksum: parts[0].Checksum}) // beyond the file
	good, err := keptParts(context.Background(), f, a, 3*ps+5, ps, parts)
	if err != nil {
		t.Fatal(err)
	}
	var nums []int32
	for _, p := range good {
		nums = append(nums, p.Number)
	}
	if len(nums) != 3 || nums[0] != 1 || nums[1] != 3 || nums[2] != 4 {
		t.Errorf("kept parts %v, want 1, 3 and 4", nums)
	}
	// Without a checksum, the ETag (an MD5) decides; anything else is sent
	// again.
	md5s := []Part{{Number: 1, Size: ps, ETag: `"not-an-md5"`}, {Number: 3, Size: ps, ETag: `"` + md5Of(t, f, 2*ps, ps) + `"`}}
	good, err = keptParts(context.Background(), f, noChecksum, 3*ps+5, ps, md5s)
	if err != nil || len(good) != 1 || good[0].Number != 3 {
		t.Errorf("mode none kept %+v (%v), want part 3 only", good, err)
	}
}

func md5Of(t *testing.T, f *os.File, off, n int64) string {
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// BenchmarkKeptParts1GiB is the cost of checking a resumed 1 GiB upload's
// kept parts against the file (from the page cache): run it with
// go test -run - -bench KeptParts1GiB -benchtime 1x ./internal/transfer.
func BenchmarkKeptParts1GiB(b *testing.B) {
	a, err := checksumOf(&UploadRef{ChecksumAlgorithm: "CRC32C"})
	if err != nil {
		b.Fatal(err)
	}
	const size, ps = 1 << 30, 64 << 20
	f, parts := keptFile(b, a, size, ps)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		good, err := keptParts(context.Background(), f, a, size, ps, parts)
		if err != nil || len(good) != len(parts) {
			b.Fatalf("%d of %d parts kept: %v", len(good), len(parts), err)
		}
	}
}
