package cli

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wavFile is a mono 16-bit 48 kHz WAV of n samples, cut to keep bytes when
// keep > 0.
func wavFile(t *testing.T, dir, name string, n, keep int) string {
	t.Helper()
	data := n * 2
	b := make([]byte, 44+data)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 48000)
	binary.LittleEndian.PutUint32(b[28:], 96000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(data))
	if keep > 0 {
		b = b[:keep]
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProbeCommand(t *testing.T) {
	dir := t.TempDir()
	good := wavFile(t, dir, "tone.wav", 96000, 0)
	cut := wavFile(t, dir, "cut.wav", 96000, 1000)
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("scene 4, take 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mp4")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := run(t, nil, "probe", good, notes)
	if code != ExitOK || errOut != "" {
		t.Fatalf("probe of a complete file and a text file: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		good + ": wav, complete, 00:00:02.000, audio/wav\n",
		"  audio pcm_s16le 48000 Hz 1 ch\n",
		notes + ": not recognised as media (not checked), text/plain; charset=utf-8\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = run(t, nil, "probe", good, cut)
	if code != ExitFailed || !strings.Contains(out, cut+": wav, INCOMPLETE (truncated)") || !strings.Contains(out, "cut short") {
		t.Errorf("probe of a cut file: exit %d, stdout:\n%s", code, out)
	}
	if code, out, _ = run(t, nil, "probe", empty); code != ExitFailed || !strings.Contains(out, "empty file") {
		t.Errorf("probe of an empty file: exit %d, stdout %q", code, out)
	}
	code, _, errOut = run(t, nil, "probe", filepath.Join(dir, "missing.mov"), good)
	if code != ExitFailed || !strings.Contains(errOut, "missing.mov: no such file") {
		t.Errorf("probe of a missing file: exit %d, stderr %q", code, errOut)
	}
}

func TestProbeCommandJSON(t *testing.T) {
	dir := t.TempDir()
	good := wavFile(t, dir, "tone.wav", 96000, 0)
	cut := wavFile(t, dir, "cut.wav", 96000, 1000)
	code, out, errOut := run(t, nil, "probe", "--output", "json", good, cut)
	if code != ExitFailed || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var doc probeDocument
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if len(doc.Files) != 2 {
		t.Fatalf("%d files in %s", len(doc.Files), out)
	}
	g, c := doc.Files[0], doc.Files[1]
	if !g.Recognised || !g.Complete || g.Media == nil || g.Media.Container != "wav" || g.Media.DurationS != 2 ||
		len(g.Media.Streams) != 1 || g.Media.Streams[0].SampleRate != 48000 || g.ContentType != "audio/wav" {
		t.Errorf("complete file: %+v", g)
	}
	if c.Complete || c.Incomplete == nil || c.Incomplete.Reason != "truncated" || c.Media == nil || c.Media.Complete {
		t.Errorf("cut file: %+v", c)
	}
}

func TestProbeCommandUsage(t *testing.T) {
	if code, _, errOut := run(t, nil, "probe"); code != ExitUsage || !strings.Contains(errOut, "at least one file") {
		t.Errorf("no file: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, nil, "probe", "--output", "yaml", "x.mp4"); code != ExitUsage || !strings.Contains(errOut, "use text or json") {
		t.Errorf("--output yaml: exit %d, stderr %q", code, errOut)
	}
}
