package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newTestBody is an attemptBody over data (progress counted in *got).
func newTestBody(data []byte, got *int64) *attemptBody {
	return newAttemptBody(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))),
		func(d int64) { *got += d }, time.Minute, nil)
}

// The body sums the bytes the HTTP client reads from it, as they go: the
// part's CRC when the client read it whole and in order, whatever the size
// of its reads and after a rewind; never a CRC of less than the part.
func TestAttemptBodySumsWhatTheClientReads(t *testing.T) {
	data := randomBytes(1<<20+333, 7)
	want := crc32C.update(0, data)
	for _, tt := range []struct {
		name      string
		read      func(b *attemptBody) error
		wantWhole bool
	}{
		{"one copy", func(b *attemptBody) error {
			_, err := io.CopyBuffer(io.Discard, b, make([]byte, 256<<10))
			return err
		}, true},
		{"odd reads", func(b *attemptBody) error {
			_, err := io.CopyBuffer(io.Discard, b, make([]byte, 4093))
			return err
		}, true},
		{"rewound to the start halfway", func(b *attemptBody) error {
			if _, err := io.CopyN(io.Discard, b, 500_000); err != nil {
				return err
			}
			if _, err := b.Seek(0, io.SeekStart); err != nil {
				return err
			}
			_, err := io.Copy(io.Discard, b)
			return err
		}, true},
		{"some bytes read twice", func(b *attemptBody) error {
			if _, err := io.CopyN(io.Discard, b, 500_000); err != nil {
				return err
			}
			if _, err := b.Seek(100_000, io.SeekStart); err != nil {
				return err
			}
			_, err := io.Copy(io.Discard, b)
			return err
		}, true},
		{"stopped short", func(b *attemptBody) error {
			_, err := io.CopyN(io.Discard, b, int64(len(data)-1))
			return err
		}, false},
		{"bytes skipped", func(b *attemptBody) error {
			if _, err := io.CopyN(io.Discard, b, 1000); err != nil {
				return err
			}
			if _, err := b.Seek(2000, io.SeekStart); err != nil {
				return err
			}
			_, err := io.Copy(io.Discard, b)
			return err
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var progress int64
			b := newTestBody(data, &progress)
			b.summing(crc32C)
			if err := tt.read(b); err != nil {
				t.Fatal(err)
			}
			crc, whole := b.summed()
			if whole != tt.wantWhole {
				t.Fatalf("whole = %v, want %v", whole, tt.wantWhole)
			}
			if whole && crc != want {
				t.Errorf("crc %08x, want %08x", crc, want)
			}
		})
	}

	var progress int64
	b := newTestBody(data, &progress)
	io.Copy(io.Discard, b)
	if _, whole := b.summed(); whole {
		t.Error("a body that was not summing says it summed the part")
	}
}

// Over HTTPS each part is read once: its CRC goes after it (no header
// sum), computed as it is sent. A part whose attempt fails is summed
// again from the bytes of its next attempt, and the full-object checksum
// combined from the parts' is the file's.
func TestPartsCarryTrailingChecksums(t *testing.T) {
	data := randomBytes(4*1000+123, 3)
	b := newBucket(t)
	b.failPart = func(n int32, attempt int) error {
		if n == 2 && attempt == 1 {
			return apiErr(400, "BadDigest")
		}
		return nil
	}
	e, sess, obs := testEngine(b)
	sess.trailers.Store(true)
	ref := &UploadRef{Key: "k", PartSize: 1000}
	st, err := e.transfer(context.Background(), sess, testFile(t, data), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.trailed.Load(); got != 6 {
		t.Errorf("%d UploadParts with a trailing checksum, want 6 (5 parts, one sent twice)", got)
	}
	if want := crc32C.base64(crc32C.update(0, data)); st.checksum == nil || st.checksum.Value != want {
		t.Errorf("stored %+v, want CRC32C %s", st.checksum, want)
	}
	if obs.kinds[PartRetried] != 1 || obs.progress != int64(len(data)) {
		t.Errorf("%d part_retried events, progress %d; want 1 and %d", obs.kinds[PartRetried], obs.progress, len(data))
	}
}

// A file that fits one part goes in one PutObject, its CRC after it.
func TestPutCarriesATrailingChecksum(t *testing.T) {
	data := randomBytes(777, 4)
	want := crc32C.base64(crc32C.update(0, data))
	store := &fakeStore{t: t, putFn: func(got []byte, a *checksumAlgorithm, sum string) (s3Answer, error) {
		if sum != want || !bytes.Equal(got, data) {
			return s3Answer{}, fmt.Errorf("S3 got other bytes or checksum %s", sum)
		}
		return s3Answer{etag: `"e"`, checksum: sum}, nil
	}}
	e, sess, _ := testEngine(store)
	sess.trailers.Store(true)
	st, err := e.transfer(context.Background(), sess, testFile(t, data), &UploadRef{Key: "k", PartSize: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if store.trailed.Load() != 1 || st.checksum == nil || st.checksum.Value != want {
		t.Errorf("%d trailing puts, stored %+v; want 1 and %s", store.trailed.Load(), st.checksum, want)
	}
}

// A store that refuses trailing checksums gets the CRC in a header, for
// the rest of the session.
func TestStoreRefusingTrailersGetsHeaders(t *testing.T) {
	data := randomBytes(3*1000, 5)
	b := newBucket(t)
	b.refuseTrailers = true
	e, sess, _ := testEngine(b)
	sess.trailers.Store(true)
	st, err := e.transfer(context.Background(), sess, testFile(t, data), &UploadRef{Key: "k", PartSize: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sess.trailers.Load() {
		t.Error("the session still sends trailers after the store refused them")
	}
	if b.trailed.Load() != 0 || len(b.parts) != 3 {
		t.Errorf("%d trailing parts, %d parts held; want 0 and 3", b.trailed.Load(), len(b.parts))
	}
	if want := crc32C.base64(crc32C.update(0, data)); st.checksum == nil || st.checksum.Value != want {
		t.Errorf("stored %+v, want CRC32C %s", st.checksum, want)
	}
}

// The checksum recorded of a trailing attempt is the body's; S3 answering
// another fails the part, and so does a body not read whole.
func TestTrailedChecksum(t *testing.T) {
	data := randomBytes(5000, 6)
	want := crc32C.base64(crc32C.update(0, data))
	var progress int64
	b := newTestBody(data, &progress)
	b.summing(crc32C)
	io.Copy(io.Discard, b)
	if got, err := trailed(crc32C, b, want); err != nil || got != want {
		t.Errorf("trailed = %s, %v; want %s", got, err, want)
	}
	if got, err := trailed(crc32C, b, ""); err != nil || got != want {
		t.Errorf("S3 answered no checksum: trailed = %s, %v; want %s", got, err, want)
	}
	other := crc32C.base64(crc32C.update(0, data) + 1)
	if _, err := trailed(crc32C, b, other); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("S3 answered another checksum: err %v, want one naming %s", err, other)
	}
	short := newTestBody(data, &progress)
	short.summing(crc32C)
	io.CopyN(io.Discard, short, 10)
	if _, err := trailed(crc32C, short, ""); !errors.Is(err, errNotSummed) {
		t.Errorf("a body read in part: err %v, want errNotSummed", err)
	}
}

func TestTrailingChecksumsOnlyOverHTTPS(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"":                       true, // AWS
		"https://s3.example.com": true,
		"HTTPS://127.0.0.1:9000": true,
		"http://127.0.0.1:9000":  false,
	} {
		if got := trailingChecksums(endpoint); got != want {
			t.Errorf("trailingChecksums(%q) = %v, want %v", endpoint, got, want)
		}
	}
}

// decodeAWSChunked parses an aws-chunked body with one trailer: its
// bytes, the chunk sizes and the trailer line.
func decodeAWSChunked(t *testing.T, enc []byte) (data []byte, sizes []int64, trailer string) {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(enc))
	for {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasSuffix(line, "\r\n") {
			t.Fatalf("chunk header %q: %v", line, err)
		}
		size, err := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
		if err != nil {
			t.Fatalf("chunk header %q: %v", line, err)
		}
		if size == 0 {
			break
		}
		sizes = append(sizes, size)
		chunk := make([]byte, size+2)
		if _, err := io.ReadFull(r, chunk); err != nil || string(chunk[size:]) != "\r\n" {
			t.Fatalf("chunk of %d bytes: %v (ends %q)", size, err, chunk[size:])
		}
		data = append(data, chunk[:size]...)
	}
	rest, _ := io.ReadAll(r)
	if !strings.HasSuffix(string(rest), "\r\n\r\n") || strings.Count(string(rest), "\r\n") != 2 {
		t.Fatalf("trailer %q, want one line and an empty one", rest)
	}
	return data, sizes, strings.TrimSuffix(string(rest), "\r\n\r\n")
}

// A part goes aws-chunked in chunks of at most 1 MiB, its CRC in the
// trailer, its encoded length the one declared, whatever the reader's
// buffer.
func TestAWSChunkedEncoding(t *testing.T) {
	for _, size := range []int{1, 4093, awsChunkSize, 3*awsChunkSize + 17} {
		for _, buf := range []int{1, 7, 256 << 10, 4 << 20} {
			data := randomBytes(size, uint64(size))
			var progress int64
			body := newTestBody(data, &progress)
			body.summing(crc32C)
			name := "x-amz-checksum-crc32c"
			var enc bytes.Buffer
			if _, err := io.CopyBuffer(&enc, struct{ io.Reader }{newAWSChunked(body, int64(size), name)}, make([]byte, buf)); err != nil {
				t.Fatalf("%d bytes in %d-byte reads: %v", size, buf, err)
			}
			if got, want := int64(enc.Len()), awsChunkedLength(int64(size), name, 8); got != want {
				t.Errorf("%d bytes: encoded %d bytes, declared %d", size, got, want)
			}
			got, sizes, trailer := decodeAWSChunked(t, enc.Bytes())
			if !bytes.Equal(got, data) {
				t.Errorf("%d bytes in %d-byte reads: the chunks hold other bytes", size, buf)
			}
			for _, s := range sizes {
				if s > awsChunkSize {
					t.Errorf("a chunk of %d bytes, over %d", s, awsChunkSize)
				}
			}
			if want := name + ":" + crc32C.base64(crc32C.update(0, data)); trailer != want {
				t.Errorf("trailer %q, want %q", trailer, want)
			}
		}
	}
}

// A body that ends early (the file shrank) fails the request rather than
// send a trailer of fewer bytes.
func TestAWSChunkedRefusesAShortBody(t *testing.T) {
	data := randomBytes(1000, 9)
	var progress int64
	body := newTestBody(data, &progress)
	body.summing(crc32C)
	_, err := io.ReadAll(newAWSChunked(body, 2000, "x-amz-checksum-crc32c"))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err %v, want io.ErrUnexpectedEOF", err)
	}
	notSumming := newTestBody(data, &progress)
	_, err = io.ReadAll(newAWSChunked(notSumming, 1000, "x-amz-checksum-crc32c"))
	if !errors.Is(err, errNotSummed) {
		t.Errorf("a body that computes no checksum: err %v, want errNotSummed", err)
	}
}
