package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// roles maps every object's path to its role.
func roles(p *Package) map[string]Role {
	m := map[string]Role{}
	for _, o := range p.Objects {
		m[o.Path] = o.Role
	}
	return m
}

// checkOrder asserts that objects are sorted by phase and that the phases
// hold what they must.
func checkOrder(t *testing.T, p *Package) {
	t.Helper()
	last := Phase(0)
	for _, o := range p.Objects {
		if o.Phase < last {
			t.Errorf("%s (phase %d) comes after phase %d", o.Path, o.Phase, last)
		}
		last = o.Phase
		if want := phaseOf(o.Role); o.Phase != want {
			t.Errorf("%s: role %s in phase %d, want %d", o.Path, o.Role, o.Phase, want)
		}
	}
	total := 0
	for _, ph := range p.Phases() {
		total += len(ph)
		for _, o := range ph {
			if o.Phase != ph[0].Phase {
				t.Errorf("phase group mixes %d and %d", ph[0].Phase, o.Phase)
			}
		}
	}
	if total != len(p.Objects) {
		t.Errorf("phases hold %d objects, package %d", total, len(p.Objects))
	}
}

func openFixture(t *testing.T, name string) (*Package, error) {
	t.Helper()
	p, err := OpenDir(filepath.Join("testdata", name), Options{})
	if p == nil && err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	checkOrder(t, p)
	return p, err
}

func TestByteRangesKeysIFramesCRLF(t *testing.T) {
	p, err := openFixture(t, "hls-byterange")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindHLS || !slices.Equal(p.Entries, []string{"master.m3u8"}) {
		t.Fatalf("kind %s entries %v", p.Kind, p.Entries)
	}
	want := map[string]Role{
		"master.m3u8": RoleEntry, "main.m3u8": RolePlaylist, "iframe.m3u8": RolePlaylist,
		"main.mp4": RoleSegment, "keys/k1.key": RoleKey, "info.json": RoleData,
	}
	if got := roles(p); !mapsEqual(got, want) {
		t.Errorf("roles\n got %v\nwant %v", got, want)
	}
	if len(p.Unreferenced) != 0 || len(p.Missing) != 0 || len(p.Outside) != 0 {
		t.Errorf("unreferenced %v missing %v outside %v", p.Unreferenced, p.Missing, p.Outside)
	}
	var ext []string
	for _, r := range p.External {
		ext = append(ext, r.URI)
		if r.Role != RoleKey {
			t.Errorf("external %s has role %s", r.URI, r.Role)
		}
	}
	if want := []string{"skd://key-42", "https://keys.example.com/k2?id=7"}; !slices.Equal(ext, want) {
		t.Errorf("external %v, want %v", ext, want)
	}
	last := p.Objects[len(p.Objects)-1]
	if last.Path != "master.m3u8" || last.ContentType != "application/vnd.apple.mpegurl" || last.CacheControl != CacheManifest {
		t.Errorf("last object %+v", last)
	}
	for _, o := range p.Objects {
		if o.Path == "main.mp4" && (o.Size != 1000 || o.ContentType != "video/mp4" || o.CacheControl != CacheImmutable) {
			t.Errorf("main.mp4: %+v", o)
		}
		if o.Path == "keys/k1.key" && o.CacheControl != CacheKey {
			t.Errorf("key: %+v", o)
		}
	}
}

func TestOutsideRefused(t *testing.T) {
	p, err := openFixture(t, "hls-escape")
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *RefusedError", err)
	}
	got := map[string]string{}
	for _, r := range re.Outside {
		got[r.URI] = r.From
	}
	want := map[string]string{
		"../other/index.m3u8":                 "master.m3u8",
		"/abs/index.m3u8":                     "master.m3u8",
		"http://cdn.example.com/x/index.m3u8": "master.m3u8",
		"../../seg-outside.ts":                "ok/index.m3u8",
	}
	if !mapsEqual(got, want) {
		t.Errorf("outside\n got %v\nwant %v", got, want)
	}
	if len(re.Missing) != 0 {
		t.Errorf("missing %v", re.Missing)
	}
	// A percent-encoded name is the file with the decoded name.
	if roles(p)["ok/seg one.ts"] != RoleSegment {
		t.Errorf("roles %v", roles(p))
	}
	for _, s := range []string{"../other/index.m3u8", "master.m3u8 line 3", "climbs above", "4 references are outside"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
}

func TestMissingAndUnreferenced(t *testing.T) {
	p, err := openFixture(t, "hls-missing")
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *RefusedError", err)
	}
	if len(re.Missing) != 1 || re.Missing[0].Path != "seg2.ts" || re.Missing[0].Line != 8 || re.Missing[0].From != "index.m3u8" {
		t.Errorf("missing %+v", re.Missing)
	}
	if want := `package refused: 1 referenced file is missing: "seg2.ts" (in index.m3u8 line 8)`; err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}
	// A media playlist alone at the top is the entry point.
	if p.Kind != KindHLS || !slices.Equal(p.Entries, []string{"index.m3u8"}) {
		t.Errorf("kind %s entries %v", p.Kind, p.Entries)
	}
	if !slices.Equal(p.Unreferenced, []string{"notes.txt"}) || roles(p)["notes.txt"] != RoleSidecar {
		t.Errorf("unreferenced %v roles %v", p.Unreferenced, roles(p))
	}
}

func TestDASHFixture(t *testing.T) {
	p, err := openFixture(t, "dash-mixed")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Role{
		"manifest.mpd":      RoleEntry,
		"video/hi/init.mp4": RoleInit, "video/hi/0.m4s": RoleSegment, "video/hi/2000.m4s": RoleSegment,
		"video/lo/init.mp4": RoleInit, "video/lo-400000-001.m4s": RoleSegment, "video/lo-400000-002.m4s": RoleSegment,
		"audio/init.mp4": RoleInit, "audio/a1.m4s": RoleSegment, "audio/a2.m4s": RoleSegment,
		"subs/en.vtt": RoleSubtitle, "subs/en.ttml": RoleSubtitle, "single.mp4": RoleSegment,
	}
	if got := roles(p); !mapsEqual(got, want) {
		t.Errorf("roles\n got %v\nwant %v", got, want)
	}
	if p.Kind != KindDASH || len(p.Unreferenced) != 0 || len(p.Outside) != 0 {
		t.Errorf("kind %s unreferenced %v outside %v", p.Kind, p.Unreferenced, p.Outside)
	}
	last := p.Objects[len(p.Objects)-1]
	if last.Path != "manifest.mpd" || last.ContentType != "application/dash+xml" || last.Phase != PhaseEntry {
		t.Errorf("last %+v", last)
	}
}

func TestDASHOutside(t *testing.T) {
	_, err := openFixture(t, "dash-escape")
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, r := range re.Outside {
		got = append(got, r.URI)
	}
	want := []string{"http://cdn.example.com/film/init-v.mp4", "http://cdn.example.com/film/seg-v-1.m4s", "../up.mp4"}
	if !slices.Equal(got, want) {
		t.Errorf("outside %v, want %v", got, want)
	}
}

func TestFolder(t *testing.T) {
	fsys := fstest.MapFS{
		"CLIP0001.MXF":         {Data: make([]byte, 10)},
		"CLIP0001M01.XML":      {Data: []byte("<x/>")},
		"SUB/CLIP0001.BIM":     {Data: []byte("b")},
		"SUB/playlist.m3u8":    {Data: []byte("#EXTM3U\n")}, // not at the top: no entry
		"thumbs/CLIP0001.JPG":  {Data: []byte("j")},
		"thumbs/CLIP0001.JPG~": {Data: []byte("j")},
		"takes.m3u":            {Data: []byte("CLIP0001.MXF\n")}, // a plain list, not HLS
	}
	p, err := Open(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, p)
	if p.Kind != KindFolder || len(p.Entries) != 0 || len(p.Unreferenced) != 0 || len(p.Objects) != len(fsys) {
		t.Fatalf("%+v", p)
	}
	for _, o := range p.Objects {
		if o.Role != RoleFile || o.Phase != PhaseMedia || o.CacheControl != CacheImmutable {
			t.Errorf("%+v", o)
		}
		if o.Path == "CLIP0001.MXF" && (o.ContentType != "application/mxf" || o.Size != 10) {
			t.Errorf("%+v", o)
		}
	}
}

func TestOptionsFilesAndEntries(t *testing.T) {
	fsys := fstest.MapFS{
		"a.m3u8": {Data: []byte("#EXTM3U\n#EXTINF:2,\nx.ts\n")},
		"b.m3u8": {Data: []byte("#EXTM3U\n#EXTINF:2,\ny.ts\n")},
		"x.ts":   {Data: []byte("x")},
		"y.ts":   {Data: []byte("y")},
	}
	// Two media playlists at the top, no multivariant one: both are entries.
	p, err := Open(fsys, Options{})
	if err != nil || !slices.Equal(p.Entries, []string{"a.m3u8", "b.m3u8"}) {
		t.Fatalf("entries %v err %v", p.Entries, err)
	}
	// The caller's listing is the folder: y.ts left out is missing.
	_, err = Open(fsys, Options{Files: []File{{"a.m3u8", 1}, {"b.m3u8", 1}, {"x.ts", 1}}})
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Missing) != 1 || re.Missing[0].Path != "y.ts" {
		t.Errorf("err %v", err)
	}
	// Named entries: b.m3u8 and y.ts become sidecars.
	p, err = Open(fsys, Options{Entries: []string{"a.m3u8"}})
	if err != nil || !slices.Equal(p.Unreferenced, []string{"b.m3u8", "y.ts"}) {
		t.Errorf("unreferenced %v err %v", p.Unreferenced, err)
	}
	if _, err := Open(fsys, Options{Entries: []string{"nope.m3u8"}}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err %v", err)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		file, data string
		is         error
		msg        string
	}{
		"not hls":          {"master.m3u8", "hello\n", nil, `"master.m3u8" line 1: is not an HLS playlist`},
		"dangling stream":  {"master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", nil, "line 2: EXT-X-STREAM-INF is not followed"},
		"not mpd":          {"m.mpd", "<html/>", nil, "is not a DASH MPD"},
		"live template":    {"m.mpd", `<MPD type="dynamic"><Period><AdaptationSet><Representation id="a" bandwidth="1"><SegmentTemplate duration="2" media="$Number$.m4s"/></Representation></AdaptationSet></Period></MPD>`, ErrUnbounded, "live MPD"},
		"live timeline":    {"m.mpd", `<MPD><Period><AdaptationSet><Representation id="a" bandwidth="1"><SegmentTemplate media="$Time$.m4s"><SegmentTimeline><S d="2" r="-1"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>`, ErrUnbounded, "repeats without end"},
		"too many":         {"m.mpd", `<MPD mediaPresentationDuration="P1000Y"><Period><AdaptationSet><Representation id="a" bandwidth="1"><SegmentTemplate duration="1" media="$Number$.m4s"/></Representation></AdaptationSet></Period></MPD>`, ErrTooMany, "more segments"},
		"bad identifier":   {"m.mpd", `<MPD mediaPresentationDuration="PT2S"><Period><AdaptationSet><Representation id="a" bandwidth="1"><SegmentTemplate duration="1" media="$Nmber$.m4s"/></Representation></AdaptationSet></Period></MPD>`, nil, "unknown identifier $Nmber$"},
		"bad duration":     {"m.mpd", `<MPD mediaPresentationDuration="6 seconds"/>`, nil, "is not a duration"},
		"unknown encoding": {"m.mpd", `<?xml version="1.0" encoding="EBCDIC"?><MPD/>`, nil, "unsupported encoding"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(fstest.MapFS{tc.file: {Data: []byte(tc.data)}}, Options{MaxSegments: 1000})
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want a *SyntaxError with %q", err, tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		from, uri, path string
		kind            refKind
	}{
		{"master.m3u8", "v0/index.m3u8", "v0/index.m3u8", refLocal},
		{"v0/index.m3u8", "seg1.ts", "v0/seg1.ts", refLocal},
		{"v0/index.m3u8", "../v1/seg1.ts", "v1/seg1.ts", refLocal},
		{"v0/index.m3u8", "./seg1.ts?token=a#t=1", "v0/seg1.ts", refLocal},
		{"v0/index.m3u8", "seg%231.ts", "v0/seg#1.ts", refLocal},
		{"v0/index.m3u8", "../../x.ts", "", refOutside},
		{"index.m3u8", "../x.ts", "", refOutside},
		{"index.m3u8", "/x.ts", "", refOutside},
		{"index.m3u8", "//host/x.ts", "", refExternal},
		{"index.m3u8", "https://host/x.ts", "", refExternal},
		{"index.m3u8", "data:text/plain;base64,AAAA", "", refInline},
		{"index.m3u8", "  ", "", refOutside},
		{"index.m3u8", "dir/", "", refOutside},
		{"index.m3u8", ".", "", refOutside},
	} {
		p, kind, _ := resolve(tc.from, tc.uri)
		if p != tc.path || kind != tc.kind {
			t.Errorf("resolve(%q, %q) = %q, %d; want %q, %d", tc.from, tc.uri, p, kind, tc.path, tc.kind)
		}
	}
	for _, tc := range [][3]string{
		{"m.mpd", "video/", "video/"},
		{"video/", "a.m4s", "video/a.m4s"},
		{"video/x.mp4", "a.m4s", "video/a.m4s"},
		{"http://h/a/", "/b/c.mp4", "http://h/b/c.mp4"},
		{"video/", "http://h/x.mp4", "http://h/x.mp4"},
		{"video/?q=1", "a.m4s", "video/a.m4s"},
	} {
		if got := joinURI(tc[0], tc[1]); got != tc[2] {
			t.Errorf("joinURI(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestExpand(t *testing.T) {
	p := &mpdParser{name: "m.mpd"}
	v := templateVars{id: "v1", bandwidth: "800000", number: 7, time: 123456}
	for tpl, want := range map[string]string{
		"$RepresentationID$/seg-$Number$.m4s":  "v1/seg-7.m4s",
		"seg-$Number%05d$.m4s":                 "seg-00007.m4s",
		"$Bandwidth$/$Time$.m4s":               "800000/123456.m4s",
		"t$Time%x$-$Number%3d$$$.m4s":          "t1e240-  7$.m4s",
		"plain.mp4":                            "plain.mp4",
		"$RepresentationID$_$Bandwidth%08d$.x": "v1_00800000.x",
	} {
		got, err := p.expand(tpl, v)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", tpl, got, err, want)
		}
	}
	for _, bad := range []string{"$Number", "$Number%s$", "$RepresentationID%05d$", "$Number%999d$"} {
		if got, err := p.expand(bad, v); err == nil {
			t.Errorf("expand(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]float64{
		"PT6S": 6, "PT6.0S": 6, "PT1H2M3.5S": 3723.5, "P1DT1S": 86401, "PT0S": 0, "P1W": 604800,
	} {
		if got, ok := parseDuration(s); !ok || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "P", "PT", "6S", "PT6", "PTT6S", "PT6X", "-PT6S", "PT1e400S"} {
		if got, ok := parseDuration(s); ok {
			t.Errorf("parseDuration(%q) = %v, want a failure", s, got)
		}
	}
}

func TestAttrs(t *testing.T) {
	got := attrs(`TYPE=SUBTITLES,GROUP-ID="subs",NAME="English, UK",URI="a,b.m3u8",DEFAULT=YES,BYTERANGE="720@0"`)
	want := map[string]string{"TYPE": "SUBTITLES", "GROUP-ID": "subs", "NAME": "English, UK", "URI": "a,b.m3u8", "DEFAULT": "YES", "BYTERANGE": "720@0"}
	if !mapsEqual(got, want) {
		t.Errorf("attrs\n got %v\nwant %v", got, want)
	}
}

// TestSubtitleFileAsPlaylist: an EXT-X-MEDIA that names a .vtt file where
// a playlist belongs is a subtitle, not a playlist to parse.
func TestSubtitleFileAsPlaylist(t *testing.T) {
	fsys := fstest.MapFS{
		"master.m3u8": {Data: []byte("#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"s\",NAME=\"en\",URI=\"en.vtt\"\n#EXT-X-STREAM-INF:BANDWIDTH=1,SUBTITLES=\"s\"\nv.m3u8\n")},
		"v.m3u8":      {Data: []byte("#EXTM3U\n#EXTINF:2,\nv.ts\n#EXT-X-ENDLIST\n")},
		"v.ts":        {Data: []byte("x")},
		"en.vtt":      {Data: []byte("WEBVTT\n")},
	}
	p, err := Open(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Role{"master.m3u8": RoleEntry, "v.m3u8": RolePlaylist, "v.ts": RoleSegment, "en.vtt": RoleSubtitle}
	if got := roles(p); !mapsEqual(got, want) {
		t.Errorf("roles %v", got)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A cycle of playlists is read once each.
func TestPlaylistCycle(t *testing.T) {
	fsys := fstest.MapFS{
		"master.m3u8": {Data: []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nb/master.m3u8\n")},
		"b/master.m3u8": {Data: []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n../master.m3u8\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=1\nmedia.m3u8\n")},
		"b/media.m3u8": {Data: []byte(fmt.Sprintf("#EXTM3U\n#EXTINF:2,\n%s\n", "s.ts"))},
		"b/s.ts":       {Data: []byte("x")},
	}
	p, err := Open(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := roles(p); got["master.m3u8"] != RoleEntry || got["b/master.m3u8"] != RolePlaylist || got["b/s.ts"] != RoleSegment {
		t.Errorf("roles %v", got)
	}
}

// TestSymlinks: OpenDir follows a link only inside the folder.
func TestSymlinks(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	write := func(p, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "x.ts"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("index.m3u8", "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"data:text/plain;base64,AAAA\"\n#EXTINF:2,\nin.ts\n#EXTINF:2,\nlink.ts\n#EXTINF:2,\nout.ts\n#EXT-X-PART:DURATION=1,URI=\"part.ts\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"next.ts\"\n")
	write("in.ts", "i")
	write("part.ts", "p")
	for link, target := range map[string]string{"link.ts": "in.ts", "out.ts": filepath.Join(outside, "x.ts"), "sub": outside} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Skipf("symbolic links: %v", err)
		}
	}
	p, err := OpenDir(dir, Options{})
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Missing) != 1 || re.Missing[0].Path != "out.ts" {
		t.Fatalf("err = %v", err)
	}
	want := map[string]Role{"index.m3u8": RoleEntry, "in.ts": RoleSegment, "link.ts": RoleSegment, "part.ts": RoleSegment}
	if got := roles(p); !mapsEqual(got, want) {
		t.Errorf("roles %v", got)
	}
	var skipped []string
	for _, s := range p.Skipped {
		skipped = append(skipped, s.Path)
	}
	if !slices.Equal(skipped, []string{"out.ts", "sub"}) {
		t.Errorf("skipped %v", p.Skipped)
	}
}
