// Package sources turns the inputs of `vidup upload` (paths, folders, glob
// patterns, --files-from lists and "-" for stdin) into the list of files to
// upload, in a reproducible order, with the files left out and the files that
// could not be used reported rather than dropped.
//
// # Arguments
//
//   - A path that exists is used as given, even when its name contains glob
//     characters (a shell-expanded "clip [1].mp4" stays that file). A symbolic
//     link named on the command line is followed.
//   - A path that cannot be found (or looked at, under a folder that cannot
//     be searched) but contains '*', '?' or '[' is a glob pattern expanded
//     by vidup: '*', '?' and '[...]' work within one path
//     segment as in [path.Match] (they also match names starting with a dot),
//     and a whole segment "**" matches zero or more folders. A pattern
//     ending in "**" matches every file below that point. What a pattern
//     matches is handled like a path typed on the command line (symbolic
//     links are followed, a folder is walked with -r and reported as skipped
//     without it), except that "**" passes through symbolically linked
//     folders only with --follow-symlinks. A pattern that matches nothing is
//     a usage error.
//   - A folder is walked with Recursive, in name order, and is a usage error
//     without it. While walking, symbolic links are reported as skipped
//     unless FollowSymlinks; a folder that leads back to one of the folders
//     above it (same device and inode) is reported as skipped, never
//     entered twice.
//   - "-" is stdin: it needs StdinName and may appear once.
//   - FilesFrom lists one path per line (or NUL-separated with
//     NullSeparated). Entries are literal paths, never patterns, relative to
//     the working directory. In line mode, empty lines are ignored and one
//     trailing "\r" is removed (lists written on Windows); names with
//     newlines need NullSeparated.
//
// # Rel: where a file sits under its root
//
// Item.Rel is the file's path relative to the root it was found under, so
// that --move-to can keep the layout: for a folder argument, relative to that
// folder; for a pattern, relative to the part of the pattern before its first
// glob character ("cams/*/clip-*.mp4" gives "cam1/clip-1.mp4"); for a
// --files-from entry, the entry itself when it is a relative path that stays
// below the working directory, else its base name; for a file argument, its
// base name.
//
// # Include and exclude
//
// Both take patterns with the syntax above. A pattern matches a file when it
// matches the file's Rel (with '/' separators) or its base name; a pattern
// without '/' therefore matches the base name at any depth, one with '/'
// matches from the root (a leading '/' changes nothing). Then:
//
//  1. A file matched by any Exclude pattern is left out (exclude wins).
//  2. Otherwise, when Include is not empty, a file matched by no Include
//     pattern is left out.
//  3. A folder met while walking whose Rel or name matches an Exclude
//     pattern is not entered. Include never stops the walk.
//
// The filters apply to every file, those named on the command line included
// (so `vidup upload *.mp4 --exclude '*-draft.mp4'` works), never to stdin.
// Files left out by the filters are counted in Result.Filtered, not listed.
//
// # Errors
//
// One rule, however a path was found: what is wrong with the command line
// itself (an empty argument, a folder without -r, a pattern that is not
// valid or matches nothing, stdin twice or without a name, bad options)
// makes Expand return a *UsageError, and the caller exits 2 before any
// upload. What is wrong with one file on disk (it does not exist, cannot be
// read, is a broken link) is a Problem of that file alone, whether it was
// named on the command line, listed by --files-from, matched by a pattern
// or met while walking: the rest carries on, and the caller reports it as a
// failed file. A named pipe, socket or device met while walking a folder or
// matched by a pattern is skipped (NotRegularError), never opened; named
// explicitly, it is a Problem. Folders in Prune are never entered. Every
// message quotes the path, so names with newlines or bytes that are not
// UTF-8 never reach a terminal raw.
package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

// Options are the inputs of `vidup upload`.
type Options struct {
	// Args are the command-line arguments: files, folders, glob patterns,
	// and "-" for stdin.
	Args []string
	// Recursive walks folders (-r).
	Recursive bool
	// FollowSymlinks follows symbolic links met while walking a folder or
	// passing through "**".
	FollowSymlinks bool
	// FilesFrom names a file listing paths, "-" for Stdin.
	FilesFrom string
	// NullSeparated reads FilesFrom as NUL-separated (-0).
	NullSeparated bool
	// Include and Exclude filter the files found; see the package
	// documentation for the precise rule.
	Include, Exclude []string
	// MinAge skips files modified more recently than this (they may still
	// be being written).
	MinAge time.Duration
	// Now is the clock for MinAge; nil means time.Now.
	Now func() time.Time
	// Stdin is read for `--files-from -`.
	Stdin io.Reader
	// StdinName is the name (--name) of the upload read from "-".
	StdinName string
	// Inspect, when set, reads what the run needs to know of a file from
	// the handle Expand opened to check it (its first bytes, a content
	// sample), so that no one opens the file again before it is uploaded.
	// info is the handle's stat. An error makes the file a Problem.
	Inspect func(f *os.File, info fs.FileInfo, it *asset.Item) error
	// Prune are folders never entered while walking or expanding a
	// pattern: where the run puts files (--move-to) or keeps its state,
	// which must not be uploaded again on the next run. Compared by
	// identity (device and inode), so any path that reaches them counts;
	// a folder that does not exist yet is ignored.
	Prune []string
	// Workers is how many files are opened and inspected at once, while
	// the walk goes on. 0 and 1 mean one at a time, so Inspect needs no
	// locking; with more, Inspect is called from several goroutines at
	// once and must allow it. DefaultWorkers is a good value. The result
	// is the same either way.
	Workers int
}

// Skip is a file found but deliberately not uploaded. Path is the raw name:
// print it through units.Path; Reason is safe to print. Why, when set, is
// the typed fact behind Reason (ErrDirectory, ErrLinkNotFollowed,
// *TooRecentError …), for the caller's advice.
type Skip struct {
	Path   string
	Reason string
	Why    error
}

// Problem is a path that could not be used. Path is the raw name, for
// machines; Err's message names the path quoted, safe to print.
type Problem struct {
	Path string
	Err  error
}

// Result is what Expand found.
type Result struct {
	// Files are the files to upload, in argument order, each folder in
	// name order, each file once (the first time it is reached).
	Files []*asset.Item
	// Skipped are files or links found and deliberately not uploaded:
	// modified within MinAge, links not followed, link loops, folders
	// matched by a pattern without -r.
	Skipped []Skip
	// Problems are paths met while walking or expanding a pattern that
	// could not be used; the caller reports them as failed files.
	Problems []Problem
	// Filtered counts the files (and folders not entered) left out by
	// Include and Exclude.
	Filtered int
}

// UsageError lists the problems with the arguments and options themselves,
// which running again will not fix: the caller reports each Problem on its
// own line and exits with the usage code before any upload. Error joins the
// messages with newlines.
type UsageError struct {
	Problems []Problem
}

func (e *UsageError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Err.Error()
	}
	return strings.Join(msgs, "\n")
}

// Expand resolves opts into the files to upload. A non-nil error is either
// a *UsageError or ctx's error.
func Expand(ctx context.Context, opts Options) (Result, error) {
	e, err := newExpander(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	roots := e.plan()
	e.start()
	if len(e.usage) > 0 {
		e.finish()
		return Result{}, e.usageError()
	}
	for _, r := range roots {
		if ctx.Err() != nil {
			break
		}
		e.expandRoot(r)
	}
	e.finish()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := e.usageError(); err != nil {
		return Result{}, err
	}
	return e.res, nil
}

type rootKind int

const (
	rootPath rootKind = iota
	rootPattern
	rootStdin
	// rootProblem is a path named explicitly that cannot be used (err):
	// it fails alone, in its place among the others.
	rootProblem
)

// root is one input to expand: an argument or a --files-from entry.
type root struct {
	kind rootKind
	path string
	// rel is the Rel of the root itself: the base name for a file
	// argument, the entry for a --files-from entry, "" for a folder
	// argument.
	rel  string
	info fs.FileInfo // followed through symbolic links
	from string      // where the path was listed, for messages
	at   int         // the argument it comes from, to order usage errors
	err  error       // rootProblem: why it cannot be used
}

type expander struct {
	ctx     context.Context
	opts    Options
	now     func() time.Time
	cwd     string
	include []pattern
	exclude []pattern
	res     Result
	seen    map[fileID]struct{}
	// events are the files to open and what else the walk met, in the
	// order met; finish turns them into res in that order.
	events []event
	work   chan *candidate
	done   sync.WaitGroup
	mu     sync.Mutex
	// claimed is the first candidate (by n) reached for each file
	// identity, so that workers do not inspect duplicates.
	claimed map[fileID]int
	usage   []Problem
	// usageAt is the argument of each usage problem, and at the one being
	// planned or expanded: problems are reported in argument order.
	usageAt []int
	at      int
	// pruned are the identities of Options.Prune.
	prune map[fileID]bool
}

func newExpander(ctx context.Context, opts Options) (*expander, error) {
	e := &expander{ctx: ctx, opts: opts, now: opts.Now, seen: make(map[fileID]struct{}), claimed: make(map[fileID]int)}
	if e.now == nil {
		e.now = time.Now
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, &UsageError{Problems: []Problem{{Err: fmt.Errorf(
			"the working directory cannot be found (%w); run vidup from a folder that exists", cause(err))}}}
	}
	e.cwd = cwd
	e.prune = map[fileID]bool{}
	for _, p := range opts.Prune {
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			e.prune[idOf(info, e.abs(p))] = true
		}
	}
	if opts.MinAge < 0 {
		e.usageErr("", &OptionError{Option: MinAge, Value: opts.MinAge.String(), Err: errors.New("is negative")})
	}
	e.include = e.compile(Include, opts.Include)
	e.exclude = e.compile(Exclude, opts.Exclude)
	return e, nil
}

func (e *expander) compile(opt Option, pats []string) []pattern {
	out := make([]pattern, 0, len(pats))
	for _, p := range pats {
		c, err := compilePattern(p)
		if err != nil {
			e.usageErr(p, &OptionError{Option: opt, Value: p, Err: fmt.Errorf("is not a valid pattern: %w", err)})
			continue
		}
		out = append(out, c)
	}
	return out
}

func (e *expander) usageErr(path string, err error) {
	e.usage = append(e.usage, Problem{Path: path, Err: err})
	e.usageAt = append(e.usageAt, e.at)
}

// usageError is the usage problems in argument order, or nil.
func (e *expander) usageError() error {
	if len(e.usage) == 0 {
		return nil
	}
	idx := make([]int, len(e.usage))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return e.usageAt[idx[a]] < e.usageAt[idx[b]] })
	ps := make([]Problem, len(idx))
	for i, j := range idx {
		ps[i] = e.usage[j]
	}
	return &UsageError{Problems: ps}
}

// plan checks every argument and --files-from entry before anything is
// walked, so that a typo in the last argument is reported at once rather
// than after a long walk of the first.
func (e *expander) plan() []root {
	var roots []root
	stdin := 0
	for i, arg := range e.opts.Args {
		e.at = i
		if arg == "-" {
			stdin++
			switch {
			case stdin == 2:
				e.usageErr(arg, errors.New(`"-" (stdin) is given more than once; stdin can be read only once`))
			case stdin > 2:
			case e.opts.StdinName == "":
				e.usageErr(arg, ErrStdinNeedsName)
			case e.opts.FilesFrom == "-":
				e.usageErr(arg, errors.New(`"-" and the list of paths both read stdin; put the list in a file or upload stdin on its own`))
			default:
				roots = append(roots, root{kind: rootStdin, path: "-", rel: e.opts.StdinName})
			}
			continue
		}
		if r, ok := e.planArg(arg); ok {
			r.at = e.at
			roots = append(roots, r)
		}
	}
	if e.opts.FilesFrom != "" {
		e.at = len(e.opts.Args)
		for _, r := range e.planFilesFrom() {
			r.at = e.at
			roots = append(roots, r)
		}
	}
	return roots
}

func (e *expander) planArg(arg string) (root, bool) {
	if arg == "" {
		e.usageErr(arg, errors.New(`an empty argument is not a path; remove it`))
		return root{}, false
	}
	// A path that cannot be looked at (missing, or under a folder that
	// cannot be searched) and has glob characters is a pattern: expanding
	// it reports which folder could not be read.
	if _, err := os.Lstat(arg); err != nil && hasMeta(arg) {
		if err := validPattern(arg); err != nil {
			e.usageErr(arg, fmt.Errorf("pattern %q is not a valid pattern: %w; check its brackets", arg, err))
			return root{}, false
		}
		return root{kind: rootPattern, path: arg}, true
	}
	return e.planPath(arg, "")
}

// planPath checks a path named explicitly: on the command line, or in a
// --files-from list when from is not empty.
func (e *expander) planPath(p, from string) (root, bool) {
	info, err := os.Stat(p)
	if err != nil {
		return root{kind: rootProblem, path: p, err: statError(p, err, from)}, true
	}
	switch {
	case info.IsDir() && !e.opts.Recursive:
		e.usageErr(p, &pathError{path: p, from: from, msg: ErrDirectory.Error(), err: ErrDirectory})
		return root{}, false
	case !info.IsDir() && !info.Mode().IsRegular():
		return root{kind: rootProblem, path: p, err: notRegular(p, info.Mode(), from)}, true
	}
	// A folder is opened now, so that every argument problem is reported
	// in one run rather than one per run; a file is opened once, when it
	// is expanded (its problems are reported in the same run).
	if info.IsDir() {
		if _, err := checkReadable(p); err != nil {
			return root{kind: rootProblem, path: p, err: readError(p, err, from)}, true
		}
	}
	var rel string
	switch {
	case from != "" && !filepath.IsAbs(p) && filepath.IsLocal(p):
		// A list keeps its layout below the working directory, as rsync's
		// --files-from does.
		if rel = filepath.Clean(p); rel == "." {
			rel = ""
		}
	case !info.IsDir():
		rel = filepath.Base(p)
	}
	return root{kind: rootPath, path: p, rel: rel, info: info, from: from}, true
}

func (e *expander) expandRoot(r root) {
	e.at = r.at
	switch r.kind {
	case rootStdin:
		e.events = append(e.events, event{stdin: &asset.Item{Path: asset.StdinPath, Rel: r.rel, Name: r.rel, Stdin: true, Size: asset.UnknownSize}})
	case rootPattern:
		e.expandPattern(r.path)
	case rootProblem:
		e.problem(r.path, r.err)
	case rootPath:
		if r.info.IsDir() {
			e.walk(r.path, r.rel, nil, r.from)
			return
		}
		e.file(r.path, r.rel, r.from, true)
	}
}

// file queues one file candidate for a worker to open and inspect, after
// the filters (which need only its name).
func (e *expander) file(p, rel, from string, explicit bool) {
	if !e.keep(rel) {
		e.res.Filtered++
		return
	}
	c := &candidate{path: p, rel: rel, from: from, explicit: explicit, at: e.at, n: len(e.events)}
	e.events = append(e.events, event{file: c})
	e.work <- c
}

// open checks one candidate, in a worker: readability (by opening it),
// duplicates reached before it, age, then Inspect on the same handle.
func (e *expander) open(c *candidate) {
	if e.ctx.Err() != nil {
		return // Expand returns ctx's error; nothing is opened any more
	}
	h, err := os.OpenFile(c.path, openFlags, 0)
	if err != nil {
		c.fail = readError(c.path, err, c.from)
		return
	}
	defer h.Close()
	info, err := h.Stat()
	if err != nil {
		c.fail = readError(c.path, err, c.from)
		return
	}
	if !info.Mode().IsRegular() {
		// Replaced between listing and opening.
		c.fail = notRegular(c.path, info.Mode(), c.from)
		return
	}
	c.abs = e.abs(c.path)
	c.id = idOf(info, c.abs)
	c.opened = true
	e.mu.Lock()
	first, dup := e.claimed[c.id]
	if !dup || c.n < first {
		e.claimed[c.id] = c.n
	}
	e.mu.Unlock()
	if dup && first < c.n {
		return // finish drops it: the earlier one is listed
	}
	if e.opts.MinAge > 0 {
		if age := e.now().Sub(info.ModTime()); age < e.opts.MinAge {
			c.tooRecent = &TooRecentError{Age: age, MinAge: e.opts.MinAge}
			if age < 0 {
				c.tooRecent.Age, c.tooRecent.Future = -age, true
			}
			return
		}
	}
	it := &asset.Item{
		Path:    c.path,
		Abs:     c.abs,
		Rel:     c.rel,
		Name:    filepath.Base(c.path),
		Info:    info,
		Size:    info.Size(),
		ModTime: info.ModTime(),
	}
	if e.opts.Inspect != nil {
		if err := e.opts.Inspect(h, info, it); err != nil {
			c.inspectErr = err
			return
		}
	}
	c.item = it
}

// settle adds what a worker found of c to the result, in the walk's order:
// the first candidate of each file identity counts, the others are
// dropped. A file that cannot be opened fails alone, named or found.
func (e *expander) settle(c *candidate) {
	if c.fail != nil {
		e.res.Problems = append(e.res.Problems, Problem{Path: c.path, Err: c.fail})
		return
	}
	if !c.opened {
		return // cancelled before it was opened
	}
	if _, dup := e.seen[c.id]; dup {
		return
	}
	e.seen[c.id] = struct{}{}
	switch {
	case c.tooRecent != nil:
		e.res.Skipped = append(e.res.Skipped, Skip{Path: c.path, Reason: c.tooRecent.Error(), Why: c.tooRecent})
	case c.inspectErr != nil:
		// Not a usage error even when named: the file is there and
		// readable, but cannot be uploaded now (say, it is changing).
		e.res.Problems = append(e.res.Problems, Problem{Path: c.path, Err: c.inspectErr})
	case c.item != nil:
		e.res.Files = append(e.res.Files, c.item)
	}
}

// checkReadable opens p to prove it can be read, and returns the
// information of what was opened. O_NONBLOCK keeps a file swapped for a
// named pipe since it was listed from blocking the open.
func checkReadable(p string) (fs.FileInfo, error) {
	f, err := os.OpenFile(p, openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// keep applies Include and Exclude to a file's Rel.
func (e *expander) keep(rel string) bool {
	rel = filepath.ToSlash(rel)
	base := baseOf(rel)
	for _, p := range e.exclude {
		if p.match(rel, base) {
			return false
		}
	}
	if len(e.include) == 0 {
		return true
	}
	for _, p := range e.include {
		if p.match(rel, base) {
			return true
		}
	}
	return false
}

// pruned reports whether a folder met while walking is excluded.
func (e *expander) pruned(rel string) bool {
	rel = filepath.ToSlash(rel)
	base := baseOf(rel)
	for _, p := range e.exclude {
		if p.match(rel, base) {
			return true
		}
	}
	return false
}

func (e *expander) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(e.cwd, p)
}

// skip, skipFor and problem record what the walk meets in order with the
// files it queues; finish adds them to res.
func (e *expander) skip(p, reason string) {
	e.events = append(e.events, event{skip: &Skip{Path: p, Reason: reason}})
}

// skipFor skips p for a reason the caller may advise on.
func (e *expander) skipFor(p string, why error) {
	e.events = append(e.events, event{skip: &Skip{Path: p, Reason: why.Error(), Why: why}})
}

func (e *expander) problem(p string, err error) {
	e.events = append(e.events, event{problem: &Problem{Path: p, Err: err}})
}

func baseOf(slashPath string) string {
	if i := strings.LastIndexByte(slashPath, '/'); i >= 0 {
		return slashPath[i+1:]
	}
	return slashPath
}

// joinPath joins a name onto a path as given, without cleaning it, so that
// Item.Path reads like what the user typed.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	if os.IsPathSeparator(dir[len(dir)-1]) {
		return dir + name
	}
	return dir + string(filepath.Separator) + name
}

func joinRel(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + string(filepath.Separator) + name
}
