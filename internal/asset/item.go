package asset

import (
	"io/fs"
	"time"
)

// StdinPath is the Path of the item read from standard input.
const StdinPath = "-"

// UnknownSize is the Size of an item whose length is not known before it
// is read (stdin).
const UnknownSize = -1

// Item is one asset of a run, as the arguments named it: found by
// internal/sources, checked and claimed by the command, uploaded and
// registered by internal/transfer, and printed by the output. The same
// value travels the whole way; nothing downstream re-derives it from a path
// string, and what was learned about it (its stat, content type, content
// sample) is read once, from one open handle, when it is found.
type Item struct {
	// Path is the path as given, or joined onto the argument it was found
	// under; StdinPath for stdin.
	Path string
	// Abs is the absolute form of Path (symbolic links not resolved);
	// empty for stdin.
	Abs string
	// Rel is the path relative to the root the file was found under; for
	// stdin, its name. --move-to keeps it.
	Rel string
	// Name is the base name sent to the API.
	Name string
	// Stdin marks the item read from standard input: its size is unknown
	// until it ends and it cannot be read twice (nor resumed).
	Stdin bool

	// Info is the file's information as read from the open handle when
	// the item was found; nil for stdin. Size and ModTime are its
	// (Size is UnknownSize for stdin until the stream ends).
	Info    fs.FileInfo
	Size    int64
	ModTime time.Time

	// ContentType is the media type sent to the API and S3: the user's, or
	// detected from the first bytes and the name.
	ContentType string
	// Sample is a digest of sampled ranges of the content, read from the
	// same handle as the stat: with Info it tells this version of the file
	// from another one at the same path (the resume journal's identity).
	// Empty when it was not read.
	Sample string
	// Media is what the probe read of the file's container when it was
	// found (internal/media, from the same handle): the facts the
	// registration's media object carries. Nil when the file was not
	// probed (stdin) or is not recognised as media.
	Media *Media

	// Objects are the files of a package (an HLS or DASH rendition set, a
	// clip with its sidecars), uploaded under one session and registered as
	// one video. Empty for an asset of one file, which is the Item itself.
	Objects []*Object
	// Kind is the package's kind (contract 1b: hls, dash, hls+dash,
	// folder); empty for one file.
	Kind string
	// Entries are the package's entry points (master playlists, MPDs),
	// relative to it; empty for a folder and for one file.
	Entries []string
	// CacheControl is the Cache-Control S3 keeps with the object; empty
	// leaves it to the store.
	CacheControl string
}

// Object is one file of a package.
type Object struct {
	// Rel is the path within the package, with forward slashes.
	Rel         string
	Path        string
	Info        fs.FileInfo
	Size        int64
	ContentType string
	// CacheControl is what S3 serves it with: long-lived for media,
	// short for manifests.
	CacheControl string
	// Role is what the object is to the package (segment, init, playlist,
	// entry, ...: internal/manifest's roles).
	Role string
	// Phase orders the upload: every object of a phase is completed and
	// verified before an object of the next one starts (media, then media
	// playlists, then the entry points).
	Phase int
}

// Package reports whether the item is a package of several files.
func (it *Item) Package() bool { return len(it.Objects) > 0 }

// Media is what was read of a file's container before a byte of it was
// sent (the registration's media object, contract v1.1 section 3). It is
// asset's own value, the same fields as the contract's, so that asset stays
// a leaf; internal/transfer turns it into the contract's object when it
// registers the video.
type Media struct {
	// Container is mp4, mov, mxf, mpegts, matroska, webm or wav.
	Container string
	// Complete is false when the container says the file is broken or
	// unfinished; Incomplete then says why (a file uploaded anyway, with
	// --allow-incomplete).
	Complete   bool
	Incomplete *MediaIncomplete
	// Duration is zero when the container does not say.
	Duration      time.Duration
	Fragmented    bool
	FastStart     bool
	StartTimecode string
	Streams       []MediaStream
}

// MediaIncomplete is why a file is incomplete: a reason (truncated,
// not_finalised, still_writing, corrupt) and a sentence for people.
type MediaIncomplete struct {
	Reason string
	Detail string
}

// MediaStream is one track. Codec names follow ffprobe's.
type MediaStream struct {
	Type       string
	Codec      string
	Profile    string
	Width      int
	Height     int
	FPS        float64
	SampleRate int
	Channels   int
}
