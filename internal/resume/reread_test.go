package resume_test

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vidup/vidup/internal/journal"
)

// A file edited in place, keeping its size and modification time (and the
// ranges the identity samples), is caught when the upload resumes: every
// kept part is read again and compared with its recorded checksum, the
// part that changed is sent again, and the object is the file as it is
// now, never a "verified" mix of old and new.
func TestResumedPartsAreCheckedAgainstTheFile(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, "clip.mp4")
	writeFile(t, path, 6*partSize+11, 12)
	e.interrupt(path, 3)
	kept := map[int]bool{}
	for _, p := range e.entries()[0].Parts {
		kept[int(p.Number)] = true
	}
	edited := 0
	for n := 1; n <= 6; n++ {
		if kept[n] {
			edited = n
			break
		}
	}
	if edited == 0 {
		t.Fatalf("no part kept: %+v", e.entries()[0].Parts)
	}

	before, err := journal.IdentityOf(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Inside a kept part, away from the ranges the identity samples.
	off := int64(edited-1)*partSize + partSize/3 + 4321
	if _, err := f.WriteAt([]byte("EDITED IN PLACE"), off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := journal.IdentityOf(path)
	if err != nil {
		t.Fatal(err)
	}
	if !before.Same(after) {
		t.Fatalf("the edit changed the identity (%+v, %+v): the test needs an edit it does not see", before, after)
	}
	want := fileSHA(t, path)

	e.proxy.ResetStats()
	res, _ := e.run(context.Background(), path, nil)
	if res.Err != nil {
		t.Fatalf("resumed run: %v", res.Err)
	}
	if got := e.objectSHA(res.Key); got != want {
		t.Fatalf("the object is not the file as it is now (checksum reported %+v)", res.Checksum)
	}
	attempts := e.proxy.Stats().PartAttempts()
	if attempts[edited] != 1 {
		t.Errorf("edited part %d sent %d times by the resumed run, want once (all: %v)", edited, attempts[edited], attempts)
	}
	for n := range kept {
		if n != edited && attempts[n] != 0 {
			t.Errorf("unchanged kept part %d sent again", n)
		}
	}
}

func fileSHA(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	h := sha256.New()
	if _, err := io.CopyN(h, f, fi.Size()); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}
