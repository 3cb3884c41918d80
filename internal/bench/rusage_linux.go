package bench

import (
	"os"
	"syscall"
	"time"
)

// rusage is the CPU time (user+system) and peak RSS in bytes of a process
// that has exited and the children it waited for.
func rusage(ps *os.ProcessState) (cpu time.Duration, maxRSS int64, ok bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss * 1024, true // Linux reports KiB
}
