package sources

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// build creates entries under dir: a name ending in "/" is a folder, any
// other a file whose content is its own name (so sizes differ and are
// known).
func build(t *testing.T, dir string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(dir, e)
		if strings.HasSuffix(e, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(e), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func rels(res Result) []string {
	out := make([]string, len(res.Files))
	for i, f := range res.Files {
		out[i] = f.Rel
	}
	return out
}

func paths(res Result) []string {
	out := make([]string, len(res.Files))
	for i, f := range res.Files {
		out[i] = f.Path
	}
	return out
}

func skipped(res Result) []string {
	out := make([]string, len(res.Skipped))
	for i, s := range res.Skipped {
		out[i] = s.Path
	}
	return out
}

// expand expands opts one file at a time and with several workers, and
// checks that both give the same result. Stdin can be read once: with
// Stdin set, only the workers run.
func expand(t *testing.T, opts Options) Result {
	t.Helper()
	if opts.Stdin != nil {
		opts.Workers = 8
		res, err := Expand(context.Background(), opts)
		if err != nil {
			t.Fatalf("Expand: %v", err)
		}
		return res
	}
	one := opts
	one.Workers = 1
	res, err := Expand(context.Background(), one)
	if err != nil {
		t.Fatalf("Expand: %v", err)
	}
	many := opts
	many.Workers = 8
	again, err := Expand(context.Background(), many)
	if err != nil {
		t.Fatalf("Expand with 8 workers: %v", err)
	}
	if a, b := summary(res), summary(again); a != b {
		t.Fatalf("one worker found\n%s\n8 workers found\n%s", a, b)
	}
	return res
}

// summary is what a Result lists, in order, for comparing results.
func summary(res Result) string {
	var b strings.Builder
	for _, f := range res.Files {
		fmt.Fprintf(&b, "file %q %q %q %d\n", f.Path, f.Abs, f.Rel, f.Size)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(&b, "skip %q %q\n", s.Path, s.Reason)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(&b, "problem %q %q\n", p.Path, p.Err)
	}
	fmt.Fprintf(&b, "filtered %d\n", res.Filtered)
	return b.String()
}

// usageErr expands opts expecting a usage error and returns its messages,
// checking that one worker gives the same.
func usageErr(t *testing.T, opts Options) []string {
	t.Helper()
	opts.Workers = 8
	_, err := Expand(context.Background(), opts)
	if opts.Stdin == nil { // stdin can be read once
		opts.Workers = 1
		if _, one := Expand(context.Background(), opts); fmt.Sprint(one) != fmt.Sprint(err) {
			t.Errorf("with 8 workers: %v\nwith one: %v", err, one)
		}
	}
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("Expand: got error %v, want a *UsageError", err)
	}
	msgs := make([]string, len(ue.Problems))
	for i, p := range ue.Problems {
		msgs[i] = p.Err.Error()
	}
	return msgs
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// oddNames are names a camera, a user or a broken encoder can produce.
var oddNames = []string{
	"with space.mp4",
	"café-ünï-视频.mp4",
	"new\nline.mp4",
	"bad-\xff\xfe-utf8.mp4",
	" leading and trailing .mp4 ",
	"clip [1].mp4",
}

func TestRecursiveWalkKeepsNamesAndOrder(t *testing.T) {
	dir := t.TempDir()
	var entries []string
	for _, n := range oddNames {
		entries = append(entries, "root/"+n, "root/sub/"+n)
	}
	entries = append(entries, "root/a/b/c/deep.mp4", "root/empty/", "root/z.mp4", "root/a.mp4")
	build(t, dir, entries...)
	t.Chdir(dir)

	res := expand(t, Options{Args: []string{"root"}, Recursive: true})

	// Name order within each folder; a folder's content where its name sorts.
	want := []string{
		" leading and trailing .mp4 ",
		"a.mp4",
		"a/b/c/deep.mp4",
		"bad-\xff\xfe-utf8.mp4",
		"café-ünï-视频.mp4",
		"clip [1].mp4",
		"new\nline.mp4",
		"sub/ leading and trailing .mp4 ",
		"sub/bad-\xff\xfe-utf8.mp4",
		"sub/café-ünï-视频.mp4",
		"sub/clip [1].mp4",
		"sub/new\nline.mp4",
		"sub/with space.mp4",
		"with space.mp4",
		"z.mp4",
	}
	// The tree was built in a different order; sort the expectation the way
	// the walk promises (separator before any byte) to catch a hand error.
	slices.SortFunc(want, comparePaths)
	equal(t, "Rel", rels(res), want)
	for _, f := range res.Files {
		if f.Path != filepath.Join("root", f.Rel) {
			t.Errorf("Path %q does not join the argument and Rel %q", f.Path, f.Rel)
		}
		if f.Abs != filepath.Join(dir, "root", f.Rel) {
			t.Errorf("Abs = %q, want %q", f.Abs, filepath.Join(dir, "root", f.Rel))
		}
		content, err := os.ReadFile(f.Abs)
		if err != nil {
			t.Fatal(err)
		}
		if f.Size != int64(len(content)) || f.Info == nil || f.Info.Size() != f.Size || f.ModTime.IsZero() || f.Stdin {
			t.Errorf("%q: Size %d, Info %v, ModTime %v, Stdin %v; want the file's (%d bytes)",
				f.Rel, f.Size, f.Info, f.ModTime, f.Stdin, len(content))
		}
	}
	if len(res.Skipped)+len(res.Problems)+res.Filtered != 0 {
		t.Errorf("unexpected skipped %v, problems %v, filtered %d", res.Skipped, res.Problems, res.Filtered)
	}
}

func TestArguments(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "a.mp4", "b.mp4", "folder/in.mp4", "new\nline.mp4", "clip [1].mp4", "clip 1.mp4")
	t.Chdir(dir)

	t.Run("files keep their order and the path as given", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"b.mp4", "./a.mp4", "folder/in.mp4", "clip [1].mp4"}})
		equal(t, "Path", paths(res), []string{"b.mp4", "./a.mp4", "folder/in.mp4", "clip [1].mp4"})
		equal(t, "Rel", rels(res), []string{"b.mp4", "a.mp4", "in.mp4", "clip [1].mp4"})
	})
	t.Run("the same file twice is kept once, first", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"a.mp4", "folder", "./a.mp4", filepath.Join(dir, "a.mp4")}, Recursive: true})
		equal(t, "Path", paths(res), []string{"a.mp4", "folder/in.mp4"})
	})
	t.Run("a folder argument with a trailing slash", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"folder/"}, Recursive: true})
		equal(t, "Path", paths(res), []string{"folder/in.mp4"})
		equal(t, "Rel", rels(res), []string{"in.mp4"})
	})
	t.Run("the working directory", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"."}, Recursive: true, Include: []string{"folder/*"}})
		equal(t, "Path", paths(res), []string{"./folder/in.mp4"})
		equal(t, "Rel", rels(res), []string{"folder/in.mp4"})
	})

	usage := []struct {
		name string
		opts Options
		want []string
	}{
		{"folder without -r", Options{Args: []string{"folder"}},
			[]string{`folder is a directory`}},
		{"every argument problem at once, none uploaded", Options{Args: []string{"a.mp4", "x[", "folder", "y"}},
			[]string{`pattern "x[" is not a valid pattern: syntax error in pattern; check its brackets`,
				`folder is a directory`}},
		{"pattern matching nothing", Options{Args: []string{"cams/*/clip-*.mp4"}},
			[]string{`pattern "cams/*/clip-*.mp4" matches no files; check it, and quote it so that vidup expands it rather than the shell`}},
		{"bad pattern", Options{Args: []string{"x[.mp4"}},
			[]string{`pattern "x[.mp4" is not a valid pattern: syntax error in pattern; check its brackets`}},
		{"bad exclude", Options{Args: []string{"a.mp4"}, Exclude: []string{"[a"}},
			[]string{`exclude pattern "[a" is not a valid pattern: syntax error in pattern`}},
		{"negative min-age", Options{Args: []string{"a.mp4"}, MinAge: -time.Second},
			[]string{`minimum age -1s is negative`}},
		{"empty argument", Options{Args: []string{""}},
			[]string{`an empty argument is not a path; remove it`}},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			got := usageErr(t, tc.opts)
			equal(t, "errors", got, tc.want)
			for _, m := range got {
				// U+FFFD also matches any invalid UTF-8 byte.
				if strings.ContainsAny(m, "\n\uFFFD") {
					t.Errorf("message %q holds a raw newline or invalid byte", m)
				}
			}
		})
	}

	// A file named on the command line that cannot be used fails alone,
	// as it would if found by -r: the others are uploaded.
	t.Run("missing named paths fail alone, in order, quoted", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"nope.mp4", "a.mp4", "no\npe.mp4", "no\xffpe.mp4", "a.mp4/x", "b.mp4"}})
		equal(t, "Path", paths(res), []string{"a.mp4", "b.mp4"})
		want := []string{
			`nope.mp4 does not exist; check the path`,
			`"no\npe.mp4" does not exist; check the path`,
			`"no\xffpe.mp4" does not exist; check the path`,
			`a.mp4/x does not exist; check the path`,
		}
		got := make([]string, len(res.Problems))
		for i, p := range res.Problems {
			got[i] = p.Err.Error()
		}
		equal(t, "problems", got, want)
		if !errors.Is(res.Problems[0].Err, os.ErrNotExist) {
			t.Errorf("%v does not unwrap to os.ErrNotExist", res.Problems[0].Err)
		}
	})
}

func TestStdin(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "a.mp4")
	t.Chdir(dir)

	res := expand(t, Options{Args: []string{"a.mp4", "-"}, StdinName: "live.mp4"})
	if len(res.Files) != 2 {
		t.Fatalf("got %d files, want 2", len(res.Files))
	}
	in := res.Files[1]
	if !in.Stdin || in.Path != "-" || in.Rel != "live.mp4" || in.Info != nil || in.Abs != "" {
		t.Errorf("stdin source = %+v", in)
	}
	if res.Files[0].Stdin {
		t.Errorf("a.mp4 is marked as stdin")
	}
	// Include and exclude never drop stdin: its name is the user's choice.
	res = expand(t, Options{Args: []string{"-"}, StdinName: "live.mp4", Exclude: []string{"*"}})
	if len(res.Files) != 1 || !res.Files[0].Stdin {
		t.Errorf("stdin filtered out: %+v", res)
	}

	equal(t, "no name", usageErr(t, Options{Args: []string{"-"}}),
		[]string{`"-" reads the video from stdin and needs a name`})
	equal(t, "twice", usageErr(t, Options{Args: []string{"-", "a.mp4", "-"}, StdinName: "x"}),
		[]string{`"-" (stdin) is given more than once; stdin can be read only once`})
	equal(t, "with --files-from -", usageErr(t, Options{Args: []string{"-"}, StdinName: "x", FilesFrom: "-", Stdin: strings.NewReader("a.mp4\n")}),
		[]string{`"-" and the list of paths both read stdin; put the list in a file or upload stdin on its own`})
}

func TestPatterns(t *testing.T) {
	dir := t.TempDir()
	build(t, dir,
		"cams/cam1/clip-1.mp4", "cams/cam1/clip-2.mp4", "cams/cam1/other.mp4",
		"cams/cam2/clip-9.mp4", "cams/cam2/clip-dir.mp4/inside.mp4",
		"cams/top.mp4", "cams/cam1/day/night/clip-3.mp4",
		"new\nline/x.mp4")
	t.Chdir(dir)

	cases := []struct {
		name      string
		opts      Options
		wantPaths []string
		wantRels  []string
		wantSkip  []string
	}{
		{
			name:      "star in two segments, Rel below the fixed part",
			opts:      Options{Args: []string{"cams/*/clip-*.mp4"}},
			wantPaths: []string{"cams/cam1/clip-1.mp4", "cams/cam1/clip-2.mp4", "cams/cam2/clip-9.mp4"},
			wantRels:  []string{"cam1/clip-1.mp4", "cam1/clip-2.mp4", "cam2/clip-9.mp4"},
			wantSkip:  []string{"cams/cam2/clip-dir.mp4"}, // a folder, no -r
		},
		{
			name:      "a matched folder is walked with -r",
			opts:      Options{Args: []string{"cams/cam2/clip-*"}, Recursive: true},
			wantPaths: []string{"cams/cam2/clip-9.mp4", "cams/cam2/clip-dir.mp4/inside.mp4"},
			wantRels:  []string{"clip-9.mp4", "clip-dir.mp4/inside.mp4"},
		},
		{
			name: "double star matches zero or more folders",
			opts: Options{Args: []string{"cams/**/clip-*.mp4"}},
			wantPaths: []string{"cams/cam1/clip-1.mp4", "cams/cam1/clip-2.mp4",
				"cams/cam1/day/night/clip-3.mp4", "cams/cam2/clip-9.mp4"},
			wantRels: []string{"cam1/clip-1.mp4", "cam1/clip-2.mp4", "cam1/day/night/clip-3.mp4", "cam2/clip-9.mp4"},
			wantSkip: []string{"cams/cam2/clip-dir.mp4"},
		},
		{
			name:      "double star first, from the working directory",
			opts:      Options{Args: []string{"**/clip-[0-2].mp4"}},
			wantPaths: []string{"cams/cam1/clip-1.mp4", "cams/cam1/clip-2.mp4"},
			wantRels:  []string{"cams/cam1/clip-1.mp4", "cams/cam1/clip-2.mp4"},
		},
		{
			name: "trailing double star matches every file below",
			opts: Options{Args: []string{"cams/cam1/**"}},
			wantPaths: []string{"cams/cam1/clip-1.mp4", "cams/cam1/clip-2.mp4",
				"cams/cam1/day/night/clip-3.mp4", "cams/cam1/other.mp4"},
			wantRels: []string{"clip-1.mp4", "clip-2.mp4", "day/night/clip-3.mp4", "other.mp4"},
		},
		{
			name:      "a star directly under the working directory",
			opts:      Options{Args: []string{"*/top.mp4", "new?line/*"}},
			wantPaths: []string{"cams/top.mp4", "new\nline/x.mp4"},
			wantRels:  []string{"cams/top.mp4", "new\nline/x.mp4"},
		},
		{
			name:      "absolute pattern",
			opts:      Options{Args: []string{filepath.Join(dir, "cams", "cam2", "*.mp4")}},
			wantPaths: []string{filepath.Join(dir, "cams", "cam2", "clip-9.mp4")},
			wantRels:  []string{"clip-9.mp4"},
			wantSkip:  []string{filepath.Join(dir, "cams", "cam2", "clip-dir.mp4")},
		},
		{
			name:      "patterns and paths reaching one file keep it once",
			opts:      Options{Args: []string{"cams/cam1/clip-1.mp4", "cams/cam1/clip-*.mp4", "cams/**/clip-1.mp4"}},
			wantPaths: []string{"cams/cam1/clip-1.mp4", "cams/cam1/clip-2.mp4"},
			wantRels:  []string{"clip-1.mp4", "clip-2.mp4"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := expand(t, tc.opts)
			equal(t, "Path", paths(res), tc.wantPaths)
			equal(t, "Rel", rels(res), tc.wantRels)
			equal(t, "skipped", skipped(res), tc.wantSkip)
			if len(res.Problems) != 0 {
				t.Errorf("problems: %v", res.Problems)
			}
		})
	}

	t.Run("pattern order is walk order", func(t *testing.T) {
		byPattern := expand(t, Options{Args: []string{"cams/**"}})
		byWalk := expand(t, Options{Args: []string{"cams"}, Recursive: true})
		equal(t, "Rel", rels(byPattern), rels(byWalk))
	})
}

func TestFilesFrom(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "a.mp4", "cam1/b.mp4", "cam1/sub/c.mp4", "new\nline.mp4", "star*.mp4", " spaced .mp4")
	t.Chdir(dir)
	abs := filepath.Join(dir, "cam1", "b.mp4")

	write := func(content string) string {
		p := filepath.Join(t.TempDir(), "list")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("lines: blank lines ignored, CRLF, spaces kept, relative paths keep their layout", func(t *testing.T) {
		// abs is cam1/b.mp4 again: kept once.
		list := write("a.mp4\n\ncam1/b.mp4\r\n" + abs + "\n\nstar*.mp4\n spaced .mp4\n")
		res := expand(t, Options{FilesFrom: list})
		equal(t, "Path", paths(res), []string{"a.mp4", "cam1/b.mp4", "star*.mp4", " spaced .mp4"})
		equal(t, "Rel", rels(res), []string{"a.mp4", "cam1/b.mp4", "star*.mp4", " spaced .mp4"})
	})
	t.Run("entries are literal paths, never patterns", func(t *testing.T) {
		list := write("a.mp4\nst*.mp4\n")
		res := expand(t, Options{FilesFrom: list})
		equal(t, "Path", paths(res), []string{"a.mp4"})
		if len(res.Problems) != 1 || res.Problems[0].Err.Error() != fmt.Sprintf(`st*.mp4 (listed in %s, line 2) does not exist; check the path`, list) {
			t.Errorf("problems: %v", res.Problems)
		}
	})
	t.Run("NUL separated names with newlines, from stdin", func(t *testing.T) {
		in := "new\nline.mp4\x00cam1/b.mp4\x00\x00" + abs + "\x00"
		res := expand(t, Options{FilesFrom: "-", NullSeparated: true, Stdin: strings.NewReader(in)})
		equal(t, "Path", paths(res), []string{"new\nline.mp4", "cam1/b.mp4"})
	})
	t.Run("absolute and outside entries use the base name", func(t *testing.T) {
		res := expand(t, Options{FilesFrom: "-", Stdin: strings.NewReader(abs + "\n../" + filepath.Base(dir) + "/a.mp4\n")})
		equal(t, "Rel", rels(res), []string{"b.mp4", "a.mp4"})
	})
	t.Run("folders need -r and keep the layout", func(t *testing.T) {
		equal(t, "errors", usageErr(t, Options{FilesFrom: "-", Stdin: strings.NewReader("cam1\n")}),
			[]string{`cam1 (listed in -, line 1) is a directory`})
		res := expand(t, Options{FilesFrom: "-", Stdin: strings.NewReader("cam1\n"), Recursive: true})
		equal(t, "Rel", rels(res), []string{"cam1/b.mp4", "cam1/sub/c.mp4"})
	})
	t.Run("arguments come first, then the list", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"cam1/sub/c.mp4"}, FilesFrom: "-", Stdin: strings.NewReader("a.mp4")})
		equal(t, "Path", paths(res), []string{"cam1/sub/c.mp4", "a.mp4"})
	})
	t.Run("missing list", func(t *testing.T) {
		equal(t, "errors", usageErr(t, Options{FilesFrom: "nolist.txt"}),
			[]string{`the list of paths nolist.txt does not exist; check the path`})
	})
	t.Run("stdin list without stdin", func(t *testing.T) {
		equal(t, "errors", usageErr(t, Options{FilesFrom: "-"}),
			[]string{`the list of paths is to be read from stdin, but there is no stdin here`})
	})
}

func TestIncludeExclude(t *testing.T) {
	dir := t.TempDir()
	build(t, dir,
		"root/a.mp4", "root/a.mov", "root/a-draft.mp4", "root/notes.txt",
		"root/cam1/b.mp4", "root/cam1/b-draft.mp4", "root/cam1/deep/c.mp4",
		"root/.cache/d.mp4", "root/cam2/e.mp4")
	t.Chdir(dir)

	cases := []struct {
		name             string
		include, exclude []string
		want             []string
		filtered         int
	}{
		{"no filters", nil, nil,
			[]string{".cache/d.mp4", "a-draft.mp4", "a.mov", "a.mp4", "cam1/b-draft.mp4", "cam1/b.mp4", "cam1/deep/c.mp4", "cam2/e.mp4", "notes.txt"}, 0},
		{"include on the base name matches at any depth", []string{"*.mp4"}, nil,
			[]string{".cache/d.mp4", "a-draft.mp4", "a.mp4", "cam1/b-draft.mp4", "cam1/b.mp4", "cam1/deep/c.mp4", "cam2/e.mp4"}, 2},
		{"exclude wins over include", []string{"*.mp4"}, []string{"*-draft.mp4"},
			[]string{".cache/d.mp4", "a.mp4", "cam1/b.mp4", "cam1/deep/c.mp4", "cam2/e.mp4"}, 4},
		{"exclude wins even when include is more specific", []string{"cam1/b-draft.mp4"}, []string{"*-draft*"},
			nil, 9},
		{"a pattern with a slash matches from the root", []string{"cam1/*.mp4"}, nil,
			[]string{"cam1/b-draft.mp4", "cam1/b.mp4"}, 7},
		{"a leading slash anchors at the root too", []string{"/cam1/*.mp4"}, nil,
			[]string{"cam1/b-draft.mp4", "cam1/b.mp4"}, 7},
		{"double star in include", []string{"cam1/**/*.mp4"}, nil,
			[]string{"cam1/b-draft.mp4", "cam1/b.mp4", "cam1/deep/c.mp4"}, 6},
		// .cache and cam1 are not entered: each counts once.
		{"excluded folders are not entered", nil, []string{".cache", "cam1"},
			[]string{"a-draft.mp4", "a.mov", "a.mp4", "cam2/e.mp4", "notes.txt"}, 2},
		{"include never stops the walk", []string{"c.mp4"}, nil,
			[]string{"cam1/deep/c.mp4"}, 8},
		{"several includes are alternatives", []string{"*.mov", "*.txt"}, nil,
			[]string{"a.mov", "notes.txt"}, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := expand(t, Options{Args: []string{"root"}, Recursive: true, Include: tc.include, Exclude: tc.exclude})
			equal(t, "Rel", rels(res), tc.want)
			if res.Filtered != tc.filtered {
				t.Errorf("Filtered = %d, want %d", res.Filtered, tc.filtered)
			}
		})
	}

	t.Run("filters apply to files named on the command line, on the base name", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"root/a.mp4", "root/a-draft.mp4", "root/cam1/b-draft.mp4"}, Exclude: []string{"*-draft.mp4"}})
		equal(t, "Path", paths(res), []string{"root/a.mp4"})
		if res.Filtered != 2 {
			t.Errorf("Filtered = %d, want 2", res.Filtered)
		}
	})
	t.Run("filters on pattern matches use the Rel below the fixed part", func(t *testing.T) {
		res := expand(t, Options{Args: []string{"root/**/*.mp4"}, Exclude: []string{"cam1/**"}})
		equal(t, "Rel", rels(res), []string{".cache/d.mp4", "a-draft.mp4", "a.mp4", "cam2/e.mp4"})
	})
}

func TestMatchSegs(t *testing.T) {
	cases := []struct {
		pattern, rel string
		want         bool
	}{
		{"*.mp4", "a.mp4", true},
		{"*.mp4", "x/a.mp4", true}, // base name
		{"x/*.mp4", "x/a.mp4", true},
		{"x/*.mp4", "y/x/a.mp4", false},
		{"**/x/*.mp4", "y/x/a.mp4", true},
		{"**/x/*.mp4", "x/a.mp4", true},
		{"x/**", "x/a/b/c", true},
		{"x/**/c", "x/c", true},
		{"x/**/c", "x/a/b/c", true},
		{"x/**/c", "x/a/b/d", false},
		{"a?c", "abc", true},
		{"a?c", "a/c", false},
		{"*", "bad\xff", true},
		{"[ab].mp4", "c.mp4", false},
		{"x/*", "x/y/z", false},
	}
	for _, tc := range cases {
		p, err := compilePattern(tc.pattern)
		if err != nil {
			t.Fatalf("compile %q: %v", tc.pattern, err)
		}
		if got := p.match(tc.rel, baseOf(tc.rel)); got != tc.want {
			t.Errorf("%q matches %q: got %v, want %v", tc.pattern, tc.rel, got, tc.want)
		}
	}
}

func TestMinAge(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "old.mp4", "fresh.mp4", "future.mp4")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, mtime := range map[string]time.Time{
		"old.mp4":    now.Add(-10 * time.Minute),
		"fresh.mp4":  now.Add(-30 * time.Second),
		"future.mp4": now.Add(time.Hour), // clock skew: treated as just written
	} {
		if err := os.Chtimes(filepath.Join(dir, name), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)

	res := expand(t, Options{Args: []string{"."}, Recursive: true, MinAge: 5 * time.Minute, Now: func() time.Time { return now }})
	equal(t, "files", paths(res), []string{"./old.mp4"})
	want := []Skip{
		{"./fresh.mp4", "modified 30s ago, more recently than the minimum age of 5m0s; it may still be being written",
			&TooRecentError{Age: 30 * time.Second, MinAge: 5 * time.Minute}},
		{"./future.mp4", "modified 1h0m0s in the future by this machine's clock, so within the minimum age of 5m0s; check the clocks, it may still be being written",
			&TooRecentError{Age: time.Hour, MinAge: 5 * time.Minute, Future: true}},
	}
	if !slices.EqualFunc(res.Skipped, want, func(a, b Skip) bool {
		var tr *TooRecentError
		return a.Path == b.Path && a.Reason == b.Reason && errors.As(a.Why, &tr) && *tr == *b.Why.(*TooRecentError)
	}) {
		t.Errorf("skipped:\n got %+v\nwant %+v", res.Skipped, want)
	}

	// Named explicitly, a fresh file is still skipped, not an error: cron
	// runs name the folder's files and come back later.
	res = expand(t, Options{Args: []string{"fresh.mp4", "old.mp4"}, MinAge: 5 * time.Minute, Now: func() time.Time { return now }})
	equal(t, "files", paths(res), []string{"old.mp4"})
	equal(t, "skipped", skipped(res), []string{"fresh.mp4"})

	res = expand(t, Options{Args: []string{"fresh.mp4"}, Now: func() time.Time { return now }})
	equal(t, "without --min-age", paths(res), []string{"fresh.mp4"})
}

func TestLargeTree(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 1000 {
		rel := fmt.Sprintf("d%02d/f%03d.mp4", i%37, i)
		want = append(want, rel)
	}
	build(t, dir, want...)
	slices.SortFunc(want, comparePaths)

	res := expand(t, Options{Args: []string{dir}, Recursive: true})
	equal(t, "Rel", rels(res), want)
	seen := map[string]bool{}
	for _, f := range res.Files {
		if seen[f.Abs] {
			t.Errorf("%q listed twice", f.Abs)
		}
		seen[f.Abs] = true
	}
	again := expand(t, Options{Args: []string{dir}, Recursive: true})
	equal(t, "second run", rels(again), rels(res))
}

func TestCanceled(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "a/b.mp4")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Expand(ctx, Options{Args: []string{dir}, Recursive: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestComparePaths(t *testing.T) {
	in := []string{"a.b", "a/b", "a", "a b", "a/a/a", "b", "a-"}
	slices.SortFunc(in, comparePaths)
	equal(t, "order", in, []string{"a", "a/a/a", "a/b", "a b", "a-", "a.b", "b"})
}

// Prune keeps where the run puts files (--move-to) out of the walk: a file
// moved there after its upload is never found, and uploaded, again.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, "in/a.mp4", "in/done/x.mp4", "in/done/sub/y.mp4", "in/sub/b.mp4")
	t.Chdir(dir)

	for _, prune := range []string{"in/done", "./in/done/", filepath.Join(dir, "in/done")} {
		res := expand(t, Options{Args: []string{"in"}, Recursive: true, Prune: []string{prune}})
		equal(t, "walk, prune "+prune, rels(res), []string{"a.mp4", "sub/b.mp4"})
		res = expand(t, Options{Args: []string{"in/**/*.mp4"}, Prune: []string{prune}})
		equal(t, "pattern, prune "+prune, rels(res), []string{"a.mp4", "sub/b.mp4"})
		res = expand(t, Options{Args: []string{"in/*"}, Recursive: true, Prune: []string{prune}})
		equal(t, "folder matched, prune "+prune, rels(res), []string{"a.mp4", "sub/b.mp4"})
		if len(res.Skipped)+len(res.Problems)+res.Filtered != 0 {
			t.Errorf("prune %s: skipped %v, problems %v, filtered %d", prune, res.Skipped, res.Problems, res.Filtered)
		}
	}
	// A folder that does not exist yet (created by the first move) prunes
	// nothing, and is no error.
	res := expand(t, Options{Args: []string{"in"}, Recursive: true, Prune: []string{"in/later"}})
	equal(t, "absent prune", rels(res), []string{"a.mp4", "done/sub/y.mp4", "done/x.mp4", "sub/b.mp4"})
}
