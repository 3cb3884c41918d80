//go:build !unix

package journal

import (
	"errors"
	"io/fs"
	"os"
)

// Without O_NOFOLLOW (Windows), a symbolic link or reparse point is
// refused by a check before the open; the open's own Stat then refuses
// anything else that is not a regular file.
const noFollow = 0

func isSymlinkRefusal(error) bool { return false }

func precheck(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return &fs.PathError{Op: "open", Path: path, Err: ErrUnsafeFile}
	}
	return nil
}

func links(fs.FileInfo) uint64 { return 1 }
