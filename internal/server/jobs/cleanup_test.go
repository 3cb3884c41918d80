package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/server"
	"github.com/vidup/vidup/internal/server/jobs"
	"github.com/vidup/vidup/internal/server/store"
	"github.com/vidup/vidup/internal/testenv"
)

func TestCleanupClosesStaleSessions(t *testing.T) { eachBackend(t, testCleanupClosesStaleSessions) }

// A session past its age with an upload left half done (a multipart upload
// never completed): the cleanup job aborts it and closes the session; a
// recent session's multipart upload is left alone.
func testCleanupClosesStaleSessions(t *testing.T, dsn string) {
	m := testenv.MinIO(t)
	bucket := m.NewBucket(t)
	ctx := context.Background()
	_, objects, err := server.NewAWS(ctx, server.AWSOptions{
		Region: m.Region, S3Endpoint: m.Endpoint, STSEndpoint: m.Endpoint, PathStyle: true,
		RoleARN: "arn:aws:iam::000000000000:role/vidup-uploader", Bucket: bucket, TTL: server.MinTTL,
		Credentials: credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	st := open(t, dsn)
	sessions := map[string]time.Time{"stale": time.Now().Add(-48 * time.Hour), "recent": time.Now().Add(-time.Hour)}
	for id, created := range sessions {
		ups := []store.Upload{
			{ID: id + "-a", Key: "uploads/" + id + "/a/a.mp4", Name: "a.mp4", Size: 10 << 20},
			{ID: id + "-b", Key: "uploads/" + id + "/b/b.mp4", Name: "b.mp4", Size: 10 << 20},
		}
		if err := st.CreateSession(ctx, store.Session{ID: id, Principal: "cam-1", CreatedAt: created}, ups); err != nil {
			t.Fatal(err)
		}
		// Two multipart uploads left open on a, none on b.
		for range 2 {
			if _, err := objects.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(ups[0].Key)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	log := &syncBuffer{}
	startQueue(t, st, "", log, func(c *jobs.Config) {
		c.Cleanup = &jobs.CleanupConfig{MaxAge: 24 * time.Hour, Every: time.Hour, Bucket: bucket, Uploads: objects}
	})
	waitFor(t, 60*time.Second, func() bool {
		s, err := st.Session(ctx, "stale")
		return err == nil && !s.ClosedAt.IsZero()
	}, log)
	if s, _ := st.Session(ctx, "recent"); !s.ClosedAt.IsZero() {
		t.Fatal("a recent session was closed")
	}
	out, err := objects.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, u := range out.Uploads {
		left = append(left, aws.ToString(u.Key))
	}
	if len(left) != 2 || left[0] != "uploads/recent/a/a.mp4" || left[1] != "uploads/recent/a/a.mp4" {
		t.Fatalf("multipart uploads left: %v, want the recent session's two", left)
	}
	waitFor(t, 10*time.Second, func() bool {
		l := log.String()
		return contains(l, "stale session closed") && contains(l, "multipart_uploads_aborted=2")
	}, log)
	// A second run finds nothing to do.
	if err := jobs.Cleanup(ctx, st, jobs.CleanupConfig{MaxAge: 24 * time.Hour, Bucket: bucket, Uploads: objects}, discardLogger(), time.Now()); err != nil {
		t.Fatal(err)
	}
}
