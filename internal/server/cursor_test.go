package server

import (
	"encoding/base64"
	"math"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, pos := range []int64{1, 2, 41, 1 << 40, math.MaxInt64} {
		c := EncodeCursor(pos)
		if c == "" {
			t.Fatalf("EncodeCursor(%d) is empty", pos)
		}
		got, err := DecodeCursor(c)
		if err != nil || got != pos {
			t.Fatalf("DecodeCursor(EncodeCursor(%d)) = %d, %v", pos, got, err)
		}
	}
	if EncodeCursor(0) != "" {
		t.Fatal("position 0 (no next page) must encode to no cursor")
	}
}

func TestDecodeCursor(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"empty is first page", "", 0, false},
		{"valid", enc("v1:17"), 17, false},
		{"not base64", "!!!", 0, true},
		{"padded base64", base64.URLEncoding.EncodeToString([]byte("v1:17")), 0, true},
		{"no version", enc("17"), 0, true},
		{"other version", enc("v2:17"), 0, true},
		{"zero", enc("v1:0"), 0, true},
		{"negative", enc("v1:-5"), 0, true},
		{"leading zero", enc("v1:017"), 0, true},
		{"plus sign", enc("v1:+17"), 0, true},
		{"overflow", enc("v1:9223372036854775808"), 0, true},
		{"trailing garbage", enc("v1:17x"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCursor(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("DecodeCursor(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
