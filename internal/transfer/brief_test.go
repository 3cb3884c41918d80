package transfer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// briefClient is an S3 client of endpoint that tries once.
func briefClient(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{},
	})
}

// What the SDK says of a failed request is reduced to what a person needs:
// S3's code, message and status, or what happened to the connection, and
// never the SDK's layers ("https response error StatusCode: 0, RequestID:
// , HostID: , request send failed, ...").
func TestBriefSaysWhatAPersonNeeds(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>17E</RequestId><HostId>dd90</HostId></Error>`))
	}))
	defer slow.Close()
	refused := "http://127.0.0.1:1"
	for _, tc := range []struct {
		endpoint, want string
	}{
		{slow.URL, "SlowDown: Please reduce your request rate. (HTTP 503)"},
		{refused, "connection refused by http://127.0.0.1:1"},
		{"https://" + strings.TrimPrefix(slow.URL, "http://"), "does not speak TLS"},
	} {
		_, err := briefClient(tc.endpoint).PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")})
		if err == nil {
			t.Fatalf("%s: PutObject succeeded", tc.endpoint)
		}
		got := Brief(err, tc.endpoint)
		if !strings.Contains(got, tc.want) || strings.Contains(got, "StatusCode") || strings.Contains(got, "RequestID") {
			t.Errorf("Brief of %v\n = %q, want %q", err, got, tc.want)
		}
		se := &S3Error{Op: OpPutObject, Bucket: "b", Key: "k", Code: errorCode(err), Transient: classify(err) == transient, Endpoint: tc.endpoint, Err: err}
		msg := se.Error()
		if strings.Contains(msg, "StatusCode: 0") || strings.Contains(msg, "HostID") || !strings.Contains(msg, "S3 endpoint "+tc.endpoint+", from the API's upload session") {
			t.Errorf("S3Error: %q", msg)
		}
		if tc.endpoint == refused && !se.Unreachable() {
			t.Errorf("a refused connection is not Unreachable: %v", err)
		}
	}
}

// A TLS handshake that cannot succeed is not retried.
func TestNotTLSIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := briefClient("https://"+strings.TrimPrefix(srv.URL, "http://")).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if err == nil || classify(err) != permanent {
		t.Errorf("https:// to an http server: %v classified %v, want permanent", err, classify(err))
	}
	if classify(errors.New("x")) != permanent {
		t.Error("an unknown error is not permanent")
	}
}
