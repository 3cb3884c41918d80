// Package transfer is vidup's upload engine: it opens sessions on the
// company API, streams files to S3 in concurrent multipart parts read
// straight from disk, retries the parts that fail, verifies what S3 stored,
// and registers each video. It reports through Observer and knows nothing of
// the terminal.
package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/credentials"
)

// API is the part of the company API the engine calls (internal/api's
// client implements it). Its methods retry transient errors themselves.
type API interface {
	CreateSession(ctx context.Context, req contract.SessionRequest) (*contract.Session, error)
	RefreshCredentials(ctx context.Context, sessionID string) (contract.Credentials, error)
	RegisterVideo(ctx context.Context, req contract.VideoRequest) (v *contract.Video, created bool, err error)
}

// CredentialsFunc builds the credentials cache of a session from its first
// credentials and the refresh call (internal/credentials.New has this shape).
type CredentialsFunc func(initial contract.Credentials, refresh func(context.Context) (contract.Credentials, error), onRefresh func()) (*aws.CredentialsCache, error)

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	API API
	// Concurrency is the number of parts in flight for the whole run, over
	// all files.
	Concurrency int
	// PartSize is the user's part size; 0 chooses one per file.
	PartSize int64
	Retry    Retry
	// Metadata is sent with every registration.
	Metadata map[string]string
	Observer Observer
	Hooks    Hooks
	// CABundle is a PEM file of extra roots for S3 (AWS_CA_BUNDLE is
	// honoured too).
	CABundle    string
	Credentials CredentialsFunc
	// StallTimeout ends a part attempt whose body has not moved for that
	// long (default 2 minutes).
	StallTimeout time.Duration
	// WrapHTTPClient, when set, wraps the HTTP client of every S3 call
	// (vidup upload's --bwlimit shares one budget over all of them).
	WrapHTTPClient func(aws.HTTPClient) aws.HTTPClient
	// Checksum, when set, forces the checksum mode of new uploads (vidup
	// upload --checksum; see contract.ParseChecksumMode): no fallback. nil negotiates:
	// the session's mode, or the default, falling back when the store
	// refuses it.
	Checksum *contract.ChecksumMode
	// StopGrace is how long parts in flight may go on once the run is
	// stopped (Ctrl-C): a part that finishes is one the next run need not
	// send again (default 5 s; no new part starts meanwhile).
	StopGrace time.Duration
}

// Status is a file's outcome.
type Status string

// The outcomes of a file.
const (
	StatusUploaded Status = "uploaded"
	StatusFailed   Status = "failed"
	StatusSkipped  Status = "skipped"
)

// Result is what happened to one file.
type Result struct {
	// Item is what was uploaded, as the caller gave it.
	Item      *asset.Item
	Path      string
	Name      string
	Status    Status
	SessionID string
	UploadID  string
	Key       string
	Size      int64
	ETag      string
	Checksum  *contract.Checksum
	VideoID   string
	// Registered is false when the API answered that the video was
	// registered already (a replay).
	Registered bool
	Err        error
	Started    time.Time
	Finished   time.Time
}

// Engine uploads files. One Engine serves one command: its HTTP transport
// and its limit of parts in flight are shared by every file and session.
type Engine struct {
	opts  Options
	cfg   aws.Config
	parts chan struct{}
}

// New prepares an engine: it loads the SDK's configuration once (honouring
// AWS_CA_BUNDLE) over one tuned HTTP transport.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.API == nil {
		return nil, errors.New("transfer: no API client")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Retry == (Retry{}) {
		opts.Retry = DefaultRetry
	}
	if opts.Observer == nil {
		opts.Observer = NopObserver{}
	}
	if opts.Hooks == nil {
		opts.Hooks = NopHooks{}
	}
	if opts.Credentials == nil {
		opts.Credentials = credentials.New
	}
	if opts.StopGrace == 0 {
		opts.StopGrace = 5 * time.Second
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = 2 * time.Minute
	}
	cfg, err := loadAWSConfig(ctx, opts.Concurrency, opts.CABundle)
	if err != nil {
		return nil, err
	}
	return &Engine{opts: opts, cfg: cfg, parts: make(chan struct{}, opts.Concurrency)}, nil
}

// loadAWSConfig loads the SDK configuration without the user's AWS
// profiles (the session says where to go and with which credentials) but
// with AWS_CA_BUNDLE. The client must be a BuildableClient: LoadDefaultConfig
// adds the CA bundle to it and refuses any other client when one is set.
func loadAWSConfig(ctx context.Context, concurrency int, caBundle string) (aws.Config, error) {
	dial := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	client := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		// Every part in flight keeps its connection between parts.
		t.MaxIdleConns = 2*concurrency + 16
		t.MaxIdleConnsPerHost = concurrency + 4
		t.MaxConnsPerHost = 0
		// Large socket buffers: fewer syscalls per part (the default 4 KiB
		// write buffer costs a syscall every 4 KiB).
		t.WriteBufferSize = 256 << 10
		t.ReadBufferSize = 64 << 10
		t.IdleConnTimeout = 90 * time.Second
		t.ResponseHeaderTimeout = 5 * time.Minute
		t.ExpectContinueTimeout = time.Second
		t.DialContext = dialBodyConn(dial)
	})
	loads := []func(*config.LoadOptions) error{
		config.WithHTTPClient(client),
		config.WithRegion("us-east-1"),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithSharedConfigProfile(""),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}),
		// Our own loop retries every S3 call (Retry.do), classified once.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		// We compute the checksums ourselves and set them on each request.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if caBundle != "" {
		pem, err := os.ReadFile(caBundle)
		if err != nil {
			return aws.Config{}, fmt.Errorf("CA bundle %s: %w", caBundle, err)
		}
		loads = append(loads, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load the S3 client configuration: %w", err)
	}
	// Last, so that the TLS configuration it reads has the CA bundle: each
	// WithTransportOptions works on a clone of the transport before it.
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = bc.WithTransportOptions(func(t *http.Transport) {
			t.DialTLSContext = dialTLSCoalesced(t, dial)
		})
	}
	return cfg, nil
}

// session is an open API session with its S3 client.
type session struct {
	*contract.Session
	store objectStore
	creds *aws.CredentialsCache
	// expiry is when the credentials held expire, as the API said.
	expiry *credentials.Expiry
	mode   *checksumMode
	// trailers: file parts carry their checksum after the body (HTTPS),
	// until the store refuses one.
	trailers atomic.Bool
}

// expiring reports whether a request of the session sent at sent may have
// carried expired credentials (retryHooks.expiring).
func (s *session) expiring(sent time.Time) bool {
	return s.expiry != nil && s.expiry.Expiring(sent, time.Now())
}

func (e *Engine) openSession(ctx context.Context, files []*asset.Item) (*session, error) {
	req := contract.SessionRequest{Files: make([]contract.FileRequest, len(files))}
	for i, f := range files {
		req.Files[i] = contract.FileRequest{Name: f.Name, Size: f.Size, ContentType: f.ContentType}
	}
	s, err := e.opts.API.CreateSession(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(s.Uploads) != len(files) {
		return nil, fmt.Errorf("open an upload session: the API answered %d uploads for %d files; check the API follows the upload contract", len(s.Uploads), len(files))
	}
	return e.newSession(s)
}

// newSession builds the S3 client of a session whose answer (or, for a
// resumed one, whose journal record and fresh credentials) is s.
func (e *Engine) newSession(s *contract.Session) (*session, error) {
	id := s.SessionID
	expiry := &credentials.Expiry{}
	expiry.Record(s.Credentials, time.Now())
	refresh := func(ctx context.Context) (contract.Credentials, error) {
		c, err := e.opts.API.RefreshCredentials(ctx, id)
		if err == nil {
			expiry.Record(c, time.Now())
		}
		return c, err
	}
	onRefresh := func() {
		e.opts.Observer.Event(Event{Kind: CredentialsRefreshed, Time: time.Now(), SessionID: id})
	}
	creds, err := e.opts.Credentials(s.Credentials, refresh, onRefresh)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	client := s3.NewFromConfig(e.cfg, func(o *s3.Options) {
		o.Region = s.Region
		o.BaseEndpoint = nil
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		o.UsePathStyle = s.PathStyle
		o.Credentials = creds
		o.Retryer = aws.NopRetryer{}
		// No "Expect: 100-continue": it costs a round trip per part, and
		// the per-part checksum already protects against wasted sends.
		o.ContinueHeaderThresholdBytes = -1
		if e.opts.WrapHTTPClient != nil {
			o.HTTPClient = e.opts.WrapHTTPClient(o.HTTPClient)
		} else {
			// Not under a wrapper: it may meter or replace the body,
			// which sendfile would bypass.
			o.HTTPClient = sendfileClient{o.HTTPClient}
		}
	})
	sess := &session{Session: s, store: s3Store{client: client, bucket: s.Bucket}, creds: creds, expiry: expiry, mode: e.newChecksumMode(s)}
	sess.trailers.Store(trailingChecksums(s.Endpoint))
	return sess, nil
}

// Upload uploads files and returns one Result per file, in order. Files an
// earlier run left unfinished continue in their old sessions (or are only
// registered, when S3 has them complete); the others get new sessions of up
// to contract.MaxFilesPerSession files. Files run concurrently; parts in
// flight are bounded by Options.Concurrency over all of them. Each Result
// carries its item. The caller owns the run's plan (the Planned event): the
// engine reports only on what it was given.
func (e *Engine) Upload(ctx context.Context, files []*asset.Item) []Result {
	results := make([]Result, len(files))

	plans := e.prepare(ctx, files)

	// Files in flight: enough that small files never wait behind a large
	// one for long, few enough to bound open handles. They run on a fixed
	// set of workers rather than a goroutine each: the SDK's call stack is
	// deep, and growing a fresh goroutine's stack to it for every file
	// (runtime.copystack) was 13% of the CPU of 5,000 small files.
	work := make(chan func())
	var wg sync.WaitGroup
	for range max(e.opts.Concurrency, 4) {
		wg.Go(func() {
			for run := range work {
				run()
			}
		})
	}
	launch := func(i int, r Result, run func() Result) {
		if ctx.Err() == nil {
			select {
			case work <- func() { results[i] = run() }:
				return
			case <-ctx.Done():
			}
		}
		results[i] = e.fail(r, stopped(ctx))
	}
	var fresh []int
	for i, p := range plans {
		f := files[i]
		r := Result{Item: f, Path: f.Path, Name: f.Name, Size: f.Size, Started: time.Now()}
		switch {
		case p.err != nil:
			results[i] = e.fail(r, p.err)
		case p.prior != nil:
			launch(i, r, func() Result { return e.resumeFile(ctx, p) })
		default:
			fresh = append(fresh, i)
		}
	}
	for b := 0; b < len(fresh); b += contract.MaxFilesPerSession {
		idx := fresh[b:min(b+contract.MaxFilesPerSession, len(fresh))]
		batch := make([]*asset.Item, len(idx))
		for j, i := range idx {
			batch[j] = files[i]
		}
		var sess *session
		err := ctx.Err()
		if err == nil {
			sess, err = e.openSession(ctx, batch)
		}
		for j, f := range batch {
			i := idx[j]
			r := Result{Item: f, Path: f.Path, Name: f.Name, Size: f.Size, Started: time.Now()}
			if err != nil {
				if ctx.Err() != nil {
					err = stopped(ctx)
				}
				results[i] = e.fail(r, err)
				continue
			}
			up := sess.Uploads[j]
			ref := UploadRef{SessionID: sess.SessionID, UploadID: up.UploadID, Bucket: sess.Bucket, Key: up.Key,
				Region: sess.Region, Endpoint: sess.Endpoint, PathStyle: sess.PathStyle, Metadata: e.opts.Metadata}
			launch(i, r, func() Result { return e.uploadFile(ctx, sess, f, ref, nil) })
		}
	}
	close(work)
	wg.Wait()
	return results
}

func (e *Engine) fail(r Result, err error) Result {
	r.Status = StatusFailed
	r.Err = err
	r.Finished = time.Now()
	e.opts.Observer.Event(Event{Kind: FileFailed, Time: r.Finished, Path: r.Path, Name: r.Name, Size: r.Size,
		SessionID: r.SessionID, UploadID: r.UploadID, Key: r.Key, Reason: err.Error(), Err: err})
	return r
}

// uploadFile takes one file from disk to a registered video. rs, when not
// nil, is what S3 still holds of an earlier run's multipart upload.
func (e *Engine) uploadFile(ctx context.Context, sess *session, f *asset.Item, ref UploadRef, rs *resumeState) Result {
	r := e.started(f, ref)
	st, err := e.transfer(ctx, sess, f, &ref, rs)
	if err == nil {
		// What S3 holds is right only if the file did not change while read.
		if err := checkUnchanged(f); err != nil {
			return e.fail(r, err)
		}
	}
	return e.finish(ctx, f, ref, r, st, err)
}

// started reports that f starts its upload ref and returns its Result.
func (e *Engine) started(f *asset.Item, ref UploadRef) Result {
	r := Result{Item: f, Path: f.Path, Name: f.Name, Size: f.Size, SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, Started: time.Now()}
	e.opts.Observer.Event(Event{Kind: FileStarted, Time: r.Started, Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key})
	return r
}

// finish registers the object st that f's upload ref sent and verified,
// or fails r with err, the error of the transfer.
func (e *Engine) finish(ctx context.Context, f *asset.Item, ref UploadRef, r Result, st stored, err error) Result {
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrStopped) {
			err = stopped(ctx)
		}
		return e.fail(r, err)
	}
	return e.register(ctx, f, ref, r, st, false)
}

// register reports the verified object st and registers it with the API.
// outbox is true when an earlier run completed it (it is in the journal's
// outbox already).
func (e *Engine) register(ctx context.Context, f *asset.Item, ref UploadRef, r Result, st stored, outbox bool) Result {
	r.ETag, r.Checksum = st.etag, st.checksum
	e.opts.Observer.Event(Event{Kind: FileUploaded, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, ETag: r.ETag, Checksum: checksumText(r.Checksum)})
	r.Status = StatusUploaded
	if !outbox {
		e.hooks(f).Completed(f, ref, r)
	}

	video, created, err := e.opts.API.RegisterVideo(ctx, contract.VideoRequest{
		UploadID: ref.UploadID, SessionID: ref.SessionID, Bucket: ref.Bucket, Key: ref.Key,
		Filename: f.Name, Size: f.Size, ContentType: f.ContentType, ETag: r.ETag,
		Checksum: r.Checksum, Metadata: ref.Metadata, Media: RegistrationMedia(f.Media),
	})
	if err != nil {
		if ctx.Err() != nil {
			err = stopped(ctx)
		}
		later := " (the next run registers it)"
		if f.Stdin {
			later = "" // nothing of a stream is kept
		}
		return e.fail(r, fmt.Errorf("uploaded to S3 but not registered%s: %w", later, err))
	}
	r.VideoID, r.Registered, r.Finished = video.ID, created, time.Now()
	if video.Key != "" {
		// Where the registered video is: an API that seals uploads
		// (vidup serve) copies the object out of the upload's key.
		r.Key = video.Key
	}
	e.hooks(f).Registered(f, ref, video.ID)
	e.opts.Observer.Event(Event{Kind: FileRegistered, Time: r.Finished, Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: r.Key, ETag: r.ETag,
		Checksum: checksumText(r.Checksum), VideoID: video.ID, Media: RegistrationMedia(f.Media)})
	return r
}

// RegistrationMedia is the registration's media object (contract v1.1
// section 3) of what the probe read of an item, or nil when nothing was.
func RegistrationMedia(m *asset.Media) *contract.Media {
	if m == nil {
		return nil
	}
	out := &contract.Media{
		Container:     m.Container,
		DurationS:     math.Round(m.Duration.Seconds()*1000) / 1000,
		Complete:      m.Complete,
		Fragmented:    m.Fragmented,
		FastStart:     m.FastStart,
		StartTimecode: m.StartTimecode,
	}
	if m.Incomplete != nil {
		out.Incomplete = &contract.MediaIncomplete{Reason: m.Incomplete.Reason, Detail: m.Incomplete.Detail}
	}
	for _, s := range m.Streams {
		out.Streams = append(out.Streams, contract.MediaStream(s))
	}
	return out
}

// checksumText is a checksum for events: "CRC32C:base64…", or
// "unverified" when the store confirmed none.
func checksumText(c *contract.Checksum) string {
	if c == nil {
		return Unverified
	}
	return c.Algorithm + ":" + c.Value
}

// Unverified is what events and results say of an object whose store
// confirmed no checksum: its bytes were sent with Content-MD5 where the
// store honours it, but nothing after the upload vouches for them.
const Unverified = "unverified"
