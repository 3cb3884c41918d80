package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

func TestExitCodesOfTheCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"version", []string{"version"}, ExitOK, ""},
		{"unknown command", []string{"nope"}, ExitUsage, `unknown command "nope"`},
		{"unknown flag", []string{"version", "--bogus"}, ExitUsage, "unknown flag: --bogus"},
		{"extra argument", []string{"version", "extra"}, ExitUsage, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if tt.err != "" && !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q does not say %q", stderr, tt.err)
			}
			if tt.err != "" && !strings.HasPrefix(stderr, "vidup: ") {
				t.Errorf("stderr %q does not start with the program name", stderr)
			}
		})
	}
}

func TestVersionPrintsToStdout(t *testing.T) {
	code, stdout, stderr := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "vidup ") || stderr != "" {
		t.Errorf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
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

func TestConfigShowNamesSourcesAndMasksSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("serve:\n  listen: 127.0.0.1:9999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"VIDUP_API_URL":   "http://api.example",
		"VIDUP_API_TOKEN": "s3cr3t-token",
	}
	code, stdout, stderr := run(t, env, "config", "show", "--config", cfg)
	if code != 0 {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	if strings.Contains(stdout, "s3cr3t-token") {
		t.Errorf("config show printed the token:\n%s", stdout)
	}
	for _, want := range []string{
		"upload: api-url  http://api.example",
		"serve.listen     127.0.0.1:9999",
	} {
		fields := strings.Fields(want)
		if !containsLineWithFields(stdout, fields) {
			t.Errorf("config show lacks %q:\n%s", want, stdout)
		}
	}
	if !containsLineWithFields(stdout, []string{"serve.listen", "127.0.0.1:9999", "file"}) {
		t.Errorf("serve.listen not reported as coming from the file:\n%s", stdout)
	}
	if !containsLineWithFields(stdout, []string{"api-url", "http://api.example", "env"}) {
		t.Errorf("api-url not reported as coming from the environment:\n%s", stdout)
	}
}

func containsLineWithFields(out string, fields []string) bool {
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, f := range fields {
			if !strings.Contains(line, f) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func TestMissingExplicitConfigFileIsAUsageError(t *testing.T) {
	code, _, stderr := run(t, nil, "config", "show", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != ExitUsage || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}
