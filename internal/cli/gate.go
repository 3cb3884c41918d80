package cli

import (
	"path/filepath"
	"strings"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/media"
)

// The completeness gate of vidup upload (docs/media.md): what the probe read
// of a file, from the handle internal/sources opened when it found it,
// decides whether the file is uploaded. The gate refuses only what it knows:
// a container the probe recognises and finds broken or unfinished, and an
// empty file. A file it does not recognise is uploaded as before.

// notMediaError is why -r leaves a file out: it is neither media nor a
// sidecar that travels with media.
type notMediaError struct{ contentType string }

func (e *notMediaError) Error() string {
	return "not a media file or a sidecar (" + e.contentType + ")"
}

// gate decides what becomes of a file found: uploaded (both results
// empty), skipped (with -r, a file that is not media), or refused: then
// refused is the probe's sentence about the file (without its path, as the
// engine's errors are), and the advice table says which flag uploads it
// anyway.
func (o *UploadOptions) gate(it *asset.Item) (skip *notMediaError, refused *media.Incomplete) {
	p := o.probed[it]
	if p == nil {
		return nil, nil
	}
	if o.Recursive && !o.AllFiles && !o.named(it) && !mediaOrSidecar(it.Path, p) {
		return &notMediaError{contentType: p.ContentType}, nil
	}
	switch {
	case it.Size == 0:
		if o.AllowEmpty {
			return nil, nil
		}
		if p.Incomplete != nil {
			return nil, p.Incomplete
		}
		return nil, &media.Incomplete{Reason: media.ReasonEmpty, Detail: "the file is empty"}
	case p.Recognised && !p.Complete && !o.AllowIncomplete:
		return nil, p.Incomplete
	}
	return nil, nil
}

// named reports whether the file was named on the command line itself
// (not found in a folder, by a pattern or in a --files-from list): -r
// never leaves out what the user named.
func (o *UploadOptions) named(it *asset.Item) bool {
	for _, a := range o.Paths {
		if a == it.Path || filepath.Clean(a) == filepath.Clean(it.Path) {
			return true
		}
	}
	return false
}

// sidecarTypes are the files that travel with media from cameras and
// packagers: manifests, subtitles, clip metadata.
var sidecarTypes = map[string]bool{
	"application/mxf":               true,
	"application/mp4":               true,
	"application/vnd.apple.mpegurl": true,
	"application/dash+xml":          true,
	"text/vtt":                      true,
	"application/x-subrip":          true,
	"application/ttml+xml":          true,
	"application/xml":               true,
	"application/json":              true,
}

// sidecarExtensions are sidecars the content type table does not name:
// .thm is a camera's thumbnail (a JPEG under another name).
var sidecarExtensions = map[string]bool{".thm": true}

// mediaOrSidecar says whether -r keeps a file: a container the probe
// recognised, else a media or sidecar type named by the file's first bytes
// then its extension, else a sidecar extension.
func mediaOrSidecar(path string, p *media.Info) bool {
	if p.Recognised {
		return true
	}
	ct, _, _ := strings.Cut(p.ContentType, ";")
	ct = strings.TrimSpace(ct)
	if strings.HasPrefix(ct, "video/") || strings.HasPrefix(ct, "audio/") || sidecarTypes[ct] {
		return true
	}
	return sidecarExtensions[strings.ToLower(filepath.Ext(path))]
}

// itemMedia is what the probe read, in asset's terms; nil for a file that is
// not recognised as media.
func itemMedia(p *media.Info) *asset.Media {
	if p == nil || !p.Recognised {
		return nil
	}
	m := &asset.Media{
		Container:     p.Container,
		Complete:      p.Complete,
		Duration:      p.Duration,
		Fragmented:    p.Fragmented,
		FastStart:     p.FastStart,
		StartTimecode: p.StartTimecode,
	}
	if p.Incomplete != nil {
		m.Incomplete = &asset.MediaIncomplete{Reason: string(p.Incomplete.Reason), Detail: p.Incomplete.Detail}
	}
	for _, s := range p.Streams {
		m.Streams = append(m.Streams, asset.MediaStream(s))
	}
	return m
}
