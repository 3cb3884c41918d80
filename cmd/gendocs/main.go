// Command gendocs writes vidup's CLI reference (Markdown) and, with -man, its
// man pages, both generated from the commands themselves.
//
//	go run ./cmd/gendocs docs/cli
//	go run ./cmd/gendocs -man dist/man
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vidup/vidup/internal/cli"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("gendocs", flag.ContinueOnError)
	flags.SetOutput(stderr)
	man := flags.Bool("man", false, "write man pages instead of Markdown")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gendocs [-man] DIR")
		return 2
	}
	var err error
	if *man {
		err = cli.WriteManPages(flags.Arg(0))
	} else {
		err = cli.WriteMarkdown(flags.Arg(0))
	}
	if err != nil {
		fmt.Fprintln(stderr, "gendocs:", err)
		return 1
	}
	return 0
}
