//go:build unix

package journal

import (
	"errors"
	"io/fs"
	"syscall"
)

// noFollow makes open(2) fail on a symbolic link in the last element.
const noFollow = syscall.O_NOFOLLOW

// isSymlinkRefusal reports whether err is open(2)'s answer to O_NOFOLLOW
// on a symbolic link: ELOOP (Linux, macOS), EMLINK (FreeBSD), EFTYPE
// (NetBSD) where it differs.
func isSymlinkRefusal(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK)
}

// precheck has nothing to do where O_NOFOLLOW exists.
func precheck(string) error { return nil }

func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
