package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

// oldHeader is a header as vidup wrote it before the upload record became
// asset.Upload (its fields in the order of the old Entry). Journals left by
// that version must still resume.
const oldHeader = `{
  "version": 1,
  "id": "0123456789abcdef",
  "source": {
    "path": "/videos/clip.mp4",
    "size": 12582912,
    "mtime": "2024-05-01T10:00:00.5Z",
    "inode": 1234567,
    "device": 2049,
    "sample": "abcdef0123456789"
  },
  "session_id": "sess-1",
  "upload_id": "up-1",
  "key": "uploads/sess-1/up-1/clip.mp4",
  "bucket": "videos",
  "region": "us-east-1",
  "endpoint": "http://127.0.0.1:9000",
  "path_style": true,
  "name": "clip.mp4",
  "size": 12582912,
  "content_type": "video/mp4",
  "metadata": {
    "camera": "cam-3"
  },
  "s3_upload_id": "s3-upload-xyz",
  "part_size": 5242880,
  "checksum_algorithm": "CRC64NVME",
  "state": "uploading",
  "last_error": "stopped before the upload ended",
  "created_at": "2024-05-01T10:00:01Z",
  "updated_at": "2024-05-01T10:00:02Z"
}
`

// oldParts is a parts log of that version (its format did not change).
const oldParts = `f1b8e2a4 {"number":1,"size":5242880,"etag":"\"etag-1\"","checksum":"AAAAAAAAAAE="}
`

func TestJournalOfEarlierVersionReads(t *testing.T) {
	s := openStore(t)
	id := "0123456789abcdef"
	if err := os.WriteFile(filepath.Join(s.uploads, id+".json"), []byte(oldHeader), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := encodePart(asset.Part{Number: 1, Size: 5 << 20, ETag: `"etag-1"`, Checksum: "AAAAAAAAAAE="})
	if err != nil {
		t.Fatal(err)
	}
	// The record's JSON is byte for byte the old one; only its checksum
	// prefix is computed here.
	if string(rec[9:]) != oldParts[9:] {
		t.Fatalf("a part record is now %q, was %q", rec[9:], oldParts[9:])
	}
	if err := os.WriteFile(filepath.Join(s.uploads, id+".parts"), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	want := asset.Upload{SessionID: "sess-1", UploadID: "up-1", Key: "uploads/sess-1/up-1/clip.mp4", Bucket: "videos",
		Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true, Metadata: map[string]string{"camera": "cam-3"},
		S3UploadID: "s3-upload-xyz", PartSize: 5 << 20, ChecksumAlgorithm: "CRC64NVME"}
	if !reflect.DeepEqual(e.Upload, want) {
		t.Errorf("upload record\n got %+v\nwant %+v", e.Upload, want)
	}
	if e.Name != "clip.mp4" || e.Size != 12582912 || e.ContentType != "video/mp4" || e.State != Uploading ||
		e.LastError != "stopped before the upload ended" || !e.UpdatedAt.Equal(time.Date(2024, 5, 1, 10, 0, 2, 0, time.UTC)) {
		t.Errorf("entry fields: %+v", e)
	}
	if e.Source.Path != "/videos/clip.mp4" || e.Source.Size != 12582912 || e.Source.Inode != 1234567 {
		t.Errorf("source: %+v", e.Source)
	}
	if len(e.Parts) != 1 || e.Parts[0].CRC() != 1 || e.Parts[0].ETag != `"etag-1"` {
		t.Errorf("parts: %+v", e.Parts)
	}

	// Written again, the header keeps every field name of the old one.
	if err := s.Update(e); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(filepath.Join(s.uploads, id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"session_id", "upload_id", "key", "bucket", "region", "endpoint", "path_style",
		"name", "size", "content_type", "metadata", "s3_upload_id", "part_size", "checksum_algorithm", "state", "last_error"} {
		if !bytes.Contains(again, []byte(`"`+field+`":`)) {
			t.Errorf("rewritten header lacks %q:\n%s", field, again)
		}
	}
}
