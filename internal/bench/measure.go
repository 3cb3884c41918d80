package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Sample is one measured run of a client.
type Sample struct {
	Wall      time.Duration
	ClientCPU time.Duration // user+system of the client and the children it waited for
	MaxRSS    int64         // bytes, the largest resident set of the client or a waited-for child
	ServerCPU time.Duration // CPU the S3 server used during the run
}

// Measure runs cmd to completion and measures it with wait4's rusage, and
// the server's CPU through /proc (serverPID 0 skips that). A client that
// fails gives an error holding the end of its output, never a sample.
func Measure(ctx context.Context, cmd *exec.Cmd, serverPID int) (Sample, error) {
	var out tailBuffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	var before time.Duration
	if serverPID > 0 {
		var err error
		if before, err = ProcessCPU(serverPID); err != nil {
			return Sample{}, err
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Sample{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	stop()
	wall := time.Since(start)
	if err != nil {
		return Sample{}, fmt.Errorf("%s: %w: %s", cmd.Args[0], err, out.Last())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return Sample{}, fmt.Errorf("no rusage for %s on this system", cmd.Path)
	}
	s := Sample{
		Wall:      wall,
		ClientCPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		MaxRSS:    ru.Maxrss * 1024, // Linux reports KiB
	}
	if serverPID > 0 {
		after, err := ProcessCPU(serverPID)
		if err != nil {
			return Sample{}, err
		}
		s.ServerCPU = after - before
	}
	return s, nil
}

// tailBuffer keeps the last 4 KiB written to it: enough to say why a
// client failed without holding a chatty client's whole output.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append(t.b[:0], t.b[len(t.b)-4096:]...)
	}
	return len(p), nil
}

// Last is the last non-empty line written, trimmed.
func (t *tailBuffer) Last() string {
	lines := bytes.Split(bytes.TrimSpace(t.b), []byte("\n"))
	last := strings.TrimSpace(string(lines[len(lines)-1]))
	if last == "" {
		return "no output"
	}
	return last
}
