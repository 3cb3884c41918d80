//go:build unix

package journal

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile opens path and takes an exclusive flock(2) on it without
// waiting; ok is false when another open file holds it. The journal's run
// logs are locked this way while their run lives.
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

// unlockFile removes the locked file while still holding the lock, and
// then lets go.
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

// lockRange takes an exclusive record lock on the byte at off without
// waiting; ok is false when another holder has it.
func lockRange(f *os.File, off int64) (ok bool, err error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: off, Len: 1}
	for {
		err = unix.FcntlFlock(f.Fd(), setLockCmd, &lk)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
		return false, nil
	}
	return false, err
}

func unlockRange(f *os.File, off int64) {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: off, Len: 1}
	_ = unix.FcntlFlock(f.Fd(), setLockCmd, &lk)
}
