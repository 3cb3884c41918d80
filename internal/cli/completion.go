package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/resume"
	"github.com/vidup/vidup/internal/units"
)

// Shell completion (vidup completion bash|zsh|fish|powershell) completes
// commands and flag names by itself; what it cannot know are the values a
// flag takes. This file tells it, in one table, so that the commands' files
// stay about what the commands do.

// completionValue is one value a flag takes and what it means (shown by
// zsh and fish next to the value).
type completionValue struct{ value, help string }

var (
	progressValues = []completionValue{
		{"auto", "a bar on a terminal, plain lines otherwise"},
		{"bar", "the progress bar"},
		{"plain", "a line every few seconds, for logs"},
		{"none", "no progress"},
	}
	checksumModes = []completionValue{
		{"crc32c", "full-object CRC32C"},
		{"crc64nvme", "full-object CRC64NVME"},
		{"crc32c-composite", "CRC32C of each part"},
		{"none", "no checksum header (stores that refuse them)"},
	}
	outputText = completionValue{"text", "lines for people"}
	outputJSON = completionValue{"json", "one JSON document"}
)

// flagCompletions lists, by command path and flag, the values the flag
// takes. TestCompletionTable checks that every command and flag here
// exists.
var flagCompletions = []struct {
	command, flag string
	values        []completionValue
}{
	{"vidup upload", "output", []completionValue{outputText, {"json", "one JSON document at the end"}, {"ndjson", "one JSON event a line, as things happen"}}},
	{"vidup upload", "progress", progressValues},
	{"vidup upload", "checksum", append([]completionValue{{"auto", "the store's, falling back when it refuses one"}}, checksumModes...)},
	{"vidup uploads", "output", []completionValue{outputText, outputJSON}},
	{"vidup uploads resume", "output", []completionValue{outputText, outputJSON}},
	{"vidup uploads resume", "progress", progressValues},
	{"vidup probe", "output", []completionValue{outputText, outputJSON}},
	{"vidup version", "output", []completionValue{outputText, outputJSON}},
	{"vidup serve", "checksum", checksumModes},
	{"vidup serve", "credentials", []completionValue{
		{"sts", "AssumeRole: credentials scoped to the session"},
		{"static", "one key per principal, for stores without STS"},
	}},
}

// dirFlags take a folder: the shell completes folders only.
var dirFlags = []struct{ command, flag string }{
	{"vidup upload", "state-dir"},
	{"vidup upload", "move-to"},
	{"vidup uploads", "state-dir"},
	{"vidup uploads resume", "state-dir"},
	{"vidup uploads abort", "state-dir"},
}

// noArgCommands take no arguments: the shell offers no file names.
var noArgCommands = []string{"vidup version", "vidup serve", "vidup uploads resume", "vidup config show"}

// addCompletions registers the completions of the table on root's tree,
// and the completion of upload ids for vidup uploads abort. It returns what
// the table names that the tree does not have (a test fails on it; vidup
// itself runs on without those completions).
func addCompletions(root *cobra.Command, io *IOStreams) error {
	var missing []string
	find := func(path string) *cobra.Command {
		c, _, err := root.Find(strings.Fields(path)[1:])
		if err != nil || c.CommandPath() != path {
			missing = append(missing, "command "+path)
			return nil
		}
		return c
	}
	register := func(path, flag string, f cobra.CompletionFunc) {
		c := find(path)
		if c == nil {
			return
		}
		if c.Flag(flag) == nil {
			missing = append(missing, fmt.Sprintf("flag --%s of %s", flag, path))
			return
		}
		if err := c.RegisterFlagCompletionFunc(flag, f); err != nil {
			missing = append(missing, err.Error())
		}
	}
	for _, fc := range flagCompletions {
		values := make([]cobra.Completion, len(fc.values))
		for i, v := range fc.values {
			values[i] = cobra.CompletionWithDesc(v.value, v.help)
		}
		register(fc.command, fc.flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	for _, d := range dirFlags {
		register(d.command, d.flag, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		})
	}
	for _, path := range noArgCommands {
		if c := find(path); c != nil {
			c.ValidArgsFunction = cobra.NoFileCompletions
		}
	}
	register("vidup", "config", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	if c := find("vidup uploads abort"); c != nil {
		c.ValidArgsFunction = completeUploadIDs(io)
	}
	if len(missing) > 0 {
		return fmt.Errorf("completions name what the commands lack: %s", strings.Join(missing, "; "))
	}
	return nil
}

// completeUploadIDs completes the ids of the journal's unfinished uploads
// (those vidup uploads lists), each with its state and file, leaving out
// ids already on the line. It reads the state folder the command would use
// (--state-dir, VIDUP_STATE_DIR, the config file) and creates nothing.
func completeUploadIDs(io *IOStreams) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if all, _ := cmd.Flags().GetBool("all"); all {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if _, err := resolveSettings(io, cmd, uploadsSpec); err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveError
		}
		dir, _ := cmd.Flags().GetString("state-dir")
		if dir == "" {
			dir = journal.DefaultDir()
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			// No journal yet: nothing to abort.
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		tr, err := resume.Open(dir)
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveError
		}
		entries, _ := tr.Unfinished()
		var ids []cobra.Completion
		for _, e := range entries {
			if !strings.HasPrefix(e.ID, toComplete) || slices.Contains(args, e.ID) {
				continue
			}
			state := string(e.State)
			if e.State == journal.Completed {
				state = "to register"
			}
			ids = append(ids, cobra.CompletionWithDesc(e.ID, state+" "+units.Path(entryPath(e))))
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
}
