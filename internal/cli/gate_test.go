package cli

import (
	"errors"
	"testing"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/media"
)

// TestGate: what the gate does with each kind of file, from what the probe
// read, and what the flags change.
func TestGate(t *testing.T) {
	truncated := &media.Incomplete{Reason: media.ReasonTruncated, Detail: "the file ends inside its mdat box"}
	empty := &media.Incomplete{Reason: media.ReasonEmpty, Detail: "the file is empty"}
	complete := &media.Info{Container: media.ContainerMP4, Recognised: true, Complete: true, ContentType: "video/mp4"}
	cut := &media.Info{Container: media.ContainerMP4, Recognised: true, Incomplete: truncated, ContentType: "video/mp4"}
	unknown := func(ct string) *media.Info { return &media.Info{Complete: true, ContentType: ct} }
	for _, tc := range []struct {
		name  string
		opts  UploadOptions
		path  string
		size  int64
		probe *media.Info
		want  string // upload, skip, refuse
		why   error
	}{
		{"complete", UploadOptions{}, "a.mp4", 10, complete, "upload", nil},
		{"cut", UploadOptions{}, "cut.mp4", 10, cut, "refuse", truncated},
		{"cut allowed", UploadOptions{AllowIncomplete: true}, "cut.mp4", 10, cut, "upload", nil},
		{"not recognised", UploadOptions{}, "a.bin", 10, unknown("application/octet-stream"), "upload", nil},
		{"empty", UploadOptions{}, "e.mp4", 0, &media.Info{Incomplete: empty, ContentType: "video/mp4"}, "refuse", empty},
		{"empty allowed", UploadOptions{AllowEmpty: true}, "e.mp4", 0, &media.Info{Incomplete: empty, ContentType: "video/mp4"}, "upload", nil},
		{"-r text", UploadOptions{Recursive: true, Paths: []string{"in"}}, "in/notes.txt", 5, unknown("text/plain; charset=utf-8"), "skip", nil},
		{"-r text, --all-files", UploadOptions{Recursive: true, AllFiles: true, Paths: []string{"in"}}, "in/notes.txt", 5, unknown("text/plain; charset=utf-8"), "upload", nil},
		{"-r text named", UploadOptions{Recursive: true, Paths: []string{"./in/notes.txt"}}, "in/notes.txt", 5, unknown("text/plain; charset=utf-8"), "upload", nil},
		{"-r media by content", UploadOptions{Recursive: true, Paths: []string{"in"}}, "in/clip.txt", 10, complete, "upload", nil},
		{"-r media by extension", UploadOptions{Recursive: true, Paths: []string{"in"}}, "in/a.mxf", 10, unknown("application/mxf"), "upload", nil},
		{"-r srt", UploadOptions{Recursive: true, Paths: []string{"in"}}, "in/a.srt", 10, unknown("application/x-subrip"), "upload", nil},
		{"-r thm", UploadOptions{Recursive: true, Paths: []string{"in"}}, "in/A.THM", 10, unknown("application/octet-stream"), "upload", nil},
		{"-r manifest", UploadOptions{Recursive: true, Paths: []string{"in"}}, "in/x.mpd", 10, unknown("application/dash+xml"), "upload", nil},
		{"-r cut is refused, not skipped", UploadOptions{Recursive: true, Paths: []string{"in"}}, "in/cut.mp4", 10, cut, "refuse", truncated},
		{"-r empty text is skipped", UploadOptions{Recursive: true, Paths: []string{"in"}}, "in/e.txt", 0, &media.Info{Incomplete: empty, ContentType: "text/plain; charset=utf-8"}, "skip", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := &asset.Item{Path: tc.path, Size: tc.size}
			o := tc.opts
			o.probed = map[*asset.Item]*media.Info{it: tc.probe}
			skip, refusal := o.gate(it)
			var refused error
			if refusal != nil {
				refused = refusal
			}
			got := "upload"
			switch {
			case skip != nil && refused != nil:
				t.Fatalf("both skipped (%v) and refused (%v)", skip, refused)
			case skip != nil:
				got = "skip"
			case refused != nil:
				got = "refuse"
				if !errors.Is(refused, tc.why) {
					t.Errorf("refused for %v, want %v", refused, tc.why)
				}
				if refused.Error() != tc.why.Error() {
					t.Errorf("refusal %q, want %q", refused, tc.why)
				}
			}
			if got != tc.want {
				t.Fatalf("gate: %s, want %s", got, tc.want)
			}
		})
	}
}

// TestItemMedia: the probe's facts reach the item, and only for media.
func TestItemMedia(t *testing.T) {
	if m := itemMedia(&media.Info{Complete: true, ContentType: "text/plain"}); m != nil {
		t.Fatalf("a file not recognised has media %+v", m)
	}
	m := itemMedia(&media.Info{Container: media.ContainerMXF, Recognised: true, StartTimecode: "10:00:00:00",
		Incomplete: &media.Incomplete{Reason: media.ReasonNotFinalised, Detail: "no footer"},
		Streams:    []media.Stream{{Type: media.StreamVideo, Codec: "mpeg2video", Width: 1920, Height: 1080, FPS: 25}}})
	if m == nil || m.Container != "mxf" || m.Complete || m.Incomplete == nil || m.Incomplete.Reason != "not_finalised" ||
		m.StartTimecode != "10:00:00:00" || len(m.Streams) != 1 || m.Streams[0].Codec != "mpeg2video" || m.Streams[0].Width != 1920 {
		t.Fatalf("item media = %+v", m)
	}
}
