package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/vidup/vidup/internal/config"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server"
	"github.com/vidup/vidup/internal/server/jobs"
	"github.com/vidup/vidup/internal/server/store"
)

// serveSpec: serve's settings live under serve: in the config file and
// VIDUP_SERVE_<FLAG> in the environment.
var serveSpec = config.Spec{Section: "serve"}

// DefaultRoleARN is accepted by MinIO's STS, which ignores the role; AWS
// needs the ARN of a real role the server's credentials may assume.
const DefaultRoleARN = "arn:aws:iam::000000000000:role/vidup-uploader"

// ServeOptions are vidup serve's settings, resolved once at start.
type ServeOptions struct {
	IO *IOStreams

	Listen         string
	S3Endpoint     string
	PublicEndpoint string
	STSEndpoint    string
	Bucket         string
	Region         string
	PathStyle      bool
	RoleARN        string
	CredentialsTTL time.Duration
	DB             string
	TokensFile     string
	SessionMaxAge  time.Duration
	SessionRate    float64 // sessions per second and principal; 0: no limit
	SessionBurst   int
	// Credentials is how sessions get S3 credentials: "sts" (AssumeRole
	// with a session policy) or "static" (one key per principal, for
	// stores without STS).
	Credentials    string
	StaticKeysFile string
	// AllowServerKey lets static mode hand out the server's own key
	// (development only: every device then holds the server's power).
	AllowServerKey bool
	// Checksum is the session's checksum mode (contract v1.1): "" (absent:
	// the client's default), crc32c, crc64nvme, crc32c-composite or none.
	Checksum string

	// StaticKeys: from --static-keys-file and, for the principal
	// "default", VIDUP_SERVE_STATIC_ACCESS_KEY_ID and
	// VIDUP_SERVE_STATIC_SECRET_ACCESS_KEY; never a flag value. Filled by
	// validation.
	StaticKeys []server.StaticKey

	WebhookURL        string
	WebhookSecretFile string
	WebhookRetryFor   time.Duration
	WebhookRescue     time.Duration
	WebhookTimeout    time.Duration
	CleanupEvery      time.Duration
	// WebhookKey signs webhooks: from VIDUP_WEBHOOK_SECRET or
	// --webhook-secret-file, never a flag value. Filled by validation.
	WebhookKey []byte

	// verbose (--verbose, -v): debug logs, and every S3 and STS call.
	verbose bool

	// Tokens come from VIDUP_SERVER_TOKENS (principal "default") and
	// --tokens-file, never a flag value. Filled by validation.
	Tokens []server.TokenEntry
}

func newCmdServe(io *IOStreams, runF func(*ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference implementation of the upload API",
		Long: `Run the reference implementation of the upload API (docs/api.md).

vidup serve opens upload sessions with temporary credentials from STS
AssumeRole, limited by a session policy to the session's unregistered keys,
verifies uploaded objects against S3 (size and checksum), seals each one by a
server-side copy under videos/ (which no session credential may write), and
registers it once in its database: a SQLite file by default, or PostgreSQL
(--db postgres://user:password@host:5432/vidup), which several vidup serve
instances behind one load balancer share.

Every API token belongs to a principal (a device, a CI job, a person), and
each principal sees only its own sessions and videos. --tokens-file holds one
token per line, then optionally its principal and role:
  <token> [<principal> [uploader|pipeline|admin]]
(# comments; a token may be written sha256:<hex>). Several lines may name one
principal (token rotation). The pipeline role reads every video and uploads
nothing; admin uploads and reads every video. VIDUP_SERVER_TOKENS (comma
separated) holds tokens of the one principal "default", an uploader. The
server refuses to start without a token. The server's own AWS credentials
come from the standard AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, container credentials). The EC2 instance metadata service is
asked only with AWS_EC2_METADATA_DISABLED=false (an instance role on EC2);
elsewhere it would only delay the error that no key is set.

With --webhook-url, every registration and every status change (set by a
pipeline token: POST /api/v1/videos/{id}/status) is announced to that URL by a
webhook signed per Standard Webhooks (webhook-id, webhook-timestamp,
webhook-signature) with the secret of VIDUP_WEBHOOK_SECRET or
--webhook-secret-file (whsec_<base64> or at least 16 bytes of text). The
webhook is a job stored in the transaction of the change: it is delivered at
least once, retried with backoff for --webhook-retry-for, and its state shows
on GET /api/v1/videos/{id}.

Against AWS, --role-arn must name a real role that those credentials may
assume and that may write to the bucket. MinIO accepts any role ARN.

Stores without STS (Backblaze B2, versitygw, SeaweedFS, GCS HMAC keys, ...):
--credentials static hands each principal's sessions that principal's own
S3 key, from --static-keys-file (lines "<principal> <access-key-id>
<secret-access-key>") or, for the principal "default",
VIDUP_SERVE_STATIC_ACCESS_KEY_ID and VIDUP_SERVE_STATIC_SECRET_ACCESS_KEY.
Those keys are never refreshed and carry every permission the store gives
them: full trust in the device (docs/api.md). The server's own key is
refused unless --static-allow-server-key. --checksum tells clients what the
store verifies (docs/providers.md).

Before it listens, serve checks that its credentials are set, that the
bucket answers to them (HeadBucket: a wrong key or secret, a missing bucket,
a store that is down) and, with STS, that AssumeRole works; when not, it
exits 2 with the reason and what to check.`,
		Example: `  # Against the project's own MinIO (scripts/minio.sh start prints these lines)
  export VIDUP_SERVER_TOKENS=dev-token AWS_ACCESS_KEY_ID=vidupadmin AWS_SECRET_ACCESS_KEY=vidupadmin-secret
  vidup serve --s3-endpoint http://127.0.0.1:9000 --path-style --bucket videos

  # Against AWS
  vidup serve --listen :8080 --bucket acme-videos --region eu-west-1 \
    --role-arn arn:aws:iam::123456789012:role/vidup-uploader --tokens-file /etc/vidup/tokens`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := resolveSettings(io, cmd, serveSpec); err != nil {
				return err
			}
			opts.verbose = verbose(cmd)
			if err := opts.validate(); err != nil {
				return err
			}
			markRan(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runServe(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Listen, "listen", "127.0.0.1:8080", "address to listen on (host:port)")
	f.StringVar(&opts.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL (default: AWS's own for --region)")
	f.StringVar(&opts.PublicEndpoint, "public-endpoint", "", "S3 endpoint URL handed to clients, when they reach S3 by another address than the server")
	f.StringVar(&opts.STSEndpoint, "sts-endpoint", "", "STS endpoint URL (default: --s3-endpoint when given, else AWS's own)")
	f.StringVar(&opts.Bucket, "bucket", "videos", "bucket the uploads go to")
	f.StringVar(&opts.Region, "region", "us-east-1", "region of the bucket and of STS")
	f.BoolVar(&opts.PathStyle, "path-style", false, "path-style S3 addressing (MinIO and most S3-compatible servers need it)")
	f.StringVar(&opts.RoleARN, "role-arn", DefaultRoleARN, "role assumed for session credentials (AWS needs a real one; MinIO accepts any)")
	f.DurationVar(&opts.CredentialsTTL, "credentials-ttl", time.Hour, "lifetime of session credentials, 15m to 12h")
	f.StringVar(&opts.DB, "db", "./vidup.db", "SQLite database file (created when absent), or a postgres:// URL that several instances share")
	f.StringVar(&opts.TokensFile, "tokens-file", "", "file of API tokens: <token> [<principal> [role]] per line, # comments (adds to VIDUP_SERVER_TOKENS)")
	f.DurationVar(&opts.SessionMaxAge, "session-max-age", server.DefaultSessionMaxAge, "how long after it opened a session's credentials may still be refreshed")
	f.Float64Var(&opts.SessionRate, "session-rate", float64(server.DefaultSessionRate), "sessions per second each principal may open, on average (0: no limit)")
	f.IntVar(&opts.SessionBurst, "session-burst", server.DefaultSessionBurst, "sessions a principal may open at once before --session-rate applies")
	f.StringVar(&opts.Credentials, "credentials", "sts", "session credentials: sts (AssumeRole, scoped to the session) or static (one key per principal, for stores without STS)")
	f.StringVar(&opts.StaticKeysFile, "static-keys-file", "", "with --credentials static: file of <principal> <access-key-id> <secret-access-key> lines")
	f.BoolVar(&opts.AllowServerKey, "static-allow-server-key", false, "with --credentials static: allow handing out the server's own key (development only)")
	f.StringVar(&opts.Checksum, "checksum", "", "checksum mode announced to clients: crc32c, crc64nvme, crc32c-composite or none (default: not announced, clients negotiate)")
	f.StringVar(&opts.WebhookURL, "webhook-url", "", "URL that receives a signed webhook (Standard Webhooks) for every registration and status change")
	f.StringVar(&opts.WebhookSecretFile, "webhook-secret-file", "", "file holding the webhook signing secret (default: VIDUP_WEBHOOK_SECRET)")
	f.DurationVar(&opts.WebhookRetryFor, "webhook-retry-for", jobs.DefaultRetryFor, "how long a webhook the receiver does not take is retried before it is marked failed")
	f.DurationVar(&opts.CleanupEvery, "session-cleanup-every", jobs.DefaultCleanupEvery, "how often sessions older than --session-max-age are closed and their unfinished multipart uploads aborted (0: never)")
	f.DurationVar(&opts.WebhookRescue, "webhook-rescue-after", jobs.DefaultRescueAfter, "how long a webhook may stay in flight before another instance takes it back (its instance died)")
	f.DurationVar(&opts.WebhookTimeout, "webhook-timeout", jobs.DefaultTimeout, "how long the receiver has to answer one webhook delivery before it is retried")
	return cmd
}

var (
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*[a-z0-9]$`)
)

// validate checks every setting before the server starts: each problem is a
// usage error (exit 2).
func (o *ServeOptions) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if host, port, err := net.SplitHostPort(o.Listen); err != nil {
		add("--listen %q: write it as host:port, e.g. 127.0.0.1:8080", o.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		add("--listen %q: port %q is not a number from 0 to 65535", o.Listen, port)
	} else if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, "/ ") {
		add("--listen %q: %q is not a host", o.Listen, host)
	}
	for _, e := range []struct{ flag, value string }{
		{"--s3-endpoint", o.S3Endpoint}, {"--public-endpoint", o.PublicEndpoint}, {"--sts-endpoint", o.STSEndpoint},
	} {
		if e.value == "" {
			continue
		}
		if err := checkEndpoint(e.value); err != nil {
			add("%s %q: %v", e.flag, e.value, err)
		}
	}
	if !bucketName.MatchString(o.Bucket) || strings.Contains(o.Bucket, "..") || net.ParseIP(o.Bucket) != nil {
		add("--bucket %q is not a valid S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens", o.Bucket)
	}
	if !regionName.MatchString(o.Region) {
		add("--region %q is not a region name such as us-east-1", o.Region)
	}
	if !server.ValidRoleARN(o.RoleARN) {
		add("--role-arn %q is not a role ARN such as arn:aws:iam::123456789012:role/vidup-uploader", o.RoleARN)
	}
	if o.CredentialsTTL < server.MinTTL || o.CredentialsTTL > server.MaxTTL {
		add("--credentials-ttl %s: must be from %s to %s (STS's limits)", o.CredentialsTTL, fmtDuration(server.MinTTL), fmtDuration(server.MaxTTL))
	}
	if o.DB == "" {
		add("--db is empty; name the SQLite database file, e.g. ./vidup.db, or a postgres:// URL")
	} else if store.IsPostgresURL(o.DB) {
		if err := store.CheckPostgresURL(o.DB); err != nil {
			add("--db %s: %v", store.Redact(o.DB), err)
		}
	} else if dir := filepath.Dir(o.DB); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			add("--db %s: folder %s does not exist; create it or choose another path", o.DB, dir)
		}
	}

	if o.SessionMaxAge <= 0 {
		add("--session-max-age %s: must be positive, e.g. 168h", o.SessionMaxAge)
	}
	if o.SessionRate < 0 || math.IsNaN(o.SessionRate) || math.IsInf(o.SessionRate, 0) {
		add("--session-rate %v: give sessions per second, 0 for no limit", o.SessionRate)
	}
	if o.CleanupEvery < 0 || (o.CleanupEvery > 0 && o.CleanupEvery < time.Second) {
		add("--session-cleanup-every %s: give a duration of a second or more, or 0 for no cleanup", o.CleanupEvery)
	}
	if o.SessionBurst < 1 {
		add("--session-burst %d: must be 1 or more", o.SessionBurst)
	}

	o.WebhookKey = nil
	if o.WebhookURL != "" {
		if u, err := url.Parse(o.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			add("--webhook-url %q: write it as http(s)://host/path, without credentials (the signature authenticates the server)", o.WebhookURL)
		}
		secret, _ := o.IO.LookupEnv("VIDUP_WEBHOOK_SECRET")
		from := "VIDUP_WEBHOOK_SECRET"
		if o.WebhookSecretFile != "" {
			b, err := os.ReadFile(o.WebhookSecretFile)
			if err != nil {
				add("--webhook-secret-file %s: %v", o.WebhookSecretFile, unwrapPath(err))
			}
			secret, from = string(b), "--webhook-secret-file "+o.WebhookSecretFile
		}
		if strings.TrimSpace(secret) == "" {
			add("--webhook-url needs a signing secret: set VIDUP_WEBHOOK_SECRET or --webhook-secret-file")
		} else if key, err := jobs.ParseSecret(secret); err != nil {
			add("%s: %v", from, err)
		} else {
			o.WebhookKey = key
		}
		if o.WebhookTimeout < time.Second {
			add("--webhook-timeout %s: give the receiver a second or more, e.g. 30s", o.WebhookTimeout)
		} else if o.WebhookRescue <= o.WebhookTimeout {
			add("--webhook-rescue-after %s: must be longer than one attempt's --webhook-timeout %s", o.WebhookRescue, o.WebhookTimeout)
		}
		if o.WebhookRetryFor < time.Minute {
			add("--webhook-retry-for %s: must be a minute or more, e.g. 24h", o.WebhookRetryFor)
		}
	}

	o.Tokens = nil
	if v, ok := o.IO.LookupEnv("VIDUP_SERVER_TOKENS"); ok {
		for _, tok := range server.ParseTokenList(v) {
			o.Tokens = append(o.Tokens, server.TokenEntry{
				Token:     strings.TrimSpace(tok),
				Principal: server.Principal{Name: server.DefaultPrincipal, Role: server.RoleUploader},
			})
		}
	}
	if o.TokensFile != "" {
		f, err := os.Open(o.TokensFile)
		if err != nil {
			add("--tokens-file %s: %v", o.TokensFile, unwrapPath(err))
		} else {
			toks, err := server.ReadTokenFile(f)
			f.Close()
			if err != nil {
				add("--tokens-file %s: %v", o.TokensFile, err)
			}
			o.Tokens = append(o.Tokens, toks...)
		}
	}
	if len(errs) == 0 {
		if _, err := server.NewPrincipalTokens(o.Tokens); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := contract.ParseChecksumMode(o.Checksum); err != nil {
		add("--checksum: %v", err)
	}
	switch o.Credentials {
	case "sts":
		if o.StaticKeysFile != "" {
			add("--static-keys-file is for --credentials static; drop it or add --credentials static")
		}
	case "static":
		if err := o.readStaticKeys(); err != nil {
			errs = append(errs, err)
		}
	default:
		add("--credentials %q: use sts or static", o.Credentials)
	}
	if len(errs) > 0 {
		return asUsage(errors.Join(errs...))
	}
	return nil
}

// readStaticKeys fills StaticKeys and checks that every principal that
// uploads has one.
func (o *ServeOptions) readStaticKeys() error {
	o.StaticKeys = nil
	id, _ := o.IO.LookupEnv("VIDUP_SERVE_STATIC_ACCESS_KEY_ID")
	secret, _ := o.IO.LookupEnv("VIDUP_SERVE_STATIC_SECRET_ACCESS_KEY")
	if id != "" || secret != "" {
		o.StaticKeys = append(o.StaticKeys, server.StaticKey{Principal: server.DefaultPrincipal,
			AccessKeyID: strings.TrimSpace(id), SecretAccessKey: strings.TrimSpace(secret)})
	}
	if o.StaticKeysFile != "" {
		f, err := os.Open(o.StaticKeysFile)
		if err != nil {
			return fmt.Errorf("--static-keys-file %s: %v", o.StaticKeysFile, unwrapPath(err))
		}
		keys, err := server.ReadStaticKeys(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("--static-keys-file %s: %w", o.StaticKeysFile, err)
		}
		o.StaticKeys = append(o.StaticKeys, keys...)
	}
	m, err := server.NewStaticMinter(o.StaticKeys)
	if err != nil {
		return err
	}
	var missing []string
	seen := map[string]bool{}
	for _, t := range o.Tokens {
		p := t.Principal
		if (p.Role == server.RoleUploader || p.Role == server.RoleAdmin) && !m.Has(p.Name) && !seen[p.Name] {
			seen[p.Name] = true
			missing = append(missing, p.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--credentials static: principal(s) %s upload but have no static key; add a line to --static-keys-file for each", strings.Join(missing, ", "))
	}
	return nil
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL; write it as http://host:port or https://host")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("the URL must start with http:// or https://")
	}
	if u.Host == "" {
		return errors.New("the URL has no host")
	}
	if u.User != nil {
		return errors.New("the URL must not hold credentials; the server's own come from the AWS chain")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("the URL must not have a query or fragment")
	}
	return nil
}

func fmtDuration(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

// clientEndpoint is the S3 endpoint handed to clients: empty means AWS's own.
func (o *ServeOptions) clientEndpoint() string {
	if o.PublicEndpoint != "" {
		return o.PublicEndpoint
	}
	return o.S3Endpoint
}

// sessionRate is --session-rate for the server: 0 (no limit) is its
// negative rate.
func (o *ServeOptions) sessionRate() rate.Limit {
	if o.SessionRate == 0 {
		return -1
	}
	return rate.Limit(o.SessionRate)
}

// ec2Metadata: the server's credentials may come from the EC2 instance
// metadata service only when AWS_EC2_METADATA_DISABLED=false asks for it.
// Off, a machine without AWS keys is told so at once instead of probing
// 169.254.169.254, which answers only on EC2.
func (o *ServeOptions) ec2Metadata() bool {
	v, _ := o.IO.LookupEnv("AWS_EC2_METADATA_DISABLED")
	return strings.EqualFold(strings.TrimSpace(v), "false")
}

func (o *ServeOptions) stsEndpoint() string {
	if o.STSEndpoint != "" {
		return o.STSEndpoint
	}
	return o.S3Endpoint
}

// runServe serves until ctx is cancelled (the first SIGINT or SIGTERM), then
// shuts down gracefully and exits 0.
func runServe(ctx context.Context, o *ServeOptions) error {
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(o.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	tokens, err := server.NewPrincipalTokens(o.Tokens)
	if err != nil {
		return asUsage(err)
	}
	db, err := store.Open(ctx, o.DB)
	if err != nil {
		return asUsage(fmt.Errorf("%w; check --db", err))
	}
	defer db.Close()
	awsOpts := server.AWSOptions{
		Region:      o.Region,
		S3Endpoint:  o.S3Endpoint,
		STSEndpoint: o.stsEndpoint(),
		PathStyle:   o.PathStyle,
		RoleARN:     o.RoleARN,
		Bucket:      o.Bucket,
		TTL:         o.CredentialsTTL,
		EC2Metadata: o.ec2Metadata(),
	}
	if o.verbose {
		l := newHTTPLog(o.IO.ErrOut)
		awsOpts.WrapHTTPClient = func(c aws.HTTPClient) aws.HTTPClient { return l.HTTPClient("s3", c) }
	}
	minter, objects, err := server.NewAWS(ctx, awsOpts)
	if err != nil {
		return asUsage(err)
	}
	var mint server.Minter = minter
	if o.Credentials == "static" {
		sm, err := server.NewStaticMinter(o.StaticKeys)
		if err != nil {
			return asUsage(err)
		}
		if !o.AllowServerKey {
			own, err := server.OwnAccessKeyID(ctx, awsOpts)
			if err != nil {
				return asUsage(err)
			}
			for _, id := range sm.AccessKeyIDs() {
				if id == own {
					return asUsage(errors.New("--credentials static: a static key is the server's own access key; give each principal a key of its own (or, for development only, --static-allow-server-key)"))
				}
			}
		}
		mint = sm
	}
	// The store must answer before the server listens: a server that
	// cannot reach its bucket or mint credentials would only answer 502.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := objects.CheckBucket(cctx, o.Bucket); err != nil {
		return asUsage(err)
	}
	if o.Credentials == "sts" {
		if err := minter.Check(cctx); err != nil {
			return asUsage(fmt.Errorf("%w (a store without STS: --credentials static, docs/providers.md)", err))
		}
	}
	checksum, _ := contract.ParseChecksumMode(o.Checksum)
	metrics := server.NewMetrics()
	if o.WebhookURL != "" || o.CleanupEvery > 0 {
		cfg := jobs.Config{
			URL: o.WebhookURL, Key: o.WebhookKey, RetryFor: o.WebhookRetryFor,
			Logger: log, RescueAfter: o.WebhookRescue, Timeout: o.WebhookTimeout,
			OnDelivery: metrics.WebhookDelivery, OnSessionCleaned: metrics.SessionCleaned,
		}
		if o.CleanupEvery > 0 {
			cfg.Cleanup = &jobs.CleanupConfig{MaxAge: o.SessionMaxAge + o.CredentialsTTL, Every: o.CleanupEvery, Bucket: o.Bucket, Uploads: objects}
		}
		q, err := jobs.Start(ctx, db, cfg)
		if err != nil {
			return err
		}
		defer func() {
			// Jobs in flight get a little time; the others stay queued
			// in the database for the next instance.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := q.Stop(sctx); err != nil {
				log.Warn("stopping the job queue", "err", err)
			}
		}()
	}
	srv, err := server.New(server.Config{
		Store: db, Minter: mint, Objects: objects, Tokens: tokens, Checksum: checksum,
		Bucket: o.Bucket, Region: o.Region, Endpoint: o.clientEndpoint(), PathStyle: o.PathStyle,
		Logger:        log,
		SessionMaxAge: o.SessionMaxAge,
		SessionRate:   o.sessionRate(),
		SessionBurst:  o.SessionBurst,
		Metrics:       metrics,
	})
	if err != nil {
		return err
	}
	return server.ListenAndServe(ctx, o.Listen, srv.Handler(), log, func(addr net.Addr) {
		endpoint := o.S3Endpoint
		if endpoint == "" {
			endpoint = "aws"
		}
		log.Info("vidup serve listening", "addr", addr.String(), "bucket", o.Bucket, "region", o.Region,
			"endpoint", endpoint, "credentials", o.Credentials, "db", store.Redact(o.DB), "webhook_url", o.WebhookURL, "tokens", tokens.Len(), "principals", tokens.Principals())
	})
}
