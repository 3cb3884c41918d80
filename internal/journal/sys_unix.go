//go:build unix

package journal

import (
	"os"
	"syscall"
)

// inodeOf returns the device and inode numbers of a file.
func inodeOf(fi os.FileInfo) (ino, dev uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino), uint64(st.Dev)
	}
	return 0, 0
}

// checkOwner refuses a state folder of another user, or one that other
// users can read or write.
func checkOwner(dir string, fi os.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return &FolderError{Dir: dir, Problem: FolderOtherOwner, UID: int(st.Uid)}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &FolderError{Dir: dir, Problem: FolderOpen, Mode: perm}
	}
	return nil
}

// folderSync: fsync on a folder makes its entries durable.
const folderSync = true
