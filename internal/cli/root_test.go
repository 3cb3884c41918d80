package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// run executes a command line with an empty environment and returns its
// exit code, stdout and stderr.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	io := &IOStreams{
		In:     strings.NewReader(""),
		Out:    &out,
		ErrOut: &errOut,
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
	}
	code := Run(context.Background(), io, args)
	return code, out.String(), errOut.String()
}

func TestExitCodeMapping(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitFailed},
		{usageErrorf("bad %s", "flag"), ExitUsage},
		{fmt.Errorf("wrapped: %w", usageErrorf("bad")), ExitUsage},
		{fmt.Errorf("open session: %w", fakeAuth{}), ExitAuth},
		{errInterrupted, ExitInterrupted},
		{context.Canceled, ExitInterrupted},
		{&exitError{code: ExitFailed, err: errors.New("2 files failed"), silent: true}, ExitFailed},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.code {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}

type fakeAuth struct{}

func (fakeAuth) Error() string     { return "the API refused the token (401)" }
func (fakeAuth) AuthFailure() bool { return true }

// The command line's exit codes, stdout and stderr, version, help and
// config show are the scripts' (testdata/script/*.txtar, TestScripts).
