package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/manifest"
	"github.com/vidup/vidup/internal/sources"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
)

// packageOptions are upload's package flags (docs/packages.md): a folder
// uploaded as one video, under one session, manifests last.
type packageOptions struct {
	// Package uploads every folder argument as one package.
	Package bool
	// NoPackage turns off the automatic package of -r on a folder whose
	// top holds a multivariant playlist or an MPD.
	NoPackage bool
	// OnlyReferenced leaves out the files of an HLS or DASH folder that no
	// manifest references.
	OnlyReferenced bool

	// packages are the package entries of the run, made by validation.
	packages []*runEntry
	// journal is the package journal, opened when the run claims its
	// first package.
	journal *packageJournal
}

func (p *packageOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&p.Package, "package", false, "upload each folder argument as one video: an HLS or DASH rendition set (manifests last), or any folder such as a clip with its sidecars")
	f.BoolVar(&p.NoPackage, "no-package", false, "with -r, upload the files of a folder holding a master playlist or an MPD one by one, not as one package")
	f.BoolVar(&p.OnlyReferenced, "only-referenced", false, "leave out of an HLS or DASH package the files its manifests do not reference")
}

// packageArgs takes the folder arguments that are packages out of paths:
// every folder with --package, and with -r a folder whose top holds a
// multivariant playlist or an MPD (unless --no-package). Each is read
// (manifests parsed, references resolved) before anything is sent; a
// package that cannot be uploaded as it is, is a usage error naming why.
func (o *UploadOptions) packageArgs() (rest []string, err error) {
	p := &o.packageOptions
	p.packages = nil
	if p.Package && p.NoPackage {
		return nil, usageErrorf("--package and --no-package contradict each other; choose one")
	}
	if p.OnlyReferenced && p.NoPackage {
		return nil, usageErrorf("--only-referenced applies to packages, which --no-package turns off; choose one")
	}
	for _, arg := range o.Paths {
		info, statErr := os.Stat(arg)
		isDir := statErr == nil && info.IsDir()
		switch {
		case arg == asset.StdinPath || !isDir:
			if p.Package && arg != asset.StdinPath && statErr == nil {
				return nil, usageErrorf("--package %s: is a file; --package takes folders (the package is the folder's tree)", units.Path(arg))
			}
			rest = append(rest, arg)
			continue
		case p.Package:
		case o.Recursive && !p.NoPackage:
			top, err := hasMasterManifest(arg)
			if err != nil {
				return nil, usageErrorf("%s: %v", units.Path(arg), unwrapPath(err))
			}
			if !top {
				rest = append(rest, arg)
				continue
			}
		default:
			rest = append(rest, arg)
			continue
		}
		it, err := o.readPackage(arg)
		if err != nil {
			return nil, err
		}
		p.packages = append(p.packages, &runEntry{item: it})
	}
	if len(p.packages) > 0 {
		if o.MoveTo != "" || o.DeleteAfter {
			return nil, usageErrorf("--move-to and --delete-after apply to files, not to packages; move or delete the folder once the run is done")
		}
		for _, a := range o.Paths {
			if a == asset.StdinPath {
				return nil, usageErrorf(`"-" (stdin) is uploaded on its own; run vidup upload again for the packages`)
			}
		}
	}
	return rest, nil
}

// hasMasterManifest reports whether dir's top holds an MPD or an HLS
// multivariant playlist: what makes -r upload the folder as a package.
func hasMasterManifest(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		switch strings.ToLower(path.Ext(e.Name())) {
		case ".mpd":
			return true, nil
		case ".m3u8":
			f, err := os.Open(filepath.Join(dir, e.Name()))
			if err != nil {
				return false, err
			}
			head, err := io.ReadAll(io.LimitReader(f, 1<<20))
			f.Close()
			if err != nil {
				return false, err
			}
			if bytes.Contains(head, []byte("#EXTM3U")) && (bytes.Contains(head, []byte("#EXT-X-STREAM-INF")) || bytes.Contains(head, []byte("#EXT-X-MEDIA:")) || bytes.Contains(head, []byte("#EXT-X-I-FRAME-STREAM-INF"))) {
				return true, nil
			}
		}
	}
	return false, nil
}

// readPackage reads the package folder dir into one item whose objects are
// its files in upload order, and notes on stderr what it holds beyond its
// manifests' references.
func (o *UploadOptions) readPackage(dir string) (*asset.Item, error) {
	it, pkg, err := sources.Package(dir, o.OnlyReferenced)
	var refused *manifest.RefusedError
	switch {
	case errors.As(err, &refused):
		return nil, usageErrorf("%s: %v; add what is missing, or upload the folder's files one by one with --no-package", units.Path(dir), err)
	case err != nil:
		return nil, usageErrorf("%s: %v", units.Path(dir), unwrapPath(err))
	}
	if !o.Quiet {
		o.notePackage(dir, pkg)
	}
	return it, nil
}

// notePackage says on stderr what a package holds beyond its manifests'
// references: files none references (uploaded, or left out with
// --only-referenced) and what the walk did not take.
func (o *UploadOptions) notePackage(dir string, p *manifest.Package) {
	w := o.IO.ErrOut
	if n := len(p.Unreferenced); n > 0 {
		what := fmt.Sprintf("%d %s no manifest references", n, plural(n, "file", "files"))
		if o.OnlyReferenced {
			fmt.Fprintf(w, "vidup: %s: leaving out %s (--only-referenced): %s\n", units.Path(dir), what, listed(p.Unreferenced))
		} else {
			fmt.Fprintf(w, "vidup: %s: %s, uploaded with the package (--only-referenced leaves them out): %s\n", units.Path(dir), what, listed(p.Unreferenced))
		}
	}
	for _, s := range p.Skipped {
		fmt.Fprintf(w, "vidup: %s: %s: %s; not in the package\n", units.Path(dir), units.Text(s.Path), s.Reason)
	}
}

// listed names up to five paths, then how many more.
func listed(paths []string) string {
	var out []string
	for i, p := range paths {
		if i == 5 {
			out = append(out, fmt.Sprintf("and %d more", len(paths)-5))
			break
		}
		out = append(out, units.Text(p))
	}
	return strings.Join(out, ", ")
}

// claimPackage takes e's package for this run: skipped when another run
// holds it, or when an earlier run registered it (unless --force). It
// returns what releases the claim.
func (o *UploadOptions) claimPackage(e *runEntry) (release func()) {
	p := &o.packageOptions
	if p.journal == nil {
		pj, err := journal.OpenPackages(o.StateDir)
		if err != nil {
			e.problem = fmt.Errorf("%s: %w", units.Path(e.item.Path), withAdvice(err))
			return func() {}
		}
		p.journal = &packageJournal{p: pj}
	}
	unlock, ok, err := p.journal.p.Lock(e.item.Abs)
	switch {
	case err != nil:
		e.problem = fmt.Errorf("%s: %w", units.Path(e.item.Path), err)
		return func() {}
	case !ok:
		e.skip = "another vidup run is uploading this package now"
		return func() {}
	}
	h, _, err := p.journal.p.Load(e.item.Abs)
	switch {
	case err != nil:
		e.problem = fmt.Errorf("%s: %w", units.Path(e.item.Path), err)
	case h != nil && h.State == journal.Registered && !o.Force:
		e.skip = fmt.Sprintf("uploaded and registered before as video %s; --force uploads it again", h.VideoID)
	case h != nil && h.State == journal.Registered:
		if err := p.journal.p.Forget(e.item.Abs); err != nil {
			e.problem = fmt.Errorf("%s: %w", units.Path(e.item.Path), err)
		}
	}
	return unlock
}

// packageEngineJournal is the engine's package journal, or nil when the
// run has no package (a nil interface, not a nil pointer in one).
func (o *UploadOptions) packageEngineJournal() transfer.PackageJournal {
	if o.packageOptions.journal == nil {
		return nil
	}
	return o.packageOptions.journal
}

// packageJournalErr is what the package journal could not record, for the
// run's closing warning.
func (o *UploadOptions) packageJournalErr() error {
	if o.packageOptions.journal == nil {
		return nil
	}
	return o.packageOptions.journal.Err()
}

// packageJournal is transfer.PackageJournal over the journal's Packages.
type packageJournal struct {
	p *journal.Packages

	mu      sync.Mutex
	headers map[*asset.Item]*journal.PackageHeader
	err     error
}

func (j *packageJournal) keep(err error) error {
	if err != nil {
		j.mu.Lock()
		j.err = errors.Join(j.err, err)
		j.mu.Unlock()
	}
	return err
}

// Err is every error the journal met.
func (j *packageJournal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

func (j *packageJournal) header(pkg *asset.Item, h *journal.PackageHeader) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.headers == nil {
		j.headers = map[*asset.Item]*journal.PackageHeader{}
	}
	j.headers[pkg] = h
}

// Earlier implements transfer.PackageJournal.
func (j *packageJournal) Earlier(pkg *asset.Item) (*transfer.PackagePrior, error) {
	h, objs, err := j.p.Load(pkg.Abs)
	if err != nil || h == nil || h.State == journal.Registered {
		return nil, err
	}
	j.header(pkg, h)
	prior := &transfer.PackagePrior{Ref: h.Upload, Fingerprint: h.Fingerprint, Done: make(map[string]transfer.PackageDone, len(objs))}
	for p, ob := range objs {
		prior.Done[p] = transfer.PackageDone{Path: ob.Path, Size: ob.Size, ModTime: unixTime(ob.ModTime), ETag: ob.ETag, Checksum: ob.Checksum, Type: ob.Type}
	}
	return prior, nil
}

// Begin implements transfer.PackageJournal.
func (j *packageJournal) Begin(pkg *asset.Item, ref asset.Upload, fingerprint string) (transfer.PackageRecorder, error) {
	h := &journal.PackageHeader{Source: pkg.Abs, Upload: ref, Name: pkg.Name, Kind: pkg.Kind, Fingerprint: fingerprint,
		Files: len(pkg.Objects), Size: pkg.Size}
	log, err := j.p.Begin(h)
	if err != nil {
		return nil, j.keep(err)
	}
	j.header(pkg, h)
	return &packageRecorder{log: log, j: j}, nil
}

// Continue implements transfer.PackageJournal.
func (j *packageJournal) Continue(pkg *asset.Item) (transfer.PackageRecorder, error) {
	log, err := j.p.Continue(pkg.Abs)
	if err != nil {
		return nil, j.keep(err)
	}
	return &packageRecorder{log: log, j: j}, nil
}

// Registered implements transfer.PackageJournal.
func (j *packageJournal) Registered(pkg *asset.Item, videoID string) error {
	j.mu.Lock()
	h := j.headers[pkg]
	j.mu.Unlock()
	if h == nil {
		return nil
	}
	return j.keep(j.p.Registered(h, videoID))
}

// Forget implements transfer.PackageJournal.
func (j *packageJournal) Forget(pkg *asset.Item) error {
	return j.keep(j.p.Forget(pkg.Abs))
}

// packageRecorder is transfer.PackageRecorder over a journal.PackageLog.
type packageRecorder struct {
	log *journal.PackageLog
	j   *packageJournal
}

func (r *packageRecorder) Add(d transfer.PackageDone) {
	r.log.Add(journal.PackageObject{Path: d.Path, Size: d.Size, ModTime: d.ModTime.UnixNano(), ETag: d.ETag, Checksum: d.Checksum, Type: d.Type})
}

func (r *packageRecorder) Flush() error { return r.j.keep(r.log.Flush()) }
func (r *packageRecorder) Close() error { return r.log.Close() }

func unixTime(ns int64) time.Time { return time.Unix(0, ns) }
