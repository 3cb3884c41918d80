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
	// Packages keeps package uploads for a later run; nil keeps nothing.
	Packages PackageJournal
	// Ended, when set, is told each file's final Result as soon as it is
	// known, once per file, with the file's index in Upload's argument: the
	// caller can act on it (release its claim, print it) while the other
	// files go on. It is called from the engine's goroutines, concurrently.
	Ended func(i int, r Result)
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
	// StatusInterrupted: the run was stopped before the file ended (Err
	// wraps ErrStopped); a later run continues it.
	StatusInterrupted Status = "interrupted"
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
	// Kind, Objects and Entry describe a package (contract v1.1 1b): its
	// kind, how many objects it holds, and the key of its entry point
	// (empty for a folder).
	Kind     string
	Objects  int
	Entry    string
	Err      error
	Started  time.Time
	Finished time.Time
}

// Engine uploads files. One Engine serves one command: its HTTP transport
// and its limit of parts in flight are shared by every file and session.
type Engine struct {
	opts  Options
	cfg   aws.Config
	parts chan struct{}
	// small are the extra slots of objects up to smallObject sent whole:
	// their requests are short and latency-bound, so more of them go at
	// once than parts of large files do.
	small chan struct{}
	// noBatch: the API answered that it has no batch registration. A
	// pointer: the package engine (forPackage) is a copy of e that shares
	// it.
	noBatch *atomic.Bool
}

// smallObject is the largest object that counts as small (see
// Engine.small); smallFactor is how many times Options.Concurrency of them
// may be in flight. Every one of them holds a connection, and each
// connection its buffers (about 320 KiB), so the factor is kept low: 4
// cost 17 MiB more RSS than 1 over 5,000 files of 64 KiB.
const (
	smallObject = 2 << 20
	smallFactor = 2
)

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
	cfg, err := loadAWSConfig(ctx, smallFactor*opts.Concurrency, opts.CABundle)
	if err != nil {
		return nil, err
	}
	return &Engine{opts: opts, cfg: cfg, noBatch: new(atomic.Bool), parts: make(chan struct{}, opts.Concurrency),
		small: make(chan struct{}, (smallFactor-1)*opts.Concurrency)}, nil
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

// Upload uploads files and returns one Result per file, in order (nil
// when Options.Ended takes each Result instead). Files an
// earlier run left unfinished continue in their old sessions (or are only
// registered, when S3 has them complete); the others get new sessions of up
// to contract.MaxFilesPerSession files. Files run concurrently; parts in
// flight are bounded by Options.Concurrency over all of them. Each Result
// carries its item. The caller owns the run's plan (the Planned event): the
// engine reports only on what it was given.
func (e *Engine) Upload(ctx context.Context, files []*asset.Item) []Result {
	// end records file i's final result, once: in results, or, when the
	// caller takes each as it comes (Options.Ended), there only, so that
	// a run of many files keeps none of them.
	var results []Result
	end := e.opts.Ended
	if end == nil {
		results = make([]Result, len(files))
		end = func(i int, r Result) { results[i] = r }
	}

	plans := e.prepare(ctx, files)
	// Registrations go in batches, one per session, when the API offers
	// them (contract v1.1 section 3c).
	reg := e.newRegistrar(ctx, end)

	// Files in flight: enough that small files never wait behind a large
	// one for long, few enough to bound open handles. They run on a fixed
	// set of workers rather than a goroutine each: the SDK's call stack is
	// deep, and growing a fresh goroutine's stack to it for every file
	// (runtime.copystack) was 13% of the CPU of 5,000 small files. Small
	// files get more workers (and slots, see Engine.small); large ones
	// still go at most max(Concurrency, 4) at a time, each holding its
	// parts within the run's parts budget.
	files4 := max(e.opts.Concurrency, 4)
	large := make(chan struct{}, files4)
	work := make(chan func())
	var wg sync.WaitGroup
	for range smallFactor * files4 {
		wg.Go(func() {
			for run := range work {
				run()
			}
		})
	}
	launch := func(i int, r Result, sessionID string, run func(*batchSlot) Result) {
		f := files[i]
		job := func() {
			if f.Size < 0 || f.Size > smallObject {
				large <- struct{}{}
				defer func() { <-large }()
			}
			var slot *batchSlot
			if reg != nil {
				slot = &batchSlot{reg: reg, i: i}
			}
			res := run(slot)
			if slot == nil || !slot.queued {
				end(i, res)
				if reg != nil && sessionID != "" {
					reg.ended(sessionID)
				}
			}
		}
		if ctx.Err() == nil {
			select {
			case work <- job:
				return
			case <-ctx.Done():
			}
		}
		end(i, e.fail(r, stopped(ctx)))
		if reg != nil && sessionID != "" {
			reg.ended(sessionID)
		}
	}
	var fresh []int
	for i, p := range plans {
		f := files[i]
		r := Result{Item: f, Path: f.Path, Name: f.Name, Size: f.Size, Started: time.Now()}
		switch {
		case f.Package():
			launch(i, r, "", func(*batchSlot) Result { return e.uploadPackage(ctx, f) })
		case p.err != nil:
			end(i, e.fail(r, p.err))
		case p.prior != nil:
			launch(i, r, "", func(slot *batchSlot) Result { return e.resumeFile(ctx, p, slot) })
		default:
			fresh = append(fresh, i)
		}
	}
	// Sessions are opened ahead, so that no file waits for one: the next
	// session is asked for while the files of the current one start.
	type opened struct {
		idx  []int
		sess *session
		err  error
	}
	sessions := make(chan opened, 1)
	go func() {
		defer close(sessions)
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
			sessions <- opened{idx: idx, sess: sess, err: err}
		}
	}()
	for o := range sessions {
		if o.err == nil && reg != nil {
			reg.expect(o.sess.SessionID, len(o.idx))
		}
		for j, i := range o.idx {
			f := files[i]
			r := Result{Item: f, Path: f.Path, Name: f.Name, Size: f.Size, Started: time.Now()}
			if err := o.err; err != nil {
				if ctx.Err() != nil {
					err = stopped(ctx)
				}
				end(i, e.fail(r, err))
				continue
			}
			sess := o.sess
			up := sess.Uploads[j]
			ref := UploadRef{SessionID: sess.SessionID, UploadID: up.UploadID, Bucket: sess.Bucket, Key: up.Key,
				Region: sess.Region, Endpoint: sess.Endpoint, PathStyle: sess.PathStyle, Metadata: e.opts.Metadata}
			launch(i, r, sess.SessionID, func(slot *batchSlot) Result { return e.uploadFile(ctx, sess, f, ref, nil, slot) })
		}
	}
	close(work)
	wg.Wait()
	if reg != nil {
		reg.close()
	}
	return results
}

// batchSlot is where a file's registration goes when it is batched: the
// registrar writes its result. queued says it went there.
type batchSlot struct {
	reg    *registrar
	i      int
	queued bool
}

func (e *Engine) fail(r Result, err error) Result {
	kind := FileFailed
	r.Status = StatusFailed
	if errors.Is(err, ErrStopped) {
		r.Status, kind = StatusInterrupted, FileInterrupted
	}
	r.Err = err
	r.Finished = time.Now()
	e.opts.Observer.Event(Event{Kind: kind, Time: r.Finished, Path: r.Path, Name: r.Name, Size: r.Size,
		SessionID: r.SessionID, UploadID: r.UploadID, Key: r.Key, Reason: err.Error(), Err: err})
	return r
}

// uploadFile takes one file from disk to a registered video. rs, when not
// nil, is what S3 still holds of an earlier run's multipart upload.
func (e *Engine) uploadFile(ctx context.Context, sess *session, f *asset.Item, ref UploadRef, rs *resumeState, slot *batchSlot) Result {
	r := e.started(f, ref)
	st, err := e.transfer(ctx, sess, f, &ref, rs)
	if err == nil {
		// What S3 holds is right only if the file did not change while read.
		if err := checkUnchanged(f); err != nil {
			return e.fail(r, err)
		}
	}
	return e.finish(ctx, f, ref, r, st, err, slot)
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
func (e *Engine) finish(ctx context.Context, f *asset.Item, ref UploadRef, r Result, st stored, err error, slot *batchSlot) Result {
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrStopped) {
			err = stopped(ctx)
		}
		return e.fail(r, err)
	}
	return e.register(ctx, f, ref, r, st, false, slot)
}

// register reports the verified object st and registers it with the API.
// outbox is true when an earlier run completed it (it is in the journal's
// outbox already). With a batch slot the registration is queued for its
// session's batch, and the registrar writes the file's result.
func (e *Engine) register(ctx context.Context, f *asset.Item, ref UploadRef, r Result, st stored, outbox bool, slot *batchSlot) Result {
	r.ETag, r.Checksum = st.etag, st.checksum
	e.opts.Observer.Event(Event{Kind: FileUploaded, Time: time.Now(), Path: f.Path, Name: f.Name, Size: f.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, ETag: r.ETag, Checksum: checksumText(r.Checksum)})
	r.Status = StatusUploaded
	if !outbox {
		// Recorded before the API hears of it: a run killed after the
		// registration registers the same upload id again (a replay),
		// never a new upload.
		e.hooks(f).Completed(f, ref, r)
	}
	if slot != nil && !e.batchRefused() {
		slot.queued = true
		slot.reg.add(regItem{i: slot.i, f: f, ref: ref, r: r})
		return r
	}
	video, created, err := e.opts.API.RegisterVideo(ctx, e.videoRequest(f, ref, r))
	return e.registered(ctx, f, ref, r, video, created, err)
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
