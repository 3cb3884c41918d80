package sources

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// asUnprivileged runs fn with file permissions checked as an ordinary user.
// Run as root, chmod 000 stops nothing (root may read anything), so the
// error paths would go untested; setfsuid changes the identity used for
// permission checks, and drops root's override of them, for one thread
// only: the goroutine stays locked to that thread and the thread dies with
// it, so no other test ever runs with it.
func asUnprivileged(t *testing.T, fn func() (Result, error)) (Result, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		return fn()
	}
	type out struct {
		res Result
		err error
	}
	// Files are opened by Expand's workers: drop root's rights in each.
	testWorkerStart = dropRoot
	defer func() { testWorkerStart = nil }()
	done := make(chan out)
	go func() {
		if err := dropRootErr(); err != nil {
			done <- out{err: err}
			return
		}
		res, err := fn()
		done <- out{res, err}
	}()
	o := <-done
	return o.res, o.err
}

// dropRootErr makes this goroutine's thread check file permissions as
// nobody, for good: see asUnprivileged.
func dropRootErr() error {
	runtime.LockOSThread() // never unlocked
	return syscall.Setfsuid(65534)
}

// dropRoot is dropRootErr for Expand's workers, which cannot report an
// error: it panics instead.
func dropRoot() {
	if err := dropRootErr(); err != nil {
		panic(err)
	}
}

func TestUnreadable(t *testing.T) {
	dir := t.TempDir()
	// The unprivileged user must reach the tree: t.TempDir's folders are
	// private to their owner.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build(t, dir, "root/a.mp4", "root/secret.mp4", "root/locked/inner.mp4", "root/z.mp4")
	for _, p := range []string{"root/secret.mp4", "root/locked"} {
		if err := os.Chmod(filepath.Join(dir, p), 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "root/locked"), 0o755) })
	t.Chdir(dir)
	ctx := context.Background()

	if os.Geteuid() == 0 {
		// What root itself sees: both are readable to it, and listed.
		res := expand(t, Options{Args: []string{"root"}, Recursive: true})
		equal(t, "as root", rels(res), []string{"a.mp4", "locked/inner.mp4", "secret.mp4", "z.mp4"})
	}

	t.Run("found while walking: problems, the rest goes on", func(t *testing.T) {
		res, err := asUnprivileged(t, func() (Result, error) {
			return Expand(ctx, Options{Args: []string{"root"}, Recursive: true, Workers: 8})
		})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "Rel", rels(res), []string{"a.mp4", "z.mp4"})
		equal(t, "problems", problems(res), []string{
			`root/locked cannot be read: permission denied; give the user running vidup read access, or leave it out`,
			`root/secret.mp4 cannot be read: permission denied; give the user running vidup read access, or leave it out`,
		})
	})

	usage := func(t *testing.T, opts Options) []string {
		t.Helper()
		opts.Workers = 8
		_, err := asUnprivileged(t, func() (Result, error) { return Expand(ctx, opts) })
		ue, ok := err.(*UsageError)
		if !ok {
			t.Fatalf("err = %v, want a *UsageError", err)
		}
		got := make([]string, len(ue.Problems))
		for i, p := range ue.Problems {
			got[i] = p.Err.Error()
		}
		return got
	}
	t.Run("named explicitly: each fails alone, the rest goes on", func(t *testing.T) {
		res, err := asUnprivileged(t, func() (Result, error) {
			return Expand(ctx, Options{Args: []string{"root/a.mp4", "root/secret.mp4", "root/locked", "root/z.mp4"}, Recursive: true, Workers: 8})
		})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "Rel", rels(res), []string{"a.mp4", "z.mp4"})
		equal(t, "problems", problems(res), []string{
			`root/secret.mp4 cannot be read: permission denied; give the user running vidup read access, or leave it out`,
			`root/locked cannot be read: permission denied; give the user running vidup read access, or leave it out`,
		})
	})
	t.Run("a pattern below an unreadable folder says why it matches nothing", func(t *testing.T) {
		equal(t, "errors", usage(t, Options{Args: []string{"root/locked/*.mp4"}}), []string{
			`root/locked cannot be read: permission denied; give the user running vidup read access, or leave it out`,
			`pattern "root/locked/*.mp4" matches no files; check it, and quote it so that vidup expands it rather than the shell`,
		})
	})
}
