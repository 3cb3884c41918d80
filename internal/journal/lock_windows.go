//go:build windows

package journal

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// allBytes locks the whole file, whatever its length, as cmd/go's
// lockedfile does.
const allBytes = ^uint32(0)

// lockFile opens path and takes an exclusive LockFileEx lock on it without
// waiting; ok is false when another handle holds it (another process, or
// another Lock of this one).
//
// Unlike Unix, Windows cannot remove a file that another process has open
// (os.OpenFile does not share delete access), so the holder's removal in
// unlockFile either happens while nobody else has the file open or fails
// and leaves the file for the next holder: the lock can never be taken on a
// file that has lost its name. The one window is a removal in progress, a
// few microseconds during which opening the name is refused with "access
// denied"; that is waited out.
func lockFile(path string) (*os.File, bool, error) {
	var f *os.File
	var err error
	for tries := 0; ; tries++ {
		f, err = openRegular(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, windows.ERROR_ACCESS_DENIED) || tries >= 100 {
			return nil, false, err
		}
		time.Sleep(time.Millisecond)
	}
	ol := new(windows.Overlapped)
	flags := uint32(windows.LOCKFILE_EXCLUSIVE_LOCK | windows.LOCKFILE_FAIL_IMMEDIATELY)
	if err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, allBytes, allBytes, ol); err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

// unlockFile lets go of the lock and removes the file when nobody else has
// it open. Windows refuses to remove an open file, which is what keeps this safe
// (see lockFile); a file left behind is reused by the next Lock.
func unlockFile(f *os.File, path string) {
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, allBytes, allBytes, new(windows.Overlapped))
	f.Close()
	_ = os.Remove(path)
}

// lockRange takes an exclusive LockFileEx lock on the byte at off without
// waiting; ok is false when another handle holds it.
func lockRange(f *os.File, off int64) (bool, error) {
	ol := &windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	flags := uint32(windows.LOCKFILE_EXCLUSIVE_LOCK | windows.LOCKFILE_FAIL_IMMEDIATELY)
	if err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, ol); err != nil {
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func unlockRange(f *os.File, off int64) {
	ol := &windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}
