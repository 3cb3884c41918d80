package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/vidup/vidup/internal/contract"
)

// TestStatusErrorRequestID: a failed call names the server's request id, so
// that the API's operator finds the request in the server's log; an id that
// is not a plain token is not shown.
func TestStatusErrorRequestID(t *testing.T) {
	for _, tc := range []struct {
		name, id, want string
	}{
		{"409", "7d1c2f0e-5b1a-4c1e-9a57-3c2d1f0e9b8a", " (request id 7d1c2f0e-5b1a-4c1e-9a57-3c2d1f0e9b8a)"},
		{"none", "", ""},
		{"not a token", "a b;c=d", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, replyHeader(409, contract.RequestIDHeader, tc.id, `{"error":"key reused"}`))
			err := callOp(newClient(t, s.URL), OpRegisterVideo)
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *StatusError", err)
			}
			if se.RequestID != strings.TrimPrefix(strings.TrimSuffix(tc.want, ")"), " (request id ") {
				t.Fatalf("RequestID %q", se.RequestID)
			}
			if tc.want != "" && !strings.HasSuffix(err.Error(), tc.want) || tc.want == "" && strings.Contains(err.Error(), "request id") {
				t.Fatalf("error %q, want it to end with %q", err, tc.want)
			}
		})
	}
}
