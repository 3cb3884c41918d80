package transfer

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc64"
	"io"
)

// crc64NVMEPoly is the reflected CRC-64/NVME polynomial, the one S3 uses
// for ChecksumAlgorithm CRC64NVME (and the SDK uses in its own checksums).
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var crc64NVMETable = crc64.MakeTable(crc64NVMEPoly)

// crcOf reads r to its end and returns its CRC64NVME and length.
func crcOf(r io.Reader) (uint64, int64, error) {
	h := crc64.New(crc64NVMETable)
	n, err := io.CopyBuffer(h, r, make([]byte, 256<<10))
	return h.Sum64(), n, err
}

// crcBase64 is a checksum as S3 writes it: base64 of the big-endian value.
func crcBase64(c uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], c)
	return base64.StdEncoding.EncodeToString(b[:])
}

// crcCombine returns the CRC64NVME of A followed by B from the CRCs of A and
// B and B's length. The full-object checksum of a multipart upload is
// combined from the part CRCs this way, so the file is never read a second
// time to compute it (zlib's crc32_combine, over GF(2) 64×64 matrices).
func crcCombine(crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [64]uint64
	// odd: the operator for one zero bit.
	odd[0] = crc64NVMEPoly
	row := uint64(1)
	for n := 1; n < 64; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	// Apply len(B) zero bytes to crcA, squaring the operator each step.
	for {
		gf2Square(&even, &odd)
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[64]uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[64]uint64) {
	for n := range 64 {
		square[n] = gf2Times(mat, mat[n])
	}
}

func crcFromBase64(s string) uint64 {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
