package sources

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/vidup/vidup/internal/units"
)

// pathError is a problem with one path. Its message quotes the path and
// never includes the raw text of an *fs.PathError, which would print the
// path unquoted.
type pathError struct {
	path string
	from string // where the path was listed, when not on the command line
	msg  string // what is wrong and what to do, without the path
	err  error  // the cause, for errors.Is
}

func (e *pathError) Error() string {
	var b strings.Builder
	b.WriteString(units.Path(e.path))
	if e.from != "" {
		b.WriteString(" (")
		b.WriteString(e.from)
		b.WriteString(")")
	}
	b.WriteString(" ")
	b.WriteString(e.msg)
	return b.String()
}

func (e *pathError) Unwrap() error { return e.err }

// cause strips the path from an error of the os package, leaving the
// system's reason ("permission denied").
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// statError explains why a named path could not be looked at.
func statError(p string, err error, from string) error {
	c := cause(err)
	switch {
	case errors.Is(c, syscall.ELOOP):
		return &pathError{path: p, from: from, err: c, msg: "is a symbolic link loop; fix or remove the link"}
	case isNotExist(c):
		if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return &pathError{path: p, from: from, err: c, msg: "is a symbolic link to a missing file; fix or remove the link"}
		}
		return &pathError{path: p, from: from, err: c, msg: "does not exist; check the path"}
	}
	return readError(p, err, from)
}

// readError explains why a file or folder could not be opened or listed.
func readError(p string, err error, from string) error {
	c := cause(err)
	switch {
	case errors.Is(c, fs.ErrPermission):
		return &pathError{path: p, from: from, err: c,
			msg: "cannot be read: permission denied; give the user running vidup read access, or leave it out"}
	case isNotExist(c):
		return &pathError{path: p, from: from, err: c, msg: "disappeared while vidup was looking at it; run again once it is in place"}
	case errors.Is(c, syscall.ELOOP):
		return &pathError{path: p, from: from, err: c, msg: "is a symbolic link loop; fix or remove the link"}
	}
	return &pathError{path: p, from: from, err: c, msg: "cannot be read: " + c.Error()}
}

func notRegular(p string, mode fs.FileMode, from string) error {
	return &pathError{path: p, from: from, err: errNotRegular,
		msg: "is not a regular file (" + kindOf(mode) + "); vidup uploads regular files"}
}

// errNotRegular lets callers tell "not a regular file" problems apart with
// errors.Is.
var errNotRegular = errors.New("not a regular file")

func kindOf(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "block device"
	case mode&fs.ModeSymlink != 0:
		return "symbolic link"
	case mode.IsDir():
		return "directory"
	}
	return "irregular file"
}
