package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/progress"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
)

// uploadDocument is what `vidup upload --output json` prints on stdout: one
// document at the end (docs/output.md). Every key is always present, so
// scripts need not test for absence, except path_b64, which appears only
// for paths that are not valid UTF-8.
type uploadDocument struct {
	Files   []uploadFileJSON `json:"files"`
	Summary uploadSummary    `json:"summary"`
}

type uploadFileJSON struct {
	Path string `json:"path"`
	// PathB64 carries the exact bytes of a path JSON cannot hold.
	PathB64 string `json:"path_b64,omitempty"`
	// Status is uploaded, failed or skipped; with --dry-run, would_upload
	// or skipped.
	Status    string             `json:"status"`
	Reason    string             `json:"reason"`
	Key       string             `json:"key"`
	UploadID  string             `json:"upload_id"`
	SessionID string             `json:"session_id"`
	Size      int64              `json:"size"`
	ETag      string             `json:"etag"`
	Checksum  *contract.Checksum `json:"checksum"`
	VideoID   string             `json:"video_id"`
	MovedTo   string             `json:"moved_to"`
	Error     string             `json:"error"`
	// Media is what the probe read of the file's container (the
	// registration's media object, contract v1.1 section 3); null for a
	// file not recognised as media.
	Media *contract.Media `json:"media"`
	// Processing is, with --wait, the video's processing status when the
	// wait ended (contract v1.1 section 5); null without --wait, for a
	// file not registered in this run, or when the API does not report it.
	Processing *processingJSON `json:"processing"`
	// Package, Objects and Entry describe a package (contract v1.1 1b,
	// docs/packages.md): its kind (hls, dash, hls+dash, folder), how many
	// objects it holds, and the key of its entry point. Present for
	// packages only.
	Package string `json:"package,omitempty"`
	Objects int    `json:"objects,omitempty"`
	Entry   string `json:"entry,omitempty"`
}

// processingJSON is a video's processing status as --wait saw it last:
// registered, processing, ready or failed, and the pipeline's error text
// when failed.
type processingJSON struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

// videoStatusEvent is the --output ndjson line of a change of a video's
// processing status under --wait.
func videoStatusEvent(t *waitTarget) any {
	path := t.entry.item.Path
	ev := struct {
		Type    string `json:"type"`
		Time    string `json:"time"`
		Path    string `json:"path"`
		PathB64 string `json:"path_b64,omitempty"`
		VideoID string `json:"video_id"`
		Status  string `json:"status"`
		Error   string `json:"error,omitempty"`
	}{"video_status", time.Now().UTC().Format(time.RFC3339Nano), path, "", t.videoID, t.status, t.err}
	if !utf8.ValidString(path) {
		ev.PathB64 = base64.StdEncoding.EncodeToString([]byte(path))
	}
	return ev
}

// statusWouldUpload is a file's status under --dry-run.
const statusWouldUpload = "would_upload"

type uploadSummary struct {
	Files    int `json:"files"`
	Uploaded int `json:"uploaded"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	// WouldUpload counts the files --dry-run would upload (0 otherwise).
	WouldUpload int `json:"would_upload"`
	// Bytes of the files uploaded in this run (with --dry-run: that would
	// be uploaded).
	Bytes           int64   `json:"bytes"`
	DurationSeconds float64 `json:"duration_seconds"`
	RateBytesPerSec float64 `json:"rate_bytes_per_second"`
}

func newUploadDocument(entries []*runEntry, elapsed time.Duration, dry bool) uploadDocument {
	doc := uploadDocument{Files: make([]uploadFileJSON, 0, len(entries))}
	for _, e := range entries {
		path := e.item.Path
		f := uploadFileJSON{Path: path, MovedTo: e.movedTo, Media: transfer.RegistrationMedia(e.item.Media), Processing: e.processing,
			Package: e.item.Kind, Objects: len(e.item.Objects)}
		if !utf8.ValidString(path) {
			f.PathB64 = base64.StdEncoding.EncodeToString([]byte(path))
		}
		switch {
		case e.skip != "":
			f.Status, f.Reason = string(transfer.StatusSkipped), e.skip
			if dry {
				f.Size = e.item.Size
			}
			doc.Summary.Skipped++
		case e.problem != nil:
			f.Status, f.Error = string(transfer.StatusFailed), errText(e.problem)
			doc.Summary.Failed++
		case dry:
			f.Status = statusWouldUpload
			f.Size = e.item.Size
			if f.Size >= 0 {
				doc.Summary.Bytes += f.Size
			}
			doc.Summary.WouldUpload++
		case e.result != nil:
			r := e.result
			f.Status, f.Key, f.UploadID, f.SessionID = string(r.Status), r.Key, r.UploadID, r.SessionID
			f.Size, f.ETag, f.Checksum, f.VideoID, f.Entry = r.Size, r.ETag, r.Checksum, r.VideoID, r.Entry
			if r.Err != nil {
				f.Error = errText(r.Err)
			}
			switch {
			case r.Status == transfer.StatusUploaded && e.afterErr != nil:
				// Uploaded and registered, but what was asked after it
				// was not done: the run is not a success.
				f.Error = units.Lines(e.afterErr.Error())
				doc.Summary.Uploaded++
				doc.Summary.Failed++
				doc.Summary.Bytes += r.Size
			case r.Status == transfer.StatusUploaded:
				doc.Summary.Uploaded++
				doc.Summary.Bytes += r.Size
			case r.Status == transfer.StatusSkipped:
				doc.Summary.Skipped++
			default:
				doc.Summary.Failed++
			}
		default:
			f.Status, f.Error = string(transfer.StatusFailed), "not uploaded"
			doc.Summary.Failed++
		}
		doc.Files = append(doc.Files, f)
	}
	doc.Summary.Files = len(entries)
	doc.Summary.DurationSeconds = math.Round(elapsed.Seconds()*1000) / 1000
	if s := elapsed.Seconds(); s > 0 && !dry {
		doc.Summary.RateBytesPerSec = math.Round(float64(doc.Summary.Bytes) / s)
	}
	return doc
}

// summaryEvent is the last line of --output ndjson.
func summaryEvent(s uploadSummary) any {
	return struct {
		Type string `json:"type"`
		Time string `json:"time"`
		uploadSummary
	}{"summary", time.Now().UTC().Format(time.RFC3339Nano), s}
}

func writeJSONDocument(w io.Writer, doc uploadDocument) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// writeTextResults prints one line per uploaded file on stdout: the data a
// script may want (path, video id, where it went). Failures and skips go
// to stderr.
func writeTextResults(w io.Writer, doc uploadDocument) {
	for _, f := range doc.Files {
		if f.Status == string(transfer.StatusUploaded) {
			pkg := ""
			if f.Package != "" {
				pkg = fmt.Sprintf("\t%s package of %d %s", f.Package, f.Objects, plural(f.Objects, "object", "objects"))
				if f.Entry != "" {
					pkg += ", entry " + units.Text(f.Entry)
				}
			}
			fmt.Fprintf(w, "%s\t%s\tvideo %s\t%s%s\n", f.Status, units.Path(f.Path), units.Text(f.VideoID), units.Text(f.Key), pkg)
		}
	}
}

// writeDryRunText prints what --dry-run found, one file a line:
// "would upload<TAB>path<TAB>size" or "skipped<TAB>path<TAB>reason", then
// the counts.
func writeDryRunText(w io.Writer, doc uploadDocument) {
	for _, f := range doc.Files {
		switch f.Status {
		case statusWouldUpload:
			size := "unknown size"
			if f.Size >= 0 {
				size = units.Bytes(f.Size)
			}
			if f.Media != nil {
				size += "\t" + describeMedia(f.Media)
			}
			fmt.Fprintf(w, "would upload\t%s\t%s\n", units.Path(f.Path), size)
		case string(transfer.StatusSkipped):
			fmt.Fprintf(w, "skipped\t%s\t%s\n", units.Path(f.Path), units.Text(f.Reason))
		default:
			fmt.Fprintf(w, "failed\t%s\t%s\n", units.Path(f.Path), f.Error)
		}
	}
	s := doc.Summary
	fmt.Fprintf(w, "%d would upload (%s), %d skipped, %d failed; nothing was sent (--dry-run)\n", s.WouldUpload, units.Bytes(s.Bytes), s.Skipped, s.Failed)
}

func (s uploadSummary) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %d uploaded", s.Files, plural(s.Files, "file", "files"), s.Uploaded)
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", s.Skipped)
	}
	if s.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", s.Failed)
	}
	fmt.Fprintf(&b, "; %s in %s", units.Bytes(s.Bytes), time.Duration(s.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
	if s.RateBytesPerSec > 0 {
		fmt.Fprintf(&b, " (%s/s)", units.Bytes(int64(s.RateBytesPerSec)))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// newUploadObserver picks the display from --progress and --quiet: a bar
// redrawn in place only when stderr is a terminal, else a plain line every
// few seconds (never a carriage return in a log).
func newUploadObserver(o *UploadOptions) progress.Renderer {
	return progress.New(uploadDisplayMode(o), o.IO.ErrOut, o.IO.StderrTTY)
}

// uploadDisplayMode is the progress display of a run: none when quiet, plain
// lines instead of a bar when stderr is not a terminal.
func uploadDisplayMode(o *UploadOptions) progress.Mode {
	mode := progress.Mode(o.Progress)
	if o.Quiet {
		mode = progress.ModeNone
	}
	if mode == progress.ModeBar && !o.IO.StderrTTY {
		mode = progress.ModePlain
	}
	return mode
}

// describeMedia is a media object in a few words, for --dry-run:
// "mp4, 00:00:02.000, complete" or "mxf, INCOMPLETE (not_finalised)".
func describeMedia(m *contract.Media) string {
	facts := []string{m.Container}
	if m.DurationS > 0 {
		facts = append(facts, formatDuration(m.DurationS))
	}
	switch {
	case m.Complete:
		facts = append(facts, "complete")
	case m.Incomplete != nil:
		facts = append(facts, "INCOMPLETE ("+m.Incomplete.Reason+")")
	default:
		facts = append(facts, "INCOMPLETE")
	}
	return strings.Join(facts, ", ")
}
