package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/progress"
)

// Every command and flag the completion table names exists and got its
// completion: renaming a flag without the table fails here.
func TestCompletionTable(t *testing.T) {
	streams := &IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard, LookupEnv: func(string) (string, bool) { return "", false }}
	root := NewRootCmd(streams)
	check := func(path, flag string) {
		t.Helper()
		c, _, err := root.Find(strings.Fields(path)[1:])
		if err != nil || c.CommandPath() != path {
			t.Errorf("the completion table names %q, which vidup does not have", path)
			return
		}
		if _, ok := c.GetFlagCompletionFunc(flag); !ok {
			t.Errorf("%s --%s has no completion", path, flag)
		}
	}
	for _, fc := range flagCompletions {
		check(fc.command, fc.flag)
	}
	for _, d := range dirFlags {
		check(d.command, d.flag)
	}
	for _, path := range noArgCommands {
		c, _, err := root.Find(strings.Fields(path)[1:])
		if err != nil || c.CommandPath() != path || c.ValidArgsFunction == nil {
			t.Errorf("%s: no argument completion", path)
		}
	}

	// A tree that lacks what the table names is reported, by name.
	err := addCompletions(&cobra.Command{Use: "vidup"}, streams)
	if err == nil || !strings.Contains(err.Error(), "command vidup upload") {
		t.Errorf("addCompletions on an empty tree: %v; want an error naming vidup upload", err)
	}
}

// The values completion offers are the values the flags accept.
func TestCompletionValuesAreAccepted(t *testing.T) {
	for _, v := range progressValues {
		if _, err := progress.ParseMode(v.value); err != nil {
			t.Errorf("--progress %s is offered but refused: %v", v.value, err)
		}
	}
	for _, fc := range flagCompletions {
		if fc.flag != "checksum" {
			continue
		}
		for _, v := range fc.values {
			if _, err := contract.ParseChecksumMode(v.value); err != nil {
				t.Errorf("%s --checksum %s is offered but refused: %v", fc.command, v.value, err)
			}
		}
	}
}
