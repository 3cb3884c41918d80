package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/store"
)

// A package (contract v1.1 sections 1b and 3b) is one upload whose files
// live under one prefix, uploads/<session>/<upload>/<path>. Its session
// credentials may write that prefix; its registration verifies every object
// (one listing, a HEAD per object with a checksum), copies each one under
// videos/<video id>/<path> on condition that it is still the object
// verified, and registers the package as one video.

// maxPackageConcurrency bounds the HEAD and copy requests of one package
// registration in flight at once.
const maxPackageConcurrency = 64

// maxPackagePath keeps every key of a package within S3's 1,024 bytes:
// uploads/<36>/<36>/ takes 82 of them.
const maxPackagePath = 1024 - len("uploads/") - 36 - 1 - 36 - 1

// maxNamed is how many wrong paths or objects an error names.
const maxNamed = 5

// CheckPackagePath refuses a path a package may not hold (contract v1.1
// section 1b): it must be relative and "/"-separated, with no empty, "." or
// ".." segment and no control character.
func CheckPackagePath(p string) error {
	switch {
	case p == "":
		return errors.New("is empty")
	case !utf8.ValidString(p):
		return errors.New("is not UTF-8")
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return errors.New("holds a control character")
	case len(p) > maxPackagePath:
		return fmt.Errorf("is %d bytes long, more than %d", len(p), maxPackagePath)
	case strings.HasPrefix(p, "/"):
		return errors.New("is absolute; give it relative to the package's folder")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("has a %q segment; paths have no empty, \".\" or \"..\" segment", seg)
		}
	}
	return nil
}

// entryExt is the extension of the entry point of each kind of package.
var entryExt = map[string]string{contract.KindHLS: ".m3u8", contract.KindDASH: ".mpd", contract.KindFolder: ""}

// packageEntry chooses a package's entry point: the shallowest playlist
// (.m3u8) or MPD, by the kind; among several at that depth the one named
// master, index or manifest, else the first listed. A folder has none.
func packageEntry(kind string, files []contract.PackageFile) (string, bool) {
	ext := entryExt[kind]
	if ext == "" {
		return "", true
	}
	best, bestRank := "", 0
	for _, f := range files {
		if !strings.EqualFold(path.Ext(f.Path), ext) {
			continue
		}
		rank := strings.Count(f.Path, "/") * 2
		switch strings.ToLower(strings.TrimSuffix(path.Base(f.Path), path.Ext(f.Path))) {
		case "master", "index", "manifest":
		default:
			rank++
		}
		if best == "" || rank < bestRank {
			best, bestRank = f.Path, rank
		}
	}
	return best, best != ""
}

func checkPackageRequest(req contract.PackageRequest) error {
	if _, ok := entryExt[req.Kind]; !ok {
		return errorf(http.StatusBadRequest, "package kind %q is not one of hls, dash or folder", req.Kind)
	}
	if len(req.Name) > maxMetadataValue || strings.IndexFunc(req.Name, unicode.IsControl) >= 0 {
		return errorf(http.StatusBadRequest, "package name %.32q is longer than %d bytes or holds control characters", req.Name, maxMetadataValue)
	}
	switch n := len(req.Files); {
	case n == 0:
		return errorf(http.StatusBadRequest, "the package has no files; list 1 to %d files in \"package.files\"", contract.MaxFilesPerPackage)
	case n > contract.MaxFilesPerPackage:
		return errorf(http.StatusRequestEntityTooLarge, "the package lists %d files, more than the %d one package may hold; split it", n, contract.MaxFilesPerPackage)
	}
	seen := make(map[string]bool, len(req.Files))
	for i, f := range req.Files {
		if err := CheckPackagePath(f.Path); err != nil {
			return errorf(http.StatusBadRequest, "package.files[%d]: path %q %v", i, f.Path, err)
		}
		if seen[f.Path] {
			return errorf(http.StatusBadRequest, "package.files[%d]: path %q is listed twice; list each file once", i, f.Path)
		}
		seen[f.Path] = true
		switch {
		case f.Size < contract.UnknownSize:
			return errorf(http.StatusBadRequest, "package.files[%d] (%s): size %d is negative; give the size in bytes, or -1 when it is unknown", i, f.Path, f.Size)
		case f.Size > MaxObjectSize:
			return errorf(http.StatusBadRequest, "package.files[%d] (%s): size %d is above S3's largest object", i, f.Path, f.Size)
		}
		if err := checkContentType(f.ContentType); err != nil {
			return errorf(http.StatusBadRequest, "package.files[%d] (%s): %v", i, f.Path, err)
		}
	}
	if _, ok := packageEntry(req.Kind, req.Files); !ok {
		return errorf(http.StatusBadRequest, "the %s package lists no %s file; its entry point (the master playlist or the MPD) must be one of its files, or send kind folder",
			req.Kind, entryExt[req.Kind])
	}
	return nil
}

// openPackageSession opens a session of one package (contract v1.1 section
// 1b): one upload, whose key is the prefix of every file.
func (s *Server) openPackageSession(ctx context.Context, req contract.PackageRequest) (contract.Session, error) {
	if err := checkPackageRequest(req); err != nil {
		return contract.Session{}, err
	}
	sess := store.Session{ID: uuid.NewString(), Principal: principalOf(ctx).Name, CreatedAt: s.cfg.Now().UTC()}
	id := uuid.NewString()
	prefix := SessionPrefix(sess.ID) + id + "/"
	var total int64
	for _, f := range req.Files {
		if f.Size < 0 || total < 0 {
			total = contract.UnknownSize
			continue
		}
		total += f.Size
	}
	name := req.Name
	if name == "" {
		name = "package"
	}
	up := store.Upload{ID: id, SessionID: sess.ID, Key: prefix, Name: SafeName(name), Size: total,
		Package: &store.Package{Name: req.Name, Kind: req.Kind, Files: req.Files}}
	if err := s.cfg.Store.CreateSession(ctx, sess, []store.Upload{up}); err != nil {
		return contract.Session{}, err
	}
	creds, err := s.mint(ctx, sess.ID, []string{prefix})
	if err != nil {
		return contract.Session{}, err
	}
	return contract.Session{
		SessionID:   sess.ID,
		Bucket:      s.cfg.Bucket,
		Region:      s.cfg.Region,
		Endpoint:    s.cfg.Endpoint,
		PathStyle:   s.cfg.PathStyle,
		Checksum:    s.cfg.Checksum,
		Credentials: creds,
		Package:     &contract.PackageUpload{UploadID: id, Prefix: prefix},
	}, nil
}

// PackageDigest is RequestDigest of a package registration, its objects
// taken in path order: the same objects listed in another order are the
// same registration.
func PackageDigest(req contract.VideoRequest) string {
	p := *req.Package
	p.Objects = slices.Clone(p.Objects)
	slices.SortFunc(p.Objects, func(a, b contract.PackageObject) int { return strings.Compare(a.Path, b.Path) })
	req.Package = &p
	return RequestDigest(req)
}

// registerPackage registers a package (contract v1.1 section 3b) for the
// principal of ctx.
func (s *Server) registerPackage(ctx context.Context, req contract.VideoRequest) (contract.Video, bool, error) {
	pr := req.Package
	unknown := errorf(http.StatusNotFound, "package upload %q is unknown to this server; register only packages of a session it opened", pr.UploadID)
	up, err := s.cfg.Store.Upload(ctx, pr.UploadID)
	if errors.Is(err, store.ErrNotFound) {
		return contract.Video{}, false, unknown
	}
	if err != nil {
		return contract.Video{}, false, err
	}
	sess, err := s.cfg.Store.Session(ctx, up.SessionID)
	if err != nil {
		return contract.Video{}, false, err
	}
	if sess.Principal != principalOf(ctx).Name {
		return contract.Video{}, false, unknown
	}
	switch {
	case up.Package == nil:
		return contract.Video{}, false, errorf(http.StatusBadRequest, "upload %q is a single file, not a package; register it without \"package\"", pr.UploadID)
	case pr.SessionID != up.SessionID:
		return contract.Video{}, false, errorf(http.StatusBadRequest, "package upload %q does not belong to session %q", pr.UploadID, pr.SessionID)
	case req.Bucket != "" && req.Bucket != s.cfg.Bucket:
		return contract.Video{}, false, errorf(http.StatusBadRequest, "bucket %q is not this server's bucket %q", req.Bucket, s.cfg.Bucket)
	}
	digest := PackageDigest(req)
	release, v, done, err := s.exclusive(ctx, up.ID, digest)
	if done {
		return v, false, err
	}
	defer release()
	if err := checkPackageRegistration(req, up.Package); err != nil {
		return contract.Video{}, false, err
	}
	return s.verifyAndSealPackage(ctx, req, up, digest)
}

// checkPackageRegistration compares a registration with its session's
// package: the same kind, every file once, nothing else.
func checkPackageRegistration(req contract.VideoRequest, spec *store.Package) error {
	pr := req.Package
	if pr.Kind != spec.Kind {
		return errorf(http.StatusBadRequest, "the package was opened as kind %q, the registration says %q", spec.Kind, pr.Kind)
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return err
	}
	declared := make(map[string]bool, len(spec.Files))
	for _, f := range spec.Files {
		declared[f.Path] = true
	}
	seen := make(map[string]bool, len(pr.Objects))
	var extra []string
	for i, o := range pr.Objects {
		switch {
		case seen[o.Path]:
			return errorf(http.StatusBadRequest, "package.objects[%d]: path %q is listed twice", i, o.Path)
		case o.Size < 0 || o.Size > MaxObjectSize:
			return errorf(http.StatusBadRequest, "package.objects[%d] (%s): size %d is not an object size", i, o.Path, o.Size)
		}
		if o.Checksum != nil {
			if err := checkChecksum(o.Checksum); err != nil {
				return errorf(http.StatusBadRequest, "package.objects[%d] (%s): %v", i, o.Path, err)
			}
		}
		seen[o.Path] = true
		if !declared[o.Path] {
			extra = append(extra, o.Path)
		}
	}
	var missing []string
	for _, f := range spec.Files {
		if !seen[f.Path] {
			missing = append(missing, f.Path)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d files of the session are not registered (%s)", len(missing), named(missing)))
	}
	if len(extra) > 0 {
		problems = append(problems, fmt.Sprintf("%d objects are not files of the session (%s)", len(extra), named(extra)))
	}
	if len(problems) > 0 {
		return errorf(http.StatusUnprocessableEntity, "the registration does not match the package's session: %s; register every file the session lists, and nothing else",
			strings.Join(problems, "; "))
	}
	return nil
}

// named lists the first maxNamed of names.
func named(names []string) string {
	if len(names) <= maxNamed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxNamed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxNamed)
}

// verified is one object of a package: what the listing (or a HEAD) said
// of the uploaded object, then what the copy answered.
type verified struct {
	obj  contract.PackageObject
	info ObjectInfo // the uploaded object; its ETag conditions the copy
	ck   *contract.Checksum
	etag string // the sealed copy's
}

// verifyAndSealPackage checks and seals every object of a package, then
// registers it. One listing proves every object is there with its size;
// each object is then copied under videos/<id>/ on condition that it is
// still the object listed, with S3 computing the copy's checksum, which
// must equal the request's: the checksum is verified on the sealed bytes
// themselves, in the request that seals them, so a package costs one S3
// request per object rather than a HEAD and a copy (a HEAD of the copy is
// the fallback when a store does not answer the checksum; a COMPOSITE
// checksum, which a copy cannot reproduce, is checked by a HEAD of the
// upload first). Like verifyAndSeal, it runs on when the client stops
// waiting.
func (s *Server) verifyAndSealPackage(rctx context.Context, req contract.VideoRequest, up store.Upload, digest string) (contract.Video, bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rctx), s.cfg.SealTimeout)
	defer cancel()
	defer func(start time.Time) { s.cfg.Metrics.verification.Observe(time.Since(start).Seconds()) }(time.Now())
	bucket := s.cfg.Bucket
	start := time.Now()
	objs, err := s.listPackage(ctx, req, up, digest)
	listed := time.Since(start)
	var elsewhere *registered
	if errors.As(err, &elsewhere) {
		return elsewhere.v, false, elsewhere.err
	}
	if err != nil {
		return contract.Video{}, false, err
	}

	videoID := uuid.NewString()
	sealedPrefix := SealedPrefix + videoID + "/"
	discard := func() {
		keys := make([]string, len(objs))
		for i, o := range objs {
			keys[i] = sealedPrefix + o.obj.Path
		}
		if err := s.cfg.Objects.DeleteMany(ctx, bucket, keys); err != nil {
			s.log.WarnContext(ctx, "deleting unused sealed copies failed", "prefix", sealedPrefix, "err", err)
		}
	}
	mismatch := make([]string, len(objs))
	err = parallel(ctx, len(objs), func(ctx context.Context, i int) error {
		msg, err := s.sealObject(ctx, &objs[i], up.Key, sealedPrefix)
		mismatch[i] = msg
		return err
	})
	switch {
	case errors.Is(err, ErrObjectChanged), errors.Is(err, ErrObjectNotFound):
		discard()
		if v, ok, err := s.registeredElsewhere(ctx, up.ID, digest); ok {
			return v, false, err
		}
		return contract.Video{}, false, errorf(http.StatusUnprocessableEntity,
			"an object of package %q changed or went away while it was being registered; upload it again", up.ID)
	case err != nil:
		discard()
		s.log.ErrorContext(ctx, "sealing copy of a package failed", "upload_id", up.ID, "err", err)
		return contract.Video{}, false, errorf(http.StatusBadGateway, "the server could not copy the package's objects in S3; retry later")
	}
	sealed := time.Since(start)
	var wrong []string
	for _, m := range mismatch {
		if m != "" {
			wrong = append(wrong, m)
		}
	}
	if len(wrong) > 0 {
		discard()
		return contract.Video{}, false, errorf(http.StatusUnprocessableEntity, "package %q under s3://%s/%s: %d objects differ from the request: %s; upload those files again before registering",
			up.ID, bucket, up.Key, len(wrong), strings.Join(wrong[:min(len(wrong), maxNamed)], "; "))
	}
	// Every copy is there, with its size: one listing per 1,000 objects.
	copies, err := s.cfg.Objects.List(ctx, bucket, sealedPrefix)
	if err != nil {
		discard()
		s.log.ErrorContext(ctx, "listing the sealed copies failed", "prefix", sealedPrefix, "err", err)
		return contract.Video{}, false, errorf(http.StatusBadGateway, "the server could not list its copies of the package in S3; retry later")
	}
	byKey := make(map[string]ListedObject, len(copies))
	for _, c := range copies {
		byKey[c.Key] = c
	}
	objects := make([]contract.PackageObject, len(objs))
	var total int64
	for i, o := range objs {
		key := sealedPrefix + o.obj.Path
		c, ok := byKey[key]
		if !ok || c.Size != o.info.Size {
			discard()
			s.log.ErrorContext(ctx, "a sealed copy is missing or differs", "key", key, "listed", ok, "size", c.Size, "want", o.info.Size)
			return contract.Video{}, false, errorf(http.StatusBadGateway, "S3's copy of a package object differs from it; retry later")
		}
		objects[i] = contract.PackageObject{Path: o.obj.Path, Size: c.Size, ETag: c.ETag, Checksum: o.ck, Key: key}
		total += c.Size
	}
	entry := ""
	if p, ok := packageEntry(req.Package.Kind, up.Package.Files); ok && p != "" {
		entry = sealedPrefix + p
	}
	stored, created, err := s.cfg.Store.RegisterVideo(ctx, store.Registration{
		Video: contract.Video{
			ID:        videoID,
			UploadID:  up.ID,
			SessionID: up.SessionID,
			Bucket:    bucket,
			Key:       sealedPrefix,
			Filename:  up.Name,
			Size:      total,
			Metadata:  req.Metadata,
			CreatedAt: s.cfg.Now().UTC(),
			Principal: principalOf(rctx).Name,
			Kind:      req.Package.Kind,
			Objects:   objects,
			Entry:     entry,
		},
		SourceKey:     up.Key,
		RequestDigest: digest,
	})
	if err != nil {
		discard()
		return contract.Video{}, false, err
	}
	if !created {
		discard()
		return replay(stored, digest)
	}
	s.log.InfoContext(ctx, "package registered", "video_id", videoID, "upload_id", up.ID, "objects", len(objects), "bytes", total,
		"list_s", listed.Seconds(), "copy_s", (sealed - listed).Seconds(), "total_s", time.Since(start).Seconds())
	// The uploaded objects go, strays the client wrote under the prefix
	// included.
	if listed, err := s.cfg.Objects.List(ctx, bucket, up.Key); err != nil {
		s.log.WarnContext(ctx, "listing the uploaded package after sealing it failed", "prefix", up.Key, "err", err)
	} else {
		keys := make([]string, len(listed))
		for i, l := range listed {
			keys[i] = l.Key
		}
		if err := s.cfg.Objects.DeleteMany(ctx, bucket, keys); err != nil {
			s.log.WarnContext(ctx, "deleting the uploaded package after sealing it failed", "prefix", up.Key, "err", err)
		}
	}
	return stored.Video, true, nil
}

// sealObject copies one object of a package under sealedPrefix and checks
// its checksum. A mismatch is returned as text for the 422 (the copy is
// discarded with the others); an error stops the whole package.
func (s *Server) sealObject(ctx context.Context, o *verified, uploadPrefix, sealedPrefix string) (mismatch string, err error) {
	bucket := s.cfg.Bucket
	src, dst := uploadPrefix+o.obj.Path, sealedPrefix+o.obj.Path
	want := o.obj.Checksum
	if want != nil && want.Type == contract.TypeComposite {
		// A composite checksum depends on the upload's part sizes, which a
		// copy does not keep: compare it on the upload.
		info, err := s.cfg.Objects.Stat(ctx, bucket, src)
		if err != nil {
			return "", err
		}
		ck, err := s.verify(contract.VideoRequest{Size: o.obj.Size, Checksum: want}, src, info)
		if err != nil {
			return o.obj.Path + ": " + err.Error(), nil
		}
		o.info, o.ck = info, ck
		got, err := s.cfg.Objects.Copy(ctx, bucket, src, dst, info, "")
		o.etag = got.ETag
		return "", err
	}
	alg := ""
	if want != nil {
		alg = want.Algorithm
	}
	got, err := s.cfg.Objects.Copy(ctx, bucket, src, dst, o.info, alg)
	if err != nil || want == nil {
		o.etag = got.ETag
		return "", err
	}
	o.etag = got.ETag
	v, ok := got.Checksums[alg]
	if !ok {
		// The store did not answer the copy's checksum: ask for it.
		info, err := s.cfg.Objects.Stat(ctx, bucket, dst)
		if err != nil {
			return "", err
		}
		if v, ok = info.Checksums[alg]; !ok {
			return fmt.Sprintf("%s: S3 holds no %s checksum of it; upload with that checksum algorithm", o.obj.Path, alg), nil
		}
	}
	if v != want.Value {
		return fmt.Sprintf("%s: its %s checksum is %s, the request says %s", o.obj.Path, alg, v, want.Value), nil
	}
	ck := *want
	ck.Type = contract.TypeFullObject
	o.ck = &ck
	return "", nil
}

// listPackage lists the package's prefix and compares every object of the
// request with the listing: each must be there with its size, else a 422
// that names the first of them.
func (s *Server) listPackage(ctx context.Context, req contract.VideoRequest, up store.Upload, digest string) ([]verified, error) {
	bucket := s.cfg.Bucket
	listed, err := s.cfg.Objects.List(ctx, bucket, up.Key)
	if err != nil {
		s.log.ErrorContext(ctx, "list objects failed", "bucket", bucket, "prefix", up.Key, "err", err)
		return nil, errorf(http.StatusBadGateway, "the server could not list the package's objects in S3; retry later")
	}
	byKey := make(map[string]ListedObject, len(listed))
	for _, l := range listed {
		byKey[l.Key] = l
	}
	objs := make([]verified, len(req.Package.Objects))
	var missing, wrong []string
	for i, o := range req.Package.Objects {
		l, ok := byKey[up.Key+o.Path]
		switch {
		case !ok:
			missing = append(missing, o.Path)
		case l.Size != o.Size:
			wrong = append(wrong, fmt.Sprintf("%s holds %d bytes, the request says %d", o.Path, l.Size, o.Size))
		}
		objs[i] = verified{obj: o, info: ObjectInfo{Size: l.Size, ETag: l.ETag}}
	}
	if len(missing) > 0 && len(missing) == len(objs) {
		// Another instance may have sealed the package and deleted the
		// uploaded objects meanwhile.
		if v, ok, err := s.registeredElsewhere(ctx, up.ID, digest); ok {
			return nil, &registered{v, err}
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d objects are not in S3 (%s)", len(missing), named(missing)))
	}
	if len(wrong) > 0 {
		problems = append(problems, fmt.Sprintf("%d objects differ from the request: %s", len(wrong), strings.Join(wrong[:min(len(wrong), maxNamed)], "; ")))
	}
	if len(problems) > 0 {
		return nil, errorf(http.StatusUnprocessableEntity, "package %q under s3://%s/%s: %s; upload those files again before registering",
			up.ID, bucket, up.Key, strings.Join(problems, "; "))
	}
	return objs, nil
}

// registered is the answer of a registration another instance stored while
// this one verified it.
type registered struct {
	v   contract.Video
	err error
}

func (r *registered) Error() string { return "registered elsewhere" }

// parallel runs f for 0..n-1, at most maxPackageConcurrency at once, and
// stops at the first error, which it returns.
func parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxPackageConcurrency)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}
