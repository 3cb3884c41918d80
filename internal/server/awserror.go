package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// endpointName says which endpoint a start check asked: the one given, or
// AWS's own for the region.
func endpointName(endpoint, service string) string {
	if endpoint == "" {
		return "AWS's own " + service + " endpoint"
	}
	return endpoint
}

// bucketHints and stsHints say what to check for an HTTP status of a
// start check (HeadBucket has no body: its status is all S3 says).
var (
	bucketHints = map[int]string{
		0:   "check --s3-endpoint (is the store running?)",
		301: "the bucket is in another region; check --region",
		400: "the request was refused; check --region and --path-style",
		403: "the server's access key or secret is wrong, or the key may not read the bucket; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
		404: "no such bucket; create it (scripts/minio.sh start creates videos) or check --bucket",
	}
	stsHints = map[int]string{
		0:   "check --sts-endpoint (default: --s3-endpoint)",
		400: "STS refused the request; check --role-arn and --credentials-ttl",
		403: "the server's access key or secret is wrong, or it may not assume the role; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and --role-arn",
		404: "no STS at this address; check --sts-endpoint, or use --credentials static for a store without STS",
	}
)

// describeAWSError is an SDK error in the words a person needs: the HTTP
// status, the service's error code and message, and what to check; or the
// network error when nothing answered. The SDK's own text ("https response
// error StatusCode: 403, RequestID: ..., HostID: ...") is not repeated.
func describeAWSError(err error, hints map[int]string) string {
	var parts []string
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg := ae.ErrorCode(), ae.ErrorMessage()
		if status != 0 {
			parts = append(parts, fmt.Sprintf("HTTP %d", status))
		}
		switch {
		case msg != "" && msg != code:
			parts = append(parts, code+": "+msg)
		case code != "" && (status == 0 || !strings.EqualFold(code, strings.ReplaceAll(http.StatusText(status), " ", ""))):
			parts = append(parts, code)
		}
	} else if status != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", status))
	}
	var ne net.Error
	var oe *net.OpError
	switch {
	case status != 0:
	case errors.As(err, &oe):
		parts = append(parts, "nothing answers: "+oe.Err.Error())
	case errors.As(err, &ne) && ne.Timeout():
		parts = append(parts, "no answer in time")
	default:
		parts = append(parts, err.Error())
	}
	s := strings.Join(parts, ", ")
	if h, ok := hints[status]; ok {
		s += "; " + h
	}
	return s
}
