package transfer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/units"
)

// objectStore is all the engine asks of S3, one request per call: the
// chunk writer (create, part, complete, abort), the single put, and what
// resume and verify read back (list parts, head). Retries, checksums and
// progress stay with the engine, so they are tested against a fake store;
// s3Store is the only code in the package that calls the S3 client.
type objectStore interface {
	put(ctx context.Context, key string, h objectHeaders, body io.Reader, size int64, a *checksumAlgorithm, sum string) (s3Answer, error)
	create(ctx context.Context, key string, h objectHeaders, a *checksumAlgorithm) (uploadID string, err error)
	// put and part take sum, the header that protects the body ("" for a
	// trailing checksum: see s3Store.checksum).
	part(ctx context.Context, key, uploadID string, n int32, body io.Reader, size int64, a *checksumAlgorithm, sum string) (s3Answer, error)
	complete(ctx context.Context, key, uploadID string, parts []Part, size int64, a *checksumAlgorithm, sum string) (s3Answer, error)
	abort(ctx context.Context, key, uploadID string) error
	// listParts returns one page of the parts S3 holds, from after marker
	// ("" for the first); next is "" after the last page.
	listParts(ctx context.Context, key, uploadID, marker string) (parts []listedPart, next string, err error)
	head(ctx context.Context, key string, a *checksumAlgorithm) (headAnswer, error)
	// listObjects returns one page of the objects under prefix, from
	// after the continuation token ("" for the first); next is "" after
	// the last page.
	listObjects(ctx context.Context, prefix, token string) (objects []listedObject, next string, err error)
}

// objectHeaders are what S3 keeps with an object and serves with it.
type objectHeaders struct {
	contentType  string
	cacheControl string // "" leaves it to the store
}

// headersOf are the headers of the item f's object.
func headersOf(f *asset.Item) objectHeaders {
	return objectHeaders{contentType: f.ContentType, cacheControl: f.CacheControl}
}

// listedObject is an object as ListObjectsV2 shows it.
type listedObject struct {
	key  string
	size int64
	etag string
}

// s3Answer is what S3 said when it took the object (PutObject or
// CompleteMultipartUpload): the fallback when HeadObject is not allowed;
// or a part (UploadPart).
type s3Answer struct {
	etag, checksum string
}

// listedPart is a part as ListParts shows it. checksums are those S3 gave
// (none, or the upload's algorithm).
type listedPart struct {
	number    int32
	size      int64
	etag      string
	checksums []string
}

// headAnswer is what HeadObject said of an object; checksum is empty when
// S3 gave none of the algorithm asked.
type headAnswer struct {
	size           int64
	etag, checksum string
}

// unsignedPayload sends part bodies as UNSIGNED-PAYLOAD. Over plain HTTP
// the SDK would otherwise SHA-256 every part before sending it: a third
// pass over the data (~1.75 GB/s on this class of machine, about as much
// CPU as the CRC and the send together). Integrity does not suffer: each
// request carries its CRC, which S3 checks before it accepts the part.
// Passes per byte: over plain HTTP one CRC read, then the send by
// sendfile(2); over HTTPS one, the CRC computed as the bytes are sent
// (sendTrailer). The full-object checksum is combined from the part CRCs
// (crcCombine), not read again.
var unsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// s3Store is objectStore over one session's S3 client and bucket.
type s3Store struct {
	client *s3.Client
	bucket string
}

func (s s3Store) put(ctx context.Context, key string, h objectHeaders, body io.Reader, size int64, a *checksumAlgorithm, sum string) (s3Answer, error) {
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key),
		Body: body, ContentLength: aws.Int64(size), ContentType: aws.String(h.contentType),
	}
	if h.cacheControl != "" {
		in.CacheControl = aws.String(h.cacheControl)
	}
	opts, err := s.checksum(&in.ChecksumCRC32C, &in.ChecksumCRC64NVME, &in.ContentMD5, a, body, size, sum)
	if err != nil {
		return s3Answer{}, err
	}
	out, err := s.client.PutObject(ctx, in, opts...)
	if err != nil {
		return s3Answer{}, err
	}
	return s3Answer{etag: aws.ToString(out.ETag), checksum: a.get(out.ChecksumCRC32C, out.ChecksumCRC64NVME)}, nil
}

func (s s3Store) create(ctx context.Context, key string, h objectHeaders, a *checksumAlgorithm) (string, error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), ContentType: aws.String(h.contentType),
		ChecksumAlgorithm: a.s3, ChecksumType: types.ChecksumType(a.typ()),
	}
	if h.cacheControl != "" {
		in.CacheControl = aws.String(h.cacheControl)
	}
	out, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.UploadId), nil
}

func (s s3Store) part(ctx context.Context, key, uploadID string, n int32, body io.Reader, size int64, a *checksumAlgorithm, sum string) (s3Answer, error) {
	in := &s3.UploadPartInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(n), Body: body, ContentLength: aws.Int64(size),
	}
	opts, err := s.checksum(&in.ChecksumCRC32C, &in.ChecksumCRC64NVME, &in.ContentMD5, a, body, size, sum)
	if err != nil {
		return s3Answer{}, err
	}
	out, err := s.client.UploadPart(ctx, in, opts...)
	if err != nil {
		return s3Answer{}, err
	}
	return s3Answer{etag: aws.ToString(out.ETag), checksum: a.get(out.ChecksumCRC32C, out.ChecksumCRC64NVME)}, nil
}

// checksum sets the fields of a PutObject or UploadPart that protect its
// body, and returns the options of its call: sum in a's checksum header,
// or for none Content-MD5; with no sum (a trailing checksum, HTTPS only)
// the body must be a trailingBody, sent aws-chunked with its checksum
// after it (sendTrailer).
func (s3Store) checksum(crc32c, crc64nvme, md5 **string, a *checksumAlgorithm, body io.Reader, size int64, sum string) ([]func(*s3.Options), error) {
	switch {
	case a.none && sum != "":
		*md5 = aws.String(sum)
	case a.none:
	case sum == "":
		tb, ok := body.(trailingBody)
		if !ok {
			return nil, errors.New("a trailing checksum needs a body that computes it")
		}
		return []func(*s3.Options){unsignedPayload, s3.WithAPIOptions(func(st *middleware.Stack) error {
			return st.Finalize.Insert(sendTrailer{a: a, body: tb, size: size}, "Signing", middleware.Before)
		})}, nil
	default:
		a.set(crc32c, crc64nvme, sum)
	}
	return []func(*s3.Options){unsignedPayload}, nil
}

// streamingTrailer is the payload hash of an unsigned aws-chunked body
// with a trailer.
const streamingTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

// sendTrailer sends a request's body aws-chunked with its checksum in a
// trailer, computed by the body as it is read (see awsChunked): the part
// is read once, where a checksum header needs a pass over it first. The
// SDK's own trailer would compute the CRC a second time, beside the one
// vidup keeps, and send the part as one chunk, which MinIO refuses over
// 16 MiB. It runs just before signing: the headers it sets are signed.
type sendTrailer struct {
	a    *checksumAlgorithm
	body trailingBody
	size int64
}

func (sendTrailer) ID() string { return "vidupSendTrailer" }

func (m sendTrailer) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("trailing checksum: unexpected request type %T", in.Request)
	}
	name := "x-amz-checksum-" + strings.ToLower(string(m.a.s3))
	chunked, err := req.SetStream(newAWSChunked(m.body, m.size, name))
	if err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("trailing checksum: %w", err)
	}
	chunked.ContentLength = awsChunkedLength(m.size, name, len(m.a.base64(0)))
	chunked.Header.Set("Content-Encoding", "aws-chunked")
	chunked.Header.Set("X-Amz-Trailer", name)
	chunked.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(m.size, 10))
	chunked.Header.Set("X-Amz-Content-Sha256", streamingTrailer)
	in.Request = chunked
	return next.HandleFinalize(v4.SetPayloadHash(ctx, streamingTrailer), in)
}

// trailingChecksums reports whether requests to endpoint ("" for AWS) can
// carry their checksum after the body: the SDK sends trailers over HTTPS
// only. Over plain HTTP the CRC goes in a header, computed first, and the
// part by sendfile(2).
func trailingChecksums(endpoint string) bool {
	if endpoint == "" {
		return true
	}
	u, err := url.Parse(endpoint)
	return err == nil && strings.EqualFold(u.Scheme, "https")
}

// refusesTrailer reports whether err is a store refusing a trailing
// checksum (aws-chunked, x-amz-trailer): what it says of checksums it
// cannot take, or a complaint about the encoding or the payload hash.
func refusesTrailer(err error) bool {
	if refusesChecksum(err) {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || httpStatus(err) >= 500 {
		return false
	}
	msg := strings.ToLower(ae.ErrorCode() + " " + ae.ErrorMessage())
	for _, w := range []string{"trailer", "aws-chunked", "content-encoding", "x-amz-content-sha256", "streaming", "chunked"} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

func (s s3Store) complete(ctx context.Context, key, uploadID string, parts []Part, size int64, a *checksumAlgorithm, sum string) (s3Answer, error) {
	completed := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
		a.set(&completed[i].ChecksumCRC32C, &completed[i].ChecksumCRC64NVME, p.Checksum)
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
		ChecksumType:    types.ChecksumType(a.typ()), MpuObjectSize: aws.Int64(size),
	}
	if !a.composite {
		// A composite checksum is S3's to compute; the engine compares it.
		a.set(&in.ChecksumCRC32C, &in.ChecksumCRC64NVME, sum)
	}
	out, err := s.client.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return s3Answer{}, err
	}
	return s3Answer{etag: aws.ToString(out.ETag), checksum: a.get(out.ChecksumCRC32C, out.ChecksumCRC64NVME)}, nil
}

func (s s3Store) abort(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
	})
	return err
}

func (s s3Store) listParts(ctx context.Context, key, uploadID, marker string) ([]listedPart, string, error) {
	in := &s3.ListPartsInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(uploadID)}
	if marker != "" {
		in.PartNumberMarker = aws.String(marker)
	}
	out, err := s.client.ListParts(ctx, in)
	if err != nil {
		return nil, "", err
	}
	parts := make([]listedPart, len(out.Parts))
	for i, p := range out.Parts {
		parts[i] = listedPart{number: aws.ToInt32(p.PartNumber), size: aws.ToInt64(p.Size), etag: aws.ToString(p.ETag)}
		for _, c := range []*string{p.ChecksumCRC32C, p.ChecksumCRC64NVME} {
			if c != nil {
				parts[i].checksums = append(parts[i].checksums, *c)
			}
		}
	}
	// A page marked truncated without a next marker ends the listing
	// (reconcile also stops on a marker that does not advance).
	next := ""
	if aws.ToBool(out.IsTruncated) {
		next = aws.ToString(out.NextPartNumberMarker)
	}
	return parts, next, nil
}

func (s s3Store) head(ctx context.Context, key string, a *checksumAlgorithm) (headAnswer, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if !a.none {
		// Stores that refuse checksum headers refuse this one too.
		in.ChecksumMode = types.ChecksumModeEnabled
	}
	out, err := s.client.HeadObject(ctx, in)
	if err != nil {
		return headAnswer{}, err
	}
	return headAnswer{size: aws.ToInt64(out.ContentLength), etag: aws.ToString(out.ETag),
		checksum: a.get(out.ChecksumCRC32C, out.ChecksumCRC64NVME)}, nil
}

func (s s3Store) listObjects(ctx context.Context, prefix, token string) ([]listedObject, string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	if token != "" {
		in.ContinuationToken = aws.String(token)
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, "", err
	}
	objs := make([]listedObject, len(out.Contents))
	for i, o := range out.Contents {
		objs[i] = listedObject{key: aws.ToString(o.Key), size: aws.ToInt64(o.Size), etag: aws.ToString(o.ETag)}
	}
	next := ""
	if aws.ToBool(out.IsTruncated) {
		next = aws.ToString(out.NextContinuationToken)
	}
	return objs, next, nil
}

// The S3 operations an S3Error names.
const (
	OpPutObject               = "PutObject"
	OpCreateMultipartUpload   = "CreateMultipartUpload"
	OpUploadPart              = "UploadPart"
	OpCompleteMultipartUpload = "CompleteMultipartUpload"
	OpAbortMultipartUpload    = "AbortMultipartUpload"
	OpListParts               = "ListParts"
	OpHeadObject              = "HeadObject"
	OpListObjects             = "ListObjectsV2"
)

// S3Error is an S3 request that failed for good (refused, or still failing
// after every retry). It carries the facts; its message says only what
// happened. What the user should do about it (which flag, which policy) is
// the CLI's advice table's business, keyed on Op, Code and Transient.
type S3Error struct {
	Op     string // one of the Op constants
	Bucket string
	Key    string
	Part   int32  // the part number of an UploadPart; 0 otherwise
	Code   string // S3's error code; "" when S3 never answered
	// Transient: the failure was one worth retrying (network, throttling,
	// S3's own errors), and the retries ran out.
	Transient bool
	// Endpoint is the S3 endpoint the API's session named ("" for AWS's
	// own endpoint of the session's region).
	Endpoint string
	Err      error
}

func (e *S3Error) Error() string {
	obj := fmt.Sprintf("s3://%s/%s", e.Bucket, e.Key)
	var doing string
	switch e.Op {
	case OpPutObject:
		doing = "upload to " + obj
	case OpCreateMultipartUpload:
		doing = "start a multipart upload to " + obj
	case OpUploadPart:
		doing = fmt.Sprintf("upload part %d of %s", e.Part, obj)
	case OpCompleteMultipartUpload:
		doing = "complete the multipart upload of " + obj
	case OpAbortMultipartUpload:
		doing = "abort the multipart upload of " + obj
	case OpListParts:
		doing = "list the parts of " + obj
	case OpHeadObject:
		doing = "verify " + obj
	case OpListObjects:
		doing = "list the objects under " + obj
	default:
		doing = e.Op + " " + obj
	}
	// S3's message is the store's text (any store the API names): shown,
	// never obeyed, and on one line.
	msg := fmt.Sprintf("%s: %s: %s", doing, e.what(), Brief(e.Err, ""))
	var xe *expiringKeyError
	if errors.As(e.Err, &xe) {
		msg += " (the session's credentials were near or past their expiry)"
	}
	if e.Endpoint != "" {
		msg += fmt.Sprintf(" (S3 endpoint %s, from the API's upload session)", units.Text(e.Endpoint))
	}
	return msg
}

// Unreachable reports an endpoint that never answered: the connection was
// refused, or its host name does not resolve. More retries rarely help;
// the endpoint the API hands out is likely wrong for this machine.
func (e *S3Error) Unreachable() bool {
	var dns *net.DNSError
	return e.Code == "" && httpStatus(e.Err) == 0 &&
		(errors.Is(e.Err, syscall.ECONNREFUSED) || errors.As(e.Err, &dns) && dns.IsNotFound)
}

func (e *S3Error) Unwrap() error { return e.Err }

// NotImplemented reports a store that does not implement the request (501):
// typically a checksum mode it does not support.
func (e *S3Error) NotImplemented() bool {
	return e.Code == "NotImplemented" || httpStatus(e.Err) == 501
}

// what says in words what happened, no more.
func (e *S3Error) what() string {
	switch e.Code {
	case "AccessDenied", "Forbidden":
		return "S3 refused the session's credentials (access denied)"
	case "InvalidAccessKeyId":
		return "S3 does not know the session's access key"
	case "SignatureDoesNotMatch":
		return "S3 rejected the request signature"
	case "NoSuchBucket":
		return "the session's bucket does not exist"
	case "NoSuchUpload":
		return "the multipart upload is gone from S3 (aborted or expired)"
	case "ExpiredToken":
		return "the temporary credentials expired and a refresh did not help"
	case "EntityTooLarge", "EntityTooSmall":
		return "S3 refused the part size"
	}
	if e.NotImplemented() {
		return "the store does not implement this request (501 NotImplemented), and retrying will not change that"
	}
	if e.Transient {
		return "S3 kept failing after every retry"
	}
	return "S3 refused the request"
}

// failed types the error err of op on key of the session's bucket.
func (s *session) failed(err error, op, key string, part int32) error {
	err = s3Failed(err, op, s.Bucket, key, part)
	if se, ok := err.(*S3Error); ok {
		se.Endpoint = s.Endpoint
	}
	return err
}

// s3Failed types the error err of op on bucket/key. Errors that explain
// themselves (the file changed, the run was stopped) pass through.
func s3Failed(err error, op, bucket, key string, part int32) error {
	if errors.Is(err, errFileChanged) || errors.Is(err, context.Canceled) {
		return err
	}
	return &S3Error{Op: op, Bucket: bucket, Key: key, Part: part, Code: errorCode(err),
		Transient: classify(err) == transient, Err: err}
}

// s3Error wraps a failed S3 call with what was done (format). Errors that
// are typed already (the store's, through the engine) or explain
// themselves pass through.
func s3Error(err error, format string, a ...any) error {
	var se *S3Error
	if errors.As(err, &se) || errors.Is(err, errFileChanged) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), err)
}

// httpStatus is the HTTP status of S3's answer; 0 when there was none.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// refusesChecksum reports whether err is a store refusing the checksum
// headers of a request: 501 NotImplemented (R2 on a full-object multipart
// checksum), 400 "Unsupported header" (B2, Wasabi), or InvalidArgument /
// InvalidRequest about a checksum.
func refusesChecksum(err error) bool {
	if err == nil {
		return false
	}
	if errorCode(err) == "NotImplemented" || httpStatus(err) == 501 {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	msg := strings.ToLower(ae.ErrorMessage())
	switch {
	case strings.Contains(msg, "unsupported header"):
		return true
	case ae.ErrorCode() == "InvalidArgument" || ae.ErrorCode() == "InvalidRequest" || ae.ErrorCode() == "NotImplemented":
		return strings.Contains(msg, "checksum")
	}
	return false
}

func isAccessDenied(err error) bool {
	switch errorCode(err) {
	case "AccessDenied", "Forbidden":
		return true
	}
	return false
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Brief says in a few words what went wrong with an S3 request, for a
// person: S3's error code and message and the HTTP status when S3
// answered, else what happened to the connection ("connection refused by
// ENDPOINT"). It never shows the SDK's wrapping ("https response error
// StatusCode: 0, RequestID: , HostID: , request send failed, ...").
// endpoint, when not "", is named in connection failures.
func Brief(err error, endpoint string) string {
	if err == nil {
		return ""
	}
	status := httpStatus(err)
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() != "" {
		msg := ae.ErrorCode()
		if m := strings.TrimSpace(ae.ErrorMessage()); m != "" {
			msg += ": " + m
		}
		if status != 0 {
			msg += fmt.Sprintf(" (HTTP %d)", status)
		}
		return units.Text(msg)
	}
	if status != 0 {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	at := ""
	if endpoint != "" {
		at = " " + units.Text(endpoint)
	}
	var dns *net.DNSError
	var rh tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.Is(err, errStalled):
		return errStalled.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused" + strings.Replace(at, " ", " by ", 1)
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s (%s)", units.Text(dns.Name), units.Text(dns.Err))
	case errors.As(err, &rh), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the endpoint" + at + " does not speak TLS (an https:// URL of an http:// server?)"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset" + strings.Replace(at, " ", " by ", 1)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the connection closed before S3 answered"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out waiting for" + orS3(at)
	}
	// Unknown: the innermost error, without the SDK's layers.
	inner := err
	for {
		u := errors.Unwrap(inner)
		if u == nil {
			break
		}
		inner = u
	}
	return units.Text(inner.Error())
}

func orS3(at string) string {
	if at == "" {
		return " S3"
	}
	return at
}

// describe is a short reason for a retry, for the progress output.
func describe(err error) string {
	if c := errorCode(err); c != "" {
		return c
	}
	if errors.Is(err, errStalled) {
		return "stalled"
	}
	return "network error"
}
