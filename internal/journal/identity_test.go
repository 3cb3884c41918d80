//go:build unix

package journal

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestIdentityOfSeesChanges(t *testing.T) {
	const size = 4 << 20
	inner := int64(size - 2*sampleEdge)
	middleSpot := sampleEdge + inner*3/(sampleSpots+1) // inside the third spot
	cases := []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"size", func(t *testing.T, path string) {
			if err := os.Truncate(path, size-1); err != nil {
				t.Fatal(err)
			}
		}},
		{"mtime", func(t *testing.T, path string) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
		}},
		{"first byte, mtime restored", inPlace(0)},
		{"a middle spot, mtime restored", inPlace(middleSpot)},
		{"last byte, mtime restored", inPlace(size - 1)},
		{"replaced by a copy", func(t *testing.T, path string) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(path)
			tmp := path + ".new"
			if err := os.WriteFile(tmp, data, 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeSource(t, t.TempDir(), "clip.mp4", size)
			before, err := IdentityOf(path)
			if err != nil {
				t.Fatal(err)
			}
			same, err := IdentityOf(path)
			if err != nil {
				t.Fatal(err)
			}
			if !before.Same(same) {
				t.Fatalf("an untouched file changed identity:\n%+v\n%+v", before, same)
			}
			c.change(t, path)
			after, err := IdentityOf(path)
			if err != nil {
				t.Fatal(err)
			}
			if before.Same(after) {
				t.Fatalf("change not seen: %+v", after)
			}
		})
	}
}

// inPlace flips the byte at off and puts the modification time back.
func inPlace(off int64) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b[:], off); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		after, _ := os.Stat(path)
		if !after.ModTime().Equal(fi.ModTime()) || after.Size() != fi.Size() {
			t.Fatal("could not restore size and modification time")
		}
	}
}

func TestIdentityOfDetails(t *testing.T) {
	dir := t.TempDir()
	small := writeSource(t, dir, "small", 100)
	id, err := IdentityOf(small)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(id.Path) || id.Size != 100 || id.Inode == 0 || id.Sample == "" || id.Key() == "" {
		t.Fatalf("identity = %+v", id)
	}
	if id.Key() != (Identity{Path: id.Path, Inode: id.Inode, Device: id.Device}).Key() {
		t.Fatal("Key depends on more than path, device and inode")
	}

	// Through a symbolic link and a relative path: the same file.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(small, link); err != nil {
		t.Fatal(err)
	}
	viaLink, err := IdentityOf(link)
	if err != nil {
		t.Fatal(err)
	}
	if !viaLink.Same(id) {
		t.Fatalf("through a link: %+v, want %+v", viaLink, id)
	}
	t.Chdir(dir)
	rel, err := IdentityOf("small")
	if err != nil {
		t.Fatal(err)
	}
	if !rel.Same(id) {
		t.Fatalf("relative path: %+v", rel)
	}

	empty := writeSource(t, dir, "empty", 0)
	if _, err := IdentityOf(empty); err != nil {
		t.Fatalf("empty file: %v", err)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := IdentityOf(fifo); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("IdentityOf(fifo) = %v, want ErrNotRegular", err)
	}
	if _, err := IdentityOf(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("IdentityOf(missing) = %v", err)
	}

	var zero Identity
	if !zero.IsZero() || zero.Key() != "" || zero.Same(zero) {
		t.Fatal("the zero identity must be zero, keyless and never the same")
	}
}

func BenchmarkIdentityOf(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	// Sparse: the size of a large video without writing it.
	if err := f.Truncate(50 << 30); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for b.Loop() {
		if _, err := IdentityOf(path); err != nil {
			b.Fatal(err)
		}
	}
}

// A path that is not UTF-8 survives the journal byte for byte, or the
// file would never be found again (and uploaded on every run).
func TestIdentityPathNotUTF8RoundTrips(t *testing.T) {
	for _, p := range []string{"/srv/raw\xff\xfe.ts", "/srv/plain.ts", "/srv/vidéo.mov"} {
		in := Identity{Path: p, Size: 3, Inode: 7}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out Identity
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if out.Path != p || out.Size != 3 || out.Inode != 7 {
			t.Errorf("%q came back as %+v (JSON %s)", p, out, b)
		}
	}
}
