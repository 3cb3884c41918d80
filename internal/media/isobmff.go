package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	mp4 "github.com/abema/go-mp4"
)

// Limits on what the probe reads into memory: a moov box holds the sample
// tables of the whole recording (a few MB for hours of video); a moof box
// those of one fragment.
const (
	maxMoovSize = 256 << 20
	maxMoofSize = 16 << 20
)

// isoBox is one top-level box of an ISO BMFF file.
type isoBox struct {
	typ       string
	off, size int64
	open      bool // size 0 in the header: "extends to the end of the file"
}

// isoTrack gathers what one trak box says.
type isoTrack struct {
	id          uint32
	handler     string
	timescale   uint32
	duration    uint64
	samples     uint64 // from stts, or counted in the fragments
	sampleTime  uint64 // sum of sample durations, same sources
	firstChunk  int64
	defaultDur  uint32 // trex
	stream      Stream
	entries     int
	tmcd        *tmcdEntry
	fragStart   uint64
	fragStarted bool
	fragEnd     uint64
}

type tmcdEntry struct {
	flags         uint32
	timescale     uint32
	frameDuration uint32
	frames        uint8
}

func probeISOBMFF(r *countingReader, size int64, head []byte) (*Info, error) {
	info := &Info{Recognised: true, Container: ContainerMP4}
	boxes, bad, err := walkISOBoxes(r, size)
	if err != nil {
		return nil, err
	}
	info.Incomplete = bad

	var moov *isoBox
	firstMdat, moovIndex, moofs := -1, -1, 0
	for i := range boxes {
		b := &boxes[i]
		switch b.typ {
		case "ftyp":
			if isQuickTime(r, b) {
				info.Container = ContainerMOV
			}
		case "moov":
			if moov == nil {
				moov, moovIndex = b, i
			}
		case "moof":
			moofs++
		case "mdat":
			if firstMdat < 0 {
				firstMdat = i
			}
			if b.open && info.Incomplete == nil {
				info.Incomplete = incompletef(ReasonStillWriting,
					"the media data (mdat box) has no size yet: the recorder was still writing the file, or stopped before closing it; upload it again when the recording has been closed")
			}
		}
	}
	info.Fragmented = moofs > 0
	info.FastStart = moov != nil && (firstMdat < 0 || moovIndex < firstMdat)

	if moov == nil && moofs == 0 && info.Incomplete == nil {
		info.Incomplete = incompletef(ReasonNotFinalised,
			"no moov box: the recording was not finalised (the recorder stopped before writing the index of the file); upload it again when the recorder has closed it")
	}
	var tracks []*isoTrack
	var movieScale uint32
	var movieDur, fragDur uint64
	if moov != nil {
		if moov.size > maxMoovSize {
			return nil, fmt.Errorf("the moov box is %d bytes, more than the probe reads (%d)", moov.size, maxMoovSize)
		}
		buf := make([]byte, moov.size)
		if err := r.readAt(buf, moov.off); err != nil {
			return nil, fmt.Errorf("read the moov box: %w", err)
		}
		tracks, movieScale, movieDur, fragDur, err = parseMoov(buf, info.Container == ContainerMOV)
		if err != nil && info.Incomplete == nil {
			info.Incomplete = incompletef(ReasonCorrupt, "the moov box (the index of the file) cannot be read (%v): the file is damaged", err)
		}
	}
	if moofs > 0 && moov != nil {
		if err := readFragments(r, boxes, tracks); err != nil {
			if ioError(err) {
				return nil, err
			}
			if info.Incomplete == nil {
				info.Incomplete = incompletef(ReasonCorrupt, "a movie fragment (moof box) cannot be read (%v): the file is damaged", err)
			}
		}
	}

	switch {
	case movieDur > 0 && movieScale > 0:
		info.Duration = seconds(float64(movieDur), float64(movieScale))
	case fragDur > 0 && movieScale > 0:
		info.Duration = seconds(float64(fragDur), float64(movieScale))
	default:
		for _, t := range tracks {
			if t.fragStarted && t.timescale > 0 {
				info.Duration = max(info.Duration, seconds(float64(t.fragEnd-t.fragStart), float64(t.timescale)))
			}
		}
	}
	for _, t := range tracks {
		if t.tmcd != nil && info.StartTimecode == "" {
			info.StartTimecode = readTmcd(r, t)
			continue
		}
		if t.entries == 0 || t.stream.Type == "" {
			continue
		}
		s := t.stream
		if s.Type == StreamVideo && t.sampleTime > 0 && t.samples > 1 {
			s.FPS = roundFPS(float64(t.samples) * float64(t.timescale) / float64(t.sampleTime))
		}
		info.Streams = append(info.Streams, s)
	}
	return info, nil
}

// walkISOBoxes reads the header of every top-level box: their sizes must add
// up to the file's length. The walk stops at the first box that does not fit.
func walkISOBoxes(r *countingReader, size int64) ([]isoBox, *Incomplete, error) {
	var boxes []isoBox
	hdr := make([]byte, 16)
	for off := int64(0); off < size; {
		rem := size - off
		if rem < 8 {
			return boxes, incompletef(ReasonTruncated,
				"the file ends %d bytes into a box header, after its last complete box: it was cut short; copy it again from the source", rem), nil
		}
		n := min(rem, 16)
		if err := r.readAt(hdr[:n], off); err != nil {
			return nil, nil, fmt.Errorf("read a box header at byte %d: %w", off, err)
		}
		bsize, typ, hlen := int64(binary.BigEndian.Uint32(hdr)), string(hdr[4:8]), int64(8)
		if !boxName(typ) {
			if allZero(hdr[:n]) {
				return boxes, incompletef(ReasonNotFinalised,
					"the file ends with %s of zeros after its last box at byte %d: the recorder reserved the space and stopped before filling it", byteCount(rem), off), nil
			}
			return boxes, incompletef(ReasonCorrupt,
				"the bytes at %d are not an MP4 box: the file is damaged", off), nil
		}
		open := false
		switch bsize {
		case 1:
			if n < 16 {
				return boxes, incompletef(ReasonTruncated, "the file ends inside the header of its %s box: it was cut short; copy it again from the source", typ), nil
			}
			bsize, hlen = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		case 0:
			bsize, open = rem, true
		}
		if bsize < hlen {
			return boxes, incompletef(ReasonCorrupt, "the %s box at byte %d has an impossible size (%d): the file is damaged", typ, off, bsize), nil
		}
		if bsize > rem {
			return boxes, incompletef(ReasonTruncated,
				"the file ends inside its %s box (%s), %s short of the size the box declares: the file was cut short (an interrupted copy, a full card); copy it again from the source",
				typ, describeBox(typ), byteCount(bsize-rem)), nil
		}
		boxes = append(boxes, isoBox{typ: typ, off: off, size: bsize, open: open})
		off += bsize
	}
	return boxes, nil, nil
}

func describeBox(typ string) string {
	switch typ {
	case "mdat":
		return "the media data"
	case "moov":
		return "the index of the file"
	case "moof":
		return "a movie fragment"
	}
	return "a box"
}

func boxName(t string) bool {
	for i := 0; i < 4; i++ {
		c := t[i]
		if c < 0x20 || c > 0x7e {
			return c == 0xa9 // ©xyz QuickTime metadata
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// isQuickTime reads an ftyp box: a major or compatible brand "qt  " is a
// QuickTime movie, whose sample descriptions differ from ISO BMFF ones.
func isQuickTime(r *countingReader, b *isoBox) bool {
	if b.size > 4096 || b.size < 16 {
		return false
	}
	buf := make([]byte, b.size)
	if r.readAt(buf, b.off) != nil {
		return false
	}
	if string(buf[8:12]) == "qt  " {
		return true
	}
	for i := 16; i+4 <= len(buf); i += 4 {
		if string(buf[i:i+4]) == "qt  " {
			return true
		}
	}
	return false
}

// parseMoov decodes the boxes of a moov that the probe needs and skips the
// rest (user data, sample sizes, sync samples).
func parseMoov(buf []byte, quickTime bool) (tracks []*isoTrack, movieScale uint32, movieDur, fragDur uint64, err error) {
	rd := bytes.NewReader(buf)
	bi, err := mp4.ReadBoxInfo(rd)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	bi.IsQuickTimeCompatible = quickTime
	var tr *isoTrack
	trex := map[uint32]uint32{}
	handler := func(h *mp4.ReadHandle) (any, error) {
		typ := h.BoxInfo.Type.String()
		parent := ""
		if len(h.Path) >= 2 {
			parent = h.Path[len(h.Path)-2].String()
		}
		if parent == "stsd" && tr != nil {
			return nil, sampleEntry(h, tr)
		}
		switch typ {
		case "trak":
			tr = &isoTrack{firstChunk: -1}
			tracks = append(tracks, tr)
			fallthrough
		case "moov", "mdia", "minf", "stbl", "mvex", "wave":
			_, err := h.Expand()
			return nil, err
		case "stsd":
			_, err := h.Expand()
			return nil, err
		}
		if !h.BoxInfo.IsSupportedType() {
			return nil, nil
		}
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		switch b := box.(type) {
		case *mp4.AVCDecoderConfiguration:
			if tr != nil {
				tr.stream.Profile = h264Profiles[b.Profile]
				if b.Profile == 66 && b.ProfileCompatibility&0x40 != 0 {
					tr.stream.Profile = "Constrained Baseline"
				}
			}
		case *mp4.HvcC:
			if tr != nil {
				tr.stream.Profile = hevcProfiles[b.GeneralProfileIdc]
			}
		case *mp4.Esds:
			if tr != nil {
				esdsCodec(b, &tr.stream)
			}
		case *mp4.Mvhd:
			movieScale, movieDur = b.Timescale, b.GetDuration()
		case *mp4.Mehd:
			fragDur = b.GetFragmentDuration()
		case *mp4.Trex:
			trex[b.TrackID] = b.DefaultSampleDuration
		case *mp4.Tkhd:
			if tr != nil {
				tr.id = b.TrackID
			}
		case *mp4.Mdhd:
			if tr != nil {
				tr.timescale, tr.duration = b.Timescale, b.GetDuration()
			}
		case *mp4.Hdlr:
			if tr != nil && parent == "mdia" {
				tr.handler = string(b.HandlerType[:])
			}
		case *mp4.Stts:
			if tr != nil {
				for _, e := range b.Entries {
					tr.samples += uint64(e.SampleCount)
					tr.sampleTime += uint64(e.SampleCount) * uint64(e.SampleDelta)
				}
			}
		case *mp4.Stco:
			if tr != nil && len(b.ChunkOffset) > 0 {
				tr.firstChunk = int64(b.ChunkOffset[0])
			}
		case *mp4.Co64:
			if tr != nil && len(b.ChunkOffset) > 0 {
				tr.firstChunk = int64(b.ChunkOffset[0])
			}
		}
		return nil, nil
	}
	if _, err := mp4.ReadBoxStructureFromInternal(rd, bi, handler); err != nil {
		return nil, 0, 0, 0, err
	}
	for _, t := range tracks {
		t.defaultDur = trex[t.id]
	}
	return tracks, movieScale, movieDur, fragDur, nil
}

// sampleEntry reads one sample description of a track: the codec, and the
// picture or sound format.
func sampleEntry(h *mp4.ReadHandle, tr *isoTrack) error {
	tr.entries++
	if tr.entries > 1 {
		return nil // the first description names the track
	}
	fourcc := h.BoxInfo.Type.String()
	var raw bytes.Buffer
	if _, err := h.ReadData(&raw); err != nil {
		return err
	}
	p := raw.Bytes()
	s := &tr.stream
	s.Codec, s.Profile = fourccCodec(fourcc)
	switch tr.handler {
	case "vide":
		s.Type = StreamVideo
		if len(p) >= 28 {
			s.Width, s.Height = int(binary.BigEndian.Uint16(p[24:])), int(binary.BigEndian.Uint16(p[26:]))
		}
	case "soun":
		s.Type = StreamAudio
		if len(p) >= 28 {
			version := binary.BigEndian.Uint16(p[8:])
			s.Channels = int(binary.BigEndian.Uint16(p[16:]))
			s.SampleRate = int(binary.BigEndian.Uint32(p[24:]) >> 16)
			if version == 2 && len(p) >= 64 {
				s.SampleRate = int(math.Float64frombits(binary.BigEndian.Uint64(p[32:])))
				s.Channels = int(binary.BigEndian.Uint32(p[40:]))
				bits := int(binary.BigEndian.Uint32(p[48:]))
				if fourcc == "lpcm" {
					s.Codec = lpcmCodec(binary.BigEndian.Uint32(p[52:]), bits)
				}
			}
			if fourcc == "in24" || fourcc == "in32" || fourcc == "fl32" || fourcc == "fl64" {
				s.Codec = pcmFromQT(fourcc)
				// An enda box of 1 inside the description: little-endian.
				if i := bytes.Index(p, []byte("enda")); i > 0 && i+6 <= len(p) && p[i+5] != 0 {
					s.Codec = strings.TrimSuffix(s.Codec, "be") + "le"
				}
			}
		}
	case "tmcd":
		if fourcc == "tmcd" && len(p) >= 25 {
			tr.tmcd = &tmcdEntry{
				flags:         binary.BigEndian.Uint32(p[12:]),
				timescale:     binary.BigEndian.Uint32(p[16:]),
				frameDuration: binary.BigEndian.Uint32(p[20:]),
				frames:        p[24],
			}
		}
		return nil
	case "sbtl", "subt", "text", "clcp":
		s.Type = StreamSubtitle
		return nil
	default:
		s.Type = StreamData
		return nil
	}
	if !h.BoxInfo.IsSupportedType() {
		return nil
	}
	// The decoder configuration boxes inside the description: profile, and
	// the real codec of an mp4a or mp4v.
	_, err := h.Expand()
	return err
}

func pcmFromQT(fourcc string) string {
	switch fourcc {
	case "in24":
		return "pcm_s24be"
	case "in32":
		return "pcm_s32be"
	case "fl32":
		return "pcm_f32be"
	}
	return "pcm_f64be"
}

// lpcmCodec names a QuickTime lpcm description (formatSpecificFlags: 1 float,
// 2 big-endian, 4 signed).
func lpcmCodec(flags uint32, bits int) string {
	kind := "u"
	if flags&1 != 0 {
		kind = "f"
	} else if flags&4 != 0 {
		kind = "s"
	}
	end := "le"
	if flags&2 != 0 {
		end = "be"
	}
	if bits == 8 {
		end = ""
	}
	return fmt.Sprintf("pcm_%s%d%s", kind, bits, end)
}

// fourccCodec names the codec of a sample description as ffprobe does.
func fourccCodec(f string) (codec, profile string) {
	switch f {
	case "avc1", "avc3", "avc2", "avc4":
		return "h264", ""
	case "hvc1", "hev1":
		return "hevc", ""
	case "vvc1", "vvi1":
		return "vvc", ""
	case "av01":
		return "av1", ""
	case "vp08":
		return "vp8", ""
	case "vp09":
		return "vp9", ""
	case "mp4v":
		return "mpeg4", ""
	case "apco":
		return "prores", "Proxy"
	case "apcs":
		return "prores", "LT"
	case "apcn":
		return "prores", "Standard"
	case "apch":
		return "prores", "HQ"
	case "ap4h":
		return "prores", "4444"
	case "ap4x":
		return "prores", "4444 XQ"
	case "AVdn", "AVdh":
		return "dnxhd", ""
	case "jpeg", "mjpa", "mjpb":
		return "mjpeg", ""
	case "xdvc", "xdv7", "xdv6", "xdv5", "xd54", "xd55", "xd59", "xd5a", "xd5b", "xd5c", "xd5d", "xd5e", "xd5f", "xdhd", "xdh2", "mx5n", "mx5p":
		return "mpeg2video", ""
	case "dvc ", "dvcp", "dv5n", "dv5p", "dvhp", "dvh5", "dvh6":
		return "dvvideo", ""
	case "mp4a":
		return "aac", ""
	case "Opus":
		return "opus", ""
	case "ac-3":
		return "ac3", ""
	case "ec-3":
		return "eac3", ""
	case "fLaC":
		return "flac", ""
	case "alac":
		return "alac", ""
	case ".mp3":
		return "mp3", ""
	case "sowt":
		return "pcm_s16le", ""
	case "twos":
		return "pcm_s16be", ""
	case "ipcm", "fpcm", "lpcm":
		return "pcm", ""
	case "tx3g":
		return "mov_text", ""
	case "wvtt":
		return "webvtt", ""
	case "stpp":
		return "ttml", ""
	}
	return strings.TrimSpace(f), ""
}

var h264Profiles = map[uint8]string{
	66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10",
	122: "High 4:2:2", 244: "High 4:4:4 Predictive", 44: "CAVLC 4:4:4",
}

var hevcProfiles = map[uint8]string{1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Rext"}

var aacProfiles = map[byte]string{1: "Main", 2: "LC", 3: "SSR", 4: "LTP", 5: "HE-AAC", 29: "HE-AACv2", 23: "LD", 39: "ELD"}

// readTmcd reads the first sample of a QuickTime timecode track: a frame
// number, four bytes at the track's first chunk.
func readTmcd(r *countingReader, t *isoTrack) string {
	e := t.tmcd
	if t.firstChunk < 0 || e.frames == 0 {
		return ""
	}
	var b [4]byte
	if r.readAt(b[:], t.firstChunk) != nil {
		return ""
	}
	return formatTimecode(uint64(binary.BigEndian.Uint32(b[:])), int(e.frames), e.flags&1 != 0)
}

// formatTimecode turns a frame count at a nominal rate (25, 30, ...) into
// HH:MM:SS:FF; a drop-frame count (29.97, 59.94) skips two (or four) frame
// numbers at every minute but each tenth, and is written HH:MM:SS;FF.
func formatTimecode(frame uint64, fps int, drop bool) string {
	if fps <= 0 {
		return ""
	}
	sep := ":"
	if drop && fps%30 == 0 {
		sep = ";"
		d := uint64(fps / 15) // frames dropped per minute: 2 at 30, 4 at 60
		perMin := uint64(fps*60) - d
		per10 := perMin*10 + d
		tens, rem := frame/per10, frame%per10
		if rem > d {
			frame += 9*d*tens + d*((rem-d)/perMin)
		} else {
			frame += 9 * d * tens
		}
	}
	f := uint64(fps)
	ff := frame % f
	s := frame / f
	return fmt.Sprintf("%02d:%02d:%02d%s%02d", (s/3600)%24, (s/60)%60, s%60, sep, ff)
}

func roundFPS(f float64) float64 { return math.Round(f*1000) / 1000 }

// readFragments adds up the samples of every movie fragment, per track.
func readFragments(r *countingReader, boxes []isoBox, tracks []*isoTrack) error {
	byID := map[uint32]*isoTrack{}
	for _, t := range tracks {
		byID[t.id] = t
		t.samples, t.sampleTime = 0, 0
	}
	for i := range boxes {
		b := &boxes[i]
		if b.typ != "moof" {
			continue
		}
		if b.size > maxMoofSize {
			return fmt.Errorf("a moof box of %d bytes", b.size)
		}
		buf := make([]byte, b.size)
		if err := r.readAt(buf, b.off); err != nil {
			return err
		}
		if err := parseMoof(buf, byID); err != nil {
			return err
		}
	}
	return nil
}

func parseMoof(buf []byte, byID map[uint32]*isoTrack) error {
	var t *isoTrack
	var defDur uint32
	var base uint64
	handler := func(h *mp4.ReadHandle) (any, error) {
		switch h.BoxInfo.Type.String() {
		case "moof", "traf":
			t = nil
			_, err := h.Expand()
			return nil, err
		case "tfhd", "tfdt", "trun":
		default:
			return nil, nil
		}
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		switch b := box.(type) {
		case *mp4.Tfhd:
			t = byID[b.TrackID]
			if t == nil {
				return nil, nil
			}
			defDur = t.defaultDur
			if b.CheckFlag(0x000008) {
				defDur = b.DefaultSampleDuration
			}
			base = t.fragEnd
		case *mp4.Tfdt:
			if t != nil {
				base = b.GetBaseMediaDecodeTime()
				if !t.fragStarted {
					t.fragStart, t.fragStarted = base, true
				}
			}
		case *mp4.Trun:
			if t == nil {
				return nil, nil
			}
			if !t.fragStarted {
				t.fragStarted = true
			}
			var d uint64
			if b.CheckFlag(0x000100) {
				for _, e := range b.Entries {
					d += uint64(e.SampleDuration)
				}
			} else {
				d = uint64(b.SampleCount) * uint64(defDur)
			}
			t.samples += uint64(b.SampleCount)
			t.sampleTime += d
			base += d
			t.fragEnd = max(t.fragEnd, base)
		}
		return nil, nil
	}
	_, err := mp4.ReadBoxStructure(bytes.NewReader(buf), handler)
	return err
}

// esdsCodec reads an MPEG-4 elementary stream descriptor: the object type
// names the codec of an mp4a or mp4v, the decoder specific info the AAC
// profile.
func esdsCodec(b *mp4.Esds, s *Stream) {
	for _, d := range b.Descriptors {
		switch d.Tag {
		case mp4.DecoderConfigDescrTag:
			if d.DecoderConfigDescriptor == nil {
				continue
			}
			switch oti := d.DecoderConfigDescriptor.ObjectTypeIndication; {
			case oti == 0x40, oti >= 0x66 && oti <= 0x68:
				s.Codec = "aac"
			case oti == 0x69, oti == 0x6b:
				s.Codec = "mp3"
			case oti == 0x20:
				s.Codec = "mpeg4"
			case oti >= 0x60 && oti <= 0x65:
				s.Codec = "mpeg2video"
			case oti == 0x6a:
				s.Codec = "mpeg1video"
			case oti == 0x6c:
				s.Codec = "mjpeg"
			case oti == 0xa5:
				s.Codec = "ac3"
			case oti == 0xa6:
				s.Codec = "eac3"
			case oti == 0xa9:
				s.Codec = "dts"
			}
		case mp4.DecSpecificInfoTag:
			if s.Codec == "aac" && len(d.Data) > 0 {
				aot := d.Data[0] >> 3
				if aot == 31 && len(d.Data) > 1 {
					aot = 32 + (d.Data[0]&7)<<3 | d.Data[1]>>5
				}
				s.Profile = aacProfiles[aot]
				if ch := ascChannels(d.Data); ch > 0 {
					s.Channels = ch
				}
			}
		}
	}
}

// ascChannels reads the channel configuration of an AAC AudioSpecificConfig
// (ISO 14496-3 1.6.2.1): the sample description of an MP4 says 2 whatever
// the stream holds. It returns 0 when the configuration does not say.
func ascChannels(b []byte) int {
	var pos uint
	bits := func(n uint) uint32 {
		var v uint32
		for i := uint(0); i < n; i++ {
			if int(pos/8) >= len(b) {
				return 0
			}
			v = v<<1 | uint32(b[pos/8]>>(7-pos%8)&1)
			pos++
		}
		return v
	}
	if bits(5) == 31 {
		bits(6)
	}
	if bits(4) == 15 {
		bits(24)
	}
	switch c := bits(4); {
	case c >= 1 && c <= 6:
		return int(c)
	case c == 7:
		return 8
	}
	return 0
}
