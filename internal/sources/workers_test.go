package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

// TestInspectWorkers checks that files inspected by several workers come
// out as one worker lists them: in walk order, each file once (the first
// path reaching it), with skips and problems in place, and that every
// path is opened and inspected at most once, on the handle Expand opened.
func TestInspectWorkers(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := range 60 {
		names = append(names, fmt.Sprintf("cam%d/clip-%02d.mp4", i%3, i))
	}
	names = append(names, "cam1/bad.mp4", "cam2/fresh.mp4")
	build(t, dir, names...)
	// Same files under other names: only the first reached is listed.
	for _, l := range []string{"cam0/zz-link.mp4", "cam2/aa-link.mp4"} {
		if err := os.Link(filepath.Join(dir, "cam1/clip-01.mp4"), filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Hour) // the files were written an hour ago
	if err := os.Chtimes(filepath.Join(dir, "cam2/fresh.mp4"), now, now); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var mu sync.Mutex
	calls := map[string]int{}
	inspect := func(h *os.File, info fs.FileInfo, it *asset.Item) error {
		mu.Lock()
		calls[it.Path]++
		mu.Unlock()
		b, err := io.ReadAll(h)
		if err != nil {
			return err
		}
		if strings.HasSuffix(it.Path, "bad.mp4") {
			return errors.New("bad content")
		}
		it.ContentType = string(b) // what build wrote: the name
		return nil
	}
	base := Options{Args: []string{"cam1/clip-04.mp4", ".", "cam1/clip-04.mp4"}, Recursive: true,
		Inspect: inspect, MinAge: time.Minute, Now: func() time.Time { return now.Add(time.Second) }}
	var want string
	for _, w := range []int{1, 3, 8} {
		clear(calls)
		opts := base
		opts.Workers = w
		res, err := Expand(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		got := summary(res)
		if w == 1 {
			want = got
			if len(res.Files) != 60 || len(res.Problems) != 1 || len(res.Skipped) != 1 {
				t.Fatalf("%d files, problems %v, skipped %v; want 60, bad.mp4, fresh.mp4", len(res.Files), res.Problems, res.Skipped)
			}
			if res.Files[0].Path != "cam1/clip-04.mp4" || res.Files[1].Rel != "cam0/clip-00.mp4" {
				t.Errorf("first files %q, %q; want the argument, then the folder in name order", res.Files[0].Path, res.Files[1].Rel)
			}
		} else if got != want {
			t.Errorf("%d workers found\n%s\none found\n%s", w, got, want)
		}
		for _, f := range res.Files {
			if want := filepath.Clean(f.Path); f.ContentType != want && !strings.HasSuffix(f.Path, "link.mp4") {
				t.Errorf("%s inspected as %q, want its own content", f.Path, f.ContentType)
			}
		}
		for p, n := range calls {
			if n > 1 && p != "cam1/clip-04.mp4" { // named twice: two paths
				t.Errorf("%d workers: %s inspected %d times", w, p, n)
			}
		}
		if calls["cam2/fresh.mp4"] != 0 {
			t.Errorf("%d workers: a file within MinAge was inspected", w)
		}
	}
}

// TestCanceledWhileInspecting checks that a cancel while files are being
// inspected stops the run with ctx's error, and that no file is opened
// after the workers see it.
func TestCanceledWhileInspecting(t *testing.T) {
	dir := t.TempDir()
	for i := range 100 {
		build(t, dir, fmt.Sprintf("clip-%03d.mp4", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	calls := 0
	_, err := Expand(ctx, Options{Args: []string{dir}, Recursive: true, Workers: 4,
		Inspect: func(*os.File, fs.FileInfo, *asset.Item) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			cancel()
			return nil
		}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if calls > 4 {
		t.Errorf("%d files inspected after the cancel, want at most one per worker", calls)
	}
}
