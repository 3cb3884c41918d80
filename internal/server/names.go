package server

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds the name part of a key, so that with the prefix the
// key stays far below S3's 1024-byte limit.
const MaxNameBytes = 200

// FallbackName is the name of a file whose given name leaves nothing usable.
const FallbackName = "video"

// maxExtBytes is the longest suffix kept as an extension when a name is cut;
// anything longer is not an extension anyone relies on.
const maxExtBytes = 16

// SafeName turns the client's file name into a file name the server keeps:
// its base name only (either slash counts as a separator), without control
// characters, invalid UTF-8, ".." or white space at either end, at most
// MaxNameBytes long (cut on a rune boundary, the extension kept), never
// empty and never ".".
func SafeName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.ReplaceAll(name, `\`, "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = tidyName(name)
	if len(name) > MaxNameBytes {
		ext := path.Ext(name)
		if len(ext) > maxExtBytes || len(ext) == len(name) {
			ext = ""
		}
		// Cutting may leave the stem ending in "." before the extension's
		// own "." (a ".."), or in white space: tidy the result again. It
		// only gets shorter.
		name = tidyName(cutRunes(strings.TrimSuffix(name, ext), MaxNameBytes-len(ext)) + ext)
	}
	if name == "" || name == "." {
		return FallbackName
	}
	return name
}

// tidyName folds every ".." to "." and trims white space at both ends,
// until neither is left.
func tidyName(name string) string {
	for {
		before := name
		for strings.Contains(name, "..") {
			name = strings.ReplaceAll(name, "..", ".")
		}
		name = strings.TrimSpace(name)
		if name == before {
			return name
		}
	}
}

// KeyName is a SafeName as the last element of an object key: the
// characters a policy reads as wildcards or variables (*, ?, $) become "_",
// so that a session policy can name the key exactly.
func KeyName(safe string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(policyWildcards, r) {
			return '_'
		}
		return r
	}, safe)
}

// cutRunes returns the longest prefix of s of at most n bytes that ends on a
// rune boundary.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
