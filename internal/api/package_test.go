package api

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vidup/vidup/internal/contract"
)

// A package's registration answer lists every object with its key: for
// thousands of objects it is larger than any other answer of the contract,
// and is read whole.
func TestRegisterPackageReadsALargeAnswer(t *testing.T) {
	var objs []string
	for i := range 20000 {
		objs = append(objs, fmt.Sprintf(`{"path":"v0/seg%05d.ts","size":65536,"key":"sealed/s1/u1/v0/seg%05d.ts"}`, i, i))
	}
	body := `{"id":"v-1","kind":"hls","entry":"sealed/s1/u1/master.m3u8","objects":[` + strings.Join(objs, ",") + `]}`
	if len(body) <= maxBody {
		t.Fatalf("the answer is %d bytes, not more than the %d of other answers", len(body), maxBody)
	}
	s := newServer(t, reply(201, body))
	c := newClient(t, s.URL)
	v, created, err := c.RegisterPackage(context.Background(), contract.VideoRequest{Package: &contract.PackageRegistration{UploadID: "u1", SessionID: "s1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !created || len(v.Objects) != 20000 || v.Entry != "sealed/s1/u1/master.m3u8" {
		t.Errorf("created %v, %d objects, entry %q", created, len(v.Objects), v.Entry)
	}
	if r := s.requests()[0]; r.idempotencyKey != "u1" {
		t.Errorf("Idempotency-Key %q, want the package's upload id", r.idempotencyKey)
	}
	// Other answers stay bounded.
	s = newServer(t, reply(201, `{"id":"`+strings.Repeat("x", maxBody)+`"}`))
	if _, _, err := newClient(t, s.URL).RegisterVideo(context.Background(), contract.VideoRequest{UploadID: "u"}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a video's answer over %d bytes: %v", maxBody, err)
	}
}
