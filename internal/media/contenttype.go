package media

import (
	"bytes"
	"encoding/binary"
	"path"
	"strings"
)

type family int

const (
	familyUnknown family = iota
	familyISOBMFF
	familyMXF
	familyMPEGTS
	familyEBML
	familyWAV
	familyText // playlists, manifests, subtitles
)

// isoTopBoxes are the boxes an ISO BMFF file or segment can start with.
var isoTopBoxes = map[string]bool{
	"ftyp": true, "styp": true, "moov": true, "moof": true, "sidx": true,
	"free": true, "skip": true, "wide": true, "mdat": true, "pnot": true,
}

// mxfPartitionKey is the start of every MXF partition pack key (SMPTE 377).
var mxfPartitionKey = []byte{0x06, 0x0e, 0x2b, 0x34, 0x02, 0x05, 0x01, 0x01, 0x0d, 0x01, 0x02, 0x01, 0x01}

func sniff(b []byte) family {
	switch {
	case len(b) >= 8 && isoTopBoxes[string(b[4:8])] && (binary.BigEndian.Uint32(b) <= 1 || binary.BigEndian.Uint32(b) >= 8):
		return familyISOBMFF
	case len(b) >= 4 && bytes.Equal(b[:4], []byte{0x1a, 0x45, 0xdf, 0xa3}):
		return familyEBML
	case len(b) >= 12 && (string(b[:4]) == "RIFF" || string(b[:4]) == "RF64" || string(b[:4]) == "BW64") && string(b[8:12]) == "WAVE":
		return familyWAV
	case mxfStart(b) >= 0:
		return familyMXF
	case tsStride(b) > 0:
		return familyMPEGTS
	}
	t := bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	switch {
	case bytes.HasPrefix(t, []byte("#EXTM3U")), bytes.HasPrefix(t, []byte("WEBVTT")):
		return familyText
	}
	return familyUnknown
}

// mxfStart finds the header partition pack in the run-in (up to 64 KiB
// before it, SMPTE 377-1 5.5) that b holds, or returns -1.
func mxfStart(b []byte) int {
	i := bytes.Index(b, mxfPartitionKey)
	if i < 0 || len(b) < i+14 || b[i+13] != 0x02 {
		return -1
	}
	return i
}

// extensionTypes are the content types of the files video pipelines carry.
// The machine's MIME table is never consulted: it differs between machines.
var extensionTypes = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/mp4", ".m4a": "audio/mp4",
	".m4s": "video/iso.segment", ".mov": "video/quicktime",
	".cmfv": "video/mp4", ".cmfa": "audio/mp4", ".cmft": "application/mp4",
	".mxf": "application/mxf",
	".ts":  "video/mp2t", ".m2ts": "video/mp2t", ".mts": "video/mp2t",
	".mkv": "video/x-matroska", ".mka": "audio/x-matroska", ".webm": "video/webm",
	".wav":  "audio/wav",
	".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
	".vtt": "text/vtt", ".srt": "application/x-subrip", ".ttml": "application/ttml+xml",
	".xml": "application/xml", ".json": "application/json", ".txt": "text/plain; charset=utf-8",
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
}

// familyTypes is the content type of each container when the extension does
// not name a more precise one of the same family.
var familyTypes = map[family]string{
	familyISOBMFF: "video/mp4",
	familyMXF:     "application/mxf",
	familyMPEGTS:  "video/mp2t",
	familyWAV:     "audio/wav",
}

// ContentType names the content type of a file from its first bytes (head,
// which may be nil), then from its extension. A file whose bytes name a
// container keeps an extension's more precise type of the same container
// (.m4a is audio/mp4, .m4s video/iso.segment); a .mp4 that holds MPEG-TS is
// video/mp2t.
func ContentType(name string, head []byte) string {
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(name, `\`, "/")))
	byExt, extKnown := extensionTypes[ext]
	fam := sniff(head)
	if fam != familyUnknown && extKnown && sniff(sample(byExt)) == fam {
		return byExt
	}
	switch fam {
	case familyISOBMFF:
		return isoType(head)
	case familyEBML:
		if bytes.Contains(head[:min(len(head), 64)], []byte("webm")) {
			return "video/webm"
		}
		return "video/x-matroska"
	case familyText:
		if extKnown {
			return byExt
		}
		if bytes.Contains(head[:min(len(head), 16)], []byte("#EXTM3U")) {
			return "application/vnd.apple.mpegurl"
		}
		return "text/vtt"
	case familyUnknown:
	default:
		return familyTypes[fam]
	}
	if extKnown {
		return byExt
	}
	return "application/octet-stream"
}

// sample returns a few bytes that sniff to the family of a content type, so
// that the extension table and the container can be compared.
func sample(contentType string) []byte {
	switch contentType {
	case "video/mp4", "audio/mp4", "application/mp4", "video/iso.segment", "video/quicktime":
		return []byte("\x00\x00\x00\x10ftypisom\x00\x00\x00\x00")
	case "video/x-matroska", "audio/x-matroska", "video/webm":
		return []byte{0x1a, 0x45, 0xdf, 0xa3}
	case "application/vnd.apple.mpegurl":
		return []byte("#EXTM3U")
	case "text/vtt":
		return []byte("WEBVTT")
	}
	return nil
}

// isoType names an ISO BMFF file by its first box and brand.
func isoType(head []byte) string {
	switch string(head[4:8]) {
	case "styp", "moof", "sidx":
		return "video/iso.segment"
	case "ftyp":
		if len(head) >= 12 {
			switch brand := string(head[8:12]); {
			case brand == "qt  ":
				return "video/quicktime"
			case strings.HasPrefix(brand, "M4A"):
				return "audio/mp4"
			}
		}
	}
	return "video/mp4"
}
