package transfer_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// tlsFront is an HTTPS reverse proxy on 127.0.0.1 in front of an S3
// server's plain-HTTP endpoint, as a TLS terminator would be: it keeps the
// Host the client signed, records how each body was protected, and can
// flip a byte of a request's body on its way.
type tlsFront struct {
	srv *httptest.Server
	ca  string // the front's certificate, a CA bundle for the client

	mu sync.Mutex
	// seen are the bodies that carried file bytes (PutObject, UploadPart)
	// as "PUT part N" and their attempt: the headers that protected them.
	seen     []frontRequest
	attempts map[string]int
	// corrupt says whether to flip a byte of this attempt's body.
	corrupt func(what string, attempt int) bool
}

type frontRequest struct {
	what    string
	attempt int
	header  http.Header
}

func newTLSFront(t *testing.T, target string) *tlsFront {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &tlsFront{attempts: map[string]int{}}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host // part of the signature
		if pr.In.Method != http.MethodPut || pr.In.ContentLength <= 0 {
			return
		}
		what := "PutObject"
		if n := pr.In.URL.Query().Get("partNumber"); n != "" {
			what = "UploadPart " + n
		}
		f.mu.Lock()
		f.attempts[what]++
		attempt := f.attempts[what]
		f.seen = append(f.seen, frontRequest{what, attempt, pr.In.Header.Clone()})
		corrupt := f.corrupt != nil && f.corrupt(what, attempt)
		f.mu.Unlock()
		if corrupt {
			pr.Out.Body = &flipByte{r: pr.In.Body, at: 1000}
		}
	}}
	f.srv = httptest.NewTLSServer(proxy)
	t.Cleanup(f.srv.Close)
	f.ca = filepath.Join(t.TempDir(), "front.pem")
	if err := os.WriteFile(f.ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *tlsFront) requests() []frontRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]frontRequest(nil), f.seen...)
}

// flipByte is r with the byte at offset at inverted.
type flipByte struct {
	r   io.ReadCloser
	at  int64
	off int64
}

func (b *flipByte) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.at >= b.off && b.at < b.off+int64(n) {
		p[b.at-b.off] ^= 0xff
	}
	b.off += int64(n)
	return n, err
}

func (b *flipByte) Close() error { return b.r.Close() }

func fileCRC32C(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	return base64.StdEncoding.EncodeToString(b[:])
}

// Over HTTPS every file's bytes go aws-chunked with their CRC32C after
// them (a trailing checksum, no checksum header), on MinIO and on the
// second S3 server: the objects arrive intact, the full-object checksum
// combined from the trailing part CRCs is the file's and S3's, and a part
// whose bytes were corrupted on the way is refused by S3, sent again, and
// recorded with the right CRC.
func TestHTTPSSendsTrailingChecksums(t *testing.T) {
	testenv.EachS3(t, func(t *testing.T, s testenv.S3) {
		e := newEnvOn(t, s)
		front := newTLSFront(t, s.Endpoint)
		e.api.Set(func(a *transfertest.API) { a.Endpoint = front.srv.URL })
		front.corrupt = func(what string, attempt int) bool { return what == "UploadPart 2" && attempt == 1 }

		const part = transfer.MinPartSize
		dir := t.TempDir()
		files := openAll(t,
			writeFile(t, dir, "large.mov", 3*part+4321, 21),
			writeFile(t, dir, "small.mp4", 300<<10+7, 22))
		rec := newRecorder(t, files)
		results := e.engine(t, rec, func(o *transfer.Options) {
			o.CABundle = front.ca
			o.Concurrency = 2
		}).Upload(context.Background(), files)
		checkArrived(t, e, rec, files, results)
		for i, r := range results {
			if want := fileCRC32C(t, files[i].Path); r.Checksum == nil || r.Checksum.Value != want {
				t.Errorf("%s: checksum %+v, want the file's CRC32C %s", files[i].Name, r.Checksum, want)
			}
		}

		attempts := map[string]int{}
		for _, r := range front.requests() {
			attempts[r.what]++
			h := r.header
			if h.Get("X-Amz-Content-Sha256") != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" || h.Get("X-Amz-Trailer") != "x-amz-checksum-crc32c" ||
				h.Get("Content-Encoding") != "aws-chunked" || h.Get("X-Amz-Checksum-Crc32c") != "" {
				t.Errorf("%s (attempt %d) was not sent with a trailing CRC32C: %v", r.what, r.attempt, h)
			}
		}
		want := map[string]int{"PutObject": 1, "UploadPart 1": 1, "UploadPart 2": 2, "UploadPart 3": 1, "UploadPart 4": 1}
		for what, n := range want {
			if attempts[what] != n {
				t.Errorf("%s sent %d times, want %d (all: %v)", what, attempts[what], n, attempts)
			}
		}
		if got := rec.count(transfer.PartRetried); got != 1 {
			t.Errorf("%d part_retried events, want 1 (the corrupted part)", got)
		}
	})
}
