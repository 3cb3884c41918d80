//go:build unix

package journal

import (
	"fmt"
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
		return fmt.Errorf("state folder %s belongs to another user (uid %d); set --state-dir or VIDUP_STATE_DIR to a folder of yours", dir, st.Uid)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("state folder %s has mode %04o, open to other users; make it private with: chmod 700 %s", dir, perm, dir)
	}
	return nil
}

// folderSync: fsync on a folder makes its entries durable.
const folderSync = true
