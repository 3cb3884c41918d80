//go:build windows

package journal

import "os"

// inodeOf: Windows reports no inode numbers through os.FileInfo; the
// identity keeps the path, size, time and content sample.
func inodeOf(os.FileInfo) (ino, dev uint64) { return 0, 0 }

// checkOwner: Windows has no owner and mode bits in os.FileInfo (folders
// always show 0777); access is the folder's ACL, and the default state
// folder lies in the user's profile, which others cannot open.
func checkOwner(string, os.FileInfo) error { return nil }

// folderSync: Windows cannot flush a folder handle (FlushFileBuffers on it
// is refused); NTFS journals its own metadata.
const folderSync = false
