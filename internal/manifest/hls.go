package manifest

import (
	"bytes"
	"strings"
)

// playlist is what the references of one HLS playlist are.
type playlist struct {
	master bool
	refs   []ref
}

// parseM3U8 reads an HLS playlist (RFC 8216 and its draft successor) for
// its references. Lines end in LF or CRLF; a UTF-8 byte order mark is
// allowed before #EXTM3U. Tags it does not know are ignored, as players do.
func parseM3U8(name string, data []byte) (*playlist, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	pl := &playlist{}
	lineNo := 0
	first := true
	streamInf := 0 // line of a pending EXT-X-STREAM-INF, or 0
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		lineNo++
		s := strings.TrimSpace(string(line))
		if first {
			if s == "" {
				continue
			}
			if s != "#EXTM3U" && !strings.HasPrefix(s, "#EXTM3U ") {
				return nil, &SyntaxError{File: name, Line: lineNo, Msg: "is not an HLS playlist: it does not start with #EXTM3U"}
			}
			first = false
			continue
		}
		if s == "" {
			continue
		}
		if s[0] != '#' {
			role := RoleSegment
			if streamInf > 0 {
				role = RolePlaylist
				streamInf = 0
			}
			pl.refs = append(pl.refs, ref{uri: s, role: role, line: lineNo})
			continue
		}
		if !strings.HasPrefix(s, "#EXT") {
			continue // a comment
		}
		tag, rest, _ := strings.Cut(s, ":")
		switch tag {
		case "#EXT-X-STREAM-INF":
			pl.master = true
			streamInf = lineNo
		case "#EXT-X-I-FRAME-STREAM-INF", "#EXT-X-IMAGE-STREAM-INF":
			pl.master = true
			if uri, ok := attrs(rest)["URI"]; ok {
				pl.refs = append(pl.refs, ref{uri: uri, role: RolePlaylist, line: lineNo})
			}
		case "#EXT-X-MEDIA":
			pl.master = true
			a := attrs(rest)
			if uri, ok := a["URI"]; ok {
				pl.refs = append(pl.refs, ref{uri: uri, role: RolePlaylist, line: lineNo, subtitles: a["TYPE"] == "SUBTITLES"})
			}
		case "#EXT-X-SESSION-DATA":
			pl.master = true
			if uri, ok := attrs(rest)["URI"]; ok {
				pl.refs = append(pl.refs, ref{uri: uri, role: RoleData, line: lineNo})
			}
		case "#EXT-X-SESSION-KEY", "#EXT-X-KEY":
			a := attrs(rest)
			if uri, ok := a["URI"]; ok && a["METHOD"] != "NONE" {
				pl.refs = append(pl.refs, ref{uri: uri, role: RoleKey, line: lineNo})
			}
		case "#EXT-X-MAP":
			if uri, ok := attrs(rest)["URI"]; ok {
				pl.refs = append(pl.refs, ref{uri: uri, role: RoleInit, line: lineNo})
			}
		case "#EXT-X-PART":
			if uri, ok := attrs(rest)["URI"]; ok {
				pl.refs = append(pl.refs, ref{uri: uri, role: RoleSegment, line: lineNo})
			}
		}
		// EXT-X-PRELOAD-HINT names a file that may not exist yet, and
		// EXT-X-RENDITION-REPORT a playlist the multivariant one names:
		// neither is a reference the package must hold.
	}
	if first {
		return nil, &SyntaxError{File: name, Line: 1, Msg: "is empty, not an HLS playlist"}
	}
	if streamInf > 0 {
		return nil, &SyntaxError{File: name, Line: streamInf, Msg: "EXT-X-STREAM-INF is not followed by the URI of a playlist"}
	}
	return pl, nil
}

// attrs reads an attribute list (RFC 8216, section 4.2): NAME=value pairs
// separated by commas, where a quoted string may hold commas. Malformed
// pairs are skipped.
func attrs(s string) map[string]string {
	m := make(map[string]string, 4)
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		name := strings.TrimSpace(s[:eq])
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				val, s = s[1:], ""
			} else {
				val, s = s[1:1+end], s[2+end:]
			}
			if c := strings.IndexByte(s, ','); c >= 0 {
				s = s[c+1:]
			} else {
				s = ""
			}
		} else if c := strings.IndexByte(s, ','); c >= 0 {
			val, s = strings.TrimSpace(s[:c]), s[c+1:]
		} else {
			val, s = strings.TrimSpace(s), ""
		}
		if _, dup := m[name]; !dup {
			m[name] = val
		}
	}
	return m
}
