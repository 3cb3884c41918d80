//go:build unix && !linux

package journal

import "golang.org/x/sys/unix"

// setLockCmd: POSIX record locks, the process's own; the table stays open
// for the life of the process (see lockTable).
const setLockCmd = unix.F_SETLK
