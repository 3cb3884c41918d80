package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Lock takes the lock of the source key (Identity.Key) without waiting.
// ok is false when another process, or another Lock of this process, holds
// it: the source is being uploaded elsewhere and must be skipped. The lock
// is a flock(2) on <dir>/locks/<key>.lock, so the kernel releases it when
// its holder dies, kill -9 included. Call unlock when the upload of the
// source is over; it is safe to call more than once.
func (s *Store) Lock(key string) (unlock func(), ok bool, err error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	path := filepath.Join(s.locks, key+".lock")
	for {
		f, err := openRegular(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("journal: lock %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("journal: lock %s: %w", path, err)
		}
		// The holder before us removes the file before it unlocks. If it
		// did so between our open and our flock, we locked a file nobody
		// else will ever open: try again with the current one.
		current, err := sameFile(f, path)
		if err != nil {
			f.Close()
			return nil, false, fmt.Errorf("journal: lock %s: %w", path, err)
		}
		if !current {
			f.Close()
			continue
		}
		// For people who wonder who holds it; nothing reads it back.
		_ = f.Truncate(0)
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		var once sync.Once
		return func() {
			once.Do(func() {
				// Remove while still holding the lock, so that lock files
				// do not pile up, one per file ever uploaded.
				_ = os.Remove(path)
				f.Close()
			})
		}, true, nil
	}
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
