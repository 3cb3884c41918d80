package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/config"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/credentials"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/media"
	"github.com/vidup/vidup/internal/ratelimit"
	"github.com/vidup/vidup/internal/resume"
	"github.com/vidup/vidup/internal/sources"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
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
	RetryOptions
	CABundle string

	Progress string
	Quiet    bool
	Output   string

	// Bulk and unattended use.
	Recursive      bool
	FollowSymlinks bool
	FilesFrom      string
	Null           bool
	Include        []string
	Exclude        []string
	Name           string
	MinAge         time.Duration
	BWLimit        string
	// Checksum forces the checksum mode (auto: negotiated with the store).
	Checksum    string
	checksum    *contract.ChecksumMode
	MoveTo      string
	DeleteAfter bool
	Force       bool
	DryRun      bool
	StateDir    string
	// Wait follows each registered video's processing status (contract
	// v1.1 section 5) until it is ready or failed, for up to WaitTimeout.
	Wait        bool
	WaitTimeout time.Duration

	// The completeness gate (docs/media.md): incomplete and empty files
	// are refused, and -r leaves out files that are not media, unless
	// these say otherwise.
	AllowIncomplete bool
	// NoProbe skips reading the container: no gate, no media facts (the
	// opt-out of design decision 12).
	NoProbe    bool
	AllowEmpty bool
	AllFiles   bool
	// Packages: --package, --no-package, --only-referenced (package.go).
	packageOptions

	// Filled by validation.
	metadata map[string]string
	// plan is every file input in order: one to upload, one skipped while
	// expanding the arguments, or one that could not be used. The run fills
	// in each entry's outcome.
	plan []*runEntry
	// stdin is the item read from standard input, uploaded on its own.
	stdin   *asset.Item
	bwlimit int64
	// probed is what the probe read of each file inspect saw, for the
	// gate; validation drops it once the plan is made. Inspect runs on
	// several files at once (sources' workers): probedMu guards it.
	probedMu *sync.Mutex
	probed   map[*asset.Item]*media.Info

	// Tests shorten the waits between retries here; production keeps the
	// defaults of transfer.DefaultRetry and api.DefaultRetryPolicy.
	retryDelays *retryDelays
	// verbose (--verbose, -v) logs every API and S3 call to stderr.
	verbose bool
	// deleteAfterOld is --delete-after, the deprecated name of
	// --remove-source-files (DeleteAfter).
	deleteAfterOld bool
	// waitPoll is how often --wait asks; nil is defaultWaitPoll.
	waitPoll *waitPoll
	// openRun opens the resume module; nil is the journal (openRun).
	openRun func(dir string) (resume.Run, error)
	now     func() time.Time
}

// sizeFlag is a byte size flag (units.Size) that reads 16MiB, 64M, 1GiB;
// 0 is "auto".
type sizeFlag int64

func (s *sizeFlag) String() string {
	if *s == 0 {
		return "auto"
	}
	return units.Size(*s).String()
}

func (s *sizeFlag) Set(v string) error {
	if strings.EqualFold(strings.TrimSpace(v), "auto") {
		*s = 0
		return nil
	}
	n, err := units.ParseSize(v)
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
		Use:   "upload [flags] PATH...",
		Short: "Upload files to S3 and register them with the API",
		Long: `Upload video files straight to S3 and register each with your company's API.

vidup opens an upload session on the API (VIDUP_API_URL, token in
VIDUP_API_TOKEN or --token-file) per batch of up to 100 files, streams each
file to S3 in concurrent multipart parts with a CRC32C checksum each,
retries only the parts that fail, verifies the object S3 stored against the
local file, and registers it.

PATH is a file, a folder (with -r), a glob pattern in quotes that vidup
expands ('cams/*/clip-*.mp4', 'day1/**/*.mxf'), or - to read one video from
stdin (with --name; stdin is uploaded on its own and cannot be resumed).
--files-from FILE (or -) lists more paths, one a line, or NUL-separated
with -0. --include and --exclude filter by name or relative path. A file
that is missing or cannot be read fails alone, however it was named, and
the others go on; a named pipe, socket or device met in a folder is
skipped. Folders are never walked into the --move-to folder or the state
folder, so a moved file is not uploaded again.

Before a byte is sent, vidup reads each file's container (MP4, MOV, MXF,
MPEG-TS, Matroska, WebM, WAV: its headers and its end, not the whole file).
A file it finds incomplete (a recording not finalised, a copy cut short, a
file still being written) or empty is not uploaded: its result says why,
and the other files go on; --allow-incomplete and --allow-empty upload them
anyway. What the probe read (container, duration, streams, timecode) is
registered with the video. With -r, files found in folders that are not
media nor sidecars (XML, JSON, SRT, VTT, THM, HLS and DASH manifests) are
skipped, unless --all-files. Files the probe does not recognise are
uploaded as before.

A file already uploaded and registered (same path, size, time and content,
as the journal in --state-dir records) is skipped without asking the API;
--force uploads it again. A file another vidup run is uploading right now is
skipped too, so overlapping cron runs never upload a file twice.

With --wait, vidup follows each video this run registered until the company's
pipeline marks it ready or failed (up to --wait-timeout), showing each
change of state; against an API that does not report processing status it
says so and does not wait.

Exit codes: 0 all uploaded or skipped, 1 some file failed (the others are
done; run again to continue), 2 usage or configuration error, 3 the API
refused the token, 4 a video failed processing (--wait), 5 --wait-timeout
ran out before every video was processed, 130 interrupted.`,
		Example: `  export VIDUP_API_URL=https://videos.example.com VIDUP_API_TOKEN=...
  vidup upload clip.mp4
  vidup upload --concurrency 16 --metadata camera=cam-3 *.mov
  vidup upload -r /srv/ingest --min-age 5m --move-to /srv/done --output ndjson
  find /mnt/cards -name '*.mxf' -print0 | vidup upload --files-from - -0
  ffmpeg -i rtsp://cam/stream -f mpegts - | vidup upload - --name cam.ts
  vidup upload --dry-run -r day1/
  vidup upload --wait --wait-timeout 30m take-7.mxf`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := resolveSettings(io, cmd, uploadSpec); err != nil {
				return err
			}
			opts.Paths = args
			if cmd.Flags().Changed("name") && !slices.Contains(args, "-") {
				return usageErrorf(`--name names the video read from stdin; add "-" to the paths to read stdin, or drop --name`)
			}
			if opts.deleteAfterOld {
				fmt.Fprintln(io.ErrOut, "vidup: warning: --delete-after is deprecated (VIDUP_DELETE_AFTER, delete-after: in the config file); use --remove-source-files, same meaning: the local file is deleted once registered")
				opts.DeleteAfter = true
			}
			opts.verbose = verbose(cmd)
			if opts.verbose && opts.Progress == "auto" {
				// One line per call would tear a bar apart.
				opts.Progress = "plain"
			}
			if err := opts.validate(cmd.Context()); err != nil {
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
	f.Var(&opts.PartSize, "part-size", "multipart part size, 5MiB to 5GiB; 64M is 64MiB (auto: 16MiB, growing so no file needs more than 10,000 parts)")
	f.StringArrayVar(&opts.Metadata, "metadata", nil, "key=value sent with each registration (repeatable)")
	f.StringVar(&opts.ContentType, "content-type", "", "content type of every file (default: from its container, then its extension)")
	opts.RetryOptions.addFlags(f)
	f.StringVar(&opts.CABundle, "ca-bundle", "", "PEM file of extra CA certificates for S3 (AWS_CA_BUNDLE works too)")
	f.StringVar(&opts.Progress, "progress", "auto", "progress display on stderr: auto, bar, plain or none")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress and no summary; errors only")
	f.StringVarP(&opts.Output, "output", "o", "text", "what stdout gets: text, json (one document at the end) or ndjson (one event a line)")
	f.BoolVarP(&opts.Recursive, "recursive", "r", false, "upload the files in folders, and in their subfolders")
	f.BoolVar(&opts.FollowSymlinks, "follow-symlinks", false, "follow symbolic links met inside folders (loops are detected)")
	f.StringVar(&opts.FilesFrom, "files-from", "", "read more paths from FILE (- for stdin), one a line")
	f.BoolVarP(&opts.Null, "null", "0", false, "--files-from is NUL-separated (find -print0)")
	f.StringArrayVar(&opts.Include, "include", nil, "upload only files whose name or relative path matches (repeatable)")
	f.StringArrayVar(&opts.Exclude, "exclude", nil, "leave out files (and folders) whose name or relative path matches (repeatable)")
	f.StringVar(&opts.Name, "name", "", "name of the video read from stdin (-)")
	f.DurationVar(&opts.MinAge, "min-age", 0, "skip files modified less than this long ago (still being written), e.g. 5m")
	f.StringVar(&opts.BWLimit, "bwlimit", "", "cap the upload rate of the whole command in bytes per second: 64M is 64MiB/s, as --part-size 64M is 64MiB; 50MB/s and 400Mbit/s are decimal")
	f.StringVar(&opts.Checksum, "checksum", "auto", "checksum mode: auto (the store's, falling back when it refuses one), crc32c, crc64nvme, crc32c-composite or none")
	f.StringVar(&opts.MoveTo, "move-to", "", "after a file is uploaded and registered, move it into DIR, keeping its relative path")
	f.BoolVar(&opts.DeleteAfter, "remove-source-files", false, "after a file is uploaded and registered, delete it (as rsync's --remove-source-files)")
	// --delete-after was this flag's first name; rsync and rclone users
	// read it as "delete at the destination". It still works, with a note.
	f.BoolVar(&opts.deleteAfterOld, "delete-after", false, "old name of --remove-source-files")
	_ = f.MarkHidden("delete-after")
	f.BoolVar(&opts.Force, "force", false, "upload files the journal says were uploaded and registered already")
	f.BoolVar(&opts.DryRun, "dry-run", false, "list what would be uploaded or skipped, and why; contact nothing")
	f.StringVar(&opts.StateDir, "state-dir", "", "folder of the resume journal (default $XDG_STATE_HOME/vidup)")
	f.BoolVar(&opts.AllowIncomplete, "allow-incomplete", false, "upload files whose container is incomplete (not finalised, cut short, still being written)")
	f.BoolVar(&opts.AllowEmpty, "allow-empty", false, "upload empty files")
	f.BoolVar(&opts.AllFiles, "all-files", false, "with -r, upload every file found, not only media and their sidecars")
	f.BoolVar(&opts.NoProbe, "no-probe", false, "do not read the containers: no completeness gate, no media facts in the registration")
	f.BoolVar(&opts.Wait, "wait", false, "after the upload, wait until each registered video is processed (ready or failed)")
	f.DurationVar(&opts.WaitTimeout, "wait-timeout", defaultWaitTimeout, "longest time --wait waits, e.g. 30m")
	opts.packageOptions.addFlags(f)
	return cmd
}

// validate checks everything that can be checked before any upload: every
// problem here is a usage error (exit 2).
func (o *UploadOptions) validate(ctx context.Context) error {
	if len(o.Paths) == 0 && o.FilesFrom == "" {
		return usageErrorf("nothing to upload; name files, folders (with -r) or patterns, or use --files-from")
	}
	if !o.DryRun {
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
	}
	if o.Concurrency < 1 {
		return usageErrorf("--concurrency %d: must be 1 or more", o.Concurrency)
	}
	if o.PartSize != 0 {
		if err := transfer.CheckPartSize(int64(o.PartSize)); err != nil {
			return usageErrorf("--part-size: %v", err)
		}
	}
	if err := o.RetryOptions.validate(); err != nil {
		return err
	}
	if o.Wait && o.WaitTimeout <= 0 {
		return usageErrorf("--wait-timeout %s: must be more than 0", o.WaitTimeout)
	}
	switch o.Progress {
	case "auto", "bar", "plain", "none":
	default:
		return usageErrorf("--progress %q: use auto, bar, plain or none", o.Progress)
	}
	switch o.Output {
	case "text", "json", "ndjson":
	default:
		return usageErrorf("--output %q: use text, json or ndjson", o.Output)
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
	checksum, err := contract.ParseChecksumMode(o.Checksum)
	if err != nil {
		return usageErrorf("--checksum: %v", err)
	}
	o.checksum = checksum
	rate, err := units.ParseRate(o.BWLimit)
	if err != nil {
		return usageErrorf("--bwlimit %q: %v", o.BWLimit, err)
	}
	o.bwlimit = int64(rate)
	if o.MoveTo != "" && o.DeleteAfter {
		return usageErrorf("--move-to and --remove-source-files both say what to do with an uploaded file; choose one")
	}
	if o.MoveTo != "" {
		if info, err := os.Stat(o.MoveTo); err == nil && !info.IsDir() {
			return usageErrorf("--move-to %s is a file, not a folder; give a folder (vidup creates it when missing)", o.MoveTo)
		}
		if err := checkMoveTo(o.MoveTo, o.Paths); err != nil {
			return err
		}
	}
	if o.StateDir == "" {
		o.StateDir = journal.DefaultDir()
	}

	args, err := o.packageArgs()
	if err != nil {
		return err
	}
	o.probed, o.probedMu = map[*asset.Item]*media.Info{}, &sync.Mutex{}
	defer func() { o.probed = nil }()
	var res sources.Result
	if len(args) > 0 || o.FilesFrom != "" {
		res, err = sources.Expand(ctx, sources.Options{
			Args: args, Recursive: o.Recursive, FollowSymlinks: o.FollowSymlinks,
			FilesFrom: o.FilesFrom, NullSeparated: o.Null, Include: o.Include, Exclude: o.Exclude,
			MinAge: o.MinAge, Stdin: o.IO.In, StdinName: o.Name, Inspect: o.inspect, Workers: sources.DefaultWorkers(),
			// Files moved by --move-to, and the journal, are never found again.
			Prune: []string{o.MoveTo, o.StateDir},
		})
	}
	var ue *sources.UsageError
	switch {
	case errors.As(err, &ue):
		return asUsage(problemsError(ue.Problems))
	case err != nil:
		return err
	}
	o.plan, o.stdin = o.packages, nil
	for _, it := range res.Files {
		if it.Stdin {
			it.ContentType = o.ContentType
			o.stdin = it
			continue
		}
		if _, err := transfer.ChoosePartSize(it.Size, int64(o.PartSize)); err != nil {
			return usageErrorf("%s: %v", units.Path(it.Path), err)
		}
		switch skip, refused := o.gate(it); {
		case skip != nil:
			o.plan = append(o.plan, &runEntry{item: it, skip: skipReason(sources.Skip{Path: it.Path, Reason: skip.Error(), Why: skip})})
		case refused != nil:
			o.plan = append(o.plan, &runEntry{item: it, problem: refused, refused: true})
		default:
			o.plan = append(o.plan, &runEntry{item: it})
		}
	}
	if o.stdin != nil && (len(res.Files) > 1 || len(res.Skipped) > 0 || len(res.Problems) > 0) {
		return usageErrorf(`"-" (stdin) is uploaded on its own; run vidup upload again for the other paths`)
	}
	if o.stdin != nil && (o.MoveTo != "" || o.DeleteAfter) {
		return usageErrorf("--move-to and --remove-source-files apply to files, not to stdin")
	}
	for _, sk := range res.Skipped {
		o.plan = append(o.plan, &runEntry{item: &asset.Item{Path: sk.Path}, skip: skipReason(sk)})
	}
	for _, p := range res.Problems {
		o.plan = append(o.plan, &runEntry{item: &asset.Item{Path: p.Path}, problem: p.Err})
	}
	if len(o.plan) == 0 && o.stdin == nil {
		if res.Filtered > 0 {
			return usageErrorf("--include/--exclude left out all %d files found; nothing to upload", res.Filtered)
		}
	}
	return nil
}

// inspect reads what a run needs of a file from the handle internal/sources
// opened when it found it: what its container holds and whether it is
// complete (internal/media's probe, its headers and its end), its content
// type (the container's, then its extension's, unless --content-type names
// one; never the machine's MIME table) and the content sample of its
// identity in the resume journal. The file is not opened again before it is
// uploaded.
func (o *UploadOptions) inspect(h *os.File, info fs.FileInfo, it *asset.Item) error {
	it.ContentType = o.ContentType
	if o.NoProbe {
		if it.ContentType == "" {
			head := make([]byte, 512)
			n, err := h.ReadAt(head, 0)
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("%s: read: %w", units.Path(it.Path), err)
			}
			it.ContentType = media.ContentType(it.Path, head[:n])
		}
	} else {
		p, err := media.Probe(h, info.Size(), it.Path)
		if err != nil {
			return fmt.Errorf("%s: %w", units.Path(it.Path), err)
		}
		if o.probedMu != nil {
			o.probedMu.Lock()
			o.probed[it] = p
			o.probedMu.Unlock()
		}
		it.Media = itemMedia(p)
		if it.ContentType == "" {
			it.ContentType = p.ContentType
		}
	}
	if o.DryRun && o.Force {
		return nil // nothing asks the journal
	}
	sample, err := journal.Sample(h, info)
	if err != nil {
		return fmt.Errorf("%s: %w", units.Path(it.Path), err)
	}
	it.Sample = sample
	return nil
}

// problemsError makes one error of several problems, each on its own line
// starting with the program name (printError adds it to the first).
func problemsError(ps []sources.Problem) error {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = withAdvice(p.Err).Error()
	}
	return errors.New(strings.Join(msgs, "\nvidup: "))
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openRun opens the resume module for a run over the journal in dir
// (UploadOptions.openRun replaces it in tests).
func openRun(dir string) (resume.Run, error) { return resume.Open(dir) }

// runUpload uploads the validated files and maps the outcome to the exit
// code: 1 when a file failed, 3 when the API refused the token, 130 when
// interrupted.
func runUpload(ctx context.Context, o *UploadOptions) error {
	now := o.now
	if now == nil {
		now = time.Now
	}
	if o.DryRun {
		return runDryRun(o)
	}
	start := now()
	out := newRunOutput(o)
	out.watchInterrupt(ctx)

	// Claims come first: a file done before or held by another run is
	// skipped without a word to the API.
	var hooks transfer.Hooks = transfer.NopHooks{}
	entries := o.plan
	if o.stdin != nil {
		entries = []*runEntry{{item: o.stdin}}
	} else {
		open := o.openRun
		if open == nil {
			open = openRun
		}
		tr, err := open(o.StateDir)
		if err != nil {
			return asUsage(withAdvice(err))
		}
		defer tr.Close()
		defer func() {
			if err := errors.Join(tr.Err(), o.packageJournalErr()); err != nil {
				fmt.Fprintf(o.IO.ErrOut, "vidup: warning: the resume journal in %s could not record everything (a later run uploads those files again): %v\n", o.StateDir, withAdvice(err))
			}
		}()
		hooks = tr.Hooks()
		for _, e := range entries {
			if e.skip != "" || e.problem != nil {
				continue
			}
			if e.item.Package() {
				defer o.claimPackage(e)()
				continue
			}
			c, err := tr.Claim(e.item, o.Force)
			switch {
			case err != nil:
				e.problem = fmt.Errorf("%s: %w", units.Path(e.item.Path), withAdvice(err))
			case c.Skip != nil:
				e.skip, e.skipVideo = claimSkipReason(c.Skip), c.Skip.VideoID
			default:
				// Released as soon as the file's upload ends (below), and
				// at the latest when the run returns.
				e.release = c.Release
				defer c.Release()
			}
		}
	}

	// The run's plan: every input, counted once, before any upload.
	var toUpload []*asset.Item
	var uploading []*runEntry // in the order of toUpload
	total := int64(0)
	for _, e := range entries {
		if e.skip == "" && e.problem == nil {
			toUpload = append(toUpload, e.item)
			uploading = append(uploading, e)
			if total >= 0 && e.item.Size >= 0 {
				total += e.item.Size
			} else {
				total = asset.UnknownSize
			}
		}
	}
	planTime := now()
	out.emit(transfer.Event{Kind: transfer.Planned, Time: planTime, Files: len(entries), Size: total})
	for _, e := range entries {
		switch {
		case e.skip != "":
			out.emit(transfer.Event{Kind: transfer.FileSkipped, Time: planTime, Path: e.item.Path, Size: e.item.Size, Reason: e.skip, VideoID: e.skipVideo})
		case e.problem != nil:
			out.emit(transfer.Event{Kind: transfer.FileFailed, Time: planTime, Path: e.item.Path, Size: e.item.Size,
				Reason: e.problem.Error(), Err: e.problem, Media: transfer.RegistrationMedia(e.item.Media)})
		}
	}

	policy := o.RetryOptions.policy()
	apiOpts := []api.Option{api.WithRetry(policy), api.WithUserAgent("vidup/" + Version()), api.WithOnRetry(out.apiRetried)}
	var callLog *httpLog
	if o.verbose {
		callLog = newHTTPLog(o.IO.ErrOut)
		apiOpts = append(apiOpts, api.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper { return callLog.RoundTripper("api", rt) }))
	}
	client, err := api.New(o.APIURL, o.Token, apiOpts...)
	if err != nil {
		return asUsage(err)
	}
	after := &afterUpload{Hooks: hooks, moveTo: o.MoveTo, del: o.DeleteAfter, entries: map[*asset.Item]*runEntry{}}
	for _, e := range uploading {
		after.entries[e.item] = e
	}
	var wrap func(aws.HTTPClient) aws.HTTPClient
	if o.bwlimit > 0 {
		limiter := ratelimit.New(o.bwlimit)
		wrap = func(c aws.HTTPClient) aws.HTTPClient { return limiter.HTTPClient(c) }
	}
	if callLog != nil {
		inner := wrap
		wrap = func(c aws.HTTPClient) aws.HTTPClient {
			if inner != nil {
				c = inner(c)
			}
			return callLog.HTTPClient("s3", c)
		}
	}
	eng, err := transfer.New(ctx, transfer.Options{
		API: batchAPI{client}, Concurrency: o.Concurrency, PartSize: int64(o.PartSize), Retry: transfer.Retry(policy),
		Metadata: o.metadata, Observer: out, Hooks: after, CABundle: o.CABundle, Credentials: credentials.New,
		WrapHTTPClient: wrap, Checksum: o.checksum, Packages: o.packageEngineJournal(),
		Ended: func(i int, r transfer.Result) {
			// The file is done with: its lock and the journal's memory of
			// it go now, not at the end of a run of many files.
			e := uploading[i]
			e.result = &r
			if e.release != nil {
				e.release()
			}
		},
	})
	if err != nil {
		return asUsage(err)
	}

	if o.stdin != nil {
		r := eng.UploadStream(ctx, o.IO.In, o.stdin)
		uploading[0].result = &r
	} else {
		// Each file's result reaches its entry through Ended.
		eng.Upload(ctx, toUpload)
	}
	elapsed := now().Sub(start)
	out.close()

	// With --wait, text results and the summary come first (the video
	// ids are worth having while waiting); the JSON document and the
	// NDJSON summary end the run, so they come after the wait.
	var waitErr error
	waiting := o.Wait && ctx.Err() == nil
	if waiting && o.Output == "text" {
		if err := out.finish(entries, out.summary(entries, elapsed)); err != nil {
			return err
		}
	}
	if waiting {
		waitErr = out.wait(ctx, client, entries)
	}
	summary := out.summary(entries, elapsed)
	if !waiting || o.Output != "text" {
		if err := out.finish(entries, summary); err != nil {
			return err
		}
	}
	var authErr, configErr error
	for _, e := range entries {
		if e.result != nil && e.result.Err != nil {
			var af authFailure
			if authErr == nil && errors.As(e.result.Err, &af) && af.AuthFailure() {
				authErr = e.result.Err
			}
			if configErr == nil && configFailure(e.result.Err) {
				configErr = e.result.Err
			}
		}
	}
	if cause := context.Cause(ctx); ctx.Err() != nil && errors.Is(cause, errInterrupted) {
		return errInterrupted
	}
	switch {
	case authErr != nil:
		return &exitError{code: ExitAuth, err: authErr, silent: true}
	case configErr != nil:
		// The API URL is wrong (not TLS, an S3 endpoint, not the API):
		// a configuration error, which no re-run cures.
		return &exitError{code: ExitUsage, err: configErr, silent: true}
	case summary.Failed > 0:
		return &exitError{code: ExitFailed, err: fmt.Errorf("%d of %d files failed", summary.Failed, summary.Files), silent: true}
	}
	return waitErr
}

// runEntry is one input of a run, from validation to the output: its item,
// and what became of it.
type runEntry struct {
	// item is what internal/sources found; for a path skipped or refused
	// while expanding the arguments, only its Path is set.
	item    *asset.Item
	skip    string // why it is not uploaded
	problem error  // why it cannot be uploaded
	// refused: the completeness gate refused the file; problem is the
	// probe's sentence, which does not name the file.
	refused bool
	result  *transfer.Result
	// skipVideo is the video id of a file skipped as registered before.
	skipVideo string
	// release releases the file's claim on the journal (resume.Claim).
	release func()
	// Set by afterUpload from the engine's workers, read once the engine
	// has returned.
	afterErr error  // --move-to or --remove-source-files failed
	movedTo  string // where --move-to put it
	// processing is what --wait saw last of the video's status; nil
	// without --wait or when the API does not report it.
	processing *processingJSON
}

// runDryRun lists what a run would upload or skip, and why. It contacts
// nothing and writes nothing: the journal is only read, and only when the
// state folder exists.
func runDryRun(o *UploadOptions) error {
	var tr *resume.Tracker
	if info, err := os.Stat(o.StateDir); err == nil && info.IsDir() && !o.Force {
		if t, err := resume.Open(o.StateDir); err == nil {
			tr = t
		}
	}
	for _, e := range o.plan {
		if e.skip != "" || e.problem != nil || tr == nil {
			continue
		}
		if s := tr.Registered(e.item); s != nil {
			e.skip, e.skipVideo = fmt.Sprintf("uploaded and registered before as video %s; --force uploads it again", s.VideoID), s.VideoID
		}
	}
	entries := o.plan
	if o.stdin != nil {
		entries = append(entries, &runEntry{item: o.stdin})
	}
	doc := newUploadDocument(entries, 0, true)
	if o.Output == "text" {
		writeDryRunText(o.IO.Out, doc)
		return nil
	}
	return writeJSONDocument(o.IO.Out, doc)
}

// afterUpload wraps the journal's hooks: once the journal has recorded a
// registration, --move-to or --remove-source-files acts on the file. Never before:
// a file is touched only when the API holds its video.
type afterUpload struct {
	// The journal's hooks, of which only Registered is extended.
	transfer.Hooks
	moveTo string
	del    bool
	// entries are the run's entries by item: read-only once the engine
	// runs; each entry is written by the one worker of its item.
	entries map[*asset.Item]*runEntry
}

func (a *afterUpload) Registered(f *asset.Item, ref transfer.UploadRef, videoID string) {
	a.Hooks.Registered(f, ref, videoID)
	e := a.entries[f]
	if e == nil {
		return
	}
	switch {
	case a.moveTo != "":
		rel := f.Rel
		if rel == "" {
			rel = filepath.Base(f.Path)
		}
		dest, err := moveFile(f.Path, filepath.Join(a.moveTo, rel))
		if err != nil {
			e.afterErr = fmt.Errorf("%s: uploaded and registered as video %s, but not moved: %w", units.Path(f.Path), videoID, err)
		}
		e.movedTo = dest
	case a.del:
		if err := os.Remove(f.Path); err != nil {
			e.afterErr = fmt.Errorf("%s: uploaded and registered as video %s, but not deleted: %v; delete it by hand", units.Path(f.Path), videoID, unwrapPath(err))
		}
	}
}

// moveFile moves src to dest without ever replacing a file: when dest
// exists, "name.1.ext", "name.2.ext", ... are tried. A hard link then an
// unlink is a rename that cannot overwrite; across file systems (or where
// links are not allowed) the file is copied, synced, and only then removed.
// It returns where the file went.
func moveFile(src, dest string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %v; check --move-to is a folder you can write", units.Path(filepath.Dir(dest)), unwrapPath(err))
	}
	ext := filepath.Ext(dest)
	stem := strings.TrimSuffix(dest, ext)
	for n := 0; n < 1000; n++ {
		to := dest
		if n > 0 {
			to = fmt.Sprintf("%s.%d%s", stem, n, ext)
		}
		err := os.Link(src, to)
		switch {
		case err == nil:
			if err := os.Remove(src); err != nil {
				return to, fmt.Errorf("linked to %s but could not remove the original: %v", units.Path(to), unwrapPath(err))
			}
			syncDir(filepath.Dir(to))
			return to, nil
		case errors.Is(err, os.ErrExist):
			continue
		}
		// Another file system, or no hard links there: copy.
		err = copyNew(src, to)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := os.Remove(src); err != nil {
			return to, fmt.Errorf("copied to %s but could not remove the original: %v", units.Path(to), unwrapPath(err))
		}
		return to, nil
	}
	return "", fmt.Errorf("%s and 999 numbered names next to it exist already; clear out %s", units.Path(dest), units.Path(filepath.Dir(dest)))
}

// copyNew copies src to a new file dest (never an existing one), synced to
// disk before it returns, so that removing src afterwards loses nothing.
func copyNew(src, dest string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %v", units.Path(src), unwrapPath(err))
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return err
		}
		return fmt.Errorf("create %s: %v", units.Path(dest), unwrapPath(err))
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(dest)
		}
	}()
	if _, err = io.Copy(out, in); err != nil {
		return fmt.Errorf("copy to %s: %v", units.Path(dest), unwrapPath(err))
	}
	if err = out.Sync(); err != nil {
		return fmt.Errorf("sync %s: %v", units.Path(dest), unwrapPath(err))
	}
	if err = out.Close(); err != nil {
		return fmt.Errorf("close %s: %v", units.Path(dest), unwrapPath(err))
	}
	// The copy keeps the file's time, as a rename would.
	_ = os.Chtimes(dest, info.ModTime(), info.ModTime())
	syncDir(filepath.Dir(dest))
	return nil
}

// syncDir makes a new name in dir durable. It is best effort: the file is
// already in place, and a folder that cannot be synced is no reason to
// report the move as failed.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
