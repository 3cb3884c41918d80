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

// batchConcurrency bounds the registrations of one batch in flight at once:
// each is HEAD, copy (and HEAD of the copy when S3 answers no checksum to
// it) and an insert, mostly waiting on S3.
const batchConcurrency = 16

// registerBatch is POST /api/v1/uploads/{session_id}/videos (contract v1.1
// section 3c): each entry goes through registerOne, exactly as its single
// call would, and answers with the status that call would have had. The
// batch itself answers 200 once every entry has its outcome.
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
	var (
		wg      sync.WaitGroup
		sources sealedSources
	)
	sem := make(chan struct{}, batchConcurrency)
	for i, v := range req.Videos {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out.Videos[i] = s.batchEntry(ctx, r, id, v, &sources)
		}()
	}
	wg.Wait()
	s.deleteSources(ctx, sources.keys)
	writeJSON(w, http.StatusOK, out)
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

// batchEntry registers one entry of a batch of session sessionID.
// The uploaded objects it seals go to sources, deleted with the batch's.
func (s *Server) batchEntry(ctx context.Context, r *http.Request, sessionID string, req contract.VideoRequest, sources *sealedSources) contract.BatchEntry {
	var (
		v       contract.Video
		created bool
		err     error
	)
	switch {
	case req.Package != nil:
		err = errorf(http.StatusBadRequest, "a package is registered alone, with POST %s, not in a batch", contract.PathVideos)
	case req.SessionID != sessionID:
		err = errorf(http.StatusBadRequest, "upload %q names session %q, not the batch's session %q; register it in its own session's batch", req.UploadID, req.SessionID, sessionID)
	default:
		v, created, err = s.registerOne(ctx, req, sources)
	}
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			s.log.ErrorContext(ctx, "batch registration failed", "path", r.URL.Path, "upload_id", req.UploadID, "err", err)
			he = &httpError{http.StatusInternalServerError, "internal server error; the server log has the details"}
		}
		s.cfg.Metrics.registration(he.status, false)
		return contract.BatchEntry{Status: he.status, Error: he.msg}
	}
	s.cfg.Metrics.registration(http.StatusOK, created)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	// One line per registration of a batch, as the access log has one per
	// single registration: what an operator counts, a batch counts alike.
	s.log.InfoContext(ctx, "batch entry", "path", r.URL.Path, "status", status, "upload_id", req.UploadID, "video_id", v.ID)
	return contract.BatchEntry{Status: status, Video: &v}
}
