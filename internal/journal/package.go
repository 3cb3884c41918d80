package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

// Packages is the journal of package uploads (contract v1.1 section 1b: a
// folder of many files uploaded and registered as one video). One package
// is one record, however many files it holds:
//
//	<dir>/packages/<key>.json     the header: folder, session, upload, state
//	<dir>/packages/<key>.objects  the objects completed and verified, one line each
//	<dir>/packages/<key>.lock     the flock(2) lock while a run uploads it
//
// key is a digest of the folder's absolute path. The objects log is written
// like the parts log (append-only, "<crc32c> <json>\n" records, torn or
// damaged lines ignored), but in groups: Add only buffers, and the buffer
// is written with one fsync every PackageGroup records, every
// PackageGroupDelay, and on Flush. A record a crash loses is an object the
// next run sends again, to the same key and with the same bytes: the
// package neither breaks nor registers twice, so a 5,000-file package pays
// about twenty fsyncs, not ten thousand.
type Packages struct {
	dir string
	now func() time.Time
}

// Package journal group sizes: records written with one fsync.
const (
	PackageGroup      = 256
	PackageGroupDelay = time.Second
)

// PackageHeader is what the journal keeps of a package upload.
type PackageHeader struct {
	// Source is the folder's absolute path.
	Source string `json:"source"`
	// Upload is the package's session and upload; Key is its prefix.
	asset.Upload
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Fingerprint names the set of files (paths and sizes) the session was
	// opened for: another set opens another session.
	Fingerprint string `json:"fingerprint"`
	// Files and Size are the package's file count and bytes, for `vidup
	// uploads` (0 in records of earlier versions).
	Files     int       `json:"files,omitempty"`
	Size      int64     `json:"size,omitempty"`
	State     State     `json:"state"`
	VideoID   string    `json:"video_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PackageObject is one object of a package, completed and verified on S3.
type PackageObject struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// ModTime (Unix nanoseconds) is the file's when it was read: a file
	// changed since is sent again.
	ModTime  int64  `json:"mtime"`
	ETag     string `json:"etag"`
	Checksum string `json:"checksum,omitempty"` // base64, of the upload's algorithm
	Type     string `json:"type,omitempty"`     // FULL_OBJECT or COMPOSITE
}

// OpenPackages opens the package journal of the state folder dir, with the
// checks of Open (a folder only its owner may use).
func OpenPackages(dir string) (*Packages, error) {
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	p := &Packages{dir: filepath.Join(s.dir, "packages"), now: time.Now}
	if err := os.Mkdir(p.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create %s in the state folder: %w", p.dir, err)
	}
	if err := checkPrivate(p.dir); err != nil {
		return nil, err
	}
	return p, nil
}

func packageKey(source string) string {
	h := sha256.Sum256([]byte(source))
	return hex.EncodeToString(h[:16])
}

func (p *Packages) path(source, ext string) string {
	return filepath.Join(p.dir, packageKey(source)+ext)
}

// Lock takes the package's lock without waiting; ok is false when another
// run holds it. As for files, the kernel drops it when the holder dies.
func (p *Packages) Lock(source string) (unlock func(), ok bool, err error) {
	path := p.path(source, ".lock")
	f, ok, err := lockFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("journal: lock %s: %w", path, err)
	}
	if !ok {
		return nil, false, nil
	}
	var once sync.Once
	return func() { once.Do(func() { unlockFile(f, path) }) }, true, nil
}

// Load returns the header of the package at source and its completed
// objects by path; a nil header when the journal has none.
func (p *Packages) Load(source string) (*PackageHeader, map[string]PackageObject, error) {
	data, err := readRegular(p.path(source, ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: read the package record of %s: %w", source, err)
	}
	var h struct {
		Version int `json:"version"`
		PackageHeader
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, nil, fmt.Errorf("journal: the package record of %s is damaged (%v); remove %s to start the package over", source, err, p.path(source, ".json"))
	}
	if h.Version > headerVersion {
		return nil, nil, fmt.Errorf("journal: the package record of %s is of a newer vidup (version %d)", source, h.Version)
	}
	if h.Source != source {
		return nil, nil, nil // another folder with the same digest: not ours
	}
	objs := map[string]PackageObject{}
	if h.State != Registered {
		if objs, err = p.objects(source); err != nil {
			return nil, nil, err
		}
	}
	return &h.PackageHeader, objs, nil
}

// objects reads the objects log of the package at source, by path.
func (p *Packages) objects(source string) (map[string]PackageObject, error) {
	objs := map[string]PackageObject{}
	log, err := readRegular(p.path(source, ".objects"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("journal: read the objects of package %s: %w", source, err)
	}
	for len(log) > 0 {
		i := bytes.IndexByte(log, '\n')
		if i < 0 {
			break // torn by a crash: that object is sent again
		}
		if o, ok := decodeObject(log[:i]); ok {
			objs[o.Path] = o
		}
		log = log[i+1:]
	}
	return objs, nil
}

// Begin records a new upload of the package h.Source (a new session): the
// objects log starts empty, then the header is written over any earlier
// one.
func (p *Packages) Begin(h *PackageHeader) (*PackageLog, error) {
	if err := writeFileSync(p.path(h.Source, ".objects"), nil); err != nil {
		return nil, fmt.Errorf("journal: start the objects log of package %s: %w", h.Source, err)
	}
	now := p.now().UTC()
	h.CreatedAt, h.UpdatedAt, h.State = now, now, Uploading
	if err := p.writeHeader(h); err != nil {
		return nil, err
	}
	return p.Continue(h.Source)
}

// Continue opens the objects log of the package at source, to add to it.
func (p *Packages) Continue(source string) (*PackageLog, error) {
	f, err := openRegular(p.path(source, ".objects"), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: open the objects log of package %s: %w", source, err)
	}
	if err := cutTornTail(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: open the objects log of package %s: %w", source, err)
	}
	return &PackageLog{f: f, now: p.now, last: p.now()}, nil
}

// Registered records that the API registered the package h as videoID: a
// later run skips it. Its objects log is dropped.
func (p *Packages) Registered(h *PackageHeader, videoID string) error {
	h.State, h.VideoID, h.UpdatedAt = Registered, videoID, p.now().UTC()
	if err := p.writeHeader(h); err != nil {
		return err
	}
	if err := os.Remove(p.path(h.Source, ".objects")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: drop the objects log of registered package %s: %w", h.Source, err)
	}
	return nil
}

// PackageStatus is an unfinished package as the journal holds it.
type PackageStatus struct {
	PackageHeader
	// ID names it for `vidup uploads abort`: "pkg-" and its key.
	ID string
	// Objects and Bytes are the objects recorded as completed and
	// verified, and their bytes.
	Objects int
	Bytes   int64
}

// PackageIDPrefix starts the ids of packages in `vidup uploads`.
const PackageIDPrefix = "pkg-"

// Unfinished lists the packages the journal holds as not registered,
// oldest first. A record that cannot be read does not hide the others: it
// is in the error, with the others returned.
func (p *Packages) Unfinished() ([]PackageStatus, error) {
	names, err := readDirNames(p.dir)
	if err != nil {
		return nil, fmt.Errorf("journal: list %s: %w", p.dir, err)
	}
	var out []PackageStatus
	var errs []error
	for _, name := range names {
		key, ok := strings.CutSuffix(name, ".json")
		if !ok {
			continue
		}
		data, err := readRegular(filepath.Join(p.dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("journal: read %s: %w", filepath.Join(p.dir, name), err))
			continue
		}
		var h struct {
			Version int `json:"version"`
			PackageHeader
		}
		if err := json.Unmarshal(data, &h); err != nil || h.Source == "" {
			errs = append(errs, fmt.Errorf("journal: the package record %s is damaged; remove it to forget that package", filepath.Join(p.dir, name)))
			continue
		}
		if h.State == Registered || packageKey(h.Source) != key {
			continue
		}
		objs, err := p.objects(h.Source)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st := PackageStatus{PackageHeader: h.PackageHeader, ID: PackageIDPrefix + key, Objects: len(objs)}
		for _, o := range objs {
			st.Bytes += o.Size
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b PackageStatus) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, errors.Join(errs...)
}

// ByID is the unfinished package id names (PackageStatus.ID); its error
// wraps ErrNotFound when the journal holds none.
func (p *Packages) ByID(id string) (PackageStatus, error) {
	all, err := p.Unfinished()
	for _, st := range all {
		if st.ID == id {
			return st, nil
		}
	}
	if err != nil {
		return PackageStatus{}, err
	}
	return PackageStatus{}, fmt.Errorf("package %s: %w; `vidup uploads` lists the unfinished ones", id, ErrNotFound)
}

// Forget removes the record of the package at source (the header first).
func (p *Packages) Forget(source string) error {
	for _, ext := range []string{".json", ".objects"} {
		if err := os.Remove(p.path(source, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: forget package %s: %w", source, err)
		}
	}
	return nil
}

func (p *Packages) writeHeader(h *PackageHeader) error {
	data, err := json.MarshalIndent(struct {
		Version int `json:"version"`
		*PackageHeader
	}{headerVersion, h}, "", "  ")
	if err != nil {
		return fmt.Errorf("journal: encode package %s: %w", h.Source, err)
	}
	if err := writeFileAtomic(p.path(h.Source, ".json"), append(data, '\n'), true); err != nil {
		return fmt.Errorf("journal: write the package record of %s: %w", h.Source, err)
	}
	return nil
}

// PackageLog appends completed objects to a package's log, in groups. It
// is safe for concurrent use.
type PackageLog struct {
	mu      sync.Mutex
	f       *os.File
	buf     []byte
	pending int
	last    time.Time
	now     func() time.Time
	err     error
}

// Add records o. It writes (one write, one fsync) only when PackageGroup
// records are pending or PackageGroupDelay has passed since the last write;
// otherwise o waits in memory for the next one. An error is kept for Flush.
func (l *PackageLog) Add(o PackageObject) {
	js, err := json.Marshal(o)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.err = errors.Join(l.err, err)
		return
	}
	l.buf = appendRecord(l.buf, js)
	l.pending++
	if l.pending >= PackageGroup || l.now().Sub(l.last) >= PackageGroupDelay {
		l.writeLocked()
	}
}

// Flush writes what Add buffered, durably, and returns the first error of
// any write since the log was opened.
func (l *PackageLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeLocked()
	return l.err
}

func (l *PackageLog) writeLocked() {
	l.last = l.now()
	if l.pending == 0 {
		return
	}
	_, err := l.f.Write(l.buf)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		l.err = errors.Join(l.err, fmt.Errorf("journal: record objects of a package: %w", err))
	}
	l.buf, l.pending = l.buf[:0], 0
}

// Close flushes and closes the log.
func (l *PackageLog) Close() error {
	err := l.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func decodeObject(line []byte) (PackageObject, bool) {
	var o PackageObject
	js, ok := recordJSON(line)
	if !ok {
		return o, false
	}
	if err := json.Unmarshal(js, &o); err != nil || o.Path == "" {
		return PackageObject{}, false
	}
	return o, true
}
