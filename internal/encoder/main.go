package encoder

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/server/jobs"
)

const usage = `usage: encoder [flags]

The reference encoding step of vidup serve (docs/recipes.md): it receives the
server's signed webhooks, makes an HLS rendition of each registered video
with ffmpeg under renditions/<video id>/ and sets the video ready or failed.

Environment:
  VIDUP_API_URL          the API's base URL (or --api-url)
  VIDUP_PIPELINE_TOKEN   an API token of the pipeline role
  VIDUP_WEBHOOK_SECRET   the secret vidup serve signs webhooks with
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)
                         the company's S3 credentials: read videos/, write renditions/

Flags:
`

// Main is the encoder program: it serves webhooks until SIGINT or SIGTERM.
// Exit codes: 0 after a clean stop, 1 when it cannot run, 2 for bad usage.
func Main(args []string, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("encoder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	listen := fs.String("listen", "127.0.0.1:8090", "address the webhook endpoint listens on (host:port)")
	apiURL := fs.String("api-url", getenv("VIDUP_API_URL"), "the API's base URL")
	endpoint := fs.String("s3-endpoint", "", "S3 endpoint URL (default: AWS's own for --region)")
	pathStyle := fs.Bool("path-style", false, "path-style S3 addressing (MinIO and most S3-compatible servers)")
	region := fs.String("region", "us-east-1", "region of the bucket")
	prefix := fs.String("prefix", DefaultPrefix, "key prefix of the renditions (then <video id>/index.m3u8)")
	ffmpeg := fs.String("ffmpeg", "ffmpeg", "the ffmpeg command")
	maxHeight := fs.Int("max-height", DefaultMaxHeight, "lines of the rendition at most (smaller videos keep theirs)")
	workers := fs.Int("workers", DefaultWorkers, "videos encoded at once")
	catchUp := fs.Bool("catch-up", true, "at start, take every video still registered or processing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "encoder: "+format+"\n", a...)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, "no arguments expected, got %q", fs.Args())
	}
	if *maxHeight < 2 || *workers < 1 {
		return fail(2, "--max-height %d, --workers %d: give positive numbers (a height of 2 lines or more)", *maxHeight, *workers)
	}
	if *apiURL == "" {
		return fail(2, "no API URL: set VIDUP_API_URL or --api-url")
	}
	token := strings.TrimSpace(getenv("VIDUP_PIPELINE_TOKEN"))
	if token == "" {
		return fail(2, "no API token: set VIDUP_PIPELINE_TOKEN to a token of the pipeline role")
	}
	key, err := jobs.ParseSecret(getenv("VIDUP_WEBHOOK_SECRET"))
	if err != nil {
		return fail(2, "VIDUP_WEBHOOK_SECRET: %v", err)
	}
	if !strings.HasSuffix(*prefix, "/") || strings.HasPrefix(*prefix, "/") || strings.HasPrefix(*prefix, "uploads/") || strings.HasPrefix(*prefix, "videos/") {
		return fail(2, "--prefix %q: give a folder of its own ending in /, e.g. renditions/ (uploads/ and videos/ are the API's)", *prefix)
	}
	if _, err := exec.LookPath(*ffmpeg); err != nil {
		return fail(2, "--ffmpeg %s: %v; install ffmpeg (scripts/deps.sh ffmpeg)", *ffmpeg, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(*region))
	if err != nil {
		return fail(1, "load the AWS configuration: %v", err)
	}
	if awsCfg.Credentials == nil {
		return fail(2, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if *endpoint != "" {
			o.BaseEndpoint = aws.String(*endpoint)
		}
		o.UsePathStyle = *pathStyle
	})
	enc, err := New(Config{APIURL: *apiURL, Token: token, Key: key, S3: client, Prefix: *prefix,
		FFmpeg: *ffmpeg, MaxHeight: *maxHeight, Workers: *workers, Logger: log})
	if err != nil {
		return fail(2, "%v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail(2, "listen on %s: %v; choose another address with --listen", *listen, err)
	}
	srv := &http.Server{Handler: enc, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go srv.Serve(ln)
	log.Info("encoder listening", "addr", ln.Addr().String(), "api", *apiURL, "prefix", *prefix)
	if *catchUp {
		if n, err := enc.CatchUp(ctx); err != nil {
			log.Error("catch-up: listing the videos failed; only webhooks are taken", "err", err)
		} else if n > 0 {
			log.Info("catch-up: videos still to encode", "videos", n)
		}
	}
	enc.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	log.Info("encoder stopped")
	return 0
}
