package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
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
//
// wrapper is the benchexec binary: when set, cmd runs under it, so that its
// peak RSS is its own and not the caller's (see cmd/benchexec).
func Measure(ctx context.Context, cmd *exec.Cmd, serverPID int, wrapper string) (Sample, error) {
	var result string
	if wrapper != "" {
		f, err := os.CreateTemp("", "vidup-bench-rusage-")
		if err != nil {
			return Sample{}, err
		}
		f.Close()
		result = f.Name()
		defer os.Remove(result)
		cmd.Args = append([]string{wrapper, result, cmd.Path}, cmd.Args[1:]...)
		cmd.Path = wrapper
	}
	// The end of the output says why a client failed; a caller's writer
	// (a log file) gets all of it as well.
	var out tailBuffer
	cmd.Stdout = tee(cmd.Stdout, &out)
	cmd.Stderr = tee(cmd.Stderr, &out)
	var before time.Duration
	if serverPID > 0 {
		var err error
		if before, err = ProcessCPU(serverPID); err != nil {
			return Sample{}, err
		}
	}
	// An interrupted bench kills the client's whole process group, and
	// stops waiting for output that an orphan might still hold open.
	kill := ownGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Sample{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	stop := context.AfterFunc(ctx, kill)
	err := cmd.Wait()
	stop()
	wall := time.Since(start)
	if err != nil {
		name := cmd.Args[0]
		if wrapper != "" {
			name = cmd.Args[2]
		}
		return Sample{}, fmt.Errorf("%s: %w: %s", name, err, out.LastLines(3))
	}
	if wrapper != "" {
		raw, err := os.ReadFile(result)
		if err != nil {
			return Sample{}, fmt.Errorf("read the client's rusage from benchexec: %w", err)
		}
		var ru struct {
			Utime  int64 `json:"utime_ns"`
			Stime  int64 `json:"stime_ns"`
			MaxRSS int64 `json:"maxrss_kib"`
		}
		if err := json.Unmarshal(raw, &ru); err != nil {
			return Sample{}, fmt.Errorf("benchexec wrote %q: %w", raw, err)
		}
		s := Sample{Wall: wall, ClientCPU: time.Duration(ru.Utime + ru.Stime), MaxRSS: ru.MaxRSS * 1024}
		return s, addServerCPU(&s, serverPID, before)
	}
	cpu, maxRSS, ok := rusage(cmd.ProcessState)
	if !ok {
		return Sample{}, fmt.Errorf("no rusage for %s on this system", cmd.Path)
	}
	s := Sample{Wall: wall, ClientCPU: cpu, MaxRSS: maxRSS}
	return s, addServerCPU(&s, serverPID, before)
}

func addServerCPU(s *Sample, serverPID int, before time.Duration) error {
	if serverPID <= 0 {
		return nil
	}
	after, err := ProcessCPU(serverPID)
	if err != nil {
		return err
	}
	s.ServerCPU = after - before
	return nil
}

func tee(w io.Writer, tail *tailBuffer) io.Writer {
	if w == nil {
		return tail
	}
	if w == io.Discard {
		return w
	}
	return io.MultiWriter(w, tail)
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

// LastLines is the last n non-empty lines written, trimmed and joined with
// " / ": a failed client's summary and the failures just before it.
func (t *tailBuffer) LastLines(n int) string {
	var keep []string
	lines := bytes.Split(bytes.TrimSpace(t.b), []byte("\n"))
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if l := strings.TrimSpace(string(lines[i])); l != "" {
			keep = append([]string{l}, keep...)
		}
	}
	if len(keep) == 0 {
		return "no output"
	}
	return strings.Join(keep, " / ")
}
