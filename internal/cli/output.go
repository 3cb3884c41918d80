package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
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
	// Status is uploaded, failed, interrupted or skipped; with --dry-run,
	// would_upload or skipped.
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
	// Interrupted counts the files the run was stopped in (Ctrl-C,
	// SIGTERM); the next run continues them.
	Interrupted int `json:"interrupted"`
	Skipped     int `json:"skipped"`
	// WouldUpload counts the files --dry-run would upload (0 otherwise).
	WouldUpload int `json:"would_upload"`
	// Bytes of the files uploaded in this run (with --dry-run: that would
	// be uploaded).
	Bytes int64 `json:"bytes"`
	// BytesSent are the bytes S3 took in this run, of every file, finished
	// or not; BytesResumed those an earlier run had left on S3, which
	// this run did not send again.
	BytesSent       int64   `json:"bytes_sent"`
	BytesResumed    int64   `json:"bytes_resumed"`
	DurationSeconds float64 `json:"duration_seconds"`
	// RateBytesPerSec is BytesSent / DurationSeconds: the rate of this
	// run, never counting bytes an earlier run sent.
	RateBytesPerSec float64 `json:"rate_bytes_per_second"`
}

func newUploadDocument(entries []*runEntry, elapsed time.Duration, dry bool) uploadDocument {
	doc := uploadDocument{Files: make([]uploadFileJSON, 0, len(entries))}
	for _, e := range entries {
		doc.Files = append(doc.Files, fileJSON(e, dry, &doc.Summary))
	}
	doc.Summary.Files = len(entries)
	doc.Summary.DurationSeconds = math.Round(elapsed.Seconds()*1000) / 1000
	return doc
}

// newUploadSummary is the summary of newUploadDocument without its files.
func newUploadSummary(entries []*runEntry, elapsed time.Duration, dry bool) uploadSummary {
	var s uploadSummary
	for _, e := range entries {
		fileJSON(e, dry, &s)
	}
	s.Files = len(entries)
	s.DurationSeconds = math.Round(elapsed.Seconds()*1000) / 1000
	return s
}

// fileJSON is the document's entry of e, which it counts in s.
func fileJSON(e *runEntry, dry bool, s *uploadSummary) uploadFileJSON {
	path := e.item.Path
	f := uploadFileJSON{Path: path, MovedTo: e.movedTo, Media: transfer.RegistrationMedia(e.item.Media), Processing: e.processing,
		Package: e.item.Kind, Objects: len(e.item.Objects)}
	if !utf8.ValidString(path) {
		f.PathB64 = base64.StdEncoding.EncodeToString([]byte(path))
	}
	switch {
	case e.skip != "":
		// A file done before keeps its video id; its size is the
		// file's, as under --dry-run and in the NDJSON event.
		f.Status, f.Reason, f.VideoID, f.Size = string(transfer.StatusSkipped), e.skip, e.skipVideo, e.item.Size
		s.Skipped++
	case e.problem != nil:
		f.Status, f.Error = string(transfer.StatusFailed), errText(e.problem)
		s.Failed++
	case dry:
		f.Status = statusWouldUpload
		f.Size = e.item.Size
		if f.Size >= 0 {
			s.Bytes += f.Size
		}
		s.WouldUpload++
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
			s.Uploaded++
			s.Failed++
			s.Bytes += r.Size
		case r.Status == transfer.StatusUploaded:
			s.Uploaded++
			s.Bytes += r.Size
		case r.Status == transfer.StatusSkipped:
			s.Skipped++
		case r.Status == transfer.StatusInterrupted:
			s.Interrupted++
		default:
			s.Failed++
		}
	default:
		f.Status, f.Error = string(transfer.StatusFailed), "not uploaded"
		s.Failed++
	}
	return f
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

// streamJSONDocument writes what writeJSONDocument writes of
// uploadDocument{files of entries, summary}, byte for byte, one file at a
// time: a run of many files never holds its whole document.
func streamJSONDocument(w io.Writer, entries []*runEntry, summary uploadSummary) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if len(entries) == 0 {
		bw.WriteString("{\n  \"files\": [],\n  \"summary\": ")
	} else {
		bw.WriteString("{\n  \"files\": [\n")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("    ", "  ")
	enc.SetEscapeHTML(false)
	var ignored uploadSummary
	for i, e := range entries {
		buf.Reset()
		buf.WriteString("    ")
		if err := enc.Encode(fileJSON(e, false, &ignored)); err != nil {
			return err
		}
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		bw.Write(b)
		if i < len(entries)-1 {
			bw.WriteString(",\n")
		} else {
			bw.WriteString("\n  ],\n  \"summary\": ")
		}
	}
	buf.Reset()
	enc.SetIndent("  ", "  ")
	if err := enc.Encode(summary); err != nil {
		return err
	}
	bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	bw.WriteString("\n}\n")
	return bw.Flush()
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

// line is the run's one summary line: "3 files: 1 uploaded, 1 skipped,
// 1 interrupted; 768 MiB sent in 12.3s (62 MiB/s); resumed: 512 MiB
// already on S3". The bytes are those sent in this run, finished files or
// not, so the line never says less than the progress showed.
func (s uploadSummary) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %d uploaded", s.Files, plural(s.Files, "file", "files"), s.Uploaded)
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", s.Skipped)
	}
	if s.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", s.Failed)
	}
	if s.Interrupted > 0 {
		fmt.Fprintf(&b, ", %d interrupted", s.Interrupted)
	}
	fmt.Fprintf(&b, "; %s sent in %s", units.Bytes(s.BytesSent), time.Duration(s.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
	if s.RateBytesPerSec > 0 {
		fmt.Fprintf(&b, " (%s/s)", units.Bytes(int64(s.RateBytesPerSec)))
	}
	if s.BytesResumed > 0 {
		fmt.Fprintf(&b, "; resumed: %s already on S3", units.Bytes(s.BytesResumed))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// uploadDisplayMode is the progress display of a run, from --progress and
// --quiet: none when quiet, a bar redrawn in place only when stderr is a
// terminal, else a plain line every few seconds (never a carriage return
// in a log).
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

// runOutput sends the run's events to the progress display (stderr) and,
// with --output ndjson, to stdout: the plan the command emits, then the
// engine's. With --output text, each file's result line reaches stdout as
// the file ends, above the bar when there is one. It counts the bytes sent
// in this run apart from those an earlier run left on S3, for the summary.
type runOutput struct {
	o       *UploadOptions
	display progress.Renderer
	ndjson  *progress.NDJSON
	// sent are the bytes S3 acknowledged in this run (rollbacks
	// included); kept those an earlier run left there.
	sent, kept atomic.Int64
	// attempts is the most attempts of one call (n of m in retry lines).
	attempts int
	// stopInterrupt ends the watch of the run's context.
	stopInterrupt func()
}

func newRunOutput(o *UploadOptions) *runOutput {
	var opts []progress.Option
	// The one summary of the run is finish's.
	opts = append(opts, progress.WithoutFinalLine())
	if o.Output == "text" && o.IO.StdoutTTY {
		// The stdout result line says it on the same terminal.
		opts = append(opts, progress.WithoutResultLines())
	}
	r := &runOutput{o: o, display: progress.New(uploadDisplayMode(o), o.IO.ErrOut, o.IO.StderrTTY, opts...),
		attempts: o.RetryOptions.policy().Retries + 1}
	if o.Output == "ndjson" {
		r.ndjson = progress.NewNDJSON(o.IO.Out).(*progress.NDJSON)
	}
	return r
}

func (r *runOutput) emit(e transfer.Event) {
	e = adviseEvent(e)
	if e.Kind == transfer.KeptOnS3 {
		r.kept.Add(e.Bytes)
	}
	r.display.Event(e)
	if r.ndjson != nil {
		r.ndjson.Event(e)
	}
	if r.o.Output == "text" {
		if line := textResult(e); line != "" {
			r.println(r.o.IO.Out, line)
		}
	}
}

// println writes line to w, above the bar when there is one.
func (r *runOutput) println(w io.Writer, line string) {
	if p, ok := r.display.(progress.Printer); ok {
		p.Println(w, line)
		return
	}
	fmt.Fprintln(w, line)
}

// textResult is the stdout line of --output text for an event that ends a
// file: "uploaded<TAB>PATH<TAB>video ID<TAB>KEY" (a package adds
// "<TAB>KIND package of N objects, entry KEY"), or, for a file skipped as
// registered before, "skipped<TAB>PATH<TAB>video ID". Other events have
// none ("").
func textResult(e transfer.Event) string {
	switch {
	case e.Kind == transfer.FileRegistered:
		pkg := ""
		if e.Package != "" {
			pkg = fmt.Sprintf("\t%s package of %d %s", e.Package, e.Objects, plural(e.Objects, "object", "objects"))
			if e.Entry != "" {
				pkg += ", entry " + units.Text(e.Entry)
			}
		}
		return fmt.Sprintf("%s\t%s\tvideo %s\t%s%s", transfer.StatusUploaded, units.Path(e.Path), units.Text(e.VideoID), units.Text(e.Key), pkg)
	case e.Kind == transfer.FileSkipped && e.VideoID != "":
		return fmt.Sprintf("%s\t%s\tvideo %s", transfer.StatusSkipped, units.Path(e.Path), units.Text(e.VideoID))
	}
	return ""
}

// Event implements transfer.Observer.
func (r *runOutput) Event(e transfer.Event) { r.emit(e) }

// Progress implements transfer.Observer.
func (r *runOutput) Progress(path string, delta int64) {
	r.sent.Add(delta)
	r.display.Progress(path, delta)
}

// apiRetried is the API client's retry hook: the wait shows like an S3
// retry (a line in plain mode, the bar's waiting state).
func (r *runOutput) apiRetried(op string, attempt int, err error, wait time.Duration) {
	r.emit(transfer.Event{Kind: transfer.APIRetried, Time: time.Now(), Op: op, Attempt: attempt,
		Attempts: r.attempts, Wait: wait, Reason: apiBrief(err), Err: err})
}

// watchInterrupt says at once, above the bar, that the run was
// interrupted: the ^C the terminal echoed does not stay inside the bar,
// and the user knows why it has not stopped yet.
func (r *runOutput) watchInterrupt(ctx context.Context) {
	said := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(said)
		if r.o.Quiet || !errors.Is(context.Cause(ctx), errInterrupted) {
			return
		}
		r.println(r.o.IO.ErrOut, "vidup: interrupted; parts in flight get a few seconds to finish, S3 keeps what it holds and the next run continues (Ctrl-C again stops at once)")
	})
	var once sync.Once
	r.stopInterrupt = func() {
		once.Do(func() {
			if !stop() {
				// The interrupt came first and its line is being
				// written: it goes out before the bar closes, not lost
				// behind it (a run stopped at once raced it).
				<-said
			}
		})
	}
}

// summary is the run's summary, with the bytes this run sent and those an
// earlier run left on S3; the rate is of the bytes sent.
func (r *runOutput) summary(entries []*runEntry, elapsed time.Duration) uploadSummary {
	s := newUploadSummary(entries, elapsed, false)
	s.BytesSent, s.BytesResumed = max(r.sent.Load(), 0), r.kept.Load()
	s.RateBytesPerSec = 0
	if secs := elapsed.Seconds(); secs > 0 {
		s.RateBytesPerSec = math.Round(float64(s.BytesSent) / secs)
	}
	return s
}

// wait is --wait: it follows the videos this run registered, shows each
// change of state (a plain line on stderr; with --output ndjson, a
// video_status event on stdout too) and records the last state in the
// entries for the JSON document. It returns the exit of the wait.
func (r *runOutput) wait(ctx context.Context, g videoGetter, entries []*runEntry) error {
	o := r.o
	targets := waitTargets(entries)
	if len(targets) == 0 {
		return nil
	}
	poll := defaultWaitPoll
	if o.waitPoll != nil {
		poll = *o.waitPoll
	}
	if !o.Quiet {
		fmt.Fprintf(o.IO.ErrOut, "vidup: waiting up to %s for %d %s to be processed\n", o.WaitTimeout, len(targets), plural(len(targets), "video", "videos"))
	}
	show := func(t *waitTarget) {
		t.entry.processing = &processingJSON{Status: t.status, Error: t.err}
		if !o.Quiet || t.status == contract.StatusFailed {
			fmt.Fprintln(o.IO.ErrOut, waitLine(t))
		}
		if r.ndjson != nil {
			r.ndjson.WriteSummary(videoStatusEvent(t))
		}
	}
	res, err := waitForVideos(ctx, g, targets, o.WaitTimeout, poll, show)
	if err != nil {
		return err
	}
	if res.unreported {
		for _, t := range targets {
			t.entry.processing = nil
		}
		if !o.Quiet {
			fmt.Fprintln(o.IO.ErrOut, "vidup: the API does not report processing status (contract v1.1 section 5); the upload is done, --wait has nothing to wait for")
		}
		return nil
	}
	return waitError(res, o.WaitTimeout)
}

func (r *runOutput) close() {
	if r.stopInterrupt != nil {
		r.stopInterrupt()
	}
	r.display.Close()
	if r.ndjson != nil {
		r.ndjson.Close()
	}
}

// finish writes what comes after the run: the document or the summary
// event on stdout, failures and the summary line on stderr.
func (r *runOutput) finish(entries []*runEntry, summary uploadSummary) error {
	o := r.o
	switch o.Output {
	case "json":
		if err := streamJSONDocument(o.IO.Out, entries, summary); err != nil {
			return err
		}
	case "ndjson":
		if err := r.ndjson.WriteSummary(summaryEvent(summary)); err != nil {
			return err
		}
	}
	// Text result lines went out as each file ended (emit).
	// Every display but none has shown the engine's failures as they
	// happened; what failed after the upload (--move-to) it has not.
	shown := uploadDisplayMode(o) != progress.ModeNone
	var ignored uploadSummary
	for _, e := range entries {
		f := fileJSON(e, false, &ignored)
		if f.Error == "" || shown && (f.Status == string(transfer.StatusFailed) || f.Status == string(transfer.StatusInterrupted)) {
			continue
		}
		// The engine's errors are about the file the path names; a
		// problem found while expanding the arguments (or after the
		// upload) is a sentence that names it already.
		if e.result != nil && e.result.Err != nil || e.refused {
			fmt.Fprintf(o.IO.ErrOut, "vidup: %s: %s\n", units.Path(e.item.Path), f.Error)
		} else {
			fmt.Fprintf(o.IO.ErrOut, "vidup: %s\n", f.Error)
		}
	}
	if !o.Quiet {
		fmt.Fprintf(o.IO.ErrOut, "vidup: %s\n", summary.line())
	}
	return nil
}
