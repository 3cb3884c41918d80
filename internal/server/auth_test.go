package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestTokensValid(t *testing.T) {
	toks, err := NewTokens([]string{" alpha-token ", "", "beta-token", "alpha-token"})
	if err != nil {
		t.Fatal(err)
	}
	if toks.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (blank skipped, duplicate merged)", toks.Len())
	}
	tests := []struct {
		tok  string
		want bool
	}{
		{"alpha-token", true},
		{"beta-token", true},
		{"", false},
		{"alpha", false},
		{"alpha-token2", false},
		{"Alpha-token", false},
		{" alpha-token", false},
		{"gamma-token", false},
	}
	for _, tt := range tests {
		if got := toks.Valid(tt.tok); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.tok, got, tt.want)
		}
	}
}

func TestNewTokensRefusesNone(t *testing.T) {
	for _, in := range [][]string{nil, {""}, {" ", ""}, ParseTokenList(",,")} {
		_, err := NewTokens(in)
		if err == nil {
			t.Fatalf("NewTokens(%q) accepted no token", in)
		}
		if !strings.Contains(err.Error(), "VIDUP_SERVER_TOKENS") || !strings.Contains(err.Error(), "--tokens-file") {
			t.Fatalf("error %q does not say how to set a token", err)
		}
	}
}

func TestReadTokenFile(t *testing.T) {
	hashed := sha256.Sum256([]byte("hashed-token"))
	got, err := ReadTokenFile(strings.NewReader("# ops team\n\n  tok-1  \n#tok-disabled\ntok-2 cam-7\n" +
		"tok-3 encoder pipeline\ntok-4 cam-7 uploader\nsha256:" + hex.EncodeToString(hashed[:]) + " root ADMIN\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []TokenEntry{
		{Token: "tok-1", Principal: Principal{DefaultPrincipal, RoleUploader}},
		{Token: "tok-2", Principal: Principal{"cam-7", RoleUploader}},
		{Token: "tok-3", Principal: Principal{"encoder", RolePipeline}},
		{Token: "tok-4", Principal: Principal{"cam-7", RoleUploader}},
		{Digest: hashed, Principal: Principal{"root", RoleAdmin}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries = %v\nwant      %v", got, want)
	}
	toks, err := NewPrincipalTokens(got)
	if err != nil {
		t.Fatal(err)
	}
	if toks.Len() != 5 || toks.Principals() != 4 {
		t.Fatalf("Len %d Principals %d, want 5 and 4", toks.Len(), toks.Principals())
	}
	for tok, want := range map[string]Principal{
		"tok-2": {"cam-7", RoleUploader}, "tok-4": {"cam-7", RoleUploader}, // rotation: two tokens, one principal
		"tok-3": {"encoder", RolePipeline}, "hashed-token": {"root", RoleAdmin},
	} {
		if p, ok := toks.Lookup(tok); !ok || p != want {
			t.Errorf("Lookup(%q) = %v, %v; want %v", tok, p, ok, want)
		}
	}
	if _, ok := toks.Lookup("sha256:" + hex.EncodeToString(hashed[:])); ok {
		t.Error("the digest itself is accepted as a token")
	}

	for _, bad := range []struct{ file, want string }{
		{"ok-token\nsecret-a cam-1 uploader extra\n", "line 2"},
		{"secret-a,secret-b\n", "line 1"},
		{"secret-a cam-1 superuser\n", "superuser"},
		{"secret-a ../cam\n", "principal"},
		{"sha256:abc secret-a\n", "64 hex"},
	} {
		_, err = ReadTokenFile(strings.NewReader(bad.file))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err = %v, want one mentioning %q", bad.file, err, bad.want)
			continue
		}
		if strings.Contains(err.Error(), "secret-a") {
			t.Errorf("error quotes the token: %v", err)
		}
	}
	_, err = NewPrincipalTokens([]TokenEntry{
		{Token: "shared-secret", Principal: Principal{"cam-1", RoleUploader}},
		{Token: "shared-secret", Principal: Principal{"cam-2", RoleUploader}},
	})
	if err == nil || strings.Contains(err.Error(), "shared-secret") {
		t.Fatalf("one token for two principals: err = %v, want a refusal that does not quote it", err)
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		header string
		tok    string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"Bearer  abc ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"", "", false},
		{"abc", "", false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		tok, ok := bearer(r)
		if tok != tt.tok || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v; want %q, %v", tt.header, tok, ok, tt.tok, tt.ok)
		}
	}
}
