package journal

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"
)

// lockTableName is the one file of <dir>/locks that holds every source's
// lock: a byte each, at an offset the source key hashes to. A run of 5,000
// files takes 5,000 locks on one open file, not 5,000 lock files.
const lockTableName = "table"

// Lock takes the lock of the source key (Identity.Key) without waiting.
// ok is false when another process, or another Lock of this process, holds
// it: the source is being uploaded elsewhere and must be skipped.
//
// The lock is the operating system's own record lock on one byte of
// <dir>/locks/table (open file description locks on Linux, POSIX record
// locks on other Unix systems, LockFileEx on Windows), at an offset hashed
// from the key over 2⁶² bytes, so two keys share a byte with a chance of
// about n²/2⁶³ for n files locked at once. The kernel releases the locks
// when their holder dies, kill -9 included, so a lock is never stale.
// Within a process a table of held keys answers first: record locks of
// one process do not exclude each other everywhere. Call unlock when the
// upload of the source is over; it is safe to call more than once.
func (s *Store) Lock(key string) (unlock func(), ok bool, err error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	path := filepath.Join(s.locks, lockTableName)
	t, err := openLockTable(path)
	if err != nil {
		return nil, false, fmt.Errorf("journal: lock %s: %w", path, err)
	}
	off := keyOffset(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held[key] {
		return nil, false, nil
	}
	ok, err = lockRange(t.f, off)
	if err != nil {
		return nil, false, fmt.Errorf("journal: lock %s in %s: %w", key, path, err)
	}
	if !ok {
		return nil, false, nil
	}
	t.held[key] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			unlockRange(t.f, off)
			delete(t.held, key)
		})
	}, true, nil
}

// lockTable is a lock table file as this process holds it open. It stays
// open for the life of the process: on systems with POSIX record locks,
// closing any descriptor of the file would drop every lock the process
// holds in it.
type lockTable struct {
	f    *os.File
	mu   sync.Mutex
	held map[string]bool
}

var lockTables = struct {
	sync.Mutex
	m map[string]*lockTable
}{m: map[string]*lockTable{}}

func openLockTable(path string) (*lockTable, error) {
	lockTables.Lock()
	defer lockTables.Unlock()
	if t := lockTables.m[path]; t != nil {
		return t, nil
	}
	// O_RDWR: an exclusive record lock needs a descriptor open for writing.
	f, err := openRegular(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	t := &lockTable{f: f, held: map[string]bool{}}
	lockTables.m[path] = t
	return t, nil
}

// keyOffset is the byte of the lock table that stands for key.
func keyOffset(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int64(h.Sum64() & (1<<62 - 1))
}
