package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// Role says what a principal may do.
type Role string

// The roles. An uploader opens sessions and sees only its own sessions and
// videos; the pipeline (the encoding step) reads every video and uploads
// nothing; an admin uploads as an uploader and reads every video.
const (
	RoleUploader Role = "uploader"
	RolePipeline Role = "pipeline"
	RoleAdmin    Role = "admin"
)

// DefaultPrincipal owns the tokens of VIDUP_SERVER_TOKENS, the one-word lines
// of a tokens file, and every session and video stored before principals
// existed.
const DefaultPrincipal = "default"

// Principal is who a token belongs to: an edge device, a CI job, a person.
type Principal struct {
	Name string
	Role Role
}

// mayUpload reports whether p opens sessions and registers videos.
func (p Principal) mayUpload() bool { return p.Role == RoleUploader || p.Role == RoleAdmin }

// readsAll reports whether p reads every principal's videos.
func (p Principal) readsAll() bool { return p.Role == RolePipeline || p.Role == RoleAdmin }

// setsStatus: the encoding step (and an admin) sets videos' status.
func (p Principal) setsStatus() bool { return p.Role == RolePipeline || p.Role == RoleAdmin }

// TokenEntry is one token of a principal. Digest, when set, replaces Token:
// a tokens file may hold sha256:<hex> instead of the token itself.
type TokenEntry struct {
	Token     string
	Digest    [sha256.Size]byte
	Principal Principal
}

func (e TokenEntry) digest() ([sha256.Size]byte, bool) {
	if e.Token != "" {
		return sha256.Sum256([]byte(e.Token)), true
	}
	return e.Digest, e.Digest != [sha256.Size]byte{}
}

// Tokens is the set of API tokens the server accepts, each with its
// principal. A principal may hold several tokens (rotation).
type Tokens struct {
	// Tokens are kept as SHA-256 digests: every comparison is then between
	// 32-byte values, so neither a token's content nor its length shows in
	// the time a check takes.
	entries []tokenEntry
}

type tokenEntry struct {
	digest    [sha256.Size]byte
	principal Principal
}

var errNoToken = errors.New("no API token is configured; set VIDUP_SERVER_TOKENS=token1,token2 " +
	"or point --tokens-file at a file with one token per line")

// NewTokens returns the tokens of the one-principal case: every token
// belongs to DefaultPrincipal, an uploader. Empty entries are ignored; at
// least one token is required.
func NewTokens(tokens []string) (*Tokens, error) {
	entries := make([]TokenEntry, 0, len(tokens))
	for _, tok := range tokens {
		entries = append(entries, TokenEntry{Token: strings.TrimSpace(tok), Principal: Principal{DefaultPrincipal, RoleUploader}})
	}
	return NewPrincipalTokens(entries)
}

// NewPrincipalTokens returns the set of the given tokens. Entries without a
// token are ignored, a token given twice for one principal counts once, and
// a token given to two principals is refused: it could not tell who calls.
func NewPrincipalTokens(entries []TokenEntry) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]Principal{}
	for _, e := range entries {
		d, ok := e.digest()
		if !ok {
			continue
		}
		if err := checkPrincipal(e.Principal); err != nil {
			return nil, err
		}
		if p, dup := seen[d]; dup {
			if p != e.Principal {
				return nil, fmt.Errorf("one token is given to principals %q and %q; each token must belong to one principal", p.Name, e.Principal.Name)
			}
			continue
		}
		seen[d] = e.Principal
		t.entries = append(t.entries, tokenEntry{d, e.Principal})
	}
	if len(t.entries) == 0 {
		return nil, errNoToken
	}
	return t, nil
}

var principalName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func checkPrincipal(p Principal) error {
	if !principalName.MatchString(p.Name) {
		return fmt.Errorf("principal %q: a name is 1 to 64 letters, digits, '.', '_', '@' or '-'", p.Name)
	}
	switch p.Role {
	case RoleUploader, RolePipeline, RoleAdmin:
		return nil
	}
	return fmt.Errorf("principal %q: role %q is unknown; use uploader, pipeline or admin", p.Name, p.Role)
}

// ParseTokenList splits VIDUP_SERVER_TOKENS: comma separated.
func ParseTokenList(s string) []string {
	return strings.Split(s, ",")
}

// ReadTokenFile reads a tokens file: one token per line, optionally followed
// by its principal and role:
//
//	<token> [<principal> [uploader|pipeline|admin]]
//
// A token may be written as sha256:<64 hex digits> so the file need not hold
// it. A line of one word belongs to DefaultPrincipal; the role defaults to
// uploader. Blank lines and lines starting with # are skipped. Errors never
// quote a line: it may hold a token.
func ReadTokenFile(r io.Reader) ([]TokenEntry, error) {
	var out []TokenEntry
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Fields(s)
		if len(f) > 3 || strings.Contains(s, ",") {
			return nil, fmt.Errorf("line %d: write a token, then optionally its principal and role, separated by spaces: <token> [<principal> [uploader|pipeline|admin]]", line)
		}
		e := TokenEntry{Principal: Principal{DefaultPrincipal, RoleUploader}}
		if hexDigest, ok := strings.CutPrefix(f[0], "sha256:"); ok {
			b, err := hex.DecodeString(hexDigest)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("line %d: a sha256: token needs 64 hex digits after the colon", line)
			}
			copy(e.Digest[:], b)
		} else {
			e.Token = f[0]
		}
		if len(f) > 1 {
			e.Principal.Name = f[1]
		}
		if len(f) > 2 {
			e.Principal.Role = Role(strings.ToLower(f[2]))
		}
		if err := checkPrincipal(e.Principal); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Len is the number of distinct tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// Principals is the number of distinct principals.
func (t *Tokens) Principals() int {
	seen := map[string]bool{}
	for _, e := range t.entries {
		seen[e.principal.Name] = true
	}
	return len(seen)
}

// Lookup returns the principal of tok. It compares against every token,
// without stopping at a match, in constant time each.
func (t *Tokens) Lookup(tok string) (Principal, bool) {
	if tok == "" {
		return Principal{}, false
	}
	d := sha256.Sum256([]byte(tok))
	found := -1
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(d[:], t.entries[i].digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Principal{}, false
	}
	return t.entries[found].principal, true
}

// Valid reports whether tok is one of the tokens.
func (t *Tokens) Valid(tok string) bool {
	_, ok := t.Lookup(tok)
	return ok
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf is the caller, set by authenticate.
func principalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
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
