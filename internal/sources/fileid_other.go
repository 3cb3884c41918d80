//go:build !unix

package sources

import (
	"io/fs"
	"os"
)

const openFlags = os.O_RDONLY

// fileID identifies a file or folder. Without inode numbers the absolute
// path is the best identity there is: links reaching one file twice are not
// detected.
type fileID struct {
	dev, ino uint64
	path     string
}

func idOf(_ fs.FileInfo, abs string) fileID {
	return fileID{path: abs}
}
