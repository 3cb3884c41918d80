package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePackage writes files (path -> content) under a new folder.
func writePackage(b *testing.B, files map[string]string) string {
	b.Helper()
	dir := b.TempDir()
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkOpen5000 reads a package of 5,000 segments from disk: walk,
// parse, resolve, order.
func BenchmarkOpen5000(b *testing.B) {
	const segments = 5000
	b.Run("hls", func(b *testing.B) {
		files := map[string]string{}
		var master strings.Builder
		master.WriteString("#EXTM3U\n")
		for r := range 2 {
			var pl strings.Builder
			fmt.Fprintf(&pl, "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n")
			for i := range segments / 2 {
				fmt.Fprintf(&pl, "#EXTINF:2.000000,\nseg%05d.m4s\n", i)
				files[fmt.Sprintf("v%d/seg%05d.m4s", r, i)] = ""
			}
			pl.WriteString("#EXT-X-ENDLIST\n")
			files[fmt.Sprintf("v%d/index.m3u8", r)] = pl.String()
			files[fmt.Sprintf("v%d/init.mp4", r)] = ""
			fmt.Fprintf(&master, "#EXT-X-STREAM-INF:BANDWIDTH=%d\nv%d/index.m3u8\n", (r+1)*1000000, r)
		}
		files["master.m3u8"] = master.String()
		benchOpen(b, writePackage(b, files), segments+5)
	})
	b.Run("dash", func(b *testing.B) {
		files := map[string]string{"manifest.mpd": fmt.Sprintf(`<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT%dS">
 <Period><AdaptationSet>
  <SegmentTemplate timescale="1000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%%05d$.m4s">
   <SegmentTimeline><S t="0" d="2000" r="%d"/></SegmentTimeline>
  </SegmentTemplate>
  <Representation id="v0" bandwidth="1000000"/><Representation id="v1" bandwidth="2000000"/>
 </AdaptationSet></Period>
</MPD>`, segments, segments/2-1)}
		for r := range 2 {
			files[fmt.Sprintf("v%d/init.mp4", r)] = ""
			for i := range segments / 2 {
				files[fmt.Sprintf("v%d/%05d.m4s", r, i+1)] = ""
			}
		}
		benchOpen(b, writePackage(b, files), segments+3)
	})
}

// benchOpen measures Open with the walk ("walk") and with the caller's
// listing ("listed": parsing, resolving and ordering alone).
func benchOpen(b *testing.B, dir string, objects int) {
	p, err := OpenDir(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var listing []File
	for _, o := range p.Objects {
		listing = append(listing, File{Path: o.Path, Size: o.Size})
	}
	for _, mode := range []string{"walk", "listed"} {
		b.Run(mode, func(b *testing.B) {
			opts := Options{}
			if mode == "listed" {
				opts.Files = listing
			}
			b.ReportAllocs()
			for b.Loop() {
				p, err := OpenDir(dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Objects) != objects || len(p.Unreferenced) != 0 {
					b.Fatalf("%d objects, %d unreferenced; want %d, 0", len(p.Objects), len(p.Unreferenced), objects)
				}
			}
		})
	}
}
