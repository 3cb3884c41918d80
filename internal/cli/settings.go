package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/config"
)

// resolveSettings fills cmd's flags that were not given from the environment
// and the config file, once, before the command runs. Errors are
// configuration errors (exit code 2).
func resolveSettings(io *IOStreams, cmd *cobra.Command, spec config.Spec) ([]config.Value, error) {
	path, _ := cmd.Flags().GetString("config")
	explicit := path != ""
	if !explicit {
		if p, ok := io.LookupEnv("VIDUP_CONFIG"); ok && p != "" {
			path, explicit = p, true
		} else {
			path = config.DefaultFile()
		}
	}
	file, err := config.LoadFile(path, explicit)
	if err != nil {
		return nil, asUsage(err)
	}
	spec.Skip = append(spec.Skip, "config", "help")
	values, err := config.Resolve(cmd.Flags(), spec, file, io.LookupEnv)
	if err != nil {
		return nil, asUsage(err)
	}
	return values, nil
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
default. Secrets are masked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			markRan(cmd)
			w := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tVALUE\tSOURCE\tENV")
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
