//go:build !linux

package bench

import (
	"os"
	"os/exec"
	"time"
)

// rusage: the bench measures on Linux only (wait4's rusage in KiB,
// /proc/PID/stat); elsewhere Measure says there is no rusage.
func rusage(*os.ProcessState) (cpu time.Duration, maxRSS int64, ok bool) {
	return 0, 0, false
}

// ownGroup kills only the client itself here.
func ownGroup(cmd *exec.Cmd) (kill func()) {
	return func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}
}
