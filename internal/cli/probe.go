package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/media"
)

// ProbeOptions are the settings of vidup probe.
type ProbeOptions struct {
	IO     *IOStreams
	Files  []string
	Output string
}

func newCmdProbe(io *IOStreams, runF func(context.Context, *ProbeOptions) error) *cobra.Command {
	opts := &ProbeOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "probe FILE...",
		Short: "Say what a media file holds and whether it is complete, without uploading it",
		Long: `vidup probe reads the container of each file (MP4, MOV, fragmented MP4 and
CMAF, MXF, MPEG-TS, Matroska, WebM, WAV) from its headers and its end, without
reading the whole file, and prints what it found: the container, whether the
file is complete (and why not), its duration, its streams, its start timecode
and the content type vidup would store it with. Nothing is uploaded.

A file that is not recognised as media is not judged. The exit code is 1 when
a file is incomplete, empty or cannot be read.`,
		Example: `  vidup probe clip.mp4
  vidup probe --output json /media/card/*.MXF`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("vidup probe needs at least one file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return usageErrorf("--output %q: use text or json", opts.Output)
			}
			markRan(cmd)
			opts.Files = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProbe(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "what stdout gets: text, or json (one document)")
	return cmd
}

// probeDocument is what vidup probe --output json prints (docs/media.md).
type probeDocument struct {
	Files []probeResult `json:"files"`
}

type probeResult struct {
	Path        string `json:"path"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
	Recognised  bool   `json:"recognised"`
	// Complete is false for a recognised file that is broken or
	// unfinished, and for an empty file.
	Complete   bool                      `json:"complete"`
	Incomplete *contract.MediaIncomplete `json:"incomplete,omitempty"`
	Media      *contract.Media           `json:"media,omitempty"`
	Error      string                    `json:"error,omitempty"`
}

func runProbe(ctx context.Context, o *ProbeOptions) error {
	doc := probeDocument{Files: []probeResult{}}
	failed := 0
	for _, path := range o.Files {
		if err := ctx.Err(); err != nil {
			return errInterrupted
		}
		res := probeOne(path)
		if res.Error != "" || !res.Complete {
			failed++
		}
		doc.Files = append(doc.Files, res)
		if o.Output == "text" {
			writeProbeText(o.IO.Out, o.IO.ErrOut, res)
		}
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: ExitFailed, err: fmt.Errorf("%d of %d files incomplete or unreadable", failed, len(o.Files)), silent: true}
	}
	return nil
}

func probeOne(path string) probeResult {
	res := probeResult{Path: path}
	f, err := os.Open(path)
	if err != nil {
		res.Error = describeOpenError(err)
		return res
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if st.IsDir() {
		res.Error = "is a folder; name the files to probe"
		return res
	}
	res.Size = st.Size()
	info, err := media.Probe(f, st.Size(), path)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.ContentType = info.ContentType
	res.Recognised = info.Recognised
	res.Complete = info.Complete
	if info.Incomplete != nil {
		res.Incomplete = &contract.MediaIncomplete{Reason: string(info.Incomplete.Reason), Detail: info.Incomplete.Detail}
	}
	res.Media = info.Media()
	return res
}

func describeOpenError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// writeProbeText prints one file: a line of facts, then one line a stream.
func writeProbeText(out, errOut io.Writer, r probeResult) {
	if r.Error != "" {
		fmt.Fprintf(errOut, "vidup: %s: %s\n", r.Path, r.Error)
		return
	}
	m := r.Media
	var facts []string
	switch {
	case r.Incomplete != nil && r.Incomplete.Reason == string(media.ReasonEmpty):
		fmt.Fprintf(out, "%s: empty file\n", r.Path)
		return
	case m == nil:
		fmt.Fprintf(out, "%s: not recognised as media (not checked), %s\n", r.Path, r.ContentType)
		return
	case r.Complete:
		facts = append(facts, m.Container, "complete")
	default:
		facts = append(facts, m.Container, "INCOMPLETE ("+r.Incomplete.Reason+")")
	}
	if m.DurationS > 0 {
		facts = append(facts, formatDuration(m.DurationS))
	}
	if m.Fragmented {
		facts = append(facts, "fragmented")
	}
	if m.FastStart && !m.Fragmented {
		facts = append(facts, "faststart")
	}
	if m.StartTimecode != "" {
		facts = append(facts, "timecode "+m.StartTimecode)
	}
	facts = append(facts, r.ContentType)
	fmt.Fprintf(out, "%s: %s\n", r.Path, strings.Join(facts, ", "))
	if r.Incomplete != nil {
		fmt.Fprintf(out, "  %s\n", r.Incomplete.Detail)
	}
	for _, s := range m.Streams {
		fmt.Fprintf(out, "  %s\n", describeStream(s))
	}
}

func formatDuration(s float64) string {
	total := int64(s * 1000)
	h, rem := total/3600000, total%3600000
	return fmt.Sprintf("%02d:%02d:%02d.%03d", h, rem/60000, rem%60000/1000, rem%1000)
}

func describeStream(s contract.MediaStream) string {
	parts := []string{s.Type}
	codec := s.Codec
	if codec == "" {
		codec = "unknown codec"
	}
	if s.Profile != "" {
		codec += " (" + s.Profile + ")"
	}
	parts = append(parts, codec)
	if s.Width > 0 && s.Height > 0 {
		parts = append(parts, fmt.Sprintf("%dx%d", s.Width, s.Height))
	}
	if s.FPS > 0 {
		parts = append(parts, strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", s.FPS), "0"), ".")+" fps")
	}
	if s.SampleRate > 0 {
		parts = append(parts, fmt.Sprintf("%d Hz", s.SampleRate))
	}
	if s.Channels > 0 {
		parts = append(parts, fmt.Sprintf("%d ch", s.Channels))
	}
	return strings.Join(parts, " ")
}
