package media

import (
	"errors"
	"testing"
)

var errorsIs = errors.Is

func TestContentType(t *testing.T) {
	mp4Head := []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
	qtHead := []byte("\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ")
	m4aHead := []byte("\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00isomiso2")
	tsHead := make([]byte, 188*4)
	for i := 0; i < len(tsHead); i += 188 {
		tsHead[i] = 0x47
	}
	for _, tc := range []struct {
		name string
		head []byte
		want string
	}{
		{"a.m3u8", nil, "application/vnd.apple.mpegurl"},
		{"a.mpd", nil, "application/dash+xml"},
		{"a.ts", nil, "video/mp2t"},
		{"a.m4s", nil, "video/iso.segment"},
		{"a.mp4", nil, "video/mp4"},
		{"a.m4v", nil, "video/mp4"},
		{"a.m4a", nil, "audio/mp4"},
		{"a.vtt", nil, "text/vtt"},
		{"a.mxf", nil, "application/mxf"},
		{"a.mov", nil, "video/quicktime"},
		{"a.mkv", nil, "video/x-matroska"},
		{"a.webm", nil, "video/webm"},
		{"a.cmfv", nil, "video/mp4"},
		{"a.cmfa", nil, "audio/mp4"},
		{"a.cmft", nil, "application/mp4"},
		{"A.MP4", nil, "video/mp4"},
		{"noext", nil, "application/octet-stream"},
		{"a.exe", nil, "application/octet-stream"},
		// The container first, the extension when it names the same
		// container more precisely.
		{"clip", mp4Head, "video/mp4"},
		{"clip", qtHead, "video/quicktime"},
		{"song", m4aHead, "audio/mp4"},
		{"song.m4a", mp4Head, "audio/mp4"},
		{"seg.m4s", mp4Head, "video/iso.segment"},
		{"mislabelled.mp4", tsHead, "video/mp2t"},
		{"playlist", []byte("#EXTM3U\n"), "application/vnd.apple.mpegurl"},
		{"subs", []byte("WEBVTT\n"), "text/vtt"},
	} {
		if got := ContentType(tc.name, tc.head); got != tc.want {
			t.Errorf("ContentType(%q, %q) = %q, want %q", tc.name, tc.head, got, tc.want)
		}
	}
}

func TestFormatTimecode(t *testing.T) {
	for _, tc := range []struct {
		frame uint64
		fps   int
		drop  bool
		want  string
	}{
		{0, 25, false, "00:00:00:00"},
		{90000, 25, false, "01:00:00:00"},
		{25*3600*10 + 25*62 + 3, 25, false, "10:01:02:03"},
		{1800, 30, true, "00:01:00;02"},            // 00:00:59;29 is followed by 00:01:00;02
		{17982, 30, true, "00:10:00;00"},           // each tenth minute keeps its frames
		{107892, 30, true, "01:00:00;00"},          // an hour of 29.97 drop frame
		{215784, 60, true, "01:00:00;00"},          // and of 59.94
		{24 * 3600 * 24, 24, false, "00:00:00:00"}, // a day wraps
	} {
		if got := formatTimecode(tc.frame, tc.fps, tc.drop); got != tc.want {
			t.Errorf("formatTimecode(%d, %d, %v) = %s, want %s", tc.frame, tc.fps, tc.drop, got, tc.want)
		}
	}
}

func TestIncompleteIsError(t *testing.T) {
	var err error = &Incomplete{Reason: ReasonTruncated, Detail: "the file ends inside its mdat box"}
	if err.Error() != "the file ends inside its mdat box" {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errorsIs(err, &Incomplete{Reason: ReasonTruncated}) || errorsIs(err, &Incomplete{Reason: ReasonEmpty}) {
		t.Errorf("errors.Is by reason does not match")
	}
}
