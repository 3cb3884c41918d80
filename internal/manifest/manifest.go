// Package manifest reads a package folder (an HLS or DASH rendition set, or a
// plain folder such as a camera card's clip with its sidecars) and says what
// it holds: every object with its role, content type and Cache-Control, the
// order in which the objects must be uploaded (media first, then media
// playlists, then the entry point), the referenced files the folder lacks,
// and the files no manifest references.
//
// Playlists are parsed by a small line reader of its own and MPDs with
// encoding/xml: the package only needs the references, and neither of the
// libraries considered (github.com/grafov/m3u8, github.com/Eyevinn/dash-mpd)
// reports line numbers, resolves references against the referencing file, or
// expands SegmentTemplate into file names, which is all that is asked here.
//
// Nothing is uploaded and no command-line flag is named: the answer is a
// Package value and typed errors (*RefusedError, *SyntaxError).
package manifest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/vidup/vidup/internal/media"
)

// Kind is what a package is; the registration carries it (contract 1b).
type Kind string

const (
	KindHLS  Kind = "hls"
	KindDASH Kind = "dash"
	// KindHLSDASH is a folder with both an HLS multivariant playlist and an
	// MPD at its top, usually over the same CMAF segments.
	KindHLSDASH Kind = "hls+dash"
	// KindFolder is a folder without a playlist or MPD at its top: the
	// tree is one asset (a camera clip and its sidecars).
	KindFolder Kind = "folder"
)

// Role is what an object is to the package.
type Role string

const (
	RoleEntry    Role = "entry"    // HLS multivariant playlist or DASH MPD: uploaded last
	RolePlaylist Role = "playlist" // HLS media playlist (I-frame playlists included)
	RoleSegment  Role = "segment"  // a media segment or a single media file
	RoleInit     Role = "init"     // an initialisation segment (EXT-X-MAP, DASH Initialization) or a DASH index
	RoleKey      Role = "key"      // a key file (EXT-X-KEY, EXT-X-SESSION-KEY)
	RoleSubtitle Role = "subtitle" // a subtitle segment or file (WebVTT, TTML, ...)
	RoleData     Role = "data"     // a file EXT-X-SESSION-DATA references
	RoleSidecar  Role = "sidecar"  // in an HLS or DASH folder, a file no manifest references
	RoleFile     Role = "file"     // a file of a plain folder package
)

// Phase is when an object is uploaded: every object of a phase completes
// (and is verified) before any object of the next one starts.
type Phase int

const (
	PhaseMedia     Phase = 1 // segments, init, keys, subtitles, data, sidecars, files
	PhasePlaylists Phase = 2 // media playlists
	PhaseEntry     Phase = 3 // multivariant playlists and MPDs
)

// Cache-Control values. Every object lives under a key of its own that
// nothing can change once registered, so media is cached for a year;
// manifests are cached briefly so that a player or CDN that met a manifest
// early (or a 404 for it) sees the finished one soon; keys never sit in a
// shared cache.
const (
	CacheImmutable = "public, max-age=31536000, immutable"
	CacheManifest  = "public, max-age=2"
	CacheKey       = "private, max-age=31536000, immutable"
)

// Object is one file of the package.
type Object struct {
	Path         string // relative to the package folder, '/'-separated
	Size         int64
	Role         Role
	Phase        Phase
	ContentType  string
	CacheControl string
}

// Reference is a reference a manifest makes that the package cannot honour:
// a file the folder lacks, a reference outside the folder, or a key held by
// a key server.
type Reference struct {
	From string // the manifest that makes it, relative to the folder
	Line int    // its line in From; 0 in an MPD
	URI  string // as written
	Path string // the file it names, relative to the folder; empty when outside
	Role Role
	// Reason says why a reference is outside the folder.
	Reason string
}

// Skipped is a thing in the folder that is not a regular file.
type Skipped struct {
	Path   string
	Reason string
}

// Package is what a package folder holds.
type Package struct {
	Kind Kind
	// Entries are the entry points (multivariant playlists, MPDs, or, when
	// the top holds media playlists only, those), relative to the folder.
	Entries []string
	// Objects are every file of the package in upload order: by phase,
	// then by path.
	Objects []Object
	// Missing are referenced files the folder lacks (one per path).
	Missing []Reference
	// Outside are references that leave the folder: relative paths that
	// climb above it, absolute paths, and URLs of media on other hosts.
	Outside []Reference
	// External are keys held by key servers (absolute URLs in EXT-X-KEY):
	// not part of the package, and no reason to refuse it.
	External []Reference
	// Unreferenced are the files of an HLS or DASH folder that no manifest
	// references (their role is RoleSidecar).
	Unreferenced []string
	// Skipped are what the walk did not take: folders reached through
	// symbolic links, devices, sockets.
	Skipped []Skipped
}

// Phases groups the objects by phase, in upload order, leaving out empty
// phases.
func (p *Package) Phases() [][]Object {
	var out [][]Object
	start := 0
	for i := 1; i <= len(p.Objects); i++ {
		if i == len(p.Objects) || p.Objects[i].Phase != p.Objects[start].Phase {
			out = append(out, p.Objects[start:i])
			start = i
		}
	}
	return out
}

// Refusal is the reason the package cannot be uploaded as it is (a
// *RefusedError), or nil.
func (p *Package) Refusal() error {
	if len(p.Missing) == 0 && len(p.Outside) == 0 {
		return nil
	}
	return &RefusedError{Missing: p.Missing, Outside: p.Outside}
}

// File is a file of the folder, as a caller that walked it already knows it.
type File struct {
	Path string // relative, '/'-separated
	Size int64
}

// Options change how a folder is read; the zero value is the default.
type Options struct {
	// Entries name the entry points, relative to the folder. Empty: the
	// multivariant playlists and MPDs at the folder's top.
	Entries []string
	// Files, when not nil, is the folder's listing, and the folder is not
	// walked (the caller applied its own filters and symbolic link rules).
	Files []File
	// MaxSegments bounds the segments expanded from templates and
	// timelines over the whole package; 0 means DefaultMaxSegments.
	MaxSegments int
}

// DefaultMaxSegments is ten times the most files a package may hold
// (contract 1b), so that byte ranges into few files still fit.
const DefaultMaxSegments = 1_000_000

// maxManifestSize bounds the size of a playlist or an MPD that is read.
const maxManifestSize = 64 << 20

// OpenDir reads the package folder root. The folder is opened as an
// os.Root, so that no symbolic link leads a read out of it.
func OpenDir(root string, opts Options) (*Package, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return Open(r.FS(), opts)
}

// Open reads the package folder fsys. When the package is refused (files
// missing, references outside the folder) it returns the Package and a
// *RefusedError, so that a caller can show what it found; on other errors
// (a manifest that cannot be read or parsed, a *SyntaxError) the Package is
// nil.
func Open(fsys fs.FS, opts Options) (*Package, error) {
	b := &builder{fsys: fsys, objs: map[string]*Object{}, missingSeen: map[string]bool{}, parsed: map[string]bool{}}
	b.budget = opts.MaxSegments
	if b.budget <= 0 {
		b.budget = DefaultMaxSegments
	}
	b.files = map[string]int64{}
	if opts.Files != nil {
		for _, f := range opts.Files {
			b.files[f.Path] = f.Size
		}
	} else if err := b.walk(); err != nil {
		return nil, err
	}
	entries := opts.Entries
	if len(entries) == 0 {
		var err error
		if entries, err = b.findEntries(); err != nil {
			return nil, err
		}
	} else {
		for _, e := range entries {
			if _, ok := b.files[e]; !ok {
				return nil, fmt.Errorf("entry point %q: %w", e, fs.ErrNotExist)
			}
		}
	}
	if err := b.parseEntries(entries); err != nil {
		return nil, err
	}
	p := b.finish(entries)
	return p, p.Refusal()
}

type builder struct {
	fsys        fs.FS
	files       map[string]int64
	objs        map[string]*Object
	missing     []Reference
	missingSeen map[string]bool
	outside     []Reference
	external    []Reference
	skipped     []Skipped
	parsed      map[string]bool
	budget      int // segments that may still be expanded
	hls, dash   bool
}

func (b *builder) walk() error {
	return fs.WalkDir(b.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		var info fs.FileInfo
		if d.Type()&fs.ModeSymlink != 0 {
			// Followed only inside the folder (OpenDir's os.Root
			// refuses a link that leads out of it).
			if info, err = fs.Stat(b.fsys, p); err != nil {
				b.skipped = append(b.skipped, Skipped{Path: p, Reason: "symbolic link that cannot be followed inside the folder"})
				return nil
			}
			if info.IsDir() {
				b.skipped = append(b.skipped, Skipped{Path: p, Reason: "symbolic link to a folder; not entered"})
				return nil
			}
		} else if info, err = d.Info(); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			b.skipped = append(b.skipped, Skipped{Path: p, Reason: "not a regular file"})
			return nil
		}
		b.files[p] = info.Size()
		return nil
	})
}

func isMPDName(p string) bool { return strings.EqualFold(path.Ext(p), ".mpd") }

// findEntries names the entry points at the folder's top: every MPD and
// multivariant playlist; or, when there is neither, every media playlist.
func (b *builder) findEntries() ([]string, error) {
	var masters, medias []string
	for p := range b.files {
		if strings.Contains(p, "/") {
			continue
		}
		switch {
		case isMPDName(p):
			masters = append(masters, p)
		case strings.EqualFold(path.Ext(p), ".m3u8"):
			// Only .m3u8: a .m3u at a folder's top is as likely a plain
			// audio list as HLS, and is read only when a playlist names it.
			data, err := b.read(p)
			if err != nil {
				return nil, err
			}
			pl, err := parseM3U8(p, data)
			if err != nil {
				return nil, err
			}
			if pl.master {
				masters = append(masters, p)
			} else {
				medias = append(medias, p)
			}
		}
	}
	if len(masters) == 0 {
		masters = medias
	}
	slices.Sort(masters)
	return masters, nil
}

func (b *builder) read(p string) ([]byte, error) {
	f, err := b.fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestSize {
		return nil, &SyntaxError{File: p, Msg: fmt.Sprintf("is larger than a manifest may be (%d bytes)", maxManifestSize), Err: ErrTooLarge}
	}
	return data, nil
}

func (b *builder) parseEntries(entries []string) error {
	type job struct {
		path     string
		subtitle bool
	}
	var queue []job
	for _, e := range entries {
		b.add(e, RoleEntry)
		if isMPDName(e) {
			b.dash = true
			data, err := b.read(e)
			if err != nil {
				return err
			}
			refs, err := parseMPD(e, data, &b.budget)
			if err != nil {
				return err
			}
			for _, r := range refs {
				b.reference(e, r)
			}
			continue
		}
		b.hls = true
		queue = append(queue, job{path: e})
	}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		if b.parsed[j.path] {
			continue
		}
		b.parsed[j.path] = true
		data, err := b.read(j.path)
		if err != nil {
			return err
		}
		pl, err := parseM3U8(j.path, data)
		if err != nil {
			return err
		}
		if b.budget -= len(pl.refs); b.budget < 0 {
			return &SyntaxError{File: j.path, Msg: "references more segments than a package may hold", Err: ErrTooMany}
		}
		for _, r := range pl.refs {
			if j.subtitle && r.role == RoleSegment {
				r.role = RoleSubtitle
			}
			if r.role == RolePlaylist && isSubtitleName(r.uri) {
				// A subtitle file named where a playlist belongs.
				r.role = RoleSubtitle
			}
			p, ok := b.reference(j.path, r)
			if ok && r.role == RolePlaylist && !b.parsed[p] {
				queue = append(queue, job{path: p, subtitle: r.subtitles})
			}
		}
	}
	return nil
}

func isSubtitleName(uri string) bool {
	u := uri
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	switch strings.ToLower(path.Ext(u)) {
	case ".vtt", ".webvtt", ".srt", ".ttml", ".dfxp":
		return true
	}
	return false
}

// reference records what manifest from references, and returns the file's
// path and whether the folder holds it.
func (b *builder) reference(from string, r ref) (string, bool) {
	p, kind, reason := resolve(from, r.uri)
	rec := Reference{From: from, Line: r.line, URI: r.uri, Path: p, Role: r.role, Reason: reason}
	switch kind {
	case refInline:
		return "", false
	case refExternal:
		if r.role == RoleKey {
			b.external = append(b.external, rec)
			return "", false
		}
		rec.Path = ""
		b.outside = append(b.outside, rec)
		return "", false
	case refOutside:
		rec.Path = ""
		b.outside = append(b.outside, rec)
		return "", false
	}
	if _, ok := b.files[p]; !ok {
		if !b.missingSeen[p] {
			b.missingSeen[p] = true
			b.missing = append(b.missing, rec)
		}
		return p, false
	}
	b.add(p, r.role)
	return p, true
}

// rank orders roles when one file is referenced in two ways (a single fMP4
// file whose byte ranges are both the init and the segments).
var rank = map[Role]int{RoleEntry: 7, RolePlaylist: 6, RoleSubtitle: 5, RoleSegment: 4, RoleInit: 3, RoleKey: 2, RoleData: 1}

func (b *builder) add(p string, role Role) {
	if o, ok := b.objs[p]; ok {
		if rank[role] > rank[o.Role] {
			o.Role = role
		}
		return
	}
	b.objs[p] = &Object{Path: p, Size: b.files[p], Role: role}
}

func (b *builder) finish(entries []string) *Package {
	p := &Package{Entries: entries, Missing: b.missing, Outside: b.outside, External: b.external, Skipped: b.skipped}
	switch {
	case b.hls && b.dash:
		p.Kind = KindHLSDASH
	case b.hls:
		p.Kind = KindHLS
	case b.dash:
		p.Kind = KindDASH
	default:
		p.Kind = KindFolder
	}
	for f := range b.files {
		if _, ok := b.objs[f]; ok {
			continue
		}
		role := RoleSidecar
		if p.Kind == KindFolder {
			role = RoleFile
		} else {
			p.Unreferenced = append(p.Unreferenced, f)
		}
		b.objs[f] = &Object{Path: f, Size: b.files[f], Role: role}
	}
	slices.Sort(p.Unreferenced)
	p.Objects = make([]Object, 0, len(b.objs))
	for _, o := range b.objs {
		o.Phase = phaseOf(o.Role)
		o.ContentType = contentType(o.Path, o.Role)
		o.CacheControl = cacheControl(o.Role)
		p.Objects = append(p.Objects, *o)
	}
	slices.SortFunc(p.Objects, func(a, b Object) int {
		if a.Phase != b.Phase {
			return int(a.Phase - b.Phase)
		}
		return strings.Compare(a.Path, b.Path)
	})
	return p
}

func phaseOf(r Role) Phase {
	switch r {
	case RoleEntry:
		return PhaseEntry
	case RolePlaylist:
		return PhasePlaylists
	}
	return PhaseMedia
}

func contentType(p string, r Role) string {
	switch r {
	case RoleEntry, RolePlaylist:
		if isMPDName(p) {
			return "application/dash+xml"
		}
		return "application/vnd.apple.mpegurl"
	}
	return media.ContentType(p, nil)
}

func cacheControl(r Role) string {
	switch r {
	case RoleEntry, RolePlaylist:
		return CacheManifest
	case RoleKey:
		return CacheKey
	}
	return CacheImmutable
}
