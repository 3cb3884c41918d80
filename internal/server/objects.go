package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrObjectNotFound is returned by Objects.Stat when no object has the key.
var ErrObjectNotFound = errors.New("object not found")

// ErrObjectChanged is returned by Objects.Copy when the source no longer
// has the ETag that was verified.
var ErrObjectChanged = errors.New("object changed since it was verified")

// ObjectInfo is what S3 says of a stored object.
type ObjectInfo struct {
	Size         int64
	ETag         string
	ChecksumType string            // FULL_OBJECT or COMPOSITE, empty when none
	Checksums    map[string]string // by algorithm: CRC64NVME, CRC32C, ...
	ContentType  string
}

// Objects reads what S3 stored, and seals it.
type Objects interface {
	Stat(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// Copy copies src to dst in the bucket on the S3 side, on condition
	// that src still has the ETag of info (else ErrObjectChanged).
	// algorithm, when not empty, asks S3 to keep that checksum of dst. It
	// returns what S3 answered of dst: its ETag and the checksums S3
	// computed of it (its Size is info's, which the condition binds).
	Copy(ctx context.Context, bucket, src, dst string, info ObjectInfo, algorithm string) (ObjectInfo, error)
	// Delete removes an object; a missing object is no error.
	Delete(ctx context.Context, bucket, key string) error
	// List returns every object whose key starts with prefix, in key order:
	// key, size and ETag (a listing carries no checksum value).
	List(ctx context.Context, bucket, prefix string) ([]ListedObject, error)
	// DeleteMany removes objects, many per request; missing ones are no
	// error.
	DeleteMany(ctx context.Context, bucket string, keys []string) error
}

// ListedObject is one object of a listing.
type ListedObject struct {
	Key  string
	Size int64
	ETag string
}

// MaxCopyObjectSize is the largest object CopyObject copies in one call;
// above it, the copy goes part by part (UploadPartCopy).
const MaxCopyObjectSize int64 = 5 << 30

// Part sizes of a multipart copy: S3's bounds, and the size used unless
// 10,000 parts need more.
const (
	minCopyPartSize     int64 = 5 << 20
	defaultCopyPartSize int64 = 512 << 20
	maxCopyParts              = 10000
	copyConcurrency           = 8
)

// S3Objects is Objects on an S3 client.
type S3Objects struct {
	Client *s3.Client
	// Endpoint is the S3 endpoint, for messages; empty is AWS's own.
	Endpoint string
	// CopyThreshold is the size above which Copy goes part by part;
	// 0 means MaxCopyObjectSize. Tests lower it to exercise the multipart
	// copy without 5 GiB objects.
	CopyThreshold int64
	// CopyPartSize is the part size of a multipart copy; 0 means 512 MiB
	// (or more when 10,000 parts need it).
	CopyPartSize int64
}

// Stat heads the object with checksum mode on, so S3 returns the checksum it
// verified at upload.
func (o S3Objects) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	out, err := o.Client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		var nf *types.NotFound
		var re *smithyhttp.ResponseError
		if errors.As(err, &nf) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound) {
			return ObjectInfo{}, ErrObjectNotFound
		}
		return ObjectInfo{}, fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
	}
	info := ObjectInfo{
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         aws.ToString(out.ETag),
		ChecksumType: string(out.ChecksumType),
		Checksums:    map[string]string{},
		ContentType:  aws.ToString(out.ContentType),
	}
	for alg, v := range map[string]*string{
		"CRC64NVME": out.ChecksumCRC64NVME,
		"CRC32C":    out.ChecksumCRC32C,
		"CRC32":     out.ChecksumCRC32,
		"SHA1":      out.ChecksumSHA1,
		"SHA256":    out.ChecksumSHA256,
	} {
		if v != nil && *v != "" {
			info.Checksums[alg] = *v
		}
	}
	return info, nil
}

func isStatus(err error, codes ...int) bool {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.HTTPStatusCode() == c {
			return true
		}
	}
	return false
}

// copySource is the x-amz-copy-source of a key: bucket/key, each segment
// URL-escaped, as S3 requires.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return url.PathEscape(bucket) + "/" + strings.Join(segs, "/")
}

// Copy copies with CopyObject up to CopyThreshold, part by part above it.
// Every request carries x-amz-copy-source-if-match, so the bytes copied are
// those of the verified object or none: a 412 becomes ErrObjectChanged.
func (o S3Objects) Copy(ctx context.Context, bucket, src, dst string, info ObjectInfo, algorithm string) (ObjectInfo, error) {
	threshold := o.CopyThreshold
	if threshold <= 0 {
		threshold = MaxCopyObjectSize
	}
	var err error
	got := ObjectInfo{Size: info.Size, Checksums: map[string]string{}}
	if info.Size <= threshold {
		in := &s3.CopyObjectInput{
			Bucket:            aws.String(bucket),
			Key:               aws.String(dst),
			CopySource:        aws.String(copySource(bucket, src)),
			CopySourceIfMatch: aws.String(info.ETag),
		}
		if algorithm != "" {
			in.ChecksumAlgorithm = types.ChecksumAlgorithm(algorithm)
		}
		var out *s3.CopyObjectOutput
		out, err = o.Client.CopyObject(ctx, in)
		if err == nil {
			got = copyAnswer(out, got)
		}
	} else {
		err = o.copyParts(ctx, bucket, src, dst, info)
	}
	switch {
	case err == nil:
		return got, nil
	case isStatus(err, http.StatusPreconditionFailed):
		return ObjectInfo{}, ErrObjectChanged
	case isStatus(err, http.StatusNotFound):
		return ObjectInfo{}, ErrObjectNotFound
	}
	return ObjectInfo{}, fmt.Errorf("copy s3://%s/%s to %s: %w", bucket, src, dst, err)
}

// copyAnswer reads what CopyObject answered of the copy: its ETag and
// checksums from the CopyObjectResult, as AWS and versitygw answer them,
// and from the x-amz-checksum-* response headers, where MinIO answers them
// (the SDK does not read those headers for a copy).
func copyAnswer(out *s3.CopyObjectOutput, got ObjectInfo) ObjectInfo {
	if r := out.CopyObjectResult; r != nil {
		got.ETag, got.ChecksumType = aws.ToString(r.ETag), string(r.ChecksumType)
		for alg, v := range map[string]*string{
			"CRC64NVME": r.ChecksumCRC64NVME, "CRC32C": r.ChecksumCRC32C, "CRC32": r.ChecksumCRC32,
			"SHA1": r.ChecksumSHA1, "SHA256": r.ChecksumSHA256,
		} {
			if v != nil && *v != "" {
				got.Checksums[alg] = *v
			}
		}
	}
	raw, _ := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	if raw == nil {
		return got
	}
	found := false
	for _, alg := range []string{"CRC64NVME", "CRC32C", "CRC32", "SHA1", "SHA256"} {
		if v := raw.Header.Get("X-Amz-Checksum-" + alg); v != "" && got.Checksums[alg] == "" {
			got.Checksums[alg], found = v, true
		}
	}
	if found && got.ChecksumType == "" {
		got.ChecksumType = raw.Header.Get("X-Amz-Checksum-Type")
	}
	if got.ETag == "" {
		got.ETag = raw.Header.Get("ETag")
	}
	return got
}

func (o S3Objects) copyParts(ctx context.Context, bucket, src, dst string, info ObjectInfo) (err error) {
	partSize := o.CopyPartSize
	if partSize <= 0 {
		partSize = defaultCopyPartSize
	}
	partSize = max(partSize, minCopyPartSize, (info.Size+maxCopyParts-1)/maxCopyParts)
	if partSize > MaxCopyObjectSize {
		return fmt.Errorf("s3://%s/%s: %d bytes do not fit in %d parts of 5 GiB", bucket, src, info.Size, maxCopyParts)
	}
	create := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(dst)}
	if info.ContentType != "" {
		create.ContentType = aws.String(info.ContentType)
	}
	mp, err := o.Client.CreateMultipartUpload(ctx, create)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_, _ = o.Client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(dst), UploadId: mp.UploadId})
		}
	}()
	n := int((info.Size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	copyPart := o.partCopier(gctx, bucket, src, dst, mp.UploadId, info.ETag, parts)
	var wg sync.WaitGroup
	sem := make(chan struct{}, copyConcurrency)
	for i := range n {
		first := int64(i) * partSize
		last := min(first+partSize, info.Size) - 1
		select {
		case sem <- struct{}{}:
		case <-gctx.Done():
		}
		if gctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := copyPart(i, first, last); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err = context.Cause(gctx); err != nil {
		return err
	}
	_, err = o.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(dst), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

func (o S3Objects) partCopier(ctx context.Context, bucket, src, dst string, uploadID *string, etag string, parts []types.CompletedPart) func(i int, first, last int64) error {
	return func(i int, first, last int64) error {
		out, err := o.Client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: aws.String(bucket), Key: aws.String(dst), UploadId: uploadID,
			PartNumber:        aws.Int32(int32(i + 1)),
			CopySource:        aws.String(copySource(bucket, src)),
			CopySourceIfMatch: aws.String(etag),
			CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
		})
		if err != nil {
			return err
		}
		if out.CopyPartResult == nil {
			return fmt.Errorf("part %d: S3 answered without a part result", i+1)
		}
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
		return nil
	}
}

// Delete removes an object.
func (o S3Objects) Delete(ctx context.Context, bucket, key string) error {
	_, err := o.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("delete s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// List pages through ListObjectsV2 under prefix.
func (o S3Objects) List(ctx context.Context, bucket, prefix string) ([]ListedObject, error) {
	var out []ListedObject
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		page, err := o.Client.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, c := range page.Contents {
			out = append(out, ListedObject{Key: aws.ToString(c.Key), Size: aws.ToInt64(c.Size), ETag: aws.ToString(c.ETag)})
		}
		if !aws.ToBool(page.IsTruncated) || aws.ToString(page.NextContinuationToken) == "" {
			return out, nil
		}
		in.ContinuationToken = page.NextContinuationToken
	}
}

// maxDeleteKeys is the most keys one DeleteObjects request takes.
const maxDeleteKeys = 1000

// DeleteMany removes keys with DeleteObjects, 1,000 per request.
func (o S3Objects) DeleteMany(ctx context.Context, bucket string, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), maxDeleteKeys)
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := o.Client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete %d objects of s3://%s: %w", n, bucket, err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) != "NoSuchKey" {
				return fmt.Errorf("delete s3://%s/%s: %s: %s", bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
			}
		}
		keys = keys[n:]
	}
	return nil
}

// AbortUploads aborts every multipart upload of exactly key in bucket (of
// every key under it when key ends in "/": a package's prefix): the parts a
// client sent and never completed, which S3 bills until then. It returns
// how many it aborted.
func (o S3Objects) AbortUploads(ctx context.Context, bucket, key string) (int, error) {
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)}
	if strings.HasSuffix(key, "/") {
		// MinIO lists the uploads of an exact key only, nothing for a
		// prefix: list the bucket's and keep those under the prefix.
		in.Prefix = nil
	}
	for {
		out, err := o.Client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("list multipart uploads of s3://%s/%s: %w", bucket, key, err)
		}
		for _, u := range out.Uploads {
			if k := aws.ToString(u.Key); k != key && !(strings.HasSuffix(key, "/") && strings.HasPrefix(k, key)) {
				continue
			}
			if _, err := o.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId,
			}); err != nil && !isStatus(err, http.StatusNotFound) {
				return n, fmt.Errorf("abort multipart upload of s3://%s/%s: %w", bucket, key, err)
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
