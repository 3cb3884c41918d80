package faultproxy

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Stores that behave unlike MinIO, replayed in front of it: each is a rule
// for SetRule, from the providers' documented (and observed) answers.

// isChecksumHeader reports whether a header name asks for a checksum.
func isChecksumHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "x-amz-checksum-") || n == "x-amz-sdk-checksum-algorithm"
}

// RefuseChecksumHeaders is Backblaze B2 and Wasabi: any request with an
// x-amz-checksum-* header is refused, 400 InvalidArgument "Unsupported
// header". Requests without one pass.
func RefuseChecksumHeaders() func(*RequestInfo) Action {
	return func(ri *RequestInfo) Action {
		for name := range ri.Header {
			if isChecksumHeader(name) {
				return S3Error(http.StatusBadRequest, "InvalidArgument",
					fmt.Sprintf("Unsupported header '%s' received for this API call.", strings.ToLower(name)))
			}
		}
		return Pass()
	}
}

// RefuseFullObjectMultipart is Cloudflare R2 on a multipart upload with a
// FULL_OBJECT checksum of algorithm (CRC32C; "" for any algorithm): 501
// NotImplemented at CreateMultipartUpload.
func RefuseFullObjectMultipart(algorithm string) func(*RequestInfo) Action {
	return func(ri *RequestInfo) Action {
		if ri.Kind != KindCreateMultipartUpload || !strings.EqualFold(ri.Header.Get("x-amz-checksum-type"), "FULL_OBJECT") {
			return Pass()
		}
		if algorithm != "" && !strings.EqualFold(ri.Header.Get("x-amz-checksum-algorithm"), algorithm) {
			return Pass()
		}
		return S3Error(http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented.")
	}
}

var (
	checksumElement = regexp.MustCompile(`<Checksum(CRC32C|CRC32|CRC64NVME|SHA1|SHA256|Type)>[^<]*</Checksum(CRC32C|CRC32|CRC64NVME|SHA1|SHA256|Type)>`)
)

// DropChecksums is a store that takes checksum headers and keeps nothing
// of them (gofakes3's multipart, stores that ignore the headers): every
// answer loses its x-amz-checksum-* headers and Checksum elements.
func DropChecksums() func(*RequestInfo) Action {
	return func(ri *RequestInfo) Action {
		return Modify(func(resp *http.Response) error {
			for name := range resp.Header {
				if isChecksumHeader(name) {
					resp.Header.Del(name)
				}
			}
			return rewriteBody(resp, func(b []byte) []byte { return checksumElement.ReplaceAll(b, nil) })
		})
	}
}

// CompositeAnswers is a store that keeps a COMPOSITE checksum ("…-N", the
// CRC of the parts' CRCs) where a FULL_OBJECT one was asked (Ceph RGW,
// SeaweedFS before its fix): CompleteMultipartUpload and HeadObject of
// multipart objects answer it. It takes the parts' checksums from their
// UploadPart headers, so uploads must go through this rule from the start.
func CompositeAnswers() func(*RequestInfo) Action {
	var mu sync.Mutex
	parts := map[string]map[int][]byte{} // upload id -> part -> raw checksum
	keys := map[string]string{}          // key path -> composite
	return func(ri *RequestInfo) Action {
		switch ri.Kind {
		case KindUploadPart:
			if v := ri.Header.Get("x-amz-checksum-crc32c"); v != "" {
				if raw, err := decodeBase64(v); err == nil {
					mu.Lock()
					if parts[ri.UploadID] == nil {
						parts[ri.UploadID] = map[int][]byte{}
					}
					parts[ri.UploadID][ri.PartNumber] = raw
					mu.Unlock()
				}
			}
		case KindCompleteMultipartUpload:
			mu.Lock()
			ps := parts[ri.UploadID]
			mu.Unlock()
			if len(ps) == 0 {
				return Pass()
			}
			composite := compositeCRC32C(ps)
			mu.Lock()
			keys[ri.Path] = composite
			mu.Unlock()
			return Modify(func(resp *http.Response) error {
				return rewriteBody(resp, func(b []byte) []byte {
					b = regexp.MustCompile(`<ChecksumCRC32C>[^<]*</ChecksumCRC32C>`).ReplaceAll(b, []byte("<ChecksumCRC32C>"+composite+"</ChecksumCRC32C>"))
					return regexp.MustCompile(`<ChecksumType>[^<]*</ChecksumType>`).ReplaceAll(b, []byte("<ChecksumType>COMPOSITE</ChecksumType>"))
				})
			})
		case KindHeadObject:
			mu.Lock()
			composite, ok := keys[ri.Path]
			mu.Unlock()
			if ok {
				return Modify(func(resp *http.Response) error {
					if resp.Header.Get("x-amz-checksum-crc32c") != "" {
						resp.Header.Set("x-amz-checksum-crc32c", composite)
						resp.Header.Set("x-amz-checksum-type", "COMPOSITE")
					}
					return nil
				})
			}
		}
		return Pass()
	}
}

// BrokenListPartsPage is a store whose ListParts says every page is
// truncated and gives no NextPartNumberMarker: a client that trusts
// IsTruncated asks forever.
func BrokenListPartsPage() func(*RequestInfo) Action {
	return func(ri *RequestInfo) Action {
		if ri.Kind != KindListParts {
			return Pass()
		}
		return Modify(func(resp *http.Response) error {
			return rewriteBody(resp, func(b []byte) []byte {
				b = regexp.MustCompile(`<IsTruncated>false</IsTruncated>`).ReplaceAll(b, []byte("<IsTruncated>true</IsTruncated>"))
				return regexp.MustCompile(`<NextPartNumberMarker>[^<]*</NextPartNumberMarker>`).ReplaceAll(b, nil)
			})
		})
	}
}

// rewriteBody replaces resp's body by f of it.
func rewriteBody(resp *http.Response, f func([]byte) []byte) error {
	if resp.Body == nil || (resp.Request != nil && resp.Request.Method == http.MethodHead) {
		return nil // a HEAD's Content-Length is the object's
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	b = f(b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

func decodeBase64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// compositeCRC32C is S3's COMPOSITE CRC32C of parts (by number): the
// CRC32C of their raw checksums, end to end, and their count.
func compositeCRC32C(parts map[int][]byte) string {
	nums := make([]int, 0, len(parts))
	for n := range parts {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var crc uint32
	for _, n := range nums {
		crc = crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), parts[n])
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(b[:]), len(parts))
}
