package server_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
)

// metric returns the value of one sample line of a /metrics page, e.g.
// `vidup_registrations_total{outcome="created"}`; 0 when absent.
func metric(t *testing.T, page, sample string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	return v
}

// /metrics counts what happened, needs no token, and /readyz says whether
// the database and S3 answer.
func TestMetricsCountWhatHappened(t *testing.T) {
	h := newHarness(t)
	data := []byte("counted video")
	s, v := h.uploadAndRegister(testToken, data, 2)
	// A replay, a registration of a missing object (404), a size mismatch (422).
	replay := registration(s, 0, int64(len(data)), &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: crc64Base64(data)})
	if r := h.register(replay); r.status != http.StatusOK {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	if r := h.register(registration(s, 1, 5, nil)); r.status != http.StatusNotFound {
		t.Fatalf("missing object: %d %s", r.status, r.body)
	}
	if err := putObject(t, sessionClient(s, s.Credentials), h.bucket, s.Uploads[1].Key, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if r := h.register(registration(s, 1, 5, nil)); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("size mismatch: %d %s", r.status, r.body)
	}
	if r := h.do("POST", contract.StatusPath(v.ID), pipelineToken, nil, contract.StatusRequest{Status: contract.StatusReady}); r.status != http.StatusOK {
		t.Fatalf("status: %d %s", r.status, r.body)
	}

	r := h.do("GET", server.PathMetrics, "", nil, nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	page := string(r.body)
	for sample, want := range map[string]float64{
		`vidup_sessions_opened_total`:                          1,
		`vidup_registrations_total{outcome="created"}`:         1,
		`vidup_registrations_total{outcome="replayed"}`:        1,
		`vidup_registrations_total{outcome="unknown"}`:         1,
		`vidup_registrations_total{outcome="mismatch"}`:        1,
		`vidup_status_changes_total{status="ready"}`:           1,
		`vidup_verification_seconds_count`:                     3, // the replay is answered from the database
		`vidup_store_seconds_count{op="register_video"}`:       1,
		`vidup_store_seconds_count{op="create_session"}`:       1,
		`vidup_sts_errors_total`:                               0,
		`vidup_store_seconds_count{op="set_status"}`:           1,
		`vidup_registrations_total{outcome="error"}`:           0,
		`vidup_registrations_total{outcome="conflict"}`:        0,
		`vidup_store_seconds_count{op="unregistered_uploads"}`: 0,
	} {
		if got := metric(t, page, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if !strings.Contains(page, "go_goroutines") {
		t.Error("/metrics lacks the Go runtime's metrics")
	}

	if r := h.do("GET", server.PathReady, "", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/readyz: %d %s", r.status, r.body)
	}
	// A server whose bucket is gone is not ready.
	gone := newHarness(t, func(c *server.Config) { c.Bucket = "no-such-bucket-" + strings.ToLower(strconv.Itoa(len(h.bucket))) })
	r = gone.do("GET", server.PathReady, "", nil, nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.errorText(t), "S3 does not answer") {
		t.Fatalf("/readyz without the bucket: %d %s", r.status, r.body)
	}
}
