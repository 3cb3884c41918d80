package transfer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
)

// BatchAPI is an API that registers several uploads of one session in one
// call (contract v1.1 section 3c). When Options.API implements it, Upload
// registers the files of a session in batches.
type BatchAPI interface {
	// RegisterVideos answers, for each request of reqs (uploads of session
	// sessionID), in order, what RegisterVideo would have answered for it.
	// An error wrapping ErrNoBatch means the API has no batch endpoint (a
	// v1 server); any other error is the whole call's, which each of its
	// registrations would have had alone.
	RegisterVideos(ctx context.Context, sessionID string, reqs []contract.VideoRequest) ([]Registration, error)
}

// Registration is what one registration of a batch came to.
type Registration struct {
	Video *contract.Video
	// Created is false when the API had registered it already (a replay).
	Created bool
	Err     error
}

// ErrNoBatch is wrapped by BatchAPI's error when the API does not offer
// batch registration: the engine then registers one video per call for
// the rest of the run.
var ErrNoBatch = errors.New("the API does not offer batch registration")

// batchWindow is how long a completed file waits for others of its session
// before their registrations go: long enough to gather what completes at
// line rate, short enough not to be noticed. A batch also goes once every
// file of its session has ended.
const batchWindow = time.Second

// registrar gathers the registrations of a run's files by session and
// sends each session's as one batch. Results of batched files are written
// by the registrar, not by the worker that uploaded them.
type registrar struct {
	e      *Engine
	ctx    context.Context
	batch  BatchAPI
	end    func(i int, r Result) // records a file's final result
	window time.Duration

	mu       sync.Mutex
	sessions map[string]*pendingBatch
	calls    sync.WaitGroup
}

// pendingBatch is what a session has gathered.
type pendingBatch struct {
	items []regItem
	// open: files of the session that have not ended yet; -1 when the
	// session's files are not known (earlier runs' sessions).
	open  int
	timer *time.Timer
}

// regItem is one verified object waiting for its registration.
type regItem struct {
	i   int // index of its result
	f   *asset.Item
	ref UploadRef
	r   Result
}

func (e *Engine) newRegistrar(ctx context.Context, end func(int, Result)) *registrar {
	b, ok := e.opts.API.(BatchAPI)
	if !ok || e.batchRefused() {
		return nil
	}
	return &registrar{e: e, ctx: ctx, batch: b, end: end, window: batchWindow, sessions: map[string]*pendingBatch{}}
}

func (g *registrar) pending(sessionID string) *pendingBatch {
	p := g.sessions[sessionID]
	if p == nil {
		p = &pendingBatch{open: -1}
		g.sessions[sessionID] = p
	}
	return p
}

// expect says that n files of the run belong to session sessionID.
func (g *registrar) expect(sessionID string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pending(sessionID)
	if p.open < 0 {
		p.open = 0
	}
	p.open += n
}

// ended says that a file of session sessionID ended without waiting for a
// registration (it failed, or was registered alone).
func (g *registrar) ended(sessionID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.sessions[sessionID]
	if p == nil || p.open < 0 {
		return
	}
	p.open--
	if p.open == 0 {
		g.flushLocked(sessionID)
	}
}

// add queues the registration of it.
func (g *registrar) add(it regItem) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sid := it.ref.SessionID
	p := g.pending(sid)
	p.items = append(p.items, it)
	if p.open > 0 {
		p.open--
	}
	switch {
	case p.open == 0 || len(p.items) >= contract.MaxFilesPerSession:
		g.flushLocked(sid)
	case p.timer == nil:
		p.timer = time.AfterFunc(g.window, func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.flushLocked(sid)
		})
	}
}

// flushLocked sends what session sid gathered.
func (g *registrar) flushLocked(sid string) {
	p := g.sessions[sid]
	if p == nil {
		return
	}
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	items := p.items
	p.items = nil
	if p.open <= 0 {
		delete(g.sessions, sid)
	}
	if len(items) == 0 {
		return
	}
	g.calls.Go(func() { g.send(sid, items) })
}

// close sends everything still gathered and waits for every batch.
func (g *registrar) close() {
	g.mu.Lock()
	for sid := range g.sessions {
		g.flushLocked(sid)
	}
	g.mu.Unlock()
	g.calls.Wait()
}

// send registers items, uploads of session sid, in one call, and ends each
// as its single registration would have.
func (g *registrar) send(sid string, items []regItem) {
	e := g.e
	reqs := make([]contract.VideoRequest, len(items))
	for k, it := range items {
		reqs[k] = e.videoRequest(it.f, it.ref, it.r)
	}
	var regs []Registration
	var err error
	if !e.batchRefused() {
		regs, err = g.batch.RegisterVideos(g.ctx, sid, reqs)
	}
	if e.batchRefused() || errors.Is(err, ErrNoBatch) {
		// A v1 server: one call per file, from now on for the whole run;
		// each recorded as soon as it is answered.
		e.refuseBatch()
		var wg sync.WaitGroup
		sem := make(chan struct{}, max(e.opts.Concurrency, 4))
		for k, it := range items {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				v, created, err := e.opts.API.RegisterVideo(g.ctx, reqs[k])
				g.end(it.i, e.registered(g.ctx, it.f, it.ref, it.r, v, created, err))
			})
		}
		wg.Wait()
		return
	}
	// Each file's journal record and events at once, so that the
	// journal's records share their fsyncs.
	var wg sync.WaitGroup
	for k, it := range items {
		reg := Registration{Err: err}
		if err == nil {
			reg = regs[k]
		}
		wg.Go(func() {
			g.end(it.i, e.registered(g.ctx, it.f, it.ref, it.r, reg.Video, reg.Created, reg.Err))
		})
	}
	wg.Wait()
}

// videoRequest is the registration of f's object, uploaded as ref and
// verified as r says.
func (e *Engine) videoRequest(f *asset.Item, ref UploadRef, r Result) contract.VideoRequest {
	return contract.VideoRequest{
		UploadID: ref.UploadID, SessionID: ref.SessionID, Bucket: ref.Bucket, Key: ref.Key,
		Filename: f.Name, Size: f.Size, ContentType: f.ContentType, ETag: r.ETag,
		Checksum: r.Checksum, Metadata: ref.Metadata, Media: RegistrationMedia(f.Media),
	}
}

// registered ends r with the API's answer to its registration.
func (e *Engine) registered(ctx context.Context, f *asset.Item, ref UploadRef, r Result, video *contract.Video, created bool, err error) Result {
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

// batchRefused reports whether the API answered, earlier in this run,
// that it has no batch registration.
func (e *Engine) batchRefused() bool { return e.noBatch != nil && e.noBatch.Load() }

// refuseBatch remembers for the rest of the run that the API has no batch
// registration.
func (e *Engine) refuseBatch() {
	if e.noBatch != nil {
		e.noBatch.Store(true)
	}
}
