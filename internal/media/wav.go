package media

import (
	"encoding/binary"
	"fmt"
)

// probeWAV walks the chunks of a RIFF WAVE file (and of RF64/BW64, whose
// sizes above 4 GiB live in a ds64 chunk): the RIFF size must match the
// file's length and the data chunk must be all there.
func probeWAV(r *countingReader, size int64, head []byte) (*Info, error) {
	info := &Info{Recognised: true, Container: ContainerWAV}
	riffSize := int64(binary.LittleEndian.Uint32(head[4:8]))
	rf64 := string(head[:4]) != "RIFF"
	var dataSize64 int64 = -1
	var s Stream
	var format uint16
	var byteRate, bits int
	dataSize := int64(-1)
	var hdr [8]byte
	off := int64(12)
	for chunks := 0; off+8 <= size && chunks < 1000; chunks++ {
		if err := r.readAt(hdr[:], off); err != nil {
			return nil, fmt.Errorf("read a chunk header at byte %d: %w", off, err)
		}
		id, n := string(hdr[:4]), int64(binary.LittleEndian.Uint32(hdr[4:]))
		switch id {
		case "ds64":
			b := make([]byte, min(n, 28))
			if len(b) >= 16 && r.readAt(b, off+8) == nil {
				riffSize = int64(binary.LittleEndian.Uint64(b[0:]))
				dataSize64 = int64(binary.LittleEndian.Uint64(b[8:]))
			}
		case "fmt ":
			b := make([]byte, min(n, 40))
			if len(b) >= 16 {
				if err := r.readAt(b, off+8); err != nil {
					return nil, fmt.Errorf("read the fmt chunk: %w", err)
				}
				format = binary.LittleEndian.Uint16(b[0:])
				s.Channels = int(binary.LittleEndian.Uint16(b[2:]))
				s.SampleRate = int(binary.LittleEndian.Uint32(b[4:]))
				byteRate = int(binary.LittleEndian.Uint32(b[8:]))
				bits = int(binary.LittleEndian.Uint16(b[14:]))
				if format == 0xfffe && len(b) >= 26 { // WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes
					format = binary.LittleEndian.Uint16(b[24:])
				}
			}
		case "data":
			dataSize = n
			if rf64 && n == 0xffffffff && dataSize64 >= 0 {
				dataSize = dataSize64
			}
			n = dataSize
			if n == 0 && off+8 < size || !rf64 && riffSize == 0 {
				info.Incomplete = incompletef(ReasonStillWriting,
					"the WAV header does not give the length of the audio yet: the recorder was still writing the file, or stopped before closing it")
			}
		}
		if info.Incomplete != nil {
			break
		}
		if !boxName(id) {
			info.Incomplete = incompletef(ReasonCorrupt, "the bytes at %d are not a WAV chunk: the file is damaged", off)
			break
		}
		if id == "data" && off+8+n > size {
			info.Incomplete = incompletef(ReasonTruncated,
				"the file ends inside its audio data, %s short of the size its header declares: it was cut short; copy it again from the source", byteCount(off+8+n-size))
			break
		}
		off += 8 + n + n&1
	}
	switch {
	case info.Incomplete != nil:
	case dataSize < 0:
		info.Incomplete = incompletef(ReasonNotFinalised, "the file has no audio data chunk: the recording was not finalised")
	case riffSize+8 > size:
		info.Incomplete = incompletef(ReasonTruncated,
			"the file is %s shorter than its RIFF header declares: it was cut short; copy it again from the source", byteCount(riffSize+8-size))
	}
	s.Type = StreamAudio
	s.Codec = wavCodec(format, bits)
	info.Streams = []Stream{s}
	if byteRate > 0 && dataSize > 0 {
		info.Duration = seconds(float64(dataSize), float64(byteRate))
	}
	return info, nil
}

func wavCodec(format uint16, bits int) string {
	switch format {
	case 1:
		if bits == 8 {
			return "pcm_u8"
		}
		return fmt.Sprintf("pcm_s%dle", bits)
	case 3:
		return fmt.Sprintf("pcm_f%dle", bits)
	case 6:
		return "pcm_alaw"
	case 7:
		return "pcm_mulaw"
	case 0x55:
		return "mp3"
	case 0x2000:
		return "ac3"
	}
	return fmt.Sprintf("wav_format_0x%04x", format)
}
