package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
)

// A package (contract v1.1 sections 1b and 3b) is many files and one video:
// one session for all of them, the media first, a barrier (every one of
// them completed and verified), the media playlists, the entry points
// last, and one registration that lists every object. The objects go
// through the same pipeline as files (transfer: put or multipart, checksum,
// verify); only the order, the session and the registration are the
// package's.

// PackageAPI is what a package needs of the company API beyond API
// (internal/api's client implements it).
type PackageAPI interface {
	CreatePackageSession(ctx context.Context, pkg contract.PackageRequest) (*contract.Session, error)
	RegisterPackage(ctx context.Context, req contract.VideoRequest) (v *contract.Video, created bool, err error)
}

// PackageDone is an object of a package completed and verified on S3.
type PackageDone struct {
	Path     string
	Size     int64
	ModTime  time.Time
	ETag     string
	Checksum string // base64, of the upload's algorithm; "" when unverified
	Type     string // FULL_OBJECT or COMPOSITE
}

// PackagePrior is what an earlier run left of a package.
type PackagePrior struct {
	Ref asset.Upload
	// Fingerprint names the files (paths and sizes) its session was
	// opened for.
	Fingerprint string
	// Done are the objects it completed, by path.
	Done map[string]PackageDone
}

// PackageRecorder records the objects of one package upload as they
// complete. Add may keep records in memory (group commit); Flush makes
// them durable. A record lost to a crash only means the object is sent
// again.
type PackageRecorder interface {
	Add(PackageDone)
	Flush() error
	Close() error
}

// PackageJournal keeps package uploads for later runs (internal/journal's
// Packages, through the command). The run holds the package's lock.
type PackageJournal interface {
	// Earlier is the upload an earlier run left unregistered of pkg, or
	// nil.
	Earlier(pkg *asset.Item) (*PackagePrior, error)
	// Begin records a new upload of pkg, replacing any earlier one.
	Begin(pkg *asset.Item, ref asset.Upload, fingerprint string) (PackageRecorder, error)
	// Continue records more objects of the upload Earlier returned.
	Continue(pkg *asset.Item) (PackageRecorder, error)
	Registered(pkg *asset.Item, videoID string) error
	Forget(pkg *asset.Item) error
}

// ErrPackagesRefused matches the error of an API that refused to open a
// package session (400, 404, 405 or 422): most likely a v1 server, which
// does not know packages.
var ErrPackagesRefused = errors.New("the API does not accept this package")

// packagesRefused is the API's refusal of a package session; it reads as
// the API's answer and matches ErrPackagesRefused.
type packagesRefused struct{ err error }

func (e *packagesRefused) Error() string        { return e.err.Error() }
func (e *packagesRefused) Unwrap() error        { return e.err }
func (e *packagesRefused) Is(target error) bool { return target == ErrPackagesRefused }

// statusCoder is the API client's *StatusError, without importing it.
type statusCoder interface{ StatusCode() int }

// packageFingerprint names the set of files of pkg: paths and sizes.
func packageFingerprint(pkg *asset.Item) string {
	h := sha256.New()
	for _, o := range pkg.Objects {
		fmt.Fprintf(h, "%s\x00%d\n", o.Rel, o.Size)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// objectsInFlight is how many objects of a package are sent at once: more
// than the part slots, so that opening, verifying and recording one object
// overlaps the sending of others. The part slots still bound what is sent.
func (e *Engine) objectsInFlight() int { return 2 * max(e.opts.Concurrency, 4) }

// forPackage is e for the objects of pkg: their progress and retries are
// reported under the package's path, and no file hook sees them (the
// package has its own journal record).
func (e *Engine) forPackage(pkg *asset.Item) *Engine {
	pe := *e
	pe.opts.Hooks = NopHooks{}
	pe.opts.Observer = packageObserver{Observer: e.opts.Observer, path: pkg.Path}
	return &pe
}

// packageObserver reports an object's progress as its package's.
type packageObserver struct {
	Observer
	path string
}

func (o packageObserver) Progress(_ string, delta int64) { o.Observer.Progress(o.path, delta) }

// uploadPackage uploads pkg's objects under one session and registers them
// as one video.
func (e *Engine) uploadPackage(ctx context.Context, pkg *asset.Item) Result {
	r := Result{Item: pkg, Path: pkg.Path, Name: pkg.Name, Size: pkg.Size, Kind: pkg.Kind, Objects: len(pkg.Objects), Started: time.Now()}
	papi, ok := e.opts.API.(PackageAPI)
	if !ok {
		return e.fail(r, errors.New("this API client cannot open package sessions (contract v1.1 section 1b)"))
	}
	fp := packageFingerprint(pkg)
	var (
		sess  *session
		ref   asset.Upload
		rec   PackageRecorder
		done  map[string]PackageDone
		err   error
		event = FileStarted
	)
	prior, err := e.earlierPackage(pkg)
	if err != nil {
		return e.fail(r, err)
	}
	if prior != nil && prior.Fingerprint != fp {
		e.forgetPackage(pkg, prior.Ref, "the folder's files changed since the earlier run; uploading the package again under a new session")
		prior = nil
	}
	if prior != nil {
		sess, err = e.resumeSession(ctx, prior.Ref, map[string]*session{})
		switch {
		case errors.Is(err, contract.ErrSessionGone):
			e.forgetPackage(pkg, prior.Ref, "the API no longer knows its session; uploading the package again under a new session")
			prior = nil
		case err != nil:
			if ctx.Err() != nil {
				err = stopped(ctx)
			}
			r.SessionID, r.UploadID, r.Key = prior.Ref.SessionID, prior.Ref.UploadID, prior.Ref.Key
			return e.fail(r, fmt.Errorf("resume the package in session %s: %w", prior.Ref.SessionID, err))
		default:
			ref = prior.Ref
			if e.opts.Metadata != nil {
				ref.Metadata = e.opts.Metadata
			}
			done, err = e.stillOnS3(ctx, sess, pkg, ref, prior.Done)
			if err != nil {
				r.SessionID, r.UploadID, r.Key = ref.SessionID, ref.UploadID, ref.Key
				return e.fail(r, err)
			}
			if rec, err = e.opts.Packages.Continue(pkg); err != nil {
				return e.fail(r, err)
			}
			event = FileResumed
		}
	}
	if prior == nil {
		sess, err = e.openPackageSession(ctx, papi, pkg)
		if err != nil {
			if ctx.Err() != nil {
				err = stopped(ctx)
			}
			return e.fail(r, err)
		}
		ref = asset.Upload{SessionID: sess.SessionID, UploadID: sess.Package.UploadID, Key: sess.Package.Prefix,
			Bucket: sess.Bucket, Region: sess.Region, Endpoint: sess.Endpoint, PathStyle: sess.PathStyle,
			Metadata: e.opts.Metadata, ChecksumAlgorithm: sess.mode.current().record()}
		done = map[string]PackageDone{}
		rec = nopRecorder{}
		if e.opts.Packages != nil {
			if rec, err = e.opts.Packages.Begin(pkg, ref, fp); err != nil {
				return e.fail(r, err)
			}
		}
	}
	defer rec.Close()
	r.SessionID, r.UploadID, r.Key = ref.SessionID, ref.UploadID, ref.Key
	ev := Event{Kind: event, Time: r.Started, Path: pkg.Path, Name: pkg.Name, Size: pkg.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, Package: pkg.Kind, Objects: len(pkg.Objects)}
	if event == FileResumed {
		ev.Reason = fmt.Sprintf("%d of %d objects were uploaded by an earlier run", len(done), len(pkg.Objects))
	}
	e.opts.Observer.Event(ev)

	var skipped int64
	for _, o := range pkg.Objects {
		if _, ok := done[o.Rel]; ok {
			skipped += o.Size
		}
	}
	if skipped > 0 {
		e.opts.Observer.Progress(pkg.Path, skipped)
	}

	pe := e.forPackage(pkg)
	for _, phase := range phases(pkg.Objects) {
		var todo []*asset.Object
		for _, o := range phase {
			if _, ok := done[o.Rel]; !ok {
				todo = append(todo, o)
			}
		}
		sent, err := pe.sendObjects(ctx, sess, pkg, ref, todo, rec)
		maps.Copy(done, sent)
		// The barrier: every object of this phase is completed and
		// verified, and recorded on disk, before the next phase starts.
		// A record the journal could not write is the journal's to
		// report (the command warns); it costs a later run a resend.
		_ = rec.Flush()
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ErrStopped) {
				err = stopped(ctx)
			}
			return e.fail(r, err)
		}
	}
	return e.registerPackage(ctx, papi, pkg, ref, r, done)
}

// sendObjects sends objs (of one phase) on a fixed set of workers, as
// Upload runs files: a goroutine per object would grow a fresh stack to
// the SDK's depth for each of thousands of small objects. The first
// failure stops the others; what completed is returned all the same.
func (e *Engine) sendObjects(ctx context.Context, sess *session, pkg *asset.Item, ref asset.Upload, objs []*asset.Object, rec PackageRecorder) (map[string]PackageDone, error) {
	sent := make(map[string]PackageDone, len(objs))
	if len(objs) == 0 {
		return sent, nil
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan *asset.Object)
	for range min(e.objectsInFlight(), len(objs)) {
		wg.Go(func() {
			for o := range work {
				d, err := e.uploadObject(wctx, sess, pkg, o, ref)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel(err)
					}
				} else {
					sent[o.Rel] = d
				}
				mu.Unlock()
				if err == nil {
					rec.Add(d)
				}
			}
		})
	}
feed:
	for _, o := range objs {
		select {
		case work <- o:
		case <-wctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = stopped(ctx)
	}
	return sent, firstErr
}

// earlierPackage is what the journal kept of pkg, or nil.
func (e *Engine) earlierPackage(pkg *asset.Item) (*PackagePrior, error) {
	if e.opts.Packages == nil {
		return nil, nil
	}
	return e.opts.Packages.Earlier(pkg)
}

// forgetPackage gives up an earlier upload of pkg, saying why.
func (e *Engine) forgetPackage(pkg *asset.Item, ref asset.Upload, reason string) {
	_ = e.opts.Packages.Forget(pkg)
	e.opts.Observer.Event(Event{Kind: FileRestarted, Time: time.Now(), Path: pkg.Path, Name: pkg.Name, Size: pkg.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, Reason: reason})
}

// phases groups objects (in package order: by phase) by phase.
func phases(objs []*asset.Object) [][]*asset.Object {
	var out [][]*asset.Object
	start := 0
	for i := 1; i <= len(objs); i++ {
		if i == len(objs) || objs[i].Phase != objs[start].Phase {
			out = append(out, objs[start:i])
			start = i
		}
	}
	return out
}

// wireKind is the contract's kind (hls, dash, folder) of a package of
// kind k: a folder with both an HLS master playlist and an MPD (CMAF
// segments for both players) is sent as hls, whose master playlist is the
// entry point; its MPD is one of its objects.
func wireKind(k string) string {
	if k == "hls+dash" {
		return contract.KindHLS
	}
	return k
}

// openPackageSession opens the package's session (contract 1b).
func (e *Engine) openPackageSession(ctx context.Context, papi PackageAPI, pkg *asset.Item) (*session, error) {
	req := contract.PackageRequest{Name: pkg.Name, Kind: wireKind(pkg.Kind), Files: make([]contract.PackageFile, len(pkg.Objects))}
	for i, o := range pkg.Objects {
		req.Files[i] = contract.PackageFile{Path: o.Rel, Size: o.Size, ContentType: o.ContentType}
	}
	s, err := papi.CreatePackageSession(ctx, req)
	if err != nil {
		var sc statusCoder
		if errors.As(err, &sc) {
			switch sc.StatusCode() {
			case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnprocessableEntity:
				return nil, &packagesRefused{err}
			}
		}
		return nil, err
	}
	return e.newSession(s)
}

// stillOnS3 keeps the objects an earlier run completed that S3 still
// holds (ListObjectsV2 under the prefix: one request per 1,000 objects)
// and whose files are unchanged. A session not allowed to list trusts the
// journal: the API verifies every object before it registers the package.
func (e *Engine) stillOnS3(ctx context.Context, sess *session, pkg *asset.Item, ref asset.Upload, recorded map[string]PackageDone) (map[string]PackageDone, error) {
	done := map[string]PackageDone{}
	if len(recorded) == 0 {
		return done, nil
	}
	listed := map[string]listedObject{}
	listable := true
	token := ""
	for pages := 0; ; pages++ {
		var page []listedObject
		err := e.opts.Retry.do(ctx, e.retryHooks(sess, pkg, &ref, OpListObjects, 0), func(ctx context.Context) error {
			var err error
			page, token, err = sess.store.listObjects(ctx, ref.Key, token)
			return err
		})
		if isAccessDenied(err) {
			listable = false
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, stopped(ctx)
			}
			return nil, s3Failed(err, OpListObjects, sess.Bucket, ref.Key, 0)
		}
		for _, o := range page {
			listed[o.key] = o
		}
		if token == "" || pages > contract.MaxFilesPerPackage/100 {
			break
		}
	}
	for _, o := range pkg.Objects {
		d, ok := recorded[o.Rel]
		if !ok || d.Size != o.Size || o.Info == nil || !o.Info.ModTime().Equal(d.ModTime) {
			continue
		}
		if listable {
			l, ok := listed[ref.Key+o.Rel]
			if !ok || l.size != o.Size || (d.ETag != "" && l.etag != "" && l.etag != d.ETag) {
				continue
			}
		}
		done[o.Rel] = d
	}
	return done, nil
}

// uploadObject sends one object of pkg to prefix + its path, verified.
func (e *Engine) uploadObject(ctx context.Context, sess *session, pkg *asset.Item, o *asset.Object, pref asset.Upload) (PackageDone, error) {
	f := &asset.Item{Path: o.Path, Abs: abs(o.Path), Rel: o.Rel, Name: filepath.Base(o.Path), Info: o.Info,
		Size: o.Size, ContentType: o.ContentType, CacheControl: o.CacheControl}
	if o.Info != nil {
		f.ModTime = o.Info.ModTime()
	}
	ref := pref
	ref.Key = pref.Key + o.Rel
	ref.S3UploadID, ref.PartSize = "", 0
	st, err := e.transfer(ctx, sess, f, &ref, nil)
	if err == nil {
		err = checkUnchanged(f)
	}
	if err != nil {
		return PackageDone{}, fmt.Errorf("%s: %w", o.Rel, err)
	}
	d := PackageDone{Path: o.Rel, Size: o.Size, ModTime: f.ModTime, ETag: st.etag}
	if st.checksum != nil {
		d.Checksum, d.Type = st.checksum.Value, st.checksum.Type
	}
	return d, nil
}

// registerPackage registers the package whose objects are all done (one
// call, idempotent by the package's upload id) and records it.
func (e *Engine) registerPackage(ctx context.Context, papi PackageAPI, pkg *asset.Item, ref asset.Upload, r Result, done map[string]PackageDone) Result {
	a, err := checksumOf(&ref)
	if err != nil {
		return e.fail(r, err)
	}
	reg := &contract.PackageRegistration{UploadID: ref.UploadID, SessionID: ref.SessionID, Name: pkg.Name, Kind: wireKind(pkg.Kind),
		Objects: make([]contract.PackageObject, 0, len(pkg.Objects))}
	for _, o := range pkg.Objects {
		d := done[o.Rel]
		po := contract.PackageObject{Path: o.Rel, Size: d.Size, ETag: d.ETag}
		if d.Checksum != "" && !a.none {
			po.Checksum = &contract.Checksum{Algorithm: a.name, Type: d.Type, Value: d.Checksum}
		}
		reg.Objects = append(reg.Objects, po)
	}
	e.opts.Observer.Event(Event{Kind: FileUploaded, Time: time.Now(), Path: pkg.Path, Name: pkg.Name, Size: pkg.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key})
	r.Status = StatusUploaded
	video, created, err := papi.RegisterPackage(ctx, contract.VideoRequest{Metadata: ref.Metadata, Package: reg})
	if err != nil {
		if ctx.Err() != nil {
			err = stopped(ctx)
		}
		return e.fail(r, fmt.Errorf("uploaded to S3 but not registered (the next run registers it): %w", err))
	}
	r.VideoID, r.Registered, r.Finished = video.ID, created, time.Now()
	r.Entry = video.Entry
	if r.Entry == "" && len(pkg.Entries) > 0 {
		r.Entry = ref.Key + pkg.Entries[0]
	}
	if video.Key != "" {
		// Where the registered package is: an API that seals uploads
		// (vidup serve) copies the objects out of the upload's prefix.
		r.Key = video.Key
	}
	if e.opts.Packages != nil {
		// An error is the journal's to report (the command warns): the
		// video is registered all the same, and a later run that finds the
		// package unrecorded registers it again with the same idempotency
		// key, which the API answers with the same video.
		_ = e.opts.Packages.Registered(pkg, video.ID)
	}
	e.opts.Observer.Event(Event{Kind: FileRegistered, Time: r.Finished, Path: pkg.Path, Name: pkg.Name, Size: pkg.Size,
		SessionID: ref.SessionID, UploadID: ref.UploadID, Key: r.Key, VideoID: video.ID,
		Package: pkg.Kind, Objects: len(pkg.Objects), Entry: r.Entry})
	return r
}

// nopRecorder keeps nothing (no journal).
type nopRecorder struct{}

func (nopRecorder) Add(PackageDone) {}
func (nopRecorder) Flush() error    { return nil }
func (nopRecorder) Close() error    { return nil }

// SortObjects puts a package's objects in upload order: by phase, then by
// path.
func SortObjects(objs []*asset.Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		if objs[i].Phase != objs[j].Phase {
			return objs[i].Phase < objs[j].Phase
		}
		return strings.Compare(objs[i].Rel, objs[j].Rel) < 0
	})
}
