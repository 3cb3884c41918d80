//go:build unix

package sources

import (
	"io/fs"
	"os"
	"syscall"
)

// openFlags: O_NONBLOCK so that opening a named pipe (swapped in after the
// file was listed) cannot hang; it changes nothing for regular files.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK

// fileID identifies a file or folder across the paths that reach it.
type fileID struct {
	dev, ino uint64
	path     string // only where the system has no inode numbers
}

func idOf(info fs.FileInfo, abs string) fileID {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	}
	return fileID{path: abs}
}
