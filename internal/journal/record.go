package journal

import (
	"encoding/hex"
	"fmt"
	"hash/crc32"
)

// The journal's append-only logs (parts logs, run logs, package object
// logs) share one line format: "<crc32c of json, 8 hex digits> <json>\n".
// A line torn by a crash or damaged on disk fails its checksum and is
// skipped by the reader.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends js framed as one line of a log.
func appendRecord(buf, js []byte) []byte {
	buf = fmt.Appendf(buf, "%08x ", crc32.Checksum(js, castagnoli))
	buf = append(buf, js...)
	return append(buf, '\n')
}

// recordJSON returns the JSON of one line (without its newline) whose
// checksum holds; ok is false for a damaged line.
func recordJSON(line []byte) (js []byte, ok bool) {
	if len(line) < 10 || line[8] != ' ' {
		return nil, false
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return nil, false
	}
	js = line[9:]
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if crc32.Checksum(js, castagnoli) != want {
		return nil, false
	}
	return js, true
}
