package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vidup/vidup/internal/units"
)

// Sentinels a *SyntaxError may wrap.
var (
	// ErrTooMany: templates, timelines or playlists name more segments
	// than Options.MaxSegments.
	ErrTooMany = errors.New("too many segments")
	// ErrTooLarge: a manifest is larger than any manifest should be.
	ErrTooLarge = errors.New("manifest too large")
	// ErrUnbounded: a live MPD whose segments have no end.
	ErrUnbounded = errors.New("segments without an end")
)

// SyntaxError is a manifest that cannot be read as what it claims to be.
type SyntaxError struct {
	File string // relative to the package folder
	Line int    // 0 when unknown
	Msg  string
	Err  error // a sentinel above, or nil
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Quote(e.File))
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// RefusedError is a package that cannot be uploaded as it is: files its
// manifests reference are missing, or references leave the folder.
type RefusedError struct {
	Missing []Reference
	Outside []Reference
}

// listed is how many references an error message names before "and N more".
const listed = 5

func (e *RefusedError) Error() string {
	var parts []string
	if n := len(e.Missing); n > 0 {
		parts = append(parts, fmt.Sprintf("%s missing: %s", units.Count(n, "referenced file is", "referenced files are"), names(e.Missing, func(r Reference) string {
			return fmt.Sprintf("%q (in %s)", r.Path, where(r))
		})))
	}
	if n := len(e.Outside); n > 0 {
		parts = append(parts, fmt.Sprintf("%s outside the package folder: %s", units.Count(n, "reference is", "references are"), names(e.Outside, func(r Reference) string {
			return fmt.Sprintf("%q in %s (%s)", r.URI, where(r), r.Reason)
		})))
	}
	return "package refused: " + strings.Join(parts, "; ")
}

func where(r Reference) string {
	if r.Line > 0 {
		return fmt.Sprintf("%s line %d", r.From, r.Line)
	}
	return r.From
}

func names(refs []Reference, f func(Reference) string) string {
	var out []string
	for i, r := range refs {
		if i == listed {
			out = append(out, fmt.Sprintf("and %d more", len(refs)-listed))
			break
		}
		out = append(out, f(r))
	}
	return strings.Join(out, ", ")
}
