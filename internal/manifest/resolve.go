package manifest

import (
	"net/url"
	"path"
	"strings"
)

// ref is a reference as a manifest writes it.
type ref struct {
	uri  string
	role Role
	line int
	// subtitles: the playlist referenced is a subtitle rendition's, so
	// its segments are subtitles.
	subtitles bool
}

type refKind int

const (
	refLocal    refKind = iota // a file of the folder (which may be missing)
	refInline                  // a data: URI: nothing to upload
	refExternal                // an absolute URL
	refOutside                 // a path outside the folder
)

// resolve turns uri, written in the manifest at path from, into a path
// relative to the folder. Query and fragment are dropped (a player sends
// the query; the object is the path) and the path is percent-decoded.
func resolve(from, uri string) (string, refKind, string) {
	uri = strings.TrimSpace(uri)
	if len(uri) >= 5 && strings.EqualFold(uri[:5], "data:") {
		return "", refInline, ""
	}
	if uri == "" {
		return "", refOutside, "empty reference"
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", refOutside, "not a valid URL"
	}
	if u.Scheme != "" || u.Host != "" {
		return "", refExternal, "an absolute URL; the package must hold its own files"
	}
	p := u.Path
	switch {
	case p == "":
		return "", refOutside, "no path"
	case strings.HasPrefix(p, "/"):
		return "", refOutside, "a path from the server's root, not from the manifest"
	case strings.HasSuffix(p, "/"):
		return "", refOutside, "names a folder, not a file"
	}
	j := path.Join(path.Dir(from), p)
	if j == ".." || strings.HasPrefix(j, "../") {
		return "", refOutside, "climbs above the package folder"
	}
	if j == "." {
		return "", refOutside, "names the package folder itself"
	}
	return j, refLocal, ""
}

// joinURI resolves ref against base the way a URL is resolved (RFC 3986,
// section 5.2), without cleaning dot segments, which resolve does later.
// DASH chains BaseURLs with it.
func joinURI(base, ref string) string {
	ref = strings.TrimSpace(ref)
	if base == "" {
		return ref
	}
	if ref == "" {
		return base
	}
	if u, err := url.Parse(ref); err == nil && (u.Scheme != "" || u.Host != "") {
		return ref
	}
	if strings.HasPrefix(ref, "/") {
		if u, err := url.Parse(base); err == nil && u.Host != "" {
			return u.Scheme + "://" + u.Host + ref
		}
		return ref
	}
	if i := strings.IndexAny(base, "?#"); i >= 0 {
		base = base[:i]
	}
	i := strings.LastIndex(base, "/")
	return base[:i+1] + ref
}
