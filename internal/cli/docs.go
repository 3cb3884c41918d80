package cli

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsRoot is the command tree as the reference documents it: no
// environment-dependent defaults, no auto-generated date lines.
func docsRoot() *cobra.Command {
	io := &IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard, LookupEnv: func(string) (string, bool) { return "", false }}
	root := NewRootCmd(io)
	root.DisableAutoGenTag = true
	for _, c := range root.Commands() {
		disableAutoGen(c)
	}
	return root
}

func disableAutoGen(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, s := range c.Commands() {
		disableAutoGen(s)
	}
}

// WriteMarkdown writes the CLI reference, one page per command, into dir.
func WriteMarkdown(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return doc.GenMarkdownTree(docsRoot(), dir)
}

// WriteManPages writes section 1 man pages into dir.
func WriteManPages(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return doc.GenManTree(docsRoot(), &doc.GenManHeader{Title: "VIDUP", Section: "1", Source: "vidup " + Version()}, dir)
}
