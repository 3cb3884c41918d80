package server

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/store"
)

// MaxBatch is the most registrations one batch may carry (contract v1.1
// section 3c): a session's files.
const MaxBatch = contract.MaxFilesPerSession

// batchConcurrency bounds the entries of one batch verified and sealed at
// once: each is a copy (and a head of the copy when S3 answers no checksum
// to it), mostly waiting on S3.
const batchConcurrency = 16

// registerBatch is POST /api/v1/uploads/{session_id}/videos (contract v1.1
// section 3c): each entry is checked, verified and sealed as its single
// call would be, and answers with the status that call would have had. Two
// things are shared by the entries, and make a batch cheaper than its
// single calls, for S3 and for the database alike: one listing of the
// session's uploads stands in for a head of each (sealListed), and the
// sealed entries are registered in one transaction. The batch itself
// answers 200 once every entry has its outcome.
func (s *Server) registerBatch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalOf(ctx)
	if !p.mayUpload() {
		s.fail(w, r, errorf(http.StatusForbidden, "principal %q has role %s, which registers nothing", p.Name, p.Role))
		return
	}
	id := r.PathValue("session_id")
	sess, err := s.cfg.Store.Session(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if err != nil || sess.Principal != p.Name {
		s.fail(w, r, errorf(http.StatusNotFound, "session %q is unknown to this server; register only uploads of a session it opened", id))
		return
	}
	var req contract.BatchRequest
	if err := s.decodeSized(w, r, &req, func() bool { return true }); err != nil {
		s.fail(w, r, err)
		return
	}
	switch n := len(req.Videos); {
	case n == 0:
		s.fail(w, r, errorf(http.StatusBadRequest, "the batch has no videos; list 1 to %d registrations in \"videos\"", MaxBatch))
		return
	case n > MaxBatch:
		s.fail(w, r, errorf(http.StatusRequestEntityTooLarge, "the batch holds %d registrations, more than %d; split it", n, MaxBatch))
		return
	}
	out := contract.BatchResponse{Videos: make([]contract.BatchEntry, len(req.Videos))}
	for i, o := range s.registerEntries(ctx, id, req.Videos) {
		out.Videos[i] = s.batchAnswer(ctx, r, req.Videos[i], o)
	}
	writeJSON(w, http.StatusOK, out)
}

// outcome is what the registration of one entry of a batch came to.
type outcome struct {
	v       contract.Video
	created bool
	err     error
}

// entry is one entry of a batch on its way.
type entry struct {
	req      contract.VideoRequest
	outcome  outcome
	sealed   *sealed // verified and copied, to store with the others
	release  func()  // ends its claim on the upload
	deferred bool    // its upload is named earlier in the batch, or registering elsewhere
}

// registerEntries registers the entries of a batch of session sessionID
// and returns their outcomes, in order:
//
//  1. Each entry, at most batchConcurrency at once, is checked, claimed
//     (exclusive) and sealed, the listing of the session's uploads standing
//     in for heads. Its claim is held until its registration is stored.
//  2. The sealed entries are registered in one transaction, then settled
//     one by one (a replay, an error, the copy discarded) and released.
//  3. An entry whose upload another registration had claimed (another
//     request, or the same upload twice in this batch) waits for it only
//     now, once this batch holds no claim, and registers alone: waiting
//     for a claim while holding others could deadlock two batches.
//
// The uploads sealed are deleted at the end, with one DeleteObjects.
func (s *Server) registerEntries(rctx context.Context, sessionID string, reqs []contract.VideoRequest) []outcome {
	// The work runs on when the client stops waiting, as a single
	// registration's does; SealTimeout bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rctx), s.cfg.SealTimeout)
	defer cancel()
	var listed func(key string) (ListedObject, bool)
	if len(reqs) > 1 {
		listed = s.listUploads(ctx, sessionID)
	}
	entries := make([]entry, len(reqs))
	seen := make(map[string]bool, len(reqs))
	for i, req := range reqs {
		entries[i].req = req
		// An upload named again later in the batch registers after the
		// first has settled: the first answers 201, the others replay it
		// (200) or conflict with it (409), in the order the client sent.
		entries[i].deferred = seen[req.UploadID]
		seen[req.UploadID] = true
	}
	var sources sealedSources
	defer func() {
		// Claims end with the registrations, whatever happens: a claim
		// left behind would keep its upload from ever registering here.
		for i := range entries {
			if e := &entries[i]; e.release != nil {
				e.release()
				e.release = nil
			}
		}
	}()
	each(entries, func(e *entry) {
		if !e.deferred {
			s.sealEntry(rctx, ctx, sessionID, e, listed)
		}
	})

	var regs []store.Registration
	var sealedOnes []*entry
	for i := range entries {
		if e := &entries[i]; e.sealed != nil {
			regs = append(regs, e.sealed.reg)
			sealedOnes = append(sealedOnes, e)
		}
	}
	if len(regs) > 0 {
		results, err := s.cfg.Store.RegisterVideos(ctx, regs)
		for i, e := range sealedOnes {
			r := store.RegisterResult{Err: err}
			if err == nil {
				r = results[i]
			}
			v, created, err := s.settle(ctx, *e.sealed, r.Stored, r.Created, r.Err, &sources)
			e.outcome = outcome{v, created, err}
			e.release()
			e.release = nil
		}
	}

	each(entries, func(e *entry) {
		if e.deferred {
			v, created, err := s.registerOne(rctx, e.req, &sources)
			e.outcome = outcome{v, created, err}
		}
	})
	s.deleteSources(ctx, sources.keys)
	out := make([]outcome, len(entries))
	for i, e := range entries {
		out[i] = e.outcome
	}
	return out
}

// each runs f on every entry, at most batchConcurrency at once.
func each(entries []entry, f func(e *entry)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, batchConcurrency)
	for i := range entries {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(&entries[i])
		}()
	}
	wg.Wait()
}

// sealEntry takes one entry of a batch as far as its registration: it
// checks it, claims its upload and seals it (e.sealed, e.release), or
// gives its outcome, or marks it deferred when another registration of its
// upload is in flight. rctx is the request's; ctx the batch's work.
func (s *Server) sealEntry(rctx, ctx context.Context, sessionID string, e *entry, listed func(key string) (ListedObject, bool)) {
	req := e.req
	fail := func(err error) { e.outcome = outcome{err: err} }
	switch {
	case req.Package != nil:
		fail(errorf(http.StatusBadRequest, "a package is registered alone, with POST %s, not in a batch", contract.PathVideos))
		return
	case req.SessionID != sessionID:
		fail(errorf(http.StatusBadRequest, "upload %q names session %q, not the batch's session %q; register it in its own session's batch", req.UploadID, req.SessionID, sessionID))
		return
	}
	up, digest, err := s.admit(rctx, req)
	if err != nil {
		fail(err)
		return
	}
	release, busy, v, done, err := s.tryExclusive(rctx, up.ID, digest)
	switch {
	case done:
		e.outcome = outcome{v: v, err: err}
		return
	case busy != nil:
		e.deferred = true
		return
	}
	if err := checkVideoRequest(req); err != nil {
		release()
		fail(err)
		return
	}
	sd, err := s.seal(ctx, req, up, digest, listed)
	if err != nil {
		release()
		e.outcome.v, e.outcome.created, e.outcome.err = answered(err)
		return
	}
	e.sealed, e.release = &sd, release
}

// listUploads returns the lookup of the session's uploaded objects by key,
// listed once, when an entry first needs it: one listing of the
// session's prefix for the batch instead of a head of each object. A
// listing that fails is logged and finds nothing: every entry heads its
// object then.
func (s *Server) listUploads(ctx context.Context, sessionID string) func(key string) (ListedObject, bool) {
	byKey := sync.OnceValue(func() map[string]ListedObject {
		prefix := SessionPrefix(sessionID)
		listed, err := s.cfg.Objects.List(ctx, s.cfg.Bucket, prefix)
		if err != nil {
			s.log.WarnContext(ctx, "listing a session's uploads failed; its objects are headed one by one", "prefix", prefix, "err", err)
			return nil
		}
		m := make(map[string]ListedObject, len(listed))
		for _, l := range listed {
			m[l.Key] = l
		}
		return m
	})
	return func(key string) (ListedObject, bool) {
		l, ok := byKey()[key]
		return l, ok
	}
}

// sealListed seals an uploaded object as sealHeaded does, from the
// listing's size and ETag instead of a head: the size is compared with the
// request, the copy is made on condition of the listed ETag (so it is the
// object listed, or nothing), and the checksum, which a listing does not
// carry, is checked on the copy: the one CopyObject computed over the
// copied bytes and answered, or else the copy's own, headed. A checksum
// that differs is the object's fault, as in verify: 422, the copy
// discarded.
//
// settled is false when the listing cannot settle the registration: an
// object copied part by part (above MaxCopyObjectSize), a composite or
// untyped checksum, which only the upload's head tells, an object that
// changed or went since it was listed, a copy that keeps no checksum of
// the kind asked for. The caller heads the upload then.
func (s *Server) sealListed(ctx context.Context, req contract.VideoRequest, up store.Upload, digest string, l ListedObject) (sd sealed, settled bool, err error) {
	want := req.Checksum
	if l.ETag == "" || l.Size > MaxCopyObjectSize || (want != nil && want.Type != contract.TypeFullObject) {
		return sealed{}, false, nil
	}
	bucket := s.cfg.Bucket
	src := ObjectInfo{Size: l.Size, ETag: l.ETag}
	if _, err := s.verify(contract.VideoRequest{Size: req.Size}, up.Key, src); err != nil {
		return sealed{}, true, err
	}
	alg := ""
	if want != nil {
		alg = want.Algorithm
	}
	videoID, sealedKey, discard := s.sealedKey(ctx, up)
	copied, err := s.cfg.Objects.Copy(ctx, bucket, up.Key, sealedKey, src, alg)
	switch {
	case errors.Is(err, ErrObjectChanged), errors.Is(err, ErrObjectNotFound):
		return sealed{}, false, nil
	case err != nil:
		s.log.ErrorContext(ctx, "sealing copy failed", "bucket", bucket, "key", up.Key, "sealed_key", sealedKey, "err", err)
		return sealed{}, true, errorf(http.StatusBadGateway, "the server could not copy the object in S3; retry later")
	}
	got, ok := copyChecksummed(copied, src, alg)
	if !ok {
		if got, err = s.statCopy(ctx, sealedKey, discard); err != nil {
			return sealed{}, true, err
		}
	}
	var ck *contract.Checksum
	if want != nil {
		v := got.Checksums[alg]
		if v == "" || (got.ChecksumType != "" && got.ChecksumType != contract.TypeFullObject) {
			// No checksum of the copy to compare: compare the upload's, on
			// condition that the upload is still the object copied.
			info, err := s.cfg.Objects.Stat(ctx, bucket, up.Key)
			if err != nil || info.ETag != src.ETag {
				discard()
				return sealed{}, false, nil
			}
			if ck, err = s.verify(req, up.Key, info); err != nil {
				discard()
				return sealed{}, true, err
			}
		} else if v != want.Value {
			discard()
			return sealed{}, true, errorf(http.StatusUnprocessableEntity,
				"the %s checksum of s3://%s/%s is %s, the request says %s; the object differs from the file, upload it again",
				alg, bucket, up.Key, v, want.Value)
		} else {
			c := *want
			ck = &c
		}
	}
	if err := sealedMatches(got, src, ck); err != nil {
		discard()
		s.log.ErrorContext(ctx, "the sealed copy differs from the object", "key", sealedKey, "err", err)
		return sealed{}, true, errorf(http.StatusBadGateway, "S3's copy of the object differs from it; retry later")
	}
	return s.sealedAs(ctx, req, up, digest, videoID, sealedKey, got, ck, discard), true, nil
}

// deleteSources deletes the uploaded objects that a batch registered,
// sealed copies of which are now the videos: one DeleteObjects for the
// batch. Like the single call's delete, it runs on when the client stops
// waiting, and a failure is a warning: the videos are registered.
func (s *Server) deleteSources(rctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rctx), s.cfg.SealTimeout)
	defer cancel()
	if err := s.cfg.Objects.DeleteMany(ctx, s.cfg.Bucket, keys); err != nil {
		s.log.WarnContext(ctx, "deleting the uploaded objects of a batch after sealing them failed", "objects", len(keys), "err", err)
	}
}

// batchAnswer is the batch's entry for the outcome o of req.
func (s *Server) batchAnswer(ctx context.Context, r *http.Request, req contract.VideoRequest, o outcome) contract.BatchEntry {
	if o.err != nil {
		var he *httpError
		if !errors.As(o.err, &he) {
			s.log.ErrorContext(ctx, "batch registration failed", "path", r.URL.Path, "upload_id", req.UploadID, "err", o.err)
			he = &httpError{http.StatusInternalServerError, "internal server error; the server log has the details"}
		}
		s.cfg.Metrics.registration(he.status, false)
		return contract.BatchEntry{Status: he.status, Error: he.msg}
	}
	s.cfg.Metrics.registration(http.StatusOK, o.created)
	status := http.StatusOK
	if o.created {
		status = http.StatusCreated
	}
	// One line per registration of a batch, as the access log has one per
	// single registration: what an operator counts, a batch counts alike.
	s.log.InfoContext(ctx, "batch entry", "path", r.URL.Path, "status", status, "upload_id", req.UploadID, "video_id", o.v.ID)
	v := o.v
	return contract.BatchEntry{Status: status, Video: &v}
}
