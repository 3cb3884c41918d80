//go:build unix

package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/resume"
	"github.com/vidup/vidup/internal/transfer"
)

// fakeRun is a resume.Run of function fields.
type fakeRun struct {
	claim  func(it *asset.Item, force bool) (resume.Claim, error)
	err    error
	closed bool
}

func (f *fakeRun) Claim(it *asset.Item, force bool) (resume.Claim, error) { return f.claim(it, force) }
func (f *fakeRun) Hooks() transfer.Hooks                                  { return transfer.NopHooks{} }
func (f *fakeRun) Err() error                                             { return f.err }
func (f *fakeRun) Close() error                                           { f.closed = true; return nil }

// vidup upload asks the resume module about every file before the API, and
// says what the module's facts mean with the command line's words.
func TestUploadSaysWhatItsClaimsMean(t *testing.T) {
	dir := t.TempDir()
	done := writeTemp(t, dir, "done.mp4", 100)
	held := writeTemp(t, dir, "held.mp4", 100)
	broken := writeTemp(t, dir, "broken.mp4", 100)
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local)
	var forced []bool
	fake := &fakeRun{
		claim: func(it *asset.Item, force bool) (resume.Claim, error) {
			forced = append(forced, force)
			switch it.Name {
			case "done.mp4":
				return resume.Claim{Skip: &resume.Skip{VideoID: "v7", RegisteredAt: at}, Release: func() {}}, nil
			case "held.mp4":
				return resume.Claim{Skip: &resume.Skip{Busy: true}, Release: func() {}}, nil
			}
			return resume.Claim{Release: func() {}}, &journal.EntryError{ID: "d1", Path: "/s/d1.json", Problem: journal.EntryDamaged, Err: errors.New("bad JSON")}
		},
		err: &journal.EntryError{ID: "x1", Problem: journal.EntryMissing, Err: journal.ErrNotFound},
	}
	env := map[string]string{"VIDUP_API_URL": noAPI(t), "VIDUP_API_TOKEN": "tok"}
	var runErr error
	_, _, stderr := runUploadCmd(t, env, func(o *UploadOptions) {
		o.openRun = func(string) (resume.Run, error) { return fake, nil }
		runErr = runUpload(context.Background(), o)
	}, "upload", "--progress", "plain", done, held, broken)

	if code := exitCode(runErr); code != ExitFailed {
		t.Errorf("exit code %d (%v), want %d: a file failed", code, runErr, ExitFailed)
	}
	for _, want := range []string{
		"already uploaded and registered as video v7 on 2024-05-01; --force uploads it again",
		"another vidup run is uploading it now",
		broken + ": journal: upload d1: /s/d1.json is damaged (bad JSON); remove it with `vidup uploads abort d1`",
		"could not record everything (a later run uploads those files again): journal: upload x1: no such upload in the journal; list the uploads with `vidup uploads`",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if len(forced) != 3 || forced[0] {
		t.Errorf("claims %v, want 3 without --force", forced)
	}
	if !fake.closed {
		t.Error("the run did not close the resume module")
	}
}
