// Package media reads a file's container structure from its headers and its
// tail, never the whole file, and says what the file is (container, duration,
// streams, start timecode), whether it is complete, and what content type it
// should be stored with.
//
// The probe seeks: a 2 GiB MP4 whose moov box sits at the end is probed by
// reading its box headers and its moov, a few KiB. MXF, MPEG-TS, Matroska and
// WAV are checked by small readers of their own (partition packs and random
// index pack, packet framing, EBML element sizes, RIFF chunk sizes).
//
// ISO BMFF (MP4, MOV, fragmented MP4 and CMAF) boxes are decoded with
// github.com/abema/go-mp4. It was chosen over github.com/Eyevinn/mp4ff
// because it understands QuickTime sample descriptions: mp4ff v0.50.0 refuses
// the moov of an ordinary MOV with AAC audio (a version 1 sound description,
// as ffmpeg and cameras write it), which is exactly the file this package must
// read. go-mp4 also walks boxes over an io.ReadSeeker and reads a payload only
// when asked, so the probe decodes the few boxes it needs and skips the rest;
// its only dependency outside the standard library is github.com/google/uuid.
//
// A file the probe does not recognise is not judged: Recognised is false,
// Complete is true. The package names no command-line flag: callers turn an
// Incomplete into advice.
package media

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/vidup/vidup/internal/contract"
)

// Containers the probe recognises.
const (
	ContainerMP4      = "mp4"
	ContainerMOV      = "mov"
	ContainerMXF      = "mxf"
	ContainerMPEGTS   = "mpegts"
	ContainerMatroska = "matroska"
	ContainerWebM     = "webm"
	ContainerWAV      = "wav"
)

// Stream types.
const (
	StreamVideo    = "video"
	StreamAudio    = "audio"
	StreamSubtitle = "subtitle"
	StreamData     = "data"
)

// Info is what the probe learned of one file.
type Info struct {
	// Container is one of the Container constants, or "" when the file is
	// not recognised as media.
	Container string
	// Recognised is true when the probe knows the container and judged it.
	Recognised bool
	// Complete is false only when the container is known to be broken or
	// unfinished; Incomplete then says why. A file that is not recognised
	// is not judged: Complete is true.
	Complete   bool
	Incomplete *Incomplete
	// Fragmented is true for fragmented MP4 and CMAF (moof boxes).
	Fragmented bool
	// FastStart is true for an MP4 or MOV whose moov box comes before its
	// media data, so that players can start before the download ends.
	FastStart bool
	// Duration is zero when the container does not say.
	Duration      time.Duration
	Streams       []Stream
	StartTimecode string // HH:MM:SS:FF, or HH:MM:SS;FF for drop frame
	ContentType   string
	// BytesRead is how much of the file the probe read.
	BytesRead int64
}

// Stream is one track of a file. Codec names follow ffprobe's (h264, hevc,
// aac, pcm_s16le, ...).
type Stream struct {
	Type       string
	Codec      string
	Profile    string
	Width      int
	Height     int
	FPS        float64
	SampleRate int
	Channels   int
}

// Reason classifies why a file is incomplete.
type Reason string

// Reasons a container is incomplete.
const (
	// ReasonEmpty: the file has no bytes.
	ReasonEmpty Reason = "empty"
	// ReasonTruncated: the file ends before its structure says it should
	// (a copy cut short, a full card).
	ReasonTruncated Reason = "truncated"
	// ReasonNotFinalised: the recorder never wrote the parts it writes when
	// it closes the file (an MP4 moov box, an MXF footer).
	ReasonNotFinalised Reason = "not_finalised"
	// ReasonStillWriting: the file says it is still being written (an MP4
	// mdat box of size 0, an MXF header partition left open, a Matroska
	// segment of unknown size).
	ReasonStillWriting Reason = "still_writing"
	// ReasonCorrupt: the structure is damaged in a way no recorder writes.
	ReasonCorrupt Reason = "corrupt"
)

// Incomplete says why a file is not complete, in a sentence a camera
// operator understands. It is also an error, so a gate can return it.
type Incomplete struct {
	Reason Reason
	Detail string
}

func (e *Incomplete) Error() string { return e.Detail }

// Is matches another *Incomplete by reason, so errors.Is(err,
// &media.Incomplete{Reason: media.ReasonTruncated}) works.
func (e *Incomplete) Is(target error) bool {
	var t *Incomplete
	return errors.As(target, &t) && t.Reason == e.Reason && t.Detail == ""
}

func incompletef(r Reason, format string, a ...any) *Incomplete {
	return &Incomplete{Reason: r, Detail: fmt.Sprintf(format, a...)}
}

// headSize is how much of the file's start every probe reads to recognise it.
const headSize = 4096

// Probe reads the structure of a file of the given size through r, an
// already-open handle, and reports what it found. name is used only for the
// content type. The error is an I/O error; a broken container is not an
// error but an Info with Complete false.
func Probe(r io.ReaderAt, size int64, name string) (*Info, error) {
	cr := &countingReader{r: r, size: size}
	info, err := probe(cr, size, name)
	if info != nil {
		info.BytesRead = cr.n
	}
	return info, err
}

func probe(r *countingReader, size int64, name string) (*Info, error) {
	if size == 0 {
		return &Info{
			Incomplete:  &Incomplete{Reason: ReasonEmpty, Detail: "the file is empty"},
			ContentType: ContentType(name, nil),
		}, nil
	}
	head := make([]byte, min(size, headSize))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the file's first bytes: %w", err)
	}
	var (
		info *Info
		err  error
	)
	switch sniff(head) {
	case familyISOBMFF:
		info, err = probeISOBMFF(r, size, head)
	case familyMXF:
		info, err = probeMXF(r, size, head)
	case familyMPEGTS:
		info, err = probeMPEGTS(r, size, head)
	case familyEBML:
		info, err = probeMatroska(r, size)
	case familyWAV:
		info, err = probeWAV(r, size, head)
	default:
		info = &Info{}
	}
	if err != nil {
		return nil, err
	}
	if info.Recognised {
		info.Complete = info.Incomplete == nil
	} else {
		info.Complete, info.Incomplete = true, nil
	}
	info.ContentType = ContentType(name, head)
	if info.ContentType == "video/mp4" && info.Recognised && audioOnly(info.Streams) {
		info.ContentType = "audio/mp4"
	}
	return info, nil
}

func audioOnly(ss []Stream) bool {
	if len(ss) == 0 {
		return false
	}
	for _, s := range ss {
		if s.Type == StreamVideo {
			return false
		}
	}
	return true
}

// countingReader counts the bytes read, and turns a short read inside the
// file into io.ErrUnexpectedEOF so that format readers need not check n.
type countingReader struct {
	r    io.ReaderAt
	size int64
	n    int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}

// readAt reads exactly len(p) bytes at off; reading past the end of the file
// is io.ErrUnexpectedEOF.
func (c *countingReader) readAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > c.size {
		return io.ErrUnexpectedEOF
	}
	n, err := c.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// ioError reports whether err is a failure to read rather than the end of
// the file: the former is returned, the latter is a format problem.
func ioError(err error) bool {
	return err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)
}

// seconds converts a count of units at a rate to a duration.
func seconds(units, perSecond float64) time.Duration {
	if perSecond <= 0 {
		return 0
	}
	return time.Duration(units / perSecond * float64(time.Second))
}

// byteCount writes a size for people: 512 bytes, 3.2 MB, 1.5 GB.
func byteCount(n int64) string {
	const unit = 1000
	if n < unit {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// Media returns the registration's media object (contract v1.1 section 3),
// or nil for a file that is not recognised as media.
func (i *Info) Media() *contract.Media {
	if i == nil || !i.Recognised {
		return nil
	}
	m := &contract.Media{
		Container:     i.Container,
		DurationS:     math.Round(i.Duration.Seconds()*1000) / 1000,
		Complete:      i.Complete,
		Fragmented:    i.Fragmented,
		FastStart:     i.FastStart,
		StartTimecode: i.StartTimecode,
	}
	if i.Incomplete != nil {
		m.Incomplete = &contract.MediaIncomplete{Reason: string(i.Incomplete.Reason), Detail: i.Incomplete.Detail}
	}
	for _, s := range i.Streams {
		m.Streams = append(m.Streams, contract.MediaStream(s))
	}
	return m
}
