package server

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Cursors are opaque to clients: a version prefix and the list position,
// base64url encoded, so the encoding can change without clients noticing.
const cursorPrefix = "v1:"

var errBadCursor = errors.New("the cursor is not one this server handed out; start again without cursor")

// EncodeCursor makes the next_cursor for a list position.
func EncodeCursor(pos int64) string {
	if pos <= 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(pos, 10)))
}

// DecodeCursor reads a cursor; the empty cursor is the first page (0).
func DecodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, errBadCursor
	}
	num, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return 0, errBadCursor
	}
	pos, err := strconv.ParseInt(num, 10, 64)
	if err != nil || pos <= 0 || strconv.FormatInt(pos, 10) != num {
		return 0, errBadCursor
	}
	return pos, nil
}
