package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer"
)

func TestUploadStream(t *testing.T) {
	testenv.EachS3(t, testUploadStream)
}

func testUploadStream(t *testing.T, s testenv.S3) {
	e := newEnvOn(t, s)
	for _, tt := range []struct {
		name  string
		size  int
		parts int
	}{
		{"empty", 0, 0},
		{"under one part", 1234, 0},
		{"exactly one part", transfer.MinPartSize, 1},
		{"several parts and a short last one", 3*transfer.MinPartSize + 4321, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := make([]byte, tt.size)
			rand.NewChaCha8([32]byte{9}).Read(data)
			rec := newRecorder(t, nil)
			rec.size[transfer.StreamPath] = int64(tt.size)
			eng := e.engine(t, rec, nil)
			// Short reads, as from a pipe.
			r := eng.UploadStream(context.Background(), iotest.HalfReader(bytes.NewReader(data)), stdinItem("clip.ts"))
			if r.Err != nil || r.Status != transfer.StatusUploaded {
				t.Fatalf("status %s, error %v", r.Status, r.Err)
			}
			if r.Size != int64(tt.size) || r.VideoID == "" {
				t.Errorf("result size %d video %q, want size %d and a video", r.Size, r.VideoID, tt.size)
			}
			if got, want := objectSHA(t, e.s3, e.api.Bucket, r.Key), sha256.Sum256(data); got != want {
				t.Errorf("the object differs from the stream")
			}
			regs := e.api.Registrations()
			last := regs[len(regs)-1]
			if last.UploadID != r.UploadID || last.Size != int64(tt.size) || last.Filename != "clip.ts" || last.ContentType != "video/mp2t" {
				t.Errorf("registration %+v", last)
			}
			if rec.bytes[transfer.StreamPath] != int64(tt.size) {
				t.Errorf("progress ended at %d bytes, want %d", rec.bytes[transfer.StreamPath], tt.size)
			}
			if n := rec.count(transfer.FileRegistered); n != 1 {
				t.Errorf("%d file_registered events", n)
			}
			if open := e.api.OpenUploads(t); len(open) != 0 {
				t.Errorf("multipart uploads left open: %v", open)
			}
		})
	}
}

type failingReader struct {
	r     io.Reader
	after int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("pipe broke")
	}
	p = p[:min(len(p), f.after)]
	n, err := f.r.Read(p)
	f.after -= n
	return n, err
}

// A stream that breaks fails alone, is not registered, and leaves no
// multipart upload behind.
func TestUploadStreamReadErrorAborts(t *testing.T) {
	e := newEnv(t)
	rec := newRecorder(t, nil)
	rec.size[transfer.StreamPath] = 1 << 40
	eng := e.engine(t, rec, nil)
	r := eng.UploadStream(context.Background(), &failingReader{r: bytes.NewReader(make([]byte, 20<<20)), after: 12 << 20}, stdinItem("clip.ts"))
	if r.Status != transfer.StatusFailed || r.Err == nil {
		t.Fatalf("status %s, error %v; want failed", r.Status, r.Err)
	}
	if !bytes.Contains([]byte(r.Err.Error()), []byte("pipe broke")) {
		t.Errorf("error %q does not give the cause", r.Err)
	}
	if n := len(e.api.Registrations()); n != 0 {
		t.Errorf("%d registrations of a broken stream", n)
	}
	if open := e.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
}

// stdinItem is the item internal/sources makes of "-" named name.
func stdinItem(name string) *asset.Item {
	return &asset.Item{Path: asset.StdinPath, Rel: name, Name: name, Stdin: true, Size: asset.UnknownSize}
}
