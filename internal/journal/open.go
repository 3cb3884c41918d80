package journal

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// ErrUnsafeFile is the error (wrapped) of a journal or lock file that is
// not a plain regular file of its own: a symbolic link, a device, a FIFO, a
// folder, or a file with other hard links. The journal never reads, writes,
// truncates or appends through it: someone who can write in the state
// folder must not make vidup overwrite another file.
var ErrUnsafeFile = errors.New("not a regular file (a symbolic link, a device, a FIFO or a file with other hard links); vidup does not open it")

// openRegular opens the journal file at path like os.OpenFile, without
// following a symbolic link in its last element (O_NOFOLLOW where the
// system has it) and refusing anything but a regular file with one link.
// O_TRUNC is applied only once the file is known to be safe to cut.
func openRegular(path string, flag int, perm fs.FileMode) (*os.File, error) {
	trunc := flag&os.O_TRUNC != 0
	if err := precheck(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, flag&^os.O_TRUNC|noFollow, perm)
	if err != nil {
		if isSymlinkRefusal(err) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: ErrUnsafeFile}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() || links(fi) > 1 {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: ErrUnsafeFile}
	}
	if trunc {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// readRegular is os.ReadFile through openRegular.
func readRegular(path string) ([]byte, error) {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
