// Package cli wires vidup's commands: flags, configuration, output and exit
// codes. The engines it drives (transfer, server, ...) know nothing of it.
package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// IOStreams are the process's standard streams and what they are attached to.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// StderrTTY is true when stderr is a terminal: bars and redraws are
	// allowed only then.
	StderrTTY bool
	// StdoutTTY is true when stdout is a terminal (the bar's, often): its
	// lines are then written above the bar.
	StdoutTTY bool
	// Getenv reads the environment (os.LookupEnv outside tests).
	LookupEnv func(string) (string, bool)
	// warnedConfig: the config file's unknown keys were reported (once
	// per command line, though config show resolves several commands).
	warnedConfig bool
}

// SystemIO returns the process's streams.
func SystemIO() *IOStreams {
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		StdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		LookupEnv: os.LookupEnv,
	}
}

// Main runs vidup with the process's arguments and returns its exit code.
func Main() int {
	setGCPercent()
	stopProfiles := startProfiles()
	defer stopProfiles()
	io := SystemIO()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)

	// The first SIGINT/SIGTERM cancels the root context: no new work starts,
	// work in flight gets a short bounded time, state is flushed. A second one
	// exits at once; every state file is written atomically, so that is safe.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		cancel(errInterrupted)
		<-sigs
		os.Stderr.WriteString("vidup: interrupted twice; exiting now\n")
		os.Exit(ExitInterrupted)
	}()

	return Run(ctx, io, os.Args[1:])
}

// defaultGCPercent is vidup's GOGC unless the environment sets one. vidup
// runs next to cameras and encoders, and most of what its heap holds is
// short-lived (requests, buffers of a part): at Go's default of 100 the
// heap grows to twice what is live between collections. At 50 it grows
// to 1.5 times: 5,000 files of 64 KiB peaked at 65 MB RSS instead of
// 75 MB, for the same CPU time (docs/performance.md). restic makes the
// same choice.
const defaultGCPercent = 50

func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// Run executes one command line and returns its exit code.
func Run(ctx context.Context, io *IOStreams, args []string) int {
	root := NewRootCmd(io)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) != nil && errors.Is(context.Cause(ctx), errInterrupted) && !errors.Is(err, errInterrupted) {
			err = errors.Join(errInterrupted, err)
		}
		if isCobraUsageError(cmd, err) {
			err = asUsage(err)
		}
		printError(io.ErrOut, err)
		return exitCode(err)
	}
	return ExitOK
}

// NewRootCmd builds the command tree.
func NewRootCmd(io *IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "vidup",
		Short: "Upload video files straight to S3 through your company's API",
		Long: `vidup uploads video files from this machine straight to S3, in concurrent
multipart parts with per-part retry, using temporary credentials from your
company's API, verifies what S3 stored, and registers each video with the API.

vidup serve runs the reference implementation of that API.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	setVersionFlag(root)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return asUsage(err) })
	root.PersistentFlags().String("config", "", "config file (default $XDG_CONFIG_HOME/vidup/config.yaml)")
	// -v is --verbose, as in rsync, rclone and restic; --version has no
	// shorthand (cobra gives it -v only while -v is free).
	root.PersistentFlags().BoolP("verbose", "v", false, "log every API and S3 call (method, URL, status, time) to stderr; serve logs at debug level")
	root.PersistentFlags().Bool("debug", false, "same as --verbose")

	root.AddCommand(
		newCmdVersion(io),
		newCmdServe(io, nil),
		newCmdUpload(io, nil),
		newCmdUploads(io),
		newCmdConfig(io),
		newCmdProbe(io, nil),
	)
	// What the completion table names and the tree lacks is reported by
	// TestCompletionTable; vidup runs on without those completions.
	_ = addCompletions(root, io)
	return root
}

// isCobraUsageError tells cobra's own argument errors (unknown command,
// wrong number of args) from errors of a command's run.
func isCobraUsageError(cmd *cobra.Command, err error) bool {
	var ue *usageError
	if errors.As(err, &ue) {
		return false
	}
	if cmd == nil {
		return true
	}
	// cobra reports unknown commands and Args failures before RunE; a command
	// that ran marks itself through its annotations.
	return cmd.Annotations[annotationRan] != "true"
}

const annotationRan = "vidup.ran"

// markRan records that a command's run function started, so its errors are
// not taken for usage errors.
func markRan(cmd *cobra.Command) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotationRan] = "true"
}
