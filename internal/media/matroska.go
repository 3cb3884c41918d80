package media

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// EBML element IDs (Matroska, RFC 9559).
const (
	ebmlHeader      = 0x1a45dfa3
	ebmlDocType     = 0x4282
	mkvSegment      = 0x18538067
	mkvInfo         = 0x1549a966
	mkvTimestampSc  = 0x2ad7b1
	mkvDuration     = 0x4489
	mkvTracks       = 0x1654ae6b
	mkvTrackEntry   = 0xae
	mkvTrackType    = 0x83
	mkvCodecID      = 0x86
	mkvCodecPrivate = 0x63a2
	mkvDefaultDur   = 0x23e383
	mkvVideo        = 0xe0
	mkvPixelWidth   = 0xb0
	mkvPixelHeight  = 0xba
	mkvAudio        = 0xe1
	mkvSamplingFreq = 0xb5
	mkvChannels     = 0x9f
	mkvBitDepth     = 0x6264
	mkvCluster      = 0x1f43b675
)

const (
	ebmlUnknownSize = -1
	maxEBMLMaster   = 16 << 20 // Info, Tracks: a few KiB in practice
)

// ebmlElement reads an element header from b: its ID, the size of its data
// (ebmlUnknownSize when the writer did not know it) and the header's length.
func ebmlElement(b []byte) (id uint32, size int64, n int, ok bool) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, 0, false
	}
	idLen := 1
	for b[0]&(0x80>>(idLen-1)) == 0 {
		idLen++
	}
	if idLen > 4 || len(b) < idLen+1 {
		return 0, 0, 0, false
	}
	for _, c := range b[:idLen] {
		id = id<<8 | uint32(c)
	}
	s := b[idLen:]
	if s[0] == 0 {
		return 0, 0, 0, false
	}
	sizeLen := 1
	for s[0]&(0x80>>(sizeLen-1)) == 0 {
		sizeLen++
	}
	if len(s) < sizeLen {
		return 0, 0, 0, false
	}
	v := uint64(s[0] & (0xff >> sizeLen))
	allOnes := v == uint64(0xff>>sizeLen)
	for _, c := range s[1:sizeLen] {
		v = v<<8 | uint64(c)
		allOnes = allOnes && c == 0xff
	}
	if allOnes {
		return id, ebmlUnknownSize, idLen + sizeLen, true
	}
	if v > math.MaxInt64/2 {
		return 0, 0, 0, false
	}
	return id, int64(v), idLen + sizeLen, true
}

// ebmlChildren calls fn for each element inside a master element's data.
func ebmlChildren(b []byte, fn func(id uint32, data []byte)) {
	for len(b) > 0 {
		id, size, n, ok := ebmlElement(b)
		if !ok || size < 0 || int64(n)+size > int64(len(b)) {
			return
		}
		fn(id, b[n:n+int(size)])
		b = b[n+int(size):]
	}
}

func ebmlUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func ebmlFloat(b []byte) float64 {
	switch len(b) {
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b))
	}
	return 0
}

// probeMatroska checks the element sizes of a Matroska or WebM file: the
// Segment must fit in the file, and every top-level element of the Segment
// (clusters of media data, cues, tags) must end where the next begins and
// the last where the Segment ends. Info and Tracks are read for the
// duration and the streams.
func probeMatroska(r *countingReader, size int64) (*Info, error) {
	info := &Info{Recognised: true, Container: ContainerMatroska}
	buf := make([]byte, 12)
	readHeader := func(off int64) (uint32, int64, int, error) {
		n := min(int64(len(buf)), size-off)
		if err := r.readAt(buf[:n], off); err != nil {
			return 0, 0, 0, err
		}
		id, sz, hl, ok := ebmlElement(buf[:n])
		if !ok {
			return 0, 0, 0, errBadElement
		}
		return id, sz, hl, nil
	}
	truncated := func(what string, short int64) *Info {
		info.Incomplete = incompletef(ReasonTruncated,
			"the file ends inside %s, %s short of the size it declares: it was cut short (an interrupted copy, a full card); copy it again from the source", what, byteCount(short))
		return info
	}

	id, hsize, hl, err := readHeader(0)
	if err != nil || id != ebmlHeader || hsize < 0 || hsize > 4096 {
		if ioError(err) {
			return nil, err
		}
		info.Incomplete = incompletef(ReasonCorrupt, "the EBML header of the file cannot be read: the file is damaged")
		return info, nil
	}
	if int64(hl)+hsize > size {
		return truncated("its header", int64(hl)+hsize-size), nil
	}
	hb := make([]byte, hsize)
	if err := r.readAt(hb, int64(hl)); err != nil {
		return nil, err
	}
	ebmlChildren(hb, func(id uint32, d []byte) {
		if id == ebmlDocType && string(d) == "webm" {
			info.Container = ContainerWebM
		}
	})

	segOff := int64(hl) + hsize
	if segOff+2 > size {
		info.Incomplete = incompletef(ReasonNotFinalised, "the file holds only its header and no media: the recording was not finalised")
		return info, nil
	}
	id, segSize, hl, err := readHeader(segOff)
	if err != nil || id != mkvSegment {
		if ioError(err) {
			return nil, err
		}
		info.Incomplete = incompletef(ReasonCorrupt, "the file has no Matroska segment after its header: the file is damaged")
		return info, nil
	}
	start := segOff + int64(hl)
	end := size
	if segSize != ebmlUnknownSize {
		end = start + segSize
		if end > size {
			truncated("its segment", end-size)
		}
	}

	var scale uint64 = 1000000
	var durTicks float64
	for off := start; off < min(end, size); {
		if min(end, size)-off < 2 {
			truncated("an element header", 2)
			break
		}
		id, sz, hl, err := readHeader(off)
		if err != nil {
			if ioError(err) {
				return nil, err
			}
			if info.Incomplete == nil {
				if errIsZeros(buf) {
					info.Incomplete = incompletef(ReasonNotFinalised,
						"the file ends with zeros after byte %d: the recorder reserved the space and stopped before filling it", off)
				} else {
					info.Incomplete = incompletef(ReasonCorrupt, "the bytes at %d are not a Matroska element: the file is damaged", off)
				}
			}
			break
		}
		if sz == ebmlUnknownSize {
			// A live writer's cluster: its end is found only by reading
			// it. Such files (browser recordings, streams) are not judged.
			break
		}
		if off+int64(hl)+sz > size {
			if info.Incomplete == nil {
				what := "a top-level element"
				if id == mkvCluster {
					what = "a cluster of media data"
				}
				truncated(what, off+int64(hl)+sz-size)
			}
			break
		}
		if (id == mkvInfo || id == mkvTracks) && sz <= maxEBMLMaster {
			b := make([]byte, sz)
			if err := r.readAt(b, off+int64(hl)); err != nil {
				return nil, err
			}
			if id == mkvInfo {
				ebmlChildren(b, func(id uint32, d []byte) {
					switch id {
					case mkvTimestampSc:
						scale = ebmlUint(d)
					case mkvDuration:
						durTicks = ebmlFloat(d)
					}
				})
			} else {
				info.Streams = mkvTracksOf(b)
			}
		}
		off += int64(hl) + sz
	}
	if durTicks > 0 {
		info.Duration = seconds(durTicks*float64(scale), 1e9)
	}
	return info, nil
}

var errBadElement = fmt.Errorf("not an EBML element")

func errIsZeros(b []byte) bool { return allZero(b) }

func mkvTracksOf(b []byte) []Stream {
	var out []Stream
	ebmlChildren(b, func(id uint32, d []byte) {
		if id != mkvTrackEntry {
			return
		}
		var s Stream
		var codecID string
		var private []byte
		var bits int
		ebmlChildren(d, func(id uint32, d []byte) {
			switch id {
			case mkvTrackType:
				switch ebmlUint(d) {
				case 1:
					s.Type = StreamVideo
				case 2:
					s.Type = StreamAudio
				case 17:
					s.Type = StreamSubtitle
				default:
					s.Type = StreamData
				}
			case mkvCodecID:
				codecID = strings.TrimRight(string(d), "\x00")
			case mkvCodecPrivate:
				private = d
			case mkvDefaultDur:
				if ns := ebmlUint(d); ns > 0 {
					s.FPS = roundFPS(1e9 / float64(ns))
				}
			case mkvVideo:
				ebmlChildren(d, func(id uint32, d []byte) {
					switch id {
					case mkvPixelWidth:
						s.Width = int(ebmlUint(d))
					case mkvPixelHeight:
						s.Height = int(ebmlUint(d))
					}
				})
			case mkvAudio:
				ebmlChildren(d, func(id uint32, d []byte) {
					switch id {
					case mkvSamplingFreq:
						s.SampleRate = int(ebmlFloat(d))
					case mkvChannels:
						s.Channels = int(ebmlUint(d))
					case mkvBitDepth:
						bits = int(ebmlUint(d))
					}
				})
			}
		})
		if s.Type != StreamVideo {
			s.FPS = 0
		}
		if s.Type == StreamAudio && s.Channels == 0 {
			s.Channels = 1 // the Matroska default
		}
		s.Codec, s.Profile = mkvCodec(codecID, private, bits)
		out = append(out, s)
	})
	return out
}

// mkvCodec names a Matroska CodecID as ffprobe does, with the profile its
// CodecPrivate gives for H.264, HEVC and AAC.
func mkvCodec(id string, private []byte, bits int) (codec, profile string) {
	switch {
	case id == "V_MPEG4/ISO/AVC":
		if len(private) > 2 {
			profile = h264Profiles[private[1]]
			if private[1] == 66 && private[2]&0x40 != 0 {
				profile = "Constrained Baseline"
			}
		}
		return "h264", profile
	case id == "V_MPEGH/ISO/HEVC":
		if len(private) > 1 {
			profile = hevcProfiles[private[1]&0x1f]
		}
		return "hevc", profile
	case id == "A_AAC" || strings.HasPrefix(id, "A_AAC/"):
		if len(private) > 0 {
			profile = aacProfiles[private[0]>>3]
		}
		return "aac", profile
	case strings.HasPrefix(id, "A_PCM/INT/"):
		end := "le"
		if strings.HasSuffix(id, "BIG") {
			end = "be"
		}
		return fmt.Sprintf("pcm_s%d%s", bits, end), ""
	case id == "A_PCM/FLOAT/IEEE":
		return fmt.Sprintf("pcm_f%dle", bits), ""
	}
	if c, ok := mkvCodecs[id]; ok {
		return c, ""
	}
	return strings.ToLower(strings.TrimLeft(id, "VASB_")), ""
}

var mkvCodecs = map[string]string{
	"V_VP8": "vp8", "V_VP9": "vp9", "V_AV1": "av1", "V_MPEG2": "mpeg2video", "V_MPEG1": "mpeg1video",
	"V_MPEG4/ISO/ASP": "mpeg4", "V_PRORES": "prores", "V_MJPEG": "mjpeg", "V_FFV1": "ffv1",
	"V_THEORA": "theora", "V_MPEGI/ISO/VVC": "vvc",
	"A_OPUS": "opus", "A_VORBIS": "vorbis", "A_FLAC": "flac", "A_AC3": "ac3", "A_EAC3": "eac3",
	"A_MPEG/L3": "mp3", "A_MPEG/L2": "mp2", "A_DTS": "dts", "A_TRUEHD": "truehd", "A_ALAC": "alac",
	"S_TEXT/UTF8": "subrip", "S_TEXT/WEBVTT": "webvtt", "S_TEXT/ASS": "ass", "S_TEXT/SSA": "ssa",
	"S_HDMV/PGS": "hdmv_pgs_subtitle", "S_VOBSUB": "dvd_subtitle", "D_WEBVTT/SUBTITLES": "webvtt",
}
