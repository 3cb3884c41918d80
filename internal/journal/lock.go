package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Lock takes the lock of the source key (Identity.Key) without waiting.
// ok is false when another process, or another Lock of this process, holds
// it: the source is being uploaded elsewhere and must be skipped. The lock
// is the operating system's own lock on <dir>/locks/<key>.lock (flock(2) on
// Unix, LockFileEx on Windows), so the kernel releases it when its holder
// dies, kill -9 included. Call unlock when the upload of the source is
// over; it is safe to call more than once.
func (s *Store) Lock(key string) (unlock func(), ok bool, err error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	path := filepath.Join(s.locks, key+".lock")
	f, ok, err := lockFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("journal: lock %s: %w", path, err)
	}
	if !ok {
		return nil, false, nil
	}
	// For people who wonder who holds it; nothing reads it back.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	var once sync.Once
	return func() { once.Do(func() { unlockFile(f, path) }) }, true, nil
}
