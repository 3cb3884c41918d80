package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/config"
	"github.com/vidup/vidup/internal/credentials"
	"github.com/vidup/vidup/internal/transfer"
)

// uploadSpec: upload's settings are top-level keys of the config file, and
// VIDUP_<FLAG> in the environment (VIDUP_API_URL, VIDUP_CONCURRENCY, ...).
var uploadSpec = config.Spec{}

// UploadOptions are vidup upload's settings, resolved once at start.
type UploadOptions struct {
	IO    *IOStreams
	Paths []string

	APIURL    string
	TokenFile string
	// Token comes from VIDUP_API_TOKEN or the token file, never a flag.
	Token string

	Concurrency int
	PartSize    sizeFlag
	Metadata    []string
	ContentType string
	Retries     int
	RetryBudget time.Duration
	CABundle    string

	Progress string
	Quiet    bool
	Output   string

	// Filled by validation.
	files    []*transfer.File
	metadata map[string]string

	// Tests shorten the waits between retries here; production keeps the
	// defaults of transfer.DefaultRetry and api.DefaultRetryPolicy.
	retryDelays *retryDelays
	now         func() time.Time
}

type retryDelays struct {
	base, max time.Duration
}

// sizeFlag is a byte size flag that reads 16MiB, 64M, 1GiB; 0 is "auto".
type sizeFlag int64

func (s *sizeFlag) String() string {
	if *s == 0 {
		return "auto"
	}
	return transfer.FormatSize(int64(*s))
}

func (s *sizeFlag) Set(v string) error {
	if strings.EqualFold(strings.TrimSpace(v), "auto") {
		*s = 0
		return nil
	}
	n, err := transfer.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func (s *sizeFlag) Type() string { return "size" }

func newCmdUpload(io *IOStreams, runF func(*UploadOptions) error) *cobra.Command {
	opts := &UploadOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "upload [flags] FILE...",
		Short: "Upload files to S3 and register them with the API",
		Long: `Upload video files straight to S3 and register each with your company's API.

vidup opens an upload session on the API (VIDUP_API_URL, token in
VIDUP_API_TOKEN or --token-file), streams each file to S3 in concurrent
multipart parts with a CRC64NVME checksum each, retries only the parts that
fail, verifies the object S3 stored against the local file, and registers it.

Exit codes: 0 all done, 1 some file failed, 2 usage or configuration error,
3 the API refused the token, 130 interrupted.`,
		Example: `  export VIDUP_API_URL=https://videos.example.com VIDUP_API_TOKEN=...
  vidup upload clip.mp4
  vidup upload --concurrency 16 --metadata camera=cam-3 *.mov
  vidup upload --output json --quiet day1/*.mxf > result.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := resolveSettings(io, cmd, uploadSpec); err != nil {
				return err
			}
			opts.Paths = args
			if err := opts.validate(); err != nil {
				return err
			}
			markRan(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runUpload(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.APIURL, "api-url", "", "base URL of the upload API (env VIDUP_API_URL)")
	f.StringVar(&opts.TokenFile, "token-file", "", "file holding the API token (else env VIDUP_API_TOKEN)")
	f.IntVar(&opts.Concurrency, "concurrency", 8, "parts in flight at once, over all files")
	f.Var(&opts.PartSize, "part-size", "multipart part size, 5MiB to 5GiB (auto: 16MiB, growing so no file needs more than 10,000 parts)")
	f.StringArrayVar(&opts.Metadata, "metadata", nil, "key=value sent with each registration (repeatable)")
	f.StringVar(&opts.ContentType, "content-type", "", "content type of every file (default: detected from its first bytes, then its extension)")
	f.IntVar(&opts.Retries, "retries", transfer.DefaultRetry.Retries, "retries of a failed part or request")
	f.DurationVar(&opts.RetryBudget, "retry-budget", transfer.DefaultRetry.Budget, "longest time one part or request may spend retrying")
	f.StringVar(&opts.CABundle, "ca-bundle", "", "PEM file of extra CA certificates for S3 (AWS_CA_BUNDLE works too)")
	f.StringVar(&opts.Progress, "progress", "auto", "progress display: auto, bar, plain or none")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress and no summary; errors only")
	f.StringVarP(&opts.Output, "output", "o", "text", "what stdout gets: text or json (one document at the end)")
	return cmd
}

// validate checks everything that can be checked before any upload: every
// problem here is a usage error (exit 2).
func (o *UploadOptions) validate() error {
	if o.APIURL == "" {
		return usageErrorf("no API URL; set --api-url or VIDUP_API_URL")
	}
	switch {
	case o.TokenFile != "":
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return usageErrorf("token file %s: %v; check --token-file", o.TokenFile, unwrapPath(err))
		}
		o.Token = strings.TrimSpace(string(b))
		if o.Token == "" {
			return usageErrorf("token file %s is empty; put the API token in it", o.TokenFile)
		}
	default:
		o.Token, _ = o.IO.LookupEnv("VIDUP_API_TOKEN")
		o.Token = strings.TrimSpace(o.Token)
		if o.Token == "" {
			return usageErrorf("no API token; set VIDUP_API_TOKEN or --token-file")
		}
	}
	if o.Concurrency < 1 {
		return usageErrorf("--concurrency %d: must be 1 or more", o.Concurrency)
	}
	if o.PartSize != 0 {
		if err := transfer.CheckPartSize(int64(o.PartSize)); err != nil {
			return usageErrorf("--part-size: %v", err)
		}
	}
	if o.Retries < 0 {
		return usageErrorf("--retries %d: must be 0 or more", o.Retries)
	}
	if o.RetryBudget < 0 {
		return usageErrorf("--retry-budget %s: must be 0 or more", o.RetryBudget)
	}
	switch o.Progress {
	case "auto", "bar", "plain", "none":
	default:
		return usageErrorf("--progress %q: use auto, bar, plain or none", o.Progress)
	}
	switch o.Output {
	case "text", "json":
	default:
		return usageErrorf("--output %q: use text or json", o.Output)
	}
	o.metadata = nil
	for _, kv := range o.Metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return usageErrorf("--metadata %q: write it as key=value", kv)
		}
		if o.metadata == nil {
			o.metadata = map[string]string{}
		}
		o.metadata[strings.TrimSpace(k)] = v
	}
	if o.CABundle != "" {
		if _, err := os.Stat(o.CABundle); err != nil {
			return usageErrorf("--ca-bundle %s: %v", o.CABundle, unwrapPath(err))
		}
	}
	o.files = o.files[:0]
	var errs []error
	for _, p := range o.Paths {
		f, err := transfer.Open(p, o.ContentType)
		if err == nil {
			_, err = transfer.ChoosePartSize(f.Size, int64(o.PartSize))
			if err != nil {
				err = fmt.Errorf("%s: %w", p, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.files = append(o.files, f)
	}
	if len(errs) > 0 {
		return asUsage(errors.Join(errs...))
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// runUpload uploads the validated files and maps the outcome to the exit
// code: 1 when a file failed, 3 when the API refused the token, 130 when
// interrupted.
func runUpload(ctx context.Context, o *UploadOptions) error {
	now := o.now
	if now == nil {
		now = time.Now
	}
	retry := transfer.Retry{Retries: o.Retries, Budget: o.RetryBudget, BaseDelay: transfer.DefaultRetry.BaseDelay, MaxDelay: transfer.DefaultRetry.MaxDelay}
	apiRetry := api.RetryPolicy{MaxAttempts: o.Retries + 1, MaxElapsed: o.RetryBudget}
	if d := o.retryDelays; d != nil {
		retry.BaseDelay, retry.MaxDelay = d.base, d.max
		apiRetry.BaseDelay, apiRetry.MaxDelay = d.base, d.max
	}
	client, err := api.New(o.APIURL, o.Token, api.WithRetry(apiRetry), api.WithUserAgent("vidup/"+Version()))
	if err != nil {
		return asUsage(err)
	}
	obs := newUploadObserver(o)
	eng, err := transfer.New(ctx, transfer.Options{
		API: client, Concurrency: o.Concurrency, PartSize: int64(o.PartSize), Retry: retry,
		Metadata: o.metadata, Observer: obs, CABundle: o.CABundle, Credentials: credentials.New,
	})
	if err != nil {
		return asUsage(err)
	}
	start := now()
	results := eng.Upload(ctx, o.files)
	elapsed := now().Sub(start)
	obs.Close()

	doc := newUploadDocument(results, elapsed)
	if o.Output == "json" {
		if err := writeJSONDocument(o.IO.Out, doc); err != nil {
			return err
		}
	} else {
		writeTextResults(o.IO.Out, results)
	}
	var authErr error
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		fmt.Fprintf(o.IO.ErrOut, "vidup: %s\n", r.Err)
		var af authFailure
		if authErr == nil && errors.As(r.Err, &af) && af.AuthFailure() {
			authErr = r.Err
		}
	}
	if !o.Quiet {
		fmt.Fprintf(o.IO.ErrOut, "vidup: %s\n", doc.Summary.line())
	}
	if cause := context.Cause(ctx); ctx.Err() != nil && errors.Is(cause, errInterrupted) {
		return errInterrupted
	}
	switch {
	case authErr != nil:
		return &exitError{code: ExitAuth, err: authErr, silent: true}
	case doc.Summary.Failed > 0:
		return &exitError{code: ExitFailed, err: fmt.Errorf("%d of %d files failed", doc.Summary.Failed, doc.Summary.Files), silent: true}
	}
	return nil
}
