package faultproxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/testenv"
)

// through starts a proxy in front of MinIO and returns it with a client
// that talks to MinIO through it. The client does not retry: each failure
// the proxy injects reaches the test as it is.
func through(t *testing.T, opts ...faultproxy.Option) (testenv.S3, *faultproxy.Proxy, *s3.Client) {
	t.Helper()
	s := testenv.MinIO(t)
	p, err := faultproxy.New(s.Endpoint, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	c := s3.New(s3.Options{
		Region:           s.Region,
		BaseEndpoint:     aws.String(p.URL()),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RetryMaxAttempts: 1,
	})
	return s, p, c
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// stored reads an object straight from MinIO, not through the proxy.
func stored(t *testing.T, s testenv.S3, bucket, key string) []byte {
	t.Helper()
	out, err := s.Client().GetObject(ctxT(t), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("get %s/%s from MinIO: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutObjectThroughProxyKeepsSignaturesValid(t *testing.T) {
	s, p, c := through(t)
	bucket := s.NewBucket(t)
	body := randomBytes(t, 3<<20+17)
	key := "videos/clip one+two.mp4" // escaping in the path must survive too

	var seen []faultproxy.RequestInfo
	var mu sync.Mutex
	p.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, *ri)
		return faultproxy.Pass()
	})

	if _, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("PutObject through the proxy: %v", err)
	}
	if got := stored(t, s, bucket, key); !bytes.Equal(got, body) {
		t.Fatalf("MinIO holds %d bytes that differ from the %d put", len(got), len(body))
	}

	// And back through the proxy, answer streamed to the client.
	out, err := c.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("GetObject through the proxy: %v", err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetObject through the proxy returned %d bytes (err %v), want the %d put", len(got), err, len(body))
	}

	st := p.Stats()
	if st.Requests[faultproxy.KindPutObject] != 1 || st.Requests[faultproxy.KindGetObject] != 1 {
		t.Fatalf("requests by kind = %v, want one PutObject and one GetObject", st.Requests)
	}
	put := faultproxy.Target{Method: http.MethodPut, Path: "/" + bucket + "/" + key}
	ts, ok := st.Targets[put]
	if !ok {
		t.Fatalf("no stats for %+v; have %v", put, st.Targets)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].Kind != faultproxy.KindPutObject || seen[0].Attempt != 1 {
		t.Fatalf("rule saw %+v, want the PutObject as attempt 1 then the GetObject", seen)
	}
	// What went on the wire is the Content-Length the client declared (the
	// SDK may frame the payload, e.g. aws-chunked, which adds bytes).
	wire := seen[0].ContentLength
	if wire < int64(len(body)) {
		t.Fatalf("PutObject declared Content-Length %d, want at least the %d-byte body", wire, len(body))
	}
	if ts.Attempts != 1 || ts.BytesReceived != wire || ts.BytesForwarded != wire {
		t.Fatalf("PutObject stats = %+v, want 1 attempt, %d bytes received and forwarded", ts, wire)
	}
	if st.BytesReceived != wire || st.BytesForwarded != wire {
		t.Fatalf("total bytes received/forwarded = %d/%d, want %d/%d", st.BytesReceived, st.BytesForwarded, wire, wire)
	}
}

func TestCutAfterResetsTheConnectionAndOnlyTheCutPartIsResent(t *testing.T) {
	s, p, c := through(t)
	ctx := ctxT(t)
	bucket := s.NewBucket(t)
	key := "clip.mp4"
	// Both parts are above the SDK's 2 MiB threshold for Expect:
	// 100-continue, so the cut happens after the proxy let the body come.
	parts := [][]byte{randomBytes(t, 5<<20), randomBytes(t, 3<<20+3)}
	const cutAt = 64 << 10

	var mu sync.Mutex
	var partRequests []faultproxy.RequestInfo
	p.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind != faultproxy.KindUploadPart {
			return faultproxy.Pass()
		}
		mu.Lock()
		partRequests = append(partRequests, *ri)
		mu.Unlock()
		if ri.PartNumber == 2 && ri.Attempt == 1 {
			return faultproxy.CutAfter(cutAt)
		}
		return faultproxy.Pass()
	})

	created, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	upload := func(n int32) (*s3.UploadPartOutput, error) {
		return c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &bucket, Key: &key, UploadId: created.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(parts[n-1]),
		})
	}
	first, err := upload(1)
	if err != nil {
		t.Fatalf("UploadPart 1: %v", err)
	}
	_, err = upload(2)
	if err == nil {
		t.Fatal("UploadPart 2 succeeded through a cut connection")
	}
	if !isTeardown(err) {
		t.Fatalf("UploadPart 2 failed with %v, want the connection torn down (reset)", err)
	}
	second, err := upload(2)
	if err != nil {
		t.Fatalf("UploadPart 2, second attempt: %v", err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: first.ETag},
			{PartNumber: aws.Int32(2), ETag: second.ETag},
		}},
	})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if got, want := stored(t, s, bucket, key), append(append([]byte{}, parts[0]...), parts[1]...); !bytes.Equal(got, want) {
		t.Fatalf("MinIO holds %d bytes that differ from the %d uploaded", len(got), len(want))
	}

	mu.Lock()
	defer mu.Unlock()
	if len(partRequests) != 3 {
		t.Fatalf("rule saw %d UploadPart requests, want 3", len(partRequests))
	}
	for i, want := range []struct{ part, attempt int }{{1, 1}, {2, 1}, {2, 2}} {
		ri := partRequests[i]
		if ri.PartNumber != want.part || ri.Attempt != want.attempt || ri.UploadID != *created.UploadId ||
			ri.Query.Get("uploadId") != *created.UploadId {
			t.Fatalf("UploadPart request %d = part %d attempt %d upload %q, want part %d attempt %d upload %q",
				i, ri.PartNumber, ri.Attempt, ri.UploadID, want.part, want.attempt, *created.UploadId)
		}
	}

	st := p.Stats()
	if got := st.PartAttempts(); len(got) != 2 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("part attempts = %v, want part 1 once and part 2 twice", got)
	}
	part2 := faultproxy.Target{Method: http.MethodPut, Path: "/" + bucket + "/" + key, PartNumber: 2}
	if len(st.Cuts) != 1 || st.Cuts[0].Target != part2 || st.Cuts[0].Attempt != 1 || st.Cuts[0].BytesRead != cutAt {
		t.Fatalf("cuts = %+v, want part 2 attempt 1 cut after %d bytes", st.Cuts, cutAt)
	}
	if partRequests[1].Header.Get("Expect") != "100-continue" {
		t.Fatalf("the cut part was sent without Expect: 100-continue (headers %v); the test no longer covers that path", partRequests[1].Header)
	}
	wire1, wire2 := partRequests[0].ContentLength, partRequests[2].ContentLength
	t.Logf("part sizes %d, %d; on the wire %d, %d", len(parts[0]), len(parts[1]), wire1, wire2)
	if got := st.PartBytesForwarded(); got[1] != wire1 || got[2] != wire2 {
		t.Fatalf("part bytes forwarded = %v, want part 1: %d, part 2: %d", got, wire1, wire2)
	}
	if ts := st.Targets[part2]; ts.Cut != 1 || ts.BytesReceived != wire2+cutAt {
		t.Fatalf("part 2 stats = %+v, want 1 cut and %d bytes received", ts, wire2+cutAt)
	}
	if st.Requests[faultproxy.KindUploadPart] != 3 || st.Requests[faultproxy.KindCreateMultipartUpload] != 1 ||
		st.Requests[faultproxy.KindCompleteMultipartUpload] != 1 {
		t.Fatalf("requests by kind = %v", st.Requests)
	}
}

// isTeardown reports whether err is what a client sees when its connection
// is reset while it sends a body: ECONNRESET when the RST reaches its read
// or write, EPIPE when it writes again after that, or "use of closed network
// connection" when Go's transport closed the connection on the read error
// while its write was still going. Which one depends on timing; the RST
// itself is checked byte for byte in TestCutAfterSendsReset.
func isTeardown(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

func TestSlowDownArrivesAsAnS3Error(t *testing.T) {
	s, p, c := through(t)
	bucket := s.NewBucket(t)
	key := "throttled.mp4"
	body := randomBytes(t, 1<<20)
	p.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind == faultproxy.KindPutObject {
			return faultproxy.SlowDown()
		}
		return faultproxy.Pass()
	})

	_, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SlowDown" {
		t.Fatalf("PutObject error = %v, want an S3 API error with code SlowDown", err)
	}
	var respErr *awshttp.ResponseError
	if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("PutObject error = %v, want HTTP status 503", err)
	}

	_, err = s.Client().HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	var notFound *types.NotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("HeadObject on MinIO after SlowDown: %v, want NotFound (the proxy must not forward)", err)
	}
	st := p.Stats()
	ts := st.Targets[faultproxy.Target{Method: http.MethodPut, Path: "/" + bucket + "/" + key}]
	if ts.Answered != 1 || ts.BytesForwarded != 0 || ts.BytesReceived < int64(len(body)) {
		t.Fatalf("stats = %+v, want 1 answered, 0 forwarded, the whole body received", ts)
	}
}

func TestDelayThenHoldsTheRequestBack(t *testing.T) {
	s, p, c := through(t)
	bucket := s.NewBucket(t)
	key := "late.mp4"
	// A delay far beyond the client's deadline: the request must die in
	// the proxy without reaching MinIO.
	p.SetRule(func(*faultproxy.RequestInfo) faultproxy.Action {
		return faultproxy.DelayThen(time.Hour, faultproxy.Pass())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader([]byte("x"))})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PutObject error = %v, want the client's deadline", err)
	}
	if _, err := s.Client().HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: &bucket, Key: &key}); err == nil {
		t.Fatal("the delayed object reached MinIO")
	}

	// Once the delay ends, the wrapped action runs.
	p.SetRule(func(*faultproxy.RequestInfo) faultproxy.Action {
		return faultproxy.DelayThen(time.Millisecond, faultproxy.Pass())
	})
	if _, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader([]byte("x"))}); err != nil {
		t.Fatalf("PutObject after a short delay: %v", err)
	}
	if got := stored(t, s, bucket, key); string(got) != "x" {
		t.Fatalf("MinIO holds %q, want %q", got, "x")
	}
}

func TestLatencyAddsTheRoundTrip(t *testing.T) {
	const rtt = 40 * time.Millisecond
	s, _, c := through(t, faultproxy.WithLatency(rtt))
	bucket := s.NewBucket(t)
	key := "far.mp4"
	start := time.Now()
	if _, err := c.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader([]byte("far"))}); err != nil {
		t.Fatalf("PutObject with latency: %v", err)
	}
	// Only a lower bound: the delay is a sleep, so it cannot be shorter,
	// whatever the machine's load.
	if elapsed := time.Since(start); elapsed < rtt {
		t.Fatalf("PutObject took %v through a proxy with %v of latency", elapsed, rtt)
	}
	if got := stored(t, s, bucket, key); string(got) != "far" {
		t.Fatalf("MinIO holds %q, want %q", got, "far")
	}
}
