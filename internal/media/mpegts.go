package media

import (
	"fmt"
)

// tsWindow is how much of the head and of the tail of a transport stream
// the probe reads: the PAT and PMT are repeated every few hundred
// milliseconds, and the tail holds the last timestamps.
const tsWindow = 512 << 10

// tsStride recognises MPEG-TS framing in b: 188-byte packets, or the
// 192-byte packets of M2TS (AVCHD, Blu-ray) whose sync byte follows a 4-byte
// time stamp. It returns the stride, or 0.
func tsStride(b []byte) int {
	for _, s := range [...]struct{ stride, sync int }{{188, 0}, {192, 4}} {
		n := 0
		for off := s.sync; off < len(b) && n < 4; off += s.stride {
			if b[off] != 0x47 {
				n = -1
				break
			}
			n++
		}
		// One sync byte is a coincidence; ask for three, or every packet
		// of a smaller file.
		if n >= 3 || n > 0 && len(b) < 3*s.stride && len(b)%s.stride == 0 {
			return s.stride
		}
	}
	return 0
}

type tsStream struct {
	pid        uint16
	streamType byte
	codec      string
	typ        string
	first      int64 // first PTS seen in the head, -1 if none
	last       int64 // last PTS seen in the tail, -1 if none
}

func probeMPEGTS(r *countingReader, size int64, head []byte) (*Info, error) {
	stride := int64(tsStride(head))
	sync := stride - 188
	info := &Info{Recognised: true, Container: ContainerMPEGTS}
	if rem := size % stride; rem != 0 {
		info.Incomplete = incompletef(ReasonTruncated,
			"the file ends in the middle of a transport packet (%d of its %d bytes are there): it was cut short; copy it again from the source", rem, stride)
	}
	packets := size / stride
	headN := min(packets, tsWindow/stride)
	hb := make([]byte, headN*stride)
	if err := r.readAt(hb, 0); err != nil {
		return nil, fmt.Errorf("read the first packets: %w", err)
	}
	for i := int64(0); i < headN; i++ {
		if hb[i*stride+sync] != 0x47 {
			if info.Incomplete == nil {
				info.Incomplete = incompletef(ReasonCorrupt, "transport packet %d has lost its sync byte: the file is damaged", i)
			}
			headN = i
			break
		}
	}
	tailStart := max(headN, packets-tsWindow/stride)
	var tb []byte
	if tailStart < packets {
		tb = make([]byte, (packets-tailStart)*stride)
		if err := r.readAt(tb, tailStart*stride); err != nil {
			return nil, fmt.Errorf("read the last packets: %w", err)
		}
		for i := int64(0); i*stride < int64(len(tb)); i++ {
			if tb[i*stride+sync] == 0x47 {
				continue
			}
			if info.Incomplete == nil {
				p := tb[i*stride:]
				if allZero(p) {
					info.Incomplete = incompletef(ReasonNotFinalised,
						"the file ends with %s of zeros: the recorder reserved the space and stopped before filling it", byteCount(int64(len(p))))
				} else {
					info.Incomplete = incompletef(ReasonCorrupt, "transport packet %d has lost its sync byte: the file is damaged", tailStart+i)
				}
			}
			tb = tb[:i*stride]
			break
		}
	}

	var pmtPID int = -1
	streams := map[uint16]*tsStream{}
	var order []*tsStream
	each := func(buf []byte, fn func(pid uint16, start bool, payload []byte)) {
		for off := int64(0); off+stride <= int64(len(buf)); off += stride {
			p := buf[off+sync : off+stride]
			pid := uint16(p[1]&0x1f)<<8 | uint16(p[2])
			start := p[1]&0x40 != 0
			afc := p[3] >> 4 & 3
			payload := p[4:]
			if afc == 2 {
				continue
			}
			if afc == 3 {
				if int(payload[0])+1 >= len(payload) {
					continue
				}
				payload = payload[1+int(payload[0]):]
			}
			fn(pid, start, payload)
		}
	}
	each(hb, func(pid uint16, start bool, payload []byte) {
		switch {
		case pid == 0 && start && pmtPID < 0:
			pmtPID = parsePAT(payload)
		case pmtPID >= 0 && int(pid) == pmtPID && start && len(order) == 0:
			for _, s := range parsePMT(payload) {
				if streams[s.pid] == nil {
					streams[s.pid] = s
					order = append(order, s)
				}
			}
		case start:
			if s := streams[pid]; s != nil && s.first < 0 {
				s.first = pesPTS(payload)
			}
		}
	})
	last := func(pid uint16, start bool, payload []byte) {
		if s := streams[pid]; s != nil && start {
			// The greatest, not the last: with B-frames, the last packet
			// in decoding order is not the last one shown.
			if pts := pesPTS(payload); pts > s.last {
				s.last = pts
			}
		}
	}
	each(hb, last)
	each(tb, last)

	var first, end int64 = -1, -1
	for _, s := range order {
		if s.first >= 0 && s.last >= 0 {
			if s.last < s.first { // the 33-bit clock wrapped
				s.last += 1 << 33
			}
			if first < 0 || s.first < first {
				first = s.first
			}
			end = max(end, s.last)
		}
		if s.typ != "" {
			info.Streams = append(info.Streams, Stream{Type: s.typ, Codec: s.codec})
		}
	}
	if first >= 0 && end > first {
		info.Duration = seconds(float64(end-first), 90000)
	}
	return info, nil
}

// psiSection returns the section that a payload starting a PSI table holds.
func psiSection(p []byte) []byte {
	if len(p) < 1 || int(p[0])+1 > len(p) {
		return nil
	}
	p = p[1+int(p[0]):] // pointer field
	if len(p) < 3 {
		return nil
	}
	n := int(p[1]&0x0f)<<8 | int(p[2])
	if 3+n > len(p) || n < 9 {
		return nil
	}
	return p[:3+n-4] // without the CRC
}

// parsePAT returns the PID of the first program's PMT, or -1.
func parsePAT(p []byte) int {
	sec := psiSection(p)
	if sec == nil || sec[0] != 0 {
		return -1
	}
	for i := 8; i+4 <= len(sec); i += 4 {
		program := int(sec[i])<<8 | int(sec[i+1])
		if program != 0 {
			return int(sec[i+2]&0x1f)<<8 | int(sec[i+3])
		}
	}
	return -1
}

func parsePMT(p []byte) []*tsStream {
	sec := psiSection(p)
	if sec == nil || sec[0] != 2 || len(sec) < 12 {
		return nil
	}
	infoLen := int(sec[10]&0x0f)<<8 | int(sec[11])
	var out []*tsStream
	for i := 12 + infoLen; i+5 <= len(sec); {
		s := &tsStream{streamType: sec[i], pid: uint16(sec[i+1]&0x1f)<<8 | uint16(sec[i+2]), first: -1, last: -1}
		esLen := int(sec[i+3]&0x0f)<<8 | int(sec[i+4])
		desc := sec[i+5 : min(len(sec), i+5+esLen)]
		s.typ, s.codec = tsCodec(s.streamType, desc)
		out = append(out, s)
		i += 5 + esLen
	}
	return out
}

// tsCodec names a stream of a PMT by its stream_type, and for private data
// (0x06) by its descriptors, as ffprobe does.
func tsCodec(st byte, desc []byte) (typ, codec string) {
	switch st {
	case 0x01:
		return StreamVideo, "mpeg1video"
	case 0x02:
		return StreamVideo, "mpeg2video"
	case 0x03, 0x04:
		return StreamAudio, "mp2"
	case 0x0f:
		return StreamAudio, "aac"
	case 0x11:
		return StreamAudio, "aac_latm"
	case 0x10:
		return StreamVideo, "mpeg4"
	case 0x1b:
		return StreamVideo, "h264"
	case 0x24:
		return StreamVideo, "hevc"
	case 0x33:
		return StreamVideo, "vvc"
	case 0x81:
		return StreamAudio, "ac3"
	case 0x87:
		return StreamAudio, "eac3"
	case 0x15:
		return StreamData, "timed_id3"
	case 0x86:
		return StreamData, "scte_35"
	case 0x06:
		for i := 0; i+2 <= len(desc); i += 2 + int(desc[i+1]) {
			tag, body := desc[i], desc[i+2:min(len(desc), i+2+int(desc[i+1]))]
			switch tag {
			case 0x6a:
				return StreamAudio, "ac3"
			case 0x7a:
				return StreamAudio, "eac3"
			case 0x59:
				return StreamSubtitle, "dvb_subtitle"
			case 0x56:
				return StreamSubtitle, "dvb_teletext"
			case 0x05:
				switch string(body) {
				case "Opus":
					return StreamAudio, "opus"
				case "AC-3":
					return StreamAudio, "ac3"
				case "EAC3":
					return StreamAudio, "eac3"
				case "KLVA":
					return StreamData, "klv"
				}
			}
		}
		return StreamData, ""
	}
	return StreamData, ""
}

// pesPTS returns the presentation time stamp of a PES packet's header, or -1.
func pesPTS(p []byte) int64 {
	if len(p) < 14 || p[0] != 0 || p[1] != 0 || p[2] != 1 {
		return -1
	}
	if p[7]&0x80 == 0 {
		return -1
	}
	b := p[9:14]
	return int64(b[0]>>1&0x07)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
}
