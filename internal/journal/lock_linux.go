//go:build linux

package journal

import "golang.org/x/sys/unix"

// setLockCmd: open file description locks belong to the open table file,
// not to the process, so closing another descriptor of it drops nothing.
const setLockCmd = unix.F_OFD_SETLK
