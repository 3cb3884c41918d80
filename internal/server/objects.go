package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrObjectNotFound is returned by Objects.Stat when no object has the key.
var ErrObjectNotFound = errors.New("object not found")

// ObjectInfo is what S3 says of a stored object.
type ObjectInfo struct {
	Size         int64
	ETag         string
	ChecksumType string            // FULL_OBJECT or COMPOSITE, empty when none
	Checksums    map[string]string // by algorithm: CRC64NVME, CRC32C, ...
}

// Objects reads what S3 stored.
type Objects interface {
	Stat(ctx context.Context, bucket, key string) (ObjectInfo, error)
}

// S3Objects is Objects on an S3 client.
type S3Objects struct{ Client *s3.Client }

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
