package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Tokens is the set of API tokens the server accepts.
type Tokens struct {
	// Tokens are kept as SHA-256 digests: every comparison is then between
	// 32-byte values, so neither a token's content nor its length shows in
	// the time a check takes.
	digests [][sha256.Size]byte
}

// NewTokens returns the set of the given tokens; empty entries are ignored.
// At least one token is required.
func NewTokens(tokens []string) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]bool{}
	for _, tok := range tokens {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		d := sha256.Sum256([]byte(tok))
		if seen[d] {
			continue
		}
		seen[d] = true
		t.digests = append(t.digests, d)
	}
	if len(t.digests) == 0 {
		return nil, errors.New("no API token is configured; set VIDUP_SERVER_TOKENS=token1,token2 " +
			"or point --tokens-file at a file with one token per line")
	}
	return t, nil
}

// ParseTokenList splits VIDUP_SERVER_TOKENS: comma separated.
func ParseTokenList(s string) []string {
	return strings.Split(s, ",")
}

// ReadTokenFile reads one token per line; blank lines and lines starting
// with # are skipped. Errors never quote a line: it may be a token.
func ReadTokenFile(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if strings.ContainsAny(s, " \t,") {
			return nil, fmt.Errorf("line %d holds more than one word; put one token per line", line)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Len is the number of distinct tokens.
func (t *Tokens) Len() int { return len(t.digests) }

// Valid reports whether tok is one of the tokens. It compares against every
// token, without stopping at a match, in constant time each.
func (t *Tokens) Valid(tok string) bool {
	if tok == "" {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	match := 0
	for i := range t.digests {
		match |= subtle.ConstantTimeCompare(d[:], t.digests[i][:])
	}
	return match == 1
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
