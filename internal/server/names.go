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

// SafeName turns the client's file name into the last element of an object
// key: its base name only (either slash counts as a separator), without
// control characters, invalid UTF-8 or "..", at most MaxNameBytes long (cut
// on a rune boundary, the extension kept), and never empty.
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
	for strings.Contains(name, "..") {
		name = strings.ReplaceAll(name, "..", ".")
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." {
		return FallbackName
	}
	if len(name) <= MaxNameBytes {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > maxExtBytes || len(ext) == len(name) {
		ext = ""
	}
	stem := cutRunes(strings.TrimSuffix(name, ext), MaxNameBytes-len(ext))
	return stem + ext
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
