package manifest

import (
	"path"
	"strings"
	"testing"
)

// The seed corpora in testdata/fuzz hold the hand-written fixtures and
// manifests ffmpeg wrote; plain go test runs them as ordinary tests.

// checkLocal asserts what resolve promises of a path in the folder.
func checkLocal(t *testing.T, from, uri string) {
	p, kind, reason := resolve(from, uri)
	if kind != refLocal {
		if p != "" || (kind != refInline && reason == "") {
			t.Fatalf("resolve(%q, %q) = %q, %d, %q", from, uri, p, kind, reason)
		}
		return
	}
	if p == "" || p == "." || strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || path.Clean(p) != p {
		t.Fatalf("resolve(%q, %q) = %q: not a clean path inside the folder", from, uri, p)
	}
}

func FuzzM3U8(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pl, err := parseM3U8("a/index.m3u8", data)
		if err != nil {
			if pl != nil {
				t.Fatal("a playlist and an error")
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, r := range pl.refs {
			if r.line < 1 || r.line > lines || r.role == "" {
				t.Fatalf("ref %+v in %d lines", r, lines)
			}
			checkLocal(t, "a/index.m3u8", r.uri)
		}
	})
}

func FuzzMPD(f *testing.F) {
	f.Add([]byte(`<MPD mediaPresentationDuration="PT4S"><Period><AdaptationSet><Representation id="a" bandwidth="1"><SegmentTemplate duration="2" media="$Number$.m4s"/></Representation></AdaptationSet></Period></MPD>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 10_000
		budget := limit
		refs, err := parseMPD("a/manifest.mpd", data, &budget)
		if err != nil {
			if refs != nil {
				t.Fatal("references and an error")
			}
			return
		}
		if budget < 0 {
			t.Fatalf("budget overspent: %d", budget)
		}
		for _, r := range refs {
			if r.role == "" {
				t.Fatalf("ref %+v", r)
			}
			checkLocal(t, "a/manifest.mpd", r.uri)
		}
	})
}
