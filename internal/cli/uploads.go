package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/config"
	"github.com/vidup/vidup/internal/credentials"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/progress"
	"github.com/vidup/vidup/internal/resume"
	"github.com/vidup/vidup/internal/retry"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
)

// uploadsSpec: like upload's, the settings of vidup uploads are top-level
// keys (VIDUP_STATE_DIR, VIDUP_API_URL, ...).
var uploadsSpec = config.Spec{}

// UploadsOptions are the settings of vidup uploads and its subcommands.
type UploadsOptions struct {
	IO        *IOStreams
	StateDir  string
	APIURL    string
	TokenFile string
	Token     string
	Output    string

	// abort
	All       bool
	OlderThan time.Duration
	IDs       []string

	// resume
	Concurrency int
	Progress    string
	Quiet       bool
	RetryOptions

	// verbose (--verbose, -v) logs every API and S3 call to stderr.
	verbose bool

	now func() time.Time
}

func (o *UploadsOptions) clock() time.Time {
	if o.now != nil {
		return o.now()
	}
	return time.Now()
}

// olderThanFlag is a duration that also reads days: 7d, 36h, 90m.
type olderThanFlag time.Duration

func (d *olderThanFlag) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}

func (d *olderThanFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return fmt.Errorf("%q is not a number of days (write 7d, 36h or 90m)", v)
		}
		*d = olderThanFlag(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	x, err := time.ParseDuration(v)
	if err != nil || x < 0 {
		return fmt.Errorf("%q is not a duration (write 7d, 36h or 90m)", v)
	}
	*d = olderThanFlag(x)
	return nil
}

func (d *olderThanFlag) Type() string { return "duration" }

func newCmdUploads(io *IOStreams) *cobra.Command {
	// abort has no retry flags: it retries as the defaults say.
	opts := &UploadsOptions{IO: io, RetryOptions: RetryOptions{Retries: retry.DefaultRetries, RetryBudget: retry.DefaultBudget}}
	stateFlag := func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&opts.StateDir, "state-dir", "", "folder of the resume journal (default $XDG_STATE_HOME/vidup; env VIDUP_STATE_DIR)")
	}
	apiFlags := func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&opts.APIURL, "api-url", "", "base URL of the upload API (env VIDUP_API_URL)")
		cmd.Flags().StringVar(&opts.TokenFile, "token-file", "", "file holding the API token (else env VIDUP_API_TOKEN)")
	}
	prepare := func(cmd *cobra.Command, needAPI bool) error {
		if _, err := resolveSettings(io, cmd, uploadsSpec); err != nil {
			return err
		}
		opts.verbose = verbose(cmd)
		if opts.StateDir == "" {
			opts.StateDir = journal.DefaultDir()
		}
		switch opts.Output {
		case "text", "json":
		default:
			return usageErrorf("--output %q: use text or json", opts.Output)
		}
		if needAPI {
			if err := opts.resolveAPI(); err != nil {
				return err
			}
		}
		markRan(cmd)
		return nil
	}

	cmd := &cobra.Command{
		Use:   "uploads",
		Short: "List, resume or abort the uploads the journal holds",
		Long: `List the uploads an earlier run left unfinished: still uploading (the
multipart upload is open on S3) or completed but not yet registered with the
API (the outbox).

vidup upload continues them by itself when it is run again on the same
files; vidup uploads resume continues them all without naming the files, and
vidup uploads abort gives up on them.`,
		Example: `  vidup uploads
  vidup uploads --output json
  vidup uploads resume
  vidup uploads abort 3f2a9c1e0b7d4e65
  vidup uploads abort --all --older-than 7d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := prepare(cmd, false); err != nil {
				return err
			}
			return runUploadsList(opts)
		},
	}
	stateFlag(cmd)
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "what stdout gets: text or json")

	resumeCmd := &cobra.Command{
		Use:   "resume",
		Short: "Continue every unfinished upload and register the completed ones",
		Long: `Continue every upload the journal holds as unfinished: the missing parts are
sent to S3 in the upload's own session (with fresh credentials from the
API), and uploads that S3 holds complete are registered. A file that changed
since its upload started is uploaded again from the start; a file that is
gone cannot be resumed (abort its upload with vidup uploads abort ID).

Exit codes: 0 all done, 1 some upload failed, 2 usage or configuration
error, 3 the API refused the token, 130 interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := prepare(cmd, true); err != nil {
				return err
			}
			if opts.Concurrency < 1 {
				return usageErrorf("--concurrency %d: must be 1 or more", opts.Concurrency)
			}
			if _, err := progress.ParseMode(opts.Progress); err != nil {
				return usageErrorf("--progress: %v", err)
			}
			if err := opts.RetryOptions.validate(); err != nil {
				return err
			}
			return runUploadsResume(cmd.Context(), opts)
		},
	}
	stateFlag(resumeCmd)
	apiFlags(resumeCmd)
	resumeCmd.Flags().IntVar(&opts.Concurrency, "concurrency", 8, "parts in flight at once, over all files")
	resumeCmd.Flags().StringVar(&opts.Progress, "progress", "auto", "progress display: auto, bar, plain or none")
	resumeCmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress and no summary; errors only")
	opts.RetryOptions.addFlags(resumeCmd.Flags())
	resumeCmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "what stdout gets: text or json")

	abortCmd := &cobra.Command{
		Use:   "abort [flags] ID...|--all",
		Short: "Abort unfinished uploads on S3 and forget them",
		Long: `Abort the multipart uploads of the named journal entries (or of all, with
--all) on S3, so that their parts stop costing storage, and remove them from
the journal. vidup asks the API for fresh credentials of each upload's
session to do so; when the API no longer knows the session, the entry is
only forgotten, and the bucket's lifecycle rule cleans its parts.

An upload that is complete on S3 but not registered is only forgotten (its
object stays). With --all, --older-than limits the cleanup to entries that
have not changed for that long, and also forgets the records of registered
uploads that old (so those files would be uploaded again if named).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IDs = args
			switch {
			case opts.All && len(args) > 0:
				return usageErrorf("name upload ids or use --all, not both")
			case !opts.All && len(args) == 0:
				return usageErrorf("name the uploads to abort (see vidup uploads) or use --all")
			case opts.OlderThan > 0 && !opts.All:
				return usageErrorf("--older-than goes with --all")
			}
			if err := prepare(cmd, true); err != nil {
				return err
			}
			return runUploadsAbort(cmd.Context(), opts)
		},
	}
	stateFlag(abortCmd)
	apiFlags(abortCmd)
	abortCmd.Flags().BoolVar(&opts.All, "all", false, "abort every unfinished upload")
	abortCmd.Flags().Var((*olderThanFlag)(&opts.OlderThan), "older-than", "with --all: only entries unchanged for this long (7d, 36h, 90m)")
	opts.Output = "text"

	cmd.AddCommand(resumeCmd, abortCmd)
	return cmd
}

// resolveAPI reads the API URL and token as vidup upload does.
func (o *UploadsOptions) resolveAPI() error {
	if o.APIURL == "" {
		return usageErrorf("no API URL; set --api-url or VIDUP_API_URL")
	}
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return usageErrorf("token file %s: %v; check --token-file", o.TokenFile, unwrapPath(err))
		}
		o.Token = strings.TrimSpace(string(b))
		if o.Token == "" {
			return usageErrorf("token file %s is empty; put the API token in it", o.TokenFile)
		}
		return nil
	}
	o.Token, _ = o.IO.LookupEnv("VIDUP_API_TOKEN")
	o.Token = strings.TrimSpace(o.Token)
	if o.Token == "" {
		return usageErrorf("no API token; set VIDUP_API_TOKEN or --token-file")
	}
	return nil
}

// uploadJSON is one entry of `vidup uploads --output json`.
type uploadJSON struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	BytesDone  int64     `json:"bytes_done"`
	Percent    float64   `json:"percent"`
	AgeSeconds int64     `json:"age_seconds"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	SessionID  string    `json:"session_id"`
	UploadID   string    `json:"upload_id"`
	Key        string    `json:"key"`
	LastError  string    `json:"last_error"`
	// A package (contract v1.1 1b): its kind, its files, and how many of
	// them are on S3, completed and verified. Absent for a file.
	Package     string `json:"package,omitempty"`
	Objects     int    `json:"objects,omitempty"`
	ObjectsDone int    `json:"objects_done,omitempty"`
}

// packageRow is the row of an unfinished package.
func packageRow(p journal.PackageStatus, now time.Time) uploadJSON {
	pct := 0.0
	if p.Size > 0 {
		pct = float64(int(1000*float64(p.Bytes)/float64(p.Size))) / 10
	}
	return uploadJSON{
		ID: p.ID, State: string(p.State), Path: p.Source, Size: p.Size, BytesDone: p.Bytes, Percent: pct,
		AgeSeconds: int64(now.Sub(p.UpdatedAt).Seconds()), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		SessionID: p.SessionID, UploadID: p.UploadID, Key: p.Key,
		Package: p.Kind, Objects: p.Files, ObjectsDone: p.Objects,
	}
}

// unfinishedPackages lists the packages the journal in dir holds as
// unfinished.
func unfinishedPackages(dir string) ([]journal.PackageStatus, error) {
	pk, err := journal.OpenPackages(dir)
	if err != nil {
		return nil, err
	}
	return pk.Unfinished()
}

// packageHint says how an unfinished package continues: its folder is read
// again (its manifests say what it holds), so by `vidup upload --package`.
func packageHint(path string) string {
	return fmt.Sprintf("a package: `vidup upload --package %s` continues it under its session", shellQuote(path))
}

func entryPath(e *journal.Entry) string {
	if e.Source.Path != "" {
		return e.Source.Path
	}
	return "(" + e.Name + ", from standard input)"
}

func runUploadsList(o *UploadsOptions) error {
	tr, err := resume.Open(o.StateDir)
	if err != nil {
		return asUsage(withAdvice(err))
	}
	entries, listErr := tr.Unfinished()
	pkgs, pkgErr := unfinishedPackages(tr.Dir())
	listErr = errors.Join(listErr, pkgErr)
	now := o.clock()
	rows := make([]uploadJSON, 0, len(entries)+len(pkgs))
	for _, e := range entries {
		done := resume.Done(e)
		pct := 0.0
		if e.Size > 0 {
			pct = float64(int(1000*float64(done)/float64(e.Size))) / 10
		}
		rows = append(rows, uploadJSON{
			ID: e.ID, State: string(e.State), Path: entryPath(e), Size: e.Size, BytesDone: done, Percent: pct,
			AgeSeconds: int64(now.Sub(e.UpdatedAt).Seconds()), CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
			SessionID: e.SessionID, UploadID: e.UploadID, Key: e.Key, LastError: e.LastError,
		})
	}
	for _, p := range pkgs {
		rows = append(rows, packageRow(p, now))
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(struct {
			Uploads []uploadJSON `json:"uploads"`
		}{rows}); err != nil {
			return err
		}
	} else if len(rows) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "vidup: no unfinished uploads in "+tr.Dir())
	} else {
		w := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tSTATE\tDONE\tSIZE\tAGE\tFILE")
		for _, r := range rows {
			state := r.State
			if state == string(journal.Completed) {
				state = "to register"
			}
			file := units.Path(r.Path)
			if r.Package != "" {
				file += fmt.Sprintf(" (%s package, %d of %d files)", r.Package, r.ObjectsDone, r.Objects)
			}
			fmt.Fprintf(w, "%s\t%s\t%.1f%%\t%s\t%s\t%s\n", r.ID, state, r.Percent, units.Size(r.Size),
				units.Duration(time.Duration(r.AgeSeconds)*time.Second), file)
		}
		w.Flush()
		for _, r := range rows {
			if r.LastError != "" {
				fmt.Fprintf(o.IO.Out, "%s: last attempt: %s\n", r.ID, units.Lines(r.LastError))
			}
			if r.Package != "" {
				fmt.Fprintf(o.IO.Out, "%s: %s\n", r.ID, packageHint(r.Path))
			}
		}
	}
	if listErr != nil {
		return fmt.Errorf("some journal entries cannot be read: %w", withAdvice(listErr))
	}
	return nil
}

// engine builds the API client and an engine over it.
func (o *UploadsOptions) engine(ctx context.Context, obs transfer.Observer, hooks transfer.Hooks) (*transfer.Engine, error) {
	policy := o.RetryOptions.policy()
	apiOpts := []api.Option{api.WithRetry(policy), api.WithUserAgent("vidup/" + Version())}
	var wrap func(aws.HTTPClient) aws.HTTPClient
	if o.verbose {
		l := newHTTPLog(o.IO.ErrOut)
		apiOpts = append(apiOpts, api.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper { return l.RoundTripper("api", rt) }))
		wrap = func(c aws.HTTPClient) aws.HTTPClient { return l.HTTPClient("s3", c) }
	}
	client, err := api.New(o.APIURL, o.Token, apiOpts...)
	if err != nil {
		return nil, asUsage(err)
	}
	eng, err := transfer.New(ctx, transfer.Options{API: batchAPI{client}, Concurrency: max(o.Concurrency, 1), Retry: transfer.Retry(policy),
		Observer: obs, Hooks: hooks, Credentials: credentials.New, WrapHTTPClient: wrap})
	if err != nil {
		return nil, asUsage(err)
	}
	return eng, nil
}

func runUploadsResume(ctx context.Context, o *UploadsOptions) error {
	tr, err := resume.Open(o.StateDir)
	if err != nil {
		return asUsage(withAdvice(err))
	}
	defer tr.Close()
	pending := tr.Pending()
	defer pending.Release()
	if pending.ListErr != nil {
		fmt.Fprintf(o.IO.ErrOut, "vidup: %s\n", errText(pending.ListErr))
	}
	for _, err := range pending.Problems {
		var ce *resume.ClaimError
		if errors.As(err, &ce) {
			fmt.Fprintf(o.IO.ErrOut, "vidup: upload %s: %s: %s\n", ce.ID, units.Path(ce.Path), errText(ce.Err))
			continue
		}
		fmt.Fprintf(o.IO.ErrOut, "vidup: %s\n", errText(err))
	}
	for _, s := range pending.Skipped {
		fmt.Fprintf(o.IO.ErrOut, "vidup: %s: skipped: %s\n", units.Path(s.Path), units.Text(claimSkipReason(s.Skip)))
	}
	pkgs, pkgErr := unfinishedPackages(tr.Dir())
	if pkgErr != nil {
		fmt.Fprintf(o.IO.ErrOut, "vidup: %s\n", errText(pkgErr))
	}
	for _, p := range pkgs {
		fmt.Fprintf(o.IO.ErrOut, "vidup: %s: not resumed here: %s\n", units.Path(p.Source), packageHint(p.Source))
	}
	failed := len(pending.Problems)
	files := pending.Files
	if len(files) == 0 {
		if !o.Quiet && failed == 0 && len(pkgs) == 0 {
			fmt.Fprintln(o.IO.ErrOut, "vidup: nothing to resume")
		}
		if failed > 0 {
			return &exitError{code: ExitFailed, err: fmt.Errorf("%d uploads cannot be resumed", failed), silent: true}
		}
		return nil
	}
	mode, _ := progress.ParseMode(o.Progress)
	if o.Quiet {
		mode, _ = progress.ParseMode("none")
	}
	obs := advisedRenderer{progress.New(mode, o.IO.ErrOut, o.IO.StderrTTY)}
	eng, err := o.engine(ctx, obs, tr.Hooks())
	if err != nil {
		obs.Close()
		return err
	}
	start := o.clock()
	total := int64(0)
	for _, f := range files {
		total += f.Size
	}
	obs.Event(transfer.Event{Kind: transfer.Planned, Time: start, Files: len(files), Size: total})
	results := eng.Upload(ctx, files)
	obs.Close()
	if err := tr.Err(); err != nil {
		fmt.Fprintf(o.IO.ErrOut, "vidup: the journal could not record everything (a later run sends those parts again): %s\n", errText(err))
	}
	return o.report(ctx, results, failed, o.clock().Sub(start))
}

// report prints what a resume did and maps it to the exit code.
func (o *UploadsOptions) report(ctx context.Context, results []transfer.Result, failed int, elapsed time.Duration) error {
	type fileJSON struct {
		Path     string `json:"path"`
		Status   string `json:"status"`
		UploadID string `json:"upload_id"`
		Key      string `json:"key"`
		VideoID  string `json:"video_id"`
		Error    string `json:"error"`
	}
	var docs []fileJSON
	var authErr error
	uploaded := 0
	for _, r := range results {
		d := fileJSON{Path: r.Path, Status: string(r.Status), UploadID: r.UploadID, Key: r.Key, VideoID: r.VideoID}
		if r.Err != nil {
			d.Error = errText(r.Err)
			fmt.Fprintf(o.IO.ErrOut, "vidup: %s\n", d.Error)
			failed++
			var af authFailure
			if authErr == nil && errors.As(r.Err, &af) && af.AuthFailure() {
				authErr = r.Err
			}
		} else {
			uploaded++
			if o.Output == "text" {
				fmt.Fprintf(o.IO.Out, "%s\t%s\tvideo %s\t%s\n", r.Status, units.Path(r.Path), units.Text(r.VideoID), units.Text(r.Key))
			}
		}
		docs = append(docs, d)
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Files []fileJSON `json:"files"`
		}{docs}); err != nil {
			return err
		}
	}
	if !o.Quiet {
		fmt.Fprintf(o.IO.ErrOut, "vidup: %d resumed and registered, %d failed, in %s\n", uploaded, failed, elapsed.Round(time.Millisecond))
	}
	if cause := context.Cause(ctx); ctx.Err() != nil && errors.Is(cause, errInterrupted) {
		return errInterrupted
	}
	switch {
	case authErr != nil:
		return &exitError{code: ExitAuth, err: authErr, silent: true}
	case failed > 0:
		return &exitError{code: ExitFailed, err: fmt.Errorf("%d uploads failed", failed), silent: true}
	}
	return nil
}

func runUploadsAbort(ctx context.Context, o *UploadsOptions) error {
	tr, err := resume.Open(o.StateDir)
	if err != nil {
		return asUsage(withAdvice(err))
	}
	var targets []*journal.Entry
	var pkgTargets []journal.PackageStatus
	pk, err := journal.OpenPackages(tr.Dir())
	if err != nil {
		return asUsage(withAdvice(err))
	}
	if o.All {
		entries, listErr := tr.Unfinished()
		if listErr != nil {
			fmt.Fprintf(o.IO.ErrOut, "vidup: %v\n", withAdvice(listErr))
		}
		cutoff := o.clock().Add(-o.OlderThan)
		for _, e := range entries {
			if o.OlderThan == 0 || e.UpdatedAt.Before(cutoff) {
				targets = append(targets, e)
			}
		}
		pkgs, pkgErr := pk.Unfinished()
		if pkgErr != nil {
			fmt.Fprintf(o.IO.ErrOut, "vidup: %v\n", withAdvice(pkgErr))
		}
		for _, p := range pkgs {
			if o.OlderThan == 0 || p.UpdatedAt.Before(cutoff) {
				pkgTargets = append(pkgTargets, p)
			}
		}
	} else {
		for _, id := range o.IDs {
			if strings.HasPrefix(id, journal.PackageIDPrefix) {
				p, err := pk.ByID(id)
				if err != nil {
					return usageErrorf("%v", withAdvice(err))
				}
				pkgTargets = append(pkgTargets, p)
				continue
			}
			e, err := tr.Get(id)
			if err != nil {
				return usageErrorf("%v", withAdvice(err))
			}
			targets = append(targets, e)
		}
	}
	failed := 0
	for _, p := range pkgTargets {
		if err := forgetPackage(pk, p); err != nil {
			fmt.Fprintf(o.IO.ErrOut, "vidup: package %s (%s): %s\n", p.ID, units.Path(p.Source), errText(err))
			failed++
			continue
		}
		if !o.Quiet {
			fmt.Fprintf(o.IO.ErrOut, "vidup: package %s (%s): forgotten; what it sent stays on S3 unregistered, under %s, until the API's cleanup of stale sessions removes it\n",
				p.ID, units.Path(p.Source), p.Key)
		}
	}
	if len(targets) == 0 && len(pkgTargets) > 0 && !(o.All && o.OlderThan > 0) {
		if failed > 0 {
			return &exitError{code: ExitFailed, err: fmt.Errorf("%d uploads not aborted", failed), silent: true}
		}
		return nil
	}
	eng, err := o.engine(ctx, nil, nil)
	if err != nil {
		return err
	}
	for _, e := range targets {
		out, err := tr.Abort(ctx, eng, e)
		if err != nil {
			fmt.Fprintf(o.IO.ErrOut, "vidup: upload %s (%s): %s\n", e.ID, units.Path(entryPath(e)), errText(err))
			failed++
			continue
		}
		if !o.Quiet {
			fmt.Fprintf(o.IO.ErrOut, "vidup: upload %s (%s): %s\n", e.ID, units.Path(entryPath(e)), units.Text(abortOutcome(out, e)))
		}
	}
	if o.All && o.OlderThan > 0 {
		n, err := tr.Prune(o.OlderThan)
		if err != nil {
			fmt.Fprintf(o.IO.ErrOut, "vidup: pruning the journal: %s\n", errText(err))
			failed++
		}
		if n > 0 && !o.Quiet {
			fmt.Fprintf(o.IO.ErrOut, "vidup: forgot %d registered uploads older than %s\n", n, o.OlderThan)
		}
	}
	if o.All && len(targets) == 0 && len(pkgTargets) == 0 && !o.Quiet {
		fmt.Fprintln(o.IO.ErrOut, "vidup: no unfinished uploads to abort")
	}
	if cause := context.Cause(ctx); ctx.Err() != nil && errors.Is(cause, errInterrupted) {
		return errInterrupted
	}
	if failed > 0 {
		return &exitError{code: ExitFailed, err: fmt.Errorf("%d uploads not aborted", failed), silent: true}
	}
	return nil
}

// forgetPackage forgets an unfinished package, unless a run is uploading
// it now. Its objects need no abort from here: they are single requests,
// or multipart uploads under the session's prefix, which the API's cleanup
// of stale sessions aborts.
func forgetPackage(pk *journal.Packages, p journal.PackageStatus) error {
	unlock, ok, err := pk.Lock(p.Source)
	if err != nil {
		return err
	}
	if !ok {
		return resume.ErrBusy
	}
	defer unlock()
	return pk.Forget(p.Source)
}

// abortOutcome says what vidup uploads abort did with e.
func abortOutcome(out resume.Outcome, e *journal.Entry) string {
	switch out {
	case resume.ForgotRegistered:
		return "forgotten (it was registered as video " + e.VideoID + ")"
	case resume.ForgotUnregistered:
		return "forgotten (the object stays on S3, unregistered)"
	case resume.ForgotSessionGone:
		return "forgotten; the API no longer knows its session, so it cannot be aborted from here: the bucket's lifecycle rule will clean its parts"
	}
	return "aborted on S3 and forgotten"
}

// shellQuote writes path so that a POSIX shell reads it back as one word.
func shellQuote(path string) string {
	safe := path != ""
	for _, r := range path {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./-:@%+=,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}
