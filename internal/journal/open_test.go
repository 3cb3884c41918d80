//go:build unix

package journal

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// victim is a file outside the state folder that a planted link points at.
func victim(t *testing.T) (path string, check func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "precious.txt")
	const content = "do not touch\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("the link's target now holds %q (%v), want it untouched", got, err)
		}
	}
}

// A symbolic link or a hard link planted at the lock table is refused, and its
// target is neither truncated nor written.
func TestLockRefusesPlantedLinks(t *testing.T) {
	for _, kind := range []string{"symlink", "hardlink", "fifo"} {
		t.Run(kind, func(t *testing.T) {
			s := openStore(t)
			target, check := victim(t)
			const key = "0123456789abcdef0123456789abcdef"
			lock := filepath.Join(s.locks, lockTableName)
			plant(t, kind, target, lock)
			unlock, ok, err := s.Lock(key)
			if err == nil {
				unlock()
			}
			if !errors.Is(err, ErrUnsafeFile) || ok {
				t.Errorf("Lock over a planted %s: ok %v, err %v; want ErrUnsafeFile", kind, ok, err)
			}
			check()
		})
	}
}

// A symbolic link planted at an upload's parts log is neither appended to
// (AddPart) nor truncated (Create), nor read.
func TestPartsLogRefusesPlantedLinks(t *testing.T) {
	for _, kind := range []string{"symlink", "hardlink"} {
		t.Run(kind, func(t *testing.T) {
			s := openStore(t)
			src, err := IdentityOf(writeSource(t, t.TempDir(), "clip.mp4", 1000))
			if err != nil {
				t.Fatal(err)
			}
			target, check := victim(t)

			// Create over a planted log.
			e := sampleEntry(src)
			e.ID = "aaaaaaaaaaaaaaaa"
			plant(t, kind, target, s.partsPath(e.ID))
			if err := s.Create(e); !errors.Is(err, ErrUnsafeFile) {
				t.Errorf("Create over a planted %s: %v, want ErrUnsafeFile", kind, err)
			}
			check()

			// AddPart to an entry whose log was replaced after Create.
			e2 := sampleEntry(src)
			e2.ID = "bbbbbbbbbbbbbbbb"
			if err := s.Create(e2); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(s.partsPath(e2.ID)); err != nil {
				t.Fatal(err)
			}
			plant(t, kind, target, s.partsPath(e2.ID))
			if err := s.AddPart(e2.ID, testPart(1)); !errors.Is(err, ErrUnsafeFile) {
				t.Errorf("AddPart to a planted %s: %v, want ErrUnsafeFile", kind, err)
			}
			check()
			if _, err := s.Get(e2.ID); !errors.Is(err, ErrUnsafeFile) {
				t.Errorf("Get reads through a planted %s: %v", kind, err)
			}
		})
	}
}

func plant(t *testing.T, kind, target, at string) {
	t.Helper()
	var err error
	switch kind {
	case "symlink":
		err = os.Symlink(target, at)
	case "hardlink":
		err = os.Link(target, at)
	case "fifo":
		err = syscall.Mkfifo(at, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}
