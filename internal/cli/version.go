package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Stamped at build time by goreleaser and the Makefile:
//
//	-X github.com/vidup/vidup/internal/cli.version=1.2.3
//	-X github.com/vidup/vidup/internal/cli.commit=0123abcd4567
//	-X github.com/vidup/vidup/internal/cli.date=2026-01-02T03:04:05Z
//
// A binary of `go install github.com/vidup/vidup/cmd/vidup@v1.2.3` has
// none of them; its version comes from the module (debug.ReadBuildInfo).
var (
	version = ""
	commit  = ""
	date    = ""
)

// devVersion is the version of a build that is no release: neither stamped
// nor installed from a tagged module.
const devVersion = "dev"

// versionInfo is what `vidup version` says about the binary; with
// --output json, this document.
type versionInfo struct {
	// Version is the release's semantic version without its "v"
	// (1.2.3), or "dev".
	Version string `json:"version"`
	// Commit and Date are the commit built and when; "" when the build
	// did not record them.
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Version is the binary's version: the one stamped at build time, else the
// module's (go install ...@v1.2.3), else "dev".
func Version() string { return currentVersion().Version }

func currentVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildVersion(version, commit, date, bi)
}

// buildVersion puts the stamped values and the build information together:
// what was stamped wins, the build information fills the gaps.
func buildVersion(stampedVersion, stampedCommit, stampedDate string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{
		Version:   strings.TrimPrefix(stampedVersion, "v"),
		Commit:    stampedCommit,
		Date:      stampedDate,
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
	if bi != nil {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = strings.TrimPrefix(bi.Main.Version, "v")
		}
		if bi.GoVersion != "" {
			v.GoVersion = bi.GoVersion
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.Date == "" {
					v.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && v.Commit != "" && stampedCommit == "" {
			v.Commit += "-dirty"
		}
	}
	if v.Version == "" {
		v.Version = devVersion
	}
	return v
}

// text is the human form: the version on the first line (what
// `vidup --version | head -1` scripts read), then one fact a line.
func (v versionInfo) text() string {
	var b strings.Builder
	b.WriteString("vidup " + v.Version)
	if v.Version == devVersion {
		b.WriteString(" (a development build, not a release)")
	}
	b.WriteString("\n")
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	fmt.Fprintf(&b, "commit:  %s\n", unknown(v.Commit))
	fmt.Fprintf(&b, "built:   %s\n", unknown(v.Date))
	fmt.Fprintf(&b, "go:      %s\n", v.GoVersion)
	fmt.Fprintf(&b, "os/arch: %s/%s\n", v.OS, v.Arch)
	return b.String()
}

func (v versionInfo) write(w io.Writer, output string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(w, v.text())
	return err
}

// setVersionFlag makes the root's --version print what `vidup version`
// prints.
func setVersionFlag(root *cobra.Command) {
	v := currentVersion()
	root.Version = v.Version
	// The template is the text itself, with any template action escaped.
	root.SetVersionTemplate(strings.ReplaceAll(v.text(), "{{", `{{"{{"}}`))
}

func newCmdVersion(io *IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print vidup's version, commit, build date, Go version and system",
		Long: `Print vidup's version (the release's semantic version, or "dev" for a build
that is no release), the commit it was built from, when, by which Go, and
for which operating system and architecture. --output json prints the same
as one JSON document.`,
		Example: `  vidup version
  vidup version --output json | jq -r .version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "text", "json":
			default:
				return usageErrorf("--output %q: use text or json", output)
			}
			markRan(cmd)
			return currentVersion().write(io.Out, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "what stdout gets: text or json")
	return cmd
}
