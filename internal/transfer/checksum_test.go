package transfer

import (
	"context"
	"strings"

	"bytes"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"testing"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
)

func TestChecksumAlgorithmsCombineAndRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, tc := range []struct {
		a     *checksumAlgorithm
		check uint64 // of "123456789", the CRC catalogue's check value
		want  uint64
		b64   int // length of the base64 form
	}{
		{crc32C, 0xe3069283, uint64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))), 8},
		{crc64NVME, 0xae8b14860a799888, crc64.Checksum(data, crc64.MakeTable(crc64NVMEPoly)), 12},
	} {
		t.Run(tc.a.name, func(t *testing.T) {
			if got := tc.a.update(0, []byte("123456789")); got != tc.check {
				t.Fatalf("check value %#x, want %#x", got, tc.check)
			}
			// Larger than a copy buffer, so several reads are summed.
			got, n, err := tc.a.of(bytes.NewReader(data))
			if err != nil || n != int64(len(data)) || got != tc.want {
				t.Fatalf("of: %#x, %d bytes, %v; want %#x, %d bytes", got, n, err, tc.want, len(data))
			}
			for _, cuts := range [][]int{{1}, {5, 6}, {1000, 4096, 500000}, {len(data) - 1}} {
				prev, combined := 0, uint64(0)
				for i, c := range append(cuts, len(data)) {
					piece := data[prev:c]
					pc := tc.a.update(0, piece)
					if i == 0 {
						combined = pc
					} else {
						combined = tc.a.combine(combined, pc, int64(len(piece)))
					}
					prev = c
				}
				if combined != tc.want {
					t.Errorf("cuts %v: combined %#x, one pass %#x", cuts, combined, tc.want)
				}
			}
			s := tc.a.base64(tc.want)
			if len(s) != tc.b64 || (asset.Part{Checksum: s}).CRC() != tc.want {
				t.Errorf("base64 %q reads back as %#x, want %#x in %d characters", s, (asset.Part{Checksum: s}).CRC(), tc.want, tc.b64)
			}
		})
	}
}

func TestChecksumOfRef(t *testing.T) {
	for _, tc := range []struct {
		name string
		want *checksumAlgorithm
	}{{"", crc64NVME}, {"CRC64NVME", crc64NVME}, {"CRC32C", crc32C}} {
		got, err := checksumOf(&UploadRef{ChecksumAlgorithm: tc.name})
		if err != nil || got != tc.want {
			t.Errorf("checksumOf(%q) = %v, %v; want %s", tc.name, got, err, tc.want.name)
		}
	}
	if _, err := checksumOf(&UploadRef{ChecksumAlgorithm: "MD5", UploadID: "u1"}); err == nil {
		t.Error("checksumOf(MD5) gave no error")
	} else if want := fmt.Sprintf("%q", "MD5"); !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not name the algorithm", err)
	}
}

func TestVerifyTrustsOnlyAMatchingAnswer(t *testing.T) {
	e := &Engine{}
	sess := &session{Session: &contract.Session{Bucket: "videos"}}
	f := &asset.Item{Path: "clip.mp4", Size: 9}
	ref := &UploadRef{Key: "k/clip.mp4", ChecksumAlgorithm: "CRC32C"}
	crc := crc32C.update(0, []byte("123456789"))
	st, err := e.verify(context.Background(), sess, f, ref, crc32C.base64(crc), nil, s3Answer{etag: `"e1"`, checksum: crc32C.base64(crc)})
	if err != nil || st.etag != `"e1"` || st.checksum.Value != crc32C.base64(crc) || st.checksum.Algorithm != "CRC32C" {
		t.Fatalf("matching answer: %+v, %v", st, err)
	}
	_, err = e.verify(context.Background(), sess, f, ref, crc32C.base64(crc), nil, s3Answer{etag: `"e1"`, checksum: crc32C.base64(crc + 1)})
	if err == nil || !strings.Contains(err.Error(), "s3://videos/k/clip.mp4 has checksum CRC32C:") {
		t.Fatalf("a different checksum in S3's answer: %v, want an error naming the object", err)
	}
}
