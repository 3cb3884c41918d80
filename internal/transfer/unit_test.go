package transfer

import (
	"github.com/vidup/vidup/internal/contract"

	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestCRCCombineEqualsOnePass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	// The SDK's CRC64NVME of "123456789" is the catalogue check value.
	if got := crc64.Checksum([]byte("123456789"), crc64NVMETable); got != 0xae8b14860a799888 {
		t.Fatalf("CRC-64/NVME check value %#x, want 0xae8b14860a799888", got)
	}
	for _, cuts := range [][]int{{0}, {1}, {5, 6}, {1000, 4096, 500000}, {len(data) - 1}} {
		t.Run(fmt.Sprint(cuts), func(t *testing.T) {
			want := crc64.Checksum(data, crc64NVMETable)
			prev, got := 0, uint64(0)
			for i, c := range append(cuts, len(data)) {
				piece := data[prev:c]
				pc := crc64.Checksum(piece, crc64NVMETable)
				if i == 0 {
					got = pc
				} else {
					got = crcCombine(got, pc, int64(len(piece)))
				}
				prev = c
			}
			if got != want {
				t.Errorf("combined %#x, one pass %#x", got, want)
			}
		})
	}
}

func TestChoosePartSize(t *testing.T) {
	tests := []struct {
		size, requested, want int64
		err                   string
	}{
		{0, 0, DefaultPartSize, ""},
		{1 << 30, 0, DefaultPartSize, ""},
		{10000 * DefaultPartSize, 0, DefaultPartSize, ""},
		{10000*DefaultPartSize + 1, 0, 2 * DefaultPartSize, ""},
		{500 << 30, 0, 64 << 20, ""},                          // 500 GiB: 8000 parts of 64 MiB
		{5 << 40, 0, 1 << 30, ""},                             // 5 TiB: S3's old largest object
		{contract.MaxObjectSize, 0, contract.MaxPartSize, ""}, // 48.8 TiB: 10,000 parts of 5 GiB
		{contract.MaxObjectSize + 1, 0, 0, "larger than"},     // beyond it
		{1 << 30, 5 << 20, 5 << 20, ""},
		{1 << 30, 4 << 20, 0, "out of S3's range"},
		{1 << 30, 6 << 30, 0, "out of S3's range"},
		{100 << 30, 5 << 20, 0, "more than 10000 parts"},
	}
	for _, tt := range tests {
		got, err := ChoosePartSize(tt.size, tt.requested)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ChoosePartSize(%d, %d) error %v, want one saying %q", tt.size, tt.requested, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ChoosePartSize(%d, %d) = %d, %v; want %d", tt.size, tt.requested, got, err, tt.want)
		}
		if tt.size > 0 && ceilDiv(tt.size, got) > MaxParts {
			t.Errorf("ChoosePartSize(%d) = %d needs %d parts", tt.size, got, ceilDiv(tt.size, got))
		}
	}
}

func apiErr(status int, code string) error {
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "UploadPart", Err: &smithyhttp.ResponseError{
		Response: resp, Err: &smithy.GenericAPIError{Code: code, Message: code},
	}}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want class
	}{
		{"SlowDown", apiErr(503, "SlowDown"), transient},
		{"InternalError", apiErr(500, "InternalError"), transient},
		{"bare 502", apiErr(502, ""), transient},
		{"RequestTimeout", apiErr(400, "RequestTimeout"), transient},
		{"429", apiErr(429, "TooManyRequests"), transient},
		{"BadDigest", apiErr(400, "BadDigest"), transient},
		{"ExpiredToken", apiErr(400, "ExpiredToken"), refreshCredentials},
		{"AccessDenied", apiErr(403, "AccessDenied"), permanent},
		{"InvalidAccessKeyId", apiErr(403, "InvalidAccessKeyId"), permanent},
		{"NoSuchBucket", apiErr(404, "NoSuchBucket"), permanent},
		{"NoSuchUpload", apiErr(404, "NoSuchUpload"), permanent},
		{"SignatureDoesNotMatch", apiErr(403, "SignatureDoesNotMatch"), permanent},
		{"connection reset", &smithyhttp.RequestSendError{Err: syscall.ECONNRESET}, transient},
		{"unexpected EOF", fmt.Errorf("read response: %w", io.ErrUnexpectedEOF), transient},
		{"stalled", fmt.Errorf("%w: context canceled", errStalled), transient},
		{"file changed", errFileChanged, permanent},
		{"unknown local error", errors.New("disk on fire"), permanent},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("%s: classify = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestDetectContentType(t *testing.T) {
	ts := make([]byte, 188*3)
	for i := 0; i < len(ts); i += 188 {
		ts[i] = 0x47
	}
	tests := []struct {
		name string
		head []byte
		file string
		want string
	}{
		{"mp4", []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"), "x.bin", "video/mp4"},
		{"mov", []byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00"), "x.bin", "video/quicktime"},
		{"mkv", []byte("\x1a\x45\xdf\xa3\x01\x00\x00\x00matroska"), "x", "video/x-matroska"},
		{"webm", []byte("\x1a\x45\xdf\xa3\x01\x00\x00\x00webm"), "x", "video/webm"},
		{"avi", []byte("RIFF\x00\x00\x00\x00AVI LIST"), "x", "video/x-msvideo"},
		{"mxf", []byte("\x06\x0e\x2b\x34\x02\x05\x01\x01\x0d\x01\x02\x01\x01\x02"), "x", "application/mxf"},
		{"mpeg-ts", ts, "x", "video/mp2t"},
		{"by extension", []byte{0x00, 0x01, 0x02}, "clip.MOV", "video/quicktime"},
		{"empty mkv", nil, "a.mkv", "video/x-matroska"},
		{"unknown", []byte{0x00, 0x01, 0x02}, "blob", "application/octet-stream"},
	}
	for _, tt := range tests {
		if got := DetectContentType(tt.head, tt.file); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAttemptBodyRollsBackFailedAttempts(t *testing.T) {
	var total int64
	sr := io.NewSectionReader(strings.NewReader(strings.Repeat("x", 1000)), 0, 1000)
	b := newAttemptBody(sr, func(d int64) { total += d }, 0, nil)
	io.CopyN(io.Discard, b, 600)
	b.finish(false)
	if total != 0 {
		t.Fatalf("after a failed attempt progress is %d, want 0", total)
	}
	b.Read(make([]byte, 10)) // a late read on a dead connection
	if total != 0 {
		t.Fatalf("a read after finish counted: %d", total)
	}
	sr2 := io.NewSectionReader(strings.NewReader(strings.Repeat("x", 1000)), 0, 1000)
	b2 := newAttemptBody(sr2, func(d int64) { total += d }, 0, nil)
	io.CopyN(io.Discard, b2, 300)
	b2.Seek(0, io.SeekStart) // a rewind takes back what was read
	if total != 0 {
		t.Fatalf("after a rewind progress is %d, want 0", total)
	}
	io.Copy(io.Discard, b2)
	b2.finish(true)
	if total != 1000 {
		t.Fatalf("after a good attempt progress is %d, want 1000", total)
	}
}
