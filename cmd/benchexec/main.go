//go:build linux

// Command benchexec runs one program and writes its rusage (CPU and peak
// RSS) as JSON to a file: benchexec RESULT PROGRAM [ARG...].
//
// The bench needs it because Linux carries a process's peak RSS across
// exec: a client started straight from the driver (Go starts children
// with vfork) reports at least the driver's own peak, tens of MiB after it
// has generated test data. Started from this small program, a client's
// peak can read no lower than benchexec's few MiB. Linux only, like the
// bench.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: benchexec RESULT PROGRAM [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "benchexec:", err)
		os.Exit(127)
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "benchexec:", err)
		os.Exit(127)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	out, _ := json.Marshal(map[string]int64{
		"utime_ns":   ru.Utime.Nano(),
		"stime_ns":   ru.Stime.Nano(),
		"maxrss_kib": ru.Maxrss,
	})
	if werr := os.WriteFile(os.Args[1], out, 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "benchexec:", werr)
		os.Exit(127)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
