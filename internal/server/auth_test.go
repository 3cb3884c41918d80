package server

import (
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
	got, err := ReadTokenFile(strings.NewReader("# ops team\n\n  tok-1  \n#tok-disabled\ntok-2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "tok-1|tok-2" {
		t.Fatalf("tokens = %q", got)
	}
	_, err = ReadTokenFile(strings.NewReader("ok-token\nsecret-a secret-b\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("two words on a line: err = %v, want one naming line 2", err)
	}
	if strings.Contains(err.Error(), "secret-a") {
		t.Fatalf("error quotes the token: %v", err)
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
