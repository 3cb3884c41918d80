package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/config"
)

// PLACEHOLDER: replaced by the serve issue's implementation.

var serveSpec = config.Spec{Section: "serve"}

// ServeOptions are vidup serve's settings.
type ServeOptions struct{}

func newCmdServe(io *IOStreams, runF func(*ServeOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the reference implementation of the upload API",
		RunE: func(cmd *cobra.Command, _ []string) error {
			markRan(cmd)
			return errors.New("serve is not implemented yet")
		},
	}
}
