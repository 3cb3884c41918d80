package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// MXF (SMPTE 377-1): a header partition, optional body partitions, a footer
// partition and a random index pack (RIP) that lists them all, at the very
// end of the file. A recorder writes the footer and the RIP, and closes the
// header, when it finalises the file.

var mxfRIPKey = []byte{0x06, 0x0e, 0x2b, 0x34, 0x02, 0x05, 0x01, 0x01, 0x0d, 0x01, 0x02, 0x01, 0x01, 0x11, 0x01, 0x00}

const (
	mxfKindHeader = 0x02
	mxfKindBody   = 0x03
	mxfKindFooter = 0x04

	maxMXFMetadata = 16 << 20
)

type mxfPartition struct {
	kind, status    byte
	this, footer    uint64
	headerByteCount uint64
	end             int64 // file offset of the first byte after the pack
}

func (p *mxfPartition) closed() bool   { return p.status == 0x02 || p.status == 0x04 }
func (p *mxfPartition) complete() bool { return p.status == 0x03 || p.status == 0x04 }

// berLength decodes a KLV length; it returns the length and the bytes it
// took, or ok false.
func berLength(b []byte) (int64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	if b[0] < 0x80 {
		return int64(b[0]), 1, true
	}
	n := int(b[0] & 0x7f)
	if n == 0 || n > 8 || len(b) < 1+n {
		return 0, 0, false
	}
	var v uint64
	for _, c := range b[1 : 1+n] {
		v = v<<8 | uint64(c)
	}
	if v > 1<<62 {
		return 0, 0, false
	}
	return int64(v), 1 + n, true
}

// readPartition reads a partition pack at off.
func readPartition(r *countingReader, off, size int64) (*mxfPartition, error) {
	b := make([]byte, min(128, size-off))
	if len(b) < 16+1+88 {
		return nil, nil
	}
	if err := r.readAt(b, off); err != nil {
		return nil, err
	}
	if !bytes.Equal(b[:13], mxfPartitionKey) || b[13] < mxfKindHeader || b[13] > mxfKindFooter {
		return nil, nil
	}
	l, n, ok := berLength(b[16:])
	if !ok || l < 88 || 16+n+88 > len(b) {
		return nil, nil
	}
	v := b[16+n:]
	return &mxfPartition{
		kind: b[13], status: b[14],
		this:            binary.BigEndian.Uint64(v[8:]),
		footer:          binary.BigEndian.Uint64(v[24:]),
		headerByteCount: binary.BigEndian.Uint64(v[32:]),
		end:             off + 16 + int64(n) + l,
	}, nil
}

func probeMXF(r *countingReader, size int64, head []byte) (*Info, error) {
	info := &Info{Recognised: true, Container: ContainerMXF}
	runIn := int64(mxfStart(head))
	hp, err := readPartition(r, runIn, size)
	if err != nil {
		return nil, fmt.Errorf("read the header partition: %w", err)
	}
	if hp == nil || hp.kind != mxfKindHeader {
		info.Incomplete = incompletef(ReasonTruncated, "the file ends inside its MXF header partition: it was cut short; copy it again from the source")
		return info, nil
	}

	// The random index pack: its last four bytes give its length.
	var ripFooter int64 = -1
	if size-runIn >= 4+16+1 {
		var lb [4]byte
		if err := r.readAt(lb[:], size-4); err != nil {
			return nil, err
		}
		if l := int64(binary.BigEndian.Uint32(lb[:])); l >= 16+1+4 && l <= size-runIn && l <= 1<<20 {
			rip := make([]byte, l)
			if err := r.readAt(rip, size-l); err != nil {
				return nil, err
			}
			if bytes.Equal(rip[:16], mxfRIPKey) {
				if bl, n, ok := berLength(rip[16:]); ok && 16+int64(n)+bl == l {
					// (BodySID, ByteOffset) pairs; the last one is the footer.
					entries := rip[16+n : l-4]
					if len(entries) >= 12 && len(entries)%12 == 0 {
						ripFooter = int64(binary.BigEndian.Uint64(entries[len(entries)-8:]))
					}
				}
			}
		}
	}

	footerOff := int64(-1)
	switch {
	case ripFooter >= 0:
		footerOff = ripFooter
	case hp.footer > 0:
		footerOff = int64(hp.footer)
	}
	var fp *mxfPartition
	if footerOff >= 0 {
		if runIn+footerOff >= size {
			info.Incomplete = incompletef(ReasonTruncated,
				"the file ends before its MXF footer, which its header places %s further: it was cut short (an interrupted copy, a full card); copy it again from the source",
				byteCount(runIn+footerOff-size+1))
		} else if fp, err = readPartition(r, runIn+footerOff, size); err != nil {
			return nil, fmt.Errorf("read the footer partition: %w", err)
		}
		if fp != nil && (fp.kind != mxfKindFooter || int64(fp.this) != footerOff) {
			fp = nil
		}
	}
	switch {
	case info.Incomplete != nil:
	case fp == nil && !hp.closed():
		info.Incomplete = incompletef(ReasonNotFinalised,
			"the MXF header partition is still open and the file has no footer: the recorder was still writing it, or stopped before finalising it; upload it again when the recording has been closed")
	case fp == nil:
		info.Incomplete = incompletef(ReasonTruncated,
			"the MXF file has no footer partition at its end: it was cut short, or the recorder stopped before finalising it; copy it again from the source")
	case ripFooter < 0:
		// The RIP is optional in SMPTE 377-1, but every recorder writes
		// it last: a file without it lost its end.
		info.Incomplete = incompletef(ReasonTruncated,
			"the MXF file has no random index pack at its end: it was cut short, or the recorder stopped before finalising it; copy it again from the source")
	case !(hp.closed() && hp.complete()) && !(fp.complete() && fp.headerByteCount > 0):
		info.Incomplete = incompletef(ReasonNotFinalised,
			"the MXF header partition is %s and the footer holds no final metadata: the recorder had not finalised the file", mxfStatus(hp.status))
	}

	// The final header metadata: in the header partition when it is closed
	// and complete, else in the footer.
	meta := hp
	if !(hp.closed() && hp.complete()) && fp != nil && fp.headerByteCount > 0 {
		meta = fp
	}
	if meta.headerByteCount > 0 && meta.headerByteCount <= maxMXFMetadata && meta.end < size {
		// Some writers count the metadata from after the fill that follows
		// the pack: read a little more, the walk stops at the first index
		// table or partition.
		n := min(int64(meta.headerByteCount)+64<<10, size-meta.end)
		b := make([]byte, n)
		if err := r.readAt(b, meta.end); err != nil {
			return nil, fmt.Errorf("read the header metadata: %w", err)
		}
		mxfMetadata(b, info)
	}
	return info, nil
}

func mxfStatus(s byte) string {
	switch s {
	case 0x01:
		return "open and incomplete"
	case 0x02:
		return "closed but incomplete"
	case 0x03:
		return "open"
	}
	return "closed and complete"
}

type rational struct{ num, den int32 }

func (q rational) float() float64 {
	if q.den == 0 {
		return 0
	}
	return float64(q.num) / float64(q.den)
}

// mxfMetadata reads the header metadata sets: essence descriptors (picture
// and sound formats, container duration), tracks and sequences (duration
// when descriptors give none), and the first timecode component.
func mxfMetadata(b []byte, info *Info) {
	var dur float64
	type track struct {
		rate     rational
		sequence string
	}
	var tracks []track
	seqDurs := map[string]int64{}
sets:
	for off := int64(0); off < int64(len(b)); {
		if int64(len(b))-off < 17 || !bytes.Equal(b[off:off+4], mxfPartitionKey[:4]) {
			break
		}
		key := b[off : off+16]
		l, n, ok := berLength(b[off+16:])
		if !ok || off+16+int64(n)+l > int64(len(b)) {
			break
		}
		v := b[off+16+int64(n) : off+16+int64(n)+l]
		off += 16 + int64(n) + l
		if key[4] == 0x02 && key[5] == 0x05 && key[8] == 0x0d && key[11] == 0x01 && key[12] == 0x01 && key[13] >= 0x10 && key[13] <= 0x11 {
			break sets // an index table or the next partition: the metadata is over
		}
		if key[4] != 0x02 || key[5] != 0x53 || !bytes.Equal(key[8:13], []byte{0x0d, 0x01, 0x01, 0x01, 0x01}) {
			continue
		}
		set := uint16(key[13])<<8 | uint16(key[14])
		tags := map[uint16][]byte{}
		for i := 0; i+4 <= len(v); {
			tag, tl := binary.BigEndian.Uint16(v[i:]), int(binary.BigEndian.Uint16(v[i+2:]))
			if i+4+tl > len(v) {
				break
			}
			tags[tag] = v[i+4 : i+4+tl]
			i += 4 + tl
		}
		u32 := func(t uint16) int {
			if d := tags[t]; len(d) == 4 {
				return int(binary.BigEndian.Uint32(d))
			}
			return 0
		}
		rat := func(t uint16) rational {
			if d := tags[t]; len(d) == 8 {
				return rational{int32(binary.BigEndian.Uint32(d)), int32(binary.BigEndian.Uint32(d[4:]))}
			}
			return rational{}
		}
		i64 := func(t uint16) int64 {
			if d := tags[t]; len(d) == 8 {
				return int64(binary.BigEndian.Uint64(d))
			}
			return -1
		}
		if cd, sr := i64(0x3002), rat(0x3001); cd > 0 && sr.float() > 0 && set != 0x0144 {
			dur = max(dur, float64(cd)/sr.float())
		}
		switch {
		case set == 0x0114: // timecode component
			if info.StartTimecode == "" && len(tags[0x1501]) == 8 && len(tags[0x1502]) == 2 {
				base := int(binary.BigEndian.Uint16(tags[0x1502]))
				drop := len(tags[0x1503]) == 1 && tags[0x1503][0] != 0
				info.StartTimecode = formatTimecode(uint64(i64(0x1501)), base, drop)
			}
		case set == 0x013b: // timeline track
			tracks = append(tracks, track{rat(0x4b01), string(tags[0x4803])})
		case set == 0x010f: // sequence
			seqDurs[string(tags[0x3c0a])] = i64(0x0202)
		case tags[0x3203] != nil || tags[0x3202] != nil: // a picture descriptor
			s := Stream{Type: StreamVideo, Width: u32(0x3203), Height: u32(0x3202), FPS: roundFPS(rat(0x3001).float())}
			if w, h := u32(0x3209), u32(0x3208); w > 0 && h > 0 {
				s.Width, s.Height = w, h
			}
			if d := tags[0x320c]; len(d) == 1 && d[0] == 1 { // separate fields: heights are per field
				s.Height *= 2
			}
			s.Codec = mxfPictureCodec(tags[0x3201])
			info.Streams = append(info.Streams, s)
		case tags[0x3d03] != nil: // a sound descriptor
			s := Stream{Type: StreamAudio, SampleRate: int(rat(0x3d03).float()), Channels: u32(0x3d07)}
			if set == 0x0148 || set == 0x0147 { // wave or AES3 audio
				s.Codec = fmt.Sprintf("pcm_s%dle", u32(0x3d01))
			}
			info.Streams = append(info.Streams, s)
		}
	}
	if dur == 0 {
		// A track's sequence (by its instance UID) counts edit units of
		// the track's edit rate.
		for _, t := range tracks {
			if d := seqDurs[t.sequence]; d > 0 && t.rate.float() > 0 {
				dur = max(dur, float64(d)/t.rate.float())
			}
		}
	}
	info.Duration = seconds(dur, 1)
}

// mxfPictureCodec names the codec of a PictureEssenceCoding label (SMPTE
// RP 224), by its family.
func mxfPictureCodec(ul []byte) string {
	if len(ul) != 16 || !bytes.Equal(ul[:4], []byte{0x06, 0x0e, 0x2b, 0x34}) {
		return ""
	}
	l := ul[8:]
	switch {
	case l[0] != 0x04 || l[1] != 0x01 || l[2] != 0x02:
	case l[3] == 0x01:
		return "rawvideo"
	case l[3] == 0x02 && l[4] == 0x01 && l[5] < 0x20:
		return "mpeg2video"
	case l[3] == 0x02 && l[4] == 0x01 && l[5] < 0x30:
		return "mpeg4"
	case l[3] == 0x02 && l[4] == 0x01 && l[5] < 0x40:
		return "h264"
	case l[3] == 0x02 && l[4] == 0x02:
		return "dvvideo"
	case l[3] == 0x02 && l[4] == 0x03 && l[5] == 0x01:
		return "jpeg2000"
	case l[3] == 0x02 && l[4] == 0x03 && l[5] == 0x02, l[3] == 0x02 && l[4] == 0x71:
		return "dnxhd"
	case l[3] == 0x02 && l[4] == 0x03 && l[5] == 0x06:
		return "prores"
	}
	return ""
}
