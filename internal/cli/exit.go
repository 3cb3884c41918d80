package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/vidup/vidup/internal/units"
	"io"
	"strings"
)

// Exit codes: the uploader's promise to scripts (docs/exit-codes in design.md).
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
	ExitAuth   = 3
	// ExitProcessingFailed: with --wait, every file was uploaded and
	// registered but the pipeline marked at least one video failed.
	ExitProcessingFailed = 4
	// ExitWaitTimeout: with --wait, --wait-timeout ran out before every
	// video was ready or failed (none failed so far).
	ExitWaitTimeout = 5
	ExitInterrupted = 130
)

// usageError is a usage or configuration error found before any upload
// started.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf reports bad flags, arguments or configuration: exit code 2.
func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// asUsage marks err as a usage error.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

// authFailure is implemented by errors that mean the API refused the token.
type authFailure interface{ AuthFailure() bool }

// exitError carries an explicit exit code. When silent, the message was
// already shown (per file, in the summary) and is not printed again.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errInterrupted is returned when SIGINT or SIGTERM stopped the command.
var errInterrupted = errors.New("interrupted")

// exitCode maps an error to the process exit code. It is the one place where
// errors become exit codes.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, errInterrupted) || errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	var af authFailure
	if errors.As(err, &af) && af.AuthFailure() {
		return ExitAuth
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitFailed
}

// printError writes the one line a failed command leaves on stderr.
func printError(w io.Writer, err error) {
	var ee *exitError
	if errors.As(err, &ee) && ee.silent {
		return
	}
	msg := withAdvice(err).Error()
	if errors.Is(err, errInterrupted) {
		msg = "interrupted; run the same command again to continue where it stopped"
	}
	fmt.Fprintf(w, "vidup: %s\n", units.Lines(strings.TrimPrefix(msg, "vidup: ")))
}

// errText is a failure's message with its advice, safe for a terminal: the
// text of a server or of S3 inside it has its control characters and escape
// sequences escaped (units.Lines), in every output mode.
func errText(err error) string {
	return units.Lines(withAdvice(err).Error())
}
