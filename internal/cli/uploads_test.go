package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/journal"
)

// leaveUnfinished starts vidup upload and kills it once `parts` parts are
// recorded, with the next ones held at the proxy.
func (k *killEnv) leaveUnfinished(t *testing.T, state string, parts int) *journal.Entry {
	t.Helper()
	k.setHold(func(ri *faultproxy.RequestInfo) bool {
		return ri.Kind == faultproxy.KindUploadPart && ri.PartNumber > parts
	})
	defer k.setHold(nil)
	cmd, _, stderr := k.command(state, k.uploadArgs()...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "parts recorded", func() bool { return recordedParts(t, state) >= parts })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	ents := journalEntries(t, state)
	if len(ents) != 1 || ents[0].State != journal.Uploading {
		t.Fatalf("journal of the killed run: %+v (stderr %s)", ents, stderr)
	}
	return ents[0]
}

func TestUploadsListsThenResumesAll(t *testing.T) {
	k := newKillEnv(t, 80<<20)
	state := filepath.Join(t.TempDir(), "state")
	e := k.leaveUnfinished(t, state, 2)

	list, out, errOut := k.command(state, "uploads")
	if code := runExit(t, list); code != 0 {
		t.Fatalf("vidup uploads: exit %d: %s", code, errOut)
	}
	// 2 of 5 parts: 40 %.
	row := regexp.MustCompile(`(?m)^` + e.ID + `\s+uploading\s+40\.0%\s+80 ?MiB\s+\d+s\s+` + regexp.QuoteMeta(e.Source.Path) + `$`)
	if !row.MatchString(out.String()) {
		t.Errorf("vidup uploads does not list the entry as expected:\n%s", out)
	}

	resume, out, errOut := k.command(state, "uploads", "resume", "--progress", "none")
	if code := runExit(t, resume); code != 0 {
		t.Fatalf("vidup uploads resume: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out.String(), e.Key) {
		t.Errorf("resume output does not name the key %s: %s", e.Key, out)
	}
	if regs := k.api.Registrations(); len(regs) != 1 || regs[0].Key != e.Key || regs[0].UploadID != e.UploadID {
		t.Fatalf("registrations after resume: %+v", regs)
	}
	if sent := k.partBytes(); sent > k.size {
		t.Errorf("%d bytes of parts sent for a %d-byte file", sent, k.size)
	}
	if open := k.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("open multipart uploads after resume: %v", open)
	}

	list, _, errOut = k.command(state, "uploads")
	if code := runExit(t, list); code != 0 || !strings.Contains(errOut.String(), "no unfinished uploads") {
		t.Errorf("vidup uploads after resume: exit %d, stderr %q", code, errOut)
	}
	// And the file is done: a new upload run skips it without the API.
	again, out, errOut := k.command(state, k.uploadArgs()...)
	if code := runExit(t, again); code != 0 || !strings.Contains(out.String(), "already uploaded and registered") {
		t.Errorf("upload after resume: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if regs := k.api.Registrations(); len(regs) != 1 {
		t.Errorf("%d registrations after the skipping run, want 1", len(regs))
	}
}

func TestUploadsAbort(t *testing.T) {
	k := newKillEnv(t, 48<<20)
	state := filepath.Join(t.TempDir(), "state")

	// Its usage errors are testdata/script/uploads_abort_usage.txtar's.
	e := k.leaveUnfinished(t, state, 1)
	cmd, _, errOut := k.command(state, "uploads", "abort", "--all", "--older-than", "1h")
	if code := runExit(t, cmd); code != 0 || !strings.Contains(errOut.String(), "no unfinished uploads to abort") {
		t.Errorf("abort --all --older-than 1h of a fresh entry: exit %d, %s", code, errOut)
	}
	if len(journalEntries(t, state)) != 1 || len(k.api.OpenUploads(t)) != 1 {
		t.Fatal("abort --older-than touched an entry younger than the limit")
	}

	cmd, _, errOut = k.command(state, "uploads", "abort", e.ID)
	if code := runExit(t, cmd); code != 0 || !strings.Contains(errOut.String(), "aborted on S3") {
		t.Fatalf("abort %s: exit %d, %s", e.ID, code, errOut)
	}
	if open := k.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads still open after abort: %v", open)
	}
	if ents := journalEntries(t, state); len(ents) != 0 {
		t.Errorf("journal after abort: %+v", ents)
	}

	// A session the API forgot: forgotten locally, left to the lifecycle rule.
	e = k.leaveUnfinished(t, state, 1)
	k.api.ForgetSession(e.SessionID)
	cmd, _, errOut = k.command(state, "uploads", "abort", "--all")
	if code := runExit(t, cmd); code != 0 || !strings.Contains(errOut.String(), "lifecycle rule") {
		t.Fatalf("abort --all with a gone session: exit %d, %s", code, errOut)
	}
	if ents := journalEntries(t, state); len(ents) != 0 {
		t.Errorf("journal after abort of a gone session: %+v", ents)
	}
}
