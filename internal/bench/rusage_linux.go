package bench

import (
	"os"
	"os/exec"
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

// ownGroup puts cmd in a process group of its own, and returns what kills
// that group: the client and everything it started (benchexec's child, a
// peer's workers), so that an interrupted bench leaves no upload running.
func ownGroup(cmd *exec.Cmd) (kill func()) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}
