//go:build unix

package journal

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile opens path and takes an exclusive flock(2) on it without
// waiting; ok is false when another open file holds it.
func lockFile(path string) (f *os.File, ok bool, err error) {
	for {
		f, err := openRegular(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, false, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, false, nil
			}
			return nil, false, err
		}
		// The holder before us removes the file before it unlocks. If it
		// did so between our open and our flock, we locked a file nobody
		// else will ever open: try again with the current one.
		current, err := sameFile(f, path)
		if err != nil {
			f.Close()
			return nil, false, err
		}
		if !current {
			f.Close()
			continue
		}
		return f, true, nil
	}
}

// unlockFile removes the lock file while still holding the lock, so that
// lock files do not pile up, one per file ever uploaded, and then lets go.
func unlockFile(f *os.File, path string) {
	_ = os.Remove(path)
	f.Close()
}

func sameFile(f *os.File, path string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return false, err
	}
	if err := unix.Lstat(path, &b); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}
