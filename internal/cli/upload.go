package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/config"
)

// PLACEHOLDER: replaced by the upload issue's implementation.

var uploadSpec = config.Spec{}

// UploadOptions are vidup serve's settings.
type UploadOptions struct{}

func newCmdUpload(io *IOStreams, runF func(*UploadOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "upload FILE...",
		Short: "Upload files to S3 and register them with the API",
		RunE: func(cmd *cobra.Command, _ []string) error {
			markRan(cmd)
			return errors.New("upload is not implemented yet")
		},
	}
}
