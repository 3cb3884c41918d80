//go:build unix

package sources

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func problems(res Result) []string {
	out := make([]string, len(res.Problems))
	for i, p := range res.Problems {
		out[i] = p.Err.Error()
	}
	return out
}

func TestSymlinks(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "root/real.mp4", "root/dir/in.mp4")
	symlink(t, "real.mp4", filepath.Join(dir, "root/link-file.mp4"))
	symlink(t, "dir", filepath.Join(dir, "root/link-dir"))
	symlink(t, "..", filepath.Join(dir, "root/dir/loop"))
	symlink(t, "missing.mp4", filepath.Join(dir, "root/broken"))
	symlink(t, "self", filepath.Join(dir, "root/self"))
	t.Chdir(dir)

	t.Run("not followed while walking, and said so", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"root"}, Recursive: true})
		equal(t, "Rel", rels(res), []string{"dir/in.mp4", "real.mp4"})
		equal(t, "skipped", skipped(res), []string{"root/broken", "root/dir/loop", "root/link-dir", "root/link-file.mp4", "root/self"})
		for _, s := range res.Skipped {
			if s.Reason != "symbolic link" || !errors.Is(s.Why, ErrLinkNotFollowed) {
				t.Errorf("%q skipped because %q", s.Path, s.Reason)
			}
		}
		if len(res.Problems) != 0 {
			t.Errorf("problems: %v", res.Problems)
		}
	})

	t.Run("followed: loops detected, broken links reported, files once", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"root"}, Recursive: true, FollowSymlinks: true})
		// link-file.mp4 sorts before real.mp4, the same file: the first wins.
		// link-dir/in.mp4 is dir/in.mp4 again.
		equal(t, "Rel", rels(res), []string{"dir/in.mp4", "link-file.mp4"})
		want := []Skip{
			{Path: "root/dir/loop", Reason: `leads back to root, a folder above it; not entered again`},
			{Path: "root/link-dir/loop", Reason: `leads back to root, a folder above it; not entered again`},
		}
		if len(res.Skipped) != len(want) || res.Skipped[0] != want[0] || res.Skipped[1] != want[1] {
			t.Errorf("skipped:\n got %q\nwant %q", res.Skipped, want)
		}
		equal(t, "problems", problems(res), []string{
			`root/broken is a symbolic link to a missing file; fix or remove the link`,
			`root/self is a symbolic link loop; fix or remove the link`,
		})
	})

	t.Run("double star follows folder links only when asked, and stops at loops", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"root/**/*.mp4"}})
		// real.mp4 is link-file.mp4 again.
		equal(t, "Rel", rels(res), []string{"dir/in.mp4", "link-file.mp4"})
		equal(t, "skipped", skipped(res), []string{"root/dir/loop", "root/link-dir"})

		res = expand(t, Options{Args: []string{"root/**"}, FollowSymlinks: true})
		equal(t, "Rel", rels(res), []string{"dir/in.mp4", "link-file.mp4"})
		equal(t, "skipped", skipped(res), []string{"root/dir/loop", "root/link-dir/loop"})
		equal(t, "problems", problems(res), []string{
			`root/broken is a symbolic link to a missing file; fix or remove the link`,
			`root/self is a symbolic link loop; fix or remove the link`,
		})
	})

	t.Run("links named on the command line are followed", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"root/link-file.mp4", "root/link-dir"}, Recursive: true})
		equal(t, "Path", paths(res), []string{"root/link-file.mp4", "root/link-dir/in.mp4"})
		equal(t, "Rel", rels(res), []string{"link-file.mp4", "in.mp4"})
		if res.Files[0].Abs != filepath.Join(dir, "root/link-file.mp4") {
			t.Errorf("Abs = %q: links are not resolved in Abs", res.Files[0].Abs)
		}
		// Named, they fail alone like any file that cannot be used.
		res = expand(t, Options{Args: []string{"root/broken", "root/self", "root/real.mp4"}})
		equal(t, "Rel", rels(res), []string{"real.mp4"})
		equal(t, "problems", problems(res), []string{
			`root/broken is a symbolic link to a missing file; fix or remove the link`,
			`root/self is a symbolic link loop; fix or remove the link`,
		})
	})
}

func TestNotRegular(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "root/a.mp4", "root/z.mp4")
	if err := syscall.Mkfifo(filepath.Join(dir, "root/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "root/sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Chdir(dir)

	// A reader opening the pipe would block until a writer comes: these
	// finish only because nothing opens it. Found in a (watch) folder, a
	// pipe or socket is skipped, not a failure of every run.
	res := expand(t, Options{Args: []string{"root"}, Recursive: true})
	equal(t, "Rel", rels(res), []string{"a.mp4", "z.mp4"})
	equal(t, "skipped", skipped(res), []string{"root/pipe", "root/sock"})
	if len(res.Problems) != 0 {
		t.Errorf("problems: %q", problems(res))
	}
	var nr *NotRegularError
	if !errors.As(res.Skipped[0].Why, &nr) || nr.Kind != "named pipe" || res.Skipped[0].Reason != "is a named pipe, not a regular file; not read" {
		t.Errorf("pipe skipped because %q (%v)", res.Skipped[0].Reason, res.Skipped[0].Why)
	}

	res = expand(t, Options{Args: []string{"root"}, Recursive: true, Exclude: []string{"pipe", "sock"}})
	if len(res.Skipped) != 0 || res.Filtered != 2 {
		t.Errorf("excluded pipe and socket: skipped %v, filtered %d", res.Skipped, res.Filtered)
	}

	// Named on the command line, the user asked for them: each fails
	// alone, the rest goes on.
	res = expand(t, Options{Args: []string{"root/pipe", "/dev/null", "root/a.mp4"}})
	equal(t, "Rel", rels(res), []string{"a.mp4"})
	equal(t, "problems", problems(res), []string{
		`root/pipe is not a regular file (named pipe); vidup uploads regular files`,
		`/dev/null is not a regular file (character device); vidup uploads regular files`,
	})
	if !errors.Is(res.Problems[0].Err, errNotRegular) {
		t.Errorf("%v is not errNotRegular", res.Problems[0].Err)
	}

	res = expand(t, Options{Args: []string{"root/*"}})
	equal(t, "pattern matches", rels(res), []string{"a.mp4", "z.mp4"})
	equal(t, "pattern skipped", skipped(res), []string{"root/pipe", "root/sock"})
	if len(res.Problems) != 0 || !strings.Contains(res.Skipped[0].Reason, "named pipe") {
		t.Errorf("pattern problems %q, skipped %q", problems(res), res.Skipped)
	}
}
