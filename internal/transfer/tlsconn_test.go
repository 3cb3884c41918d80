package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Bodies over HTTPS go through the coalescing TLS dial whole, and the
// connection is reused for the next request.
func TestTLSCoalescedDialSendsBodiesWhole(t *testing.T) {
	var got [][32]byte
	conns := map[string]bool{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, sha256.Sum256(b))
		conns[r.RemoteAddr] = true
		w.Write([]byte("ok"))
	}))
	defer srv.Close()

	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.WriteBufferSize = 256 << 10
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.DialTLSContext = dialTLSCoalesced(tr, tr.DialContext)
	if tr.DialContext == nil {
		t.Fatal("the test server's transport has no DialContext to wrap")
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i, size := range []int{0, 1, 16<<10 + 3, 5<<20 + 7} {
		body := bytes.Repeat([]byte{byte(i + 1)}, size)
		req, err := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(size)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("PUT of %d bytes: %v", size, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT of %d bytes: status %d", size, resp.StatusCode)
		}
		if got[len(got)-1] != sha256.Sum256(body) {
			t.Fatalf("PUT of %d bytes: the server received other bytes", size)
		}
	}
	if len(conns) != 1 {
		t.Errorf("%d connections for 4 requests in turn, want 1 reused", len(conns))
	}
}

// The S3 client's TLS dial trusts the CA bundle it is given (the SDK adds
// it to a clone of the transport, after vidup's own options).
func TestS3ClientTLSDialTrustsTheCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadAWSConfig(context.Background(), 4, ca)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("v"), 1<<20)
	req, err := http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		t.Fatalf("PUT through the S3 client's transport with the CA bundle: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
