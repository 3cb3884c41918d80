// Command gendocs writes vidup's CLI reference (Markdown) and, with -man, its
// man pages, both generated from the commands themselves.
//
//	go run ./internal/cli/gendocs docs/cli
//	go run ./internal/cli/gendocs -man dist/man
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vidup/vidup/internal/cli"
)

func main() {
	man := flag.Bool("man", false, "write man pages instead of Markdown")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gendocs [-man] DIR")
		os.Exit(2)
	}
	var err error
	if *man {
		err = cli.WriteManPages(flag.Arg(0))
	} else {
		err = cli.WriteMarkdown(flag.Arg(0))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
