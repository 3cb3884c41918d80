package cli

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/resume"
)

func TestResumeAdvice(t *testing.T) {
	damaged := &journal.EntryError{ID: "d1", Path: "/s/uploads/d1.json", Problem: journal.EntryDamaged, Err: errors.New("unexpected end of JSON input")}
	missing := &journal.EntryError{ID: "x2", Problem: journal.EntryMissing, Err: journal.ErrNotFound}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{journal.ErrNoStateDir, "no state folder; set --state-dir or VIDUP_STATE_DIR (or HOME, for the default)"},
		{&journal.FolderError{Dir: "/s", Problem: journal.FolderUnusable, Create: true, Err: errors.New("permission denied")},
			"create the state folder /s: permission denied; set --state-dir or VIDUP_STATE_DIR to a folder you can write"},
		{&journal.FolderError{Dir: "/s", Problem: journal.FolderNotAFolder}, "state folder /s is not a folder; set --state-dir or VIDUP_STATE_DIR to a folder"},
		{&journal.FolderError{Dir: "/s", Problem: journal.FolderOtherOwner, UID: 7}, "state folder /s belongs to another user (uid 7); set --state-dir or VIDUP_STATE_DIR to a folder of yours"},
		{&journal.FolderError{Dir: "/s", Problem: journal.FolderOpen, Mode: 0o755}, "state folder /s has mode 0755, open to other users; make it private with: chmod 700 /s"},
		{missing, "journal: upload x2: no such upload in the journal; list the uploads with `vidup uploads`"},
		{damaged, "journal: upload d1: /s/uploads/d1.json is damaged (unexpected end of JSON input); remove it with `vidup uploads abort d1`"},
		{&journal.EntryError{ID: "n1", Path: "/s/uploads/n1.json", Problem: journal.EntryMisnamed, Names: "n2"}, `journal: upload n1: /s/uploads/n1.json names upload "n2"; remove it with ` + "`vidup uploads abort n1`"},
		{&journal.EntryError{ID: "f1", Problem: journal.EntryOtherFormat, Format: 2}, "journal: upload f1 was written by another version of vidup (format 2, this one reads 1); use that version to resume or abort it"},
		{&resume.NotResumableError{ID: "s1", Name: "clip.mp4"}, "upload s1 of clip.mp4 came from standard input and cannot be resumed; abort it with `vidup uploads abort s1`"},
		{&resume.NotResumableError{ID: "g1", Name: "a.mp4", Path: "/in/a.mp4", Err: errors.New("/in/a.mp4: no such file")}, "upload g1 cannot be resumed: /in/a.mp4: no such file; abort it with `vidup uploads abort g1`"},
		{fmt.Errorf("lock: %w", resume.ErrBusy), "lock: another vidup run is uploading it now; stop that run first"},
		{&resume.AbortError{Err: errors.New("abort s3://b/k: access denied")}, "abort s3://b/k: access denied; the entry is kept; try again later"},
		{errors.Join(damaged, missing), "journal: upload d1: /s/uploads/d1.json is damaged (unexpected end of JSON input); remove it with `vidup uploads abort d1`\n" +
			"journal: upload x2: no such upload in the journal; list the uploads with `vidup uploads`"},
		{errors.New("other"), "other"},
	} {
		got := withAdvice(tc.err)
		if got.Error() != tc.want {
			t.Errorf("withAdvice(%v)\n got %q\nwant %q", tc.err, got, tc.want)
		}
		wrapped := []error{tc.err}
		if j, ok := tc.err.(interface{ Unwrap() []error }); ok {
			wrapped = j.Unwrap() // advised one by one, joined again
		}
		for _, w := range wrapped {
			if !errors.Is(got, w) {
				t.Errorf("withAdvice(%v) does not wrap %v", tc.err, w)
			}
		}
	}
	if !errors.Is(withAdvice(missing), journal.ErrNotFound) {
		t.Error("the advice hides journal.ErrNotFound")
	}

	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local)
	if got := claimSkipReason(&resume.Skip{VideoID: "v1", RegisteredAt: at}); got != "already uploaded and registered as video v1 on 2024-05-01; --force uploads it again" {
		t.Errorf("skip of a registered file: %q", got)
	}
	if got := claimSkipReason(&resume.Skip{Busy: true}); got != "another vidup run is uploading it now" {
		t.Errorf("skip of a busy file: %q", got)
	}
}
