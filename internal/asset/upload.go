// Package asset holds the values that flow through an upload, from the
// arguments to the output. It is a leaf: it imports nothing of vidup.
package asset

import (
	"encoding/base64"
	"encoding/binary"
)

// Upload is one upload of an object: the API's identifiers and S3's. The
// engine fills it in as the upload goes and the journal keeps it, so that a
// later run can continue it without opening a new session. The JSON names
// are the journal's header fields (its on-disk format): do not rename them.
type Upload struct {
	SessionID string `json:"session_id"`
	// UploadID is the API's upload id (the registration's idempotency key).
	UploadID string `json:"upload_id"`
	Key      string `json:"key"`
	Bucket   string `json:"bucket"`
	// Where the bucket is, as the session answer said: a later run that
	// resumes the upload does not open the session again.
	Region    string `json:"region"`
	Endpoint  string `json:"endpoint,omitempty"`
	PathStyle bool   `json:"path_style,omitempty"`
	// Metadata is what the registration carries.
	Metadata map[string]string `json:"metadata,omitempty"`

	// S3UploadID is the multipart upload's id; empty for single PutObjects.
	S3UploadID string `json:"s3_upload_id"`
	PartSize   int64  `json:"part_size"`
	// ChecksumAlgorithm is the CRC of the parts and the object: CRC32C for
	// new uploads; empty means CRC64NVME (journals of earlier versions).
	ChecksumAlgorithm string `json:"checksum_algorithm,omitempty"`
}

// Part is one part of a multipart upload that S3 accepted. The JSON names
// are the records of the journal's parts log: do not rename them.
type Part struct {
	Number int32  `json:"number"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`
	// Checksum is base64 of the big-endian CRC of the upload's
	// ChecksumAlgorithm, as S3 writes it.
	Checksum string `json:"checksum,omitempty"`
}

// CRC is the part's checksum as a number (0 when Checksum is not a CRC32C
// or CRC64NVME in S3's base64 form), so that a resumed upload's full-object
// checksum is combined from its parts without reading them again.
func (p Part) CRC() uint64 {
	b, err := base64.StdEncoding.DecodeString(p.Checksum)
	switch {
	case err != nil:
		return 0
	case len(b) == 4:
		return uint64(binary.BigEndian.Uint32(b))
	case len(b) == 8:
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Bytes is the sum of the parts' sizes.
func Bytes(parts []Part) int64 {
	var n int64
	for _, p := range parts {
		n += p.Size
	}
	return n
}
