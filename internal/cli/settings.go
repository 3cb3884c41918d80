package cli

import (
	"fmt"
	goio "io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vidup/vidup/internal/config"
	"github.com/vidup/vidup/internal/journal"
)

// resolveSettings fills cmd's flags that were not given from the environment
// and the config file, once, before the command runs. Errors are
// configuration errors (exit code 2).
func resolveSettings(io *IOStreams, cmd *cobra.Command, spec config.Spec) ([]config.Value, error) {
	path, source := configPath(io, cmd)
	file, err := config.LoadFile(path, source != config.SourceDefault)
	if err != nil {
		return nil, asUsage(err)
	}
	warnUnknownKeys(io, file)
	spec.Skip = append(spec.Skip, "config", "help")
	values, err := config.Resolve(cmd.Flags(), spec, file, io.LookupEnv)
	if err != nil {
		return nil, asUsage(err)
	}
	return values, nil
}

// configPath is the config file a command reads and where that choice came
// from: --config, VIDUP_CONFIG, or the default path (which may be absent).
func configPath(io *IOStreams, cmd *cobra.Command) (string, config.Source) {
	if path, _ := cmd.Flags().GetString("config"); path != "" {
		return path, config.SourceFlag
	}
	if p, ok := io.LookupEnv("VIDUP_CONFIG"); ok && p != "" {
		return p, config.SourceEnv
	}
	return config.DefaultFile(), config.SourceDefault
}

// warnUnknownKeys says, once per command line, which keys of the config
// file no setting reads (a typo would otherwise be silently ignored), with
// the known key closest to each.
func warnUnknownKeys(io *IOStreams, file *config.File) {
	if io.warnedConfig || file.Path == "" {
		return
	}
	io.warnedConfig = true
	for _, u := range file.UnknownKeys(knownSettingKeys()) {
		hint := "it is ignored"
		if u.Closest != "" {
			hint = fmt.Sprintf("did you mean %q? It is ignored", u.Closest)
		}
		fmt.Fprintf(io.ErrOut, "vidup: warning: config file %s: unknown key %q; %s\n", file.Path, u.Key, hint)
	}
}

// knownSettingKeys is every key a config file may hold. Set in init: the
// commands it builds resolve their settings through this file, which a
// variable's initialiser may not refer back to.
var knownSettingKeys func() []string

func init() {
	knownSettingKeys = func() []string {
		io := &IOStreams{In: strings.NewReader(""), Out: goio.Discard, ErrOut: goio.Discard, LookupEnv: func(string) (string, bool) { return "", false }}
		specs := append([]struct {
			name string
			new  func(io *IOStreams) *cobra.Command
			spec config.Spec
		}{{"uploads", newCmdUploads, uploadsSpec}}, settingsSpecs...)
		root := NewRootCmd(io)
		var keys []string
		add := func(section string, fs *pflag.FlagSet) {
			fs.VisitAll(func(f *pflag.Flag) {
				if f.Name == "config" || f.Name == "help" {
					return
				}
				if section != "" {
					keys = append(keys, section+"."+f.Name)
				} else {
					keys = append(keys, f.Name)
				}
			})
		}
		for _, s := range specs {
			var visit func(c *cobra.Command)
			visit = func(c *cobra.Command) {
				add(s.spec.Section, c.Flags())
				for _, sub := range c.Commands() {
					visit(sub)
				}
			}
			visit(s.new(io))
			add(s.spec.Section, root.PersistentFlags())
		}
		return keys
	}
}

// settingsSpec lists the commands whose settings config show prints, with
// the spec each resolves with. Filled by the commands' files.
var settingsSpecs = []struct {
	name string
	new  func(io *IOStreams) *cobra.Command
	spec config.Spec
}{
	{"upload", func(io *IOStreams) *cobra.Command { return newCmdUpload(io, nil) }, uploadSpec},
	{"serve", func(io *IOStreams) *cobra.Command { return newCmdServe(io, nil) }, serveSpec},
}

func newCmdConfig(io *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect vidup's configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the effective settings and where each came from (secrets masked)",
		Long: `Print the effective value of every setting of vidup upload and vidup serve,
and where it came from: flag, env (VIDUP_*), file (the config file) or
default. Secrets are masked. The first row is the config file read (or
"not found" when the default one is absent); state-dir shows the resume
journal's folder in effect.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			markRan(cmd)
			w := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tVALUE\tSOURCE\tENV")
			path, source := configPath(io, cmd)
			shown := path
			if _, err := os.Stat(path); err != nil && source == config.SourceDefault {
				shown += " (not found)"
			}
			fmt.Fprintf(w, "config\t%s\t%s\t%s\n", shown, source, "VIDUP_CONFIG")
			for _, s := range settingsSpecs {
				sub := s.new(io)
				sub.Flags().AddFlagSet(cmd.Root().PersistentFlags())
				values, err := resolveSettings(io, sub, s.spec)
				if err != nil {
					return err
				}
				for _, v := range values {
					val := v.Value
					if v.Secret {
						val = config.Mask(val)
					}
					if v.Flag == "state-dir" && val == "" {
						val = journal.DefaultDir()
					}
					key := v.Key
					if s.spec.Section == "" {
						key = s.name + ": " + key
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", key, val, v.Source, v.Env)
				}
			}
			for _, env := range []string{"VIDUP_API_TOKEN", "VIDUP_SERVER_TOKENS"} {
				src := "unset"
				if v, ok := io.LookupEnv(env); ok && v != "" {
					src = "env"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", env, config.Mask(envValue(io, env)), src, env)
			}
			return w.Flush()
		},
	})
	return cmd
}

func envValue(io *IOStreams, name string) string {
	v, _ := io.LookupEnv(name)
	return v
}
