package sources

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// hasMeta reports whether s holds a glob character.
func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[") }

// pattern is a compiled --include or --exclude pattern.
type pattern struct {
	raw  string
	segs []string // nil when the pattern has no '/': it matches base names
}

func compilePattern(p string) (pattern, error) {
	if err := validPattern(p); err != nil {
		return pattern{}, err
	}
	if !strings.Contains(p, "/") {
		return pattern{raw: p}, nil
	}
	// A leading '/' anchors at the root, which a pattern with '/' is
	// anyway.
	return pattern{raw: p, segs: splitPattern(strings.TrimPrefix(p, "/"))}, nil
}

// validPattern checks every segment's syntax: path.Match reports a bad
// pattern only when it gets that far in a name.
func validPattern(p string) error {
	for _, s := range strings.Split(p, "/") {
		if s == "**" {
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			return err
		}
	}
	return nil
}

// splitPattern splits at '/', dropping empty segments and folding "**/**"
// into one "**" (the same match, without the repeated work).
func splitPattern(p string) []string {
	var segs []string
	for _, s := range strings.Split(p, "/") {
		if s == "" || s == "**" && len(segs) > 0 && segs[len(segs)-1] == "**" {
			continue
		}
		segs = append(segs, s)
	}
	return segs
}

// match reports whether the pattern matches a file's Rel (with '/'
// separators) or its base name.
func (p pattern) match(rel, base string) bool {
	if p.segs == nil {
		ok, _ := path.Match(p.raw, base)
		return ok
	}
	return matchSegs(p.segs, strings.Split(rel, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			pat = pat[1:]
			if len(pat) == 0 {
				return true
			}
			for i := range name {
				if matchSegs(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// globMatch is one path a pattern matched, before it is looked at.
type globMatch struct{ path, rel string }

// expandPattern expands a glob pattern argument. Its matches are sorted as
// a walk would meet them and handled like paths named on the command line.
func (e *expander) expandPattern(pat string) {
	segs := strings.Split(pat, "/")
	i := 0
	for i < len(segs) && !hasMeta(segs[i]) {
		i++
	}
	prefix := strings.Join(segs[:i], "/")
	if prefix == "" && strings.HasPrefix(pat, "/") {
		prefix = "/"
	}
	met := len(e.events)
	var matches []globMatch
	e.globDir(prefix, "", splitPattern(strings.Join(segs[i:], "/")), nil, &matches)
	if e.ctx.Err() != nil {
		return
	}
	if len(matches) == 0 {
		// What could not be read explains why nothing matched.
		kept := e.events[:met]
		for _, ev := range e.events[met:] {
			if ev.problem != nil {
				e.usageErr(ev.problem.Path, ev.problem.Err)
			} else {
				kept = append(kept, ev)
			}
		}
		e.events = kept
		e.usageErr(pat, fmt.Errorf("pattern %q matches no files; check it, and quote it so that vidup expands it rather than the shell", pat))
		return
	}
	slices.SortFunc(matches, func(a, b globMatch) int { return comparePaths(a.rel, b.rel) })
	matches = slices.CompactFunc(matches, func(a, b globMatch) bool { return a.rel == b.rel })
	for _, m := range matches {
		e.matched(m)
	}
}

// comparePaths orders paths as a walk in name order meets them: a
// separator sorts before any other byte, so "a/b" comes before "a.b".
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		switch {
		case os.IsPathSeparator(ca):
			return -1
		case os.IsPathSeparator(cb):
			return 1
		case ca < cb:
			return -1
		default:
			return 1
		}
	}
	return len(a) - len(b)
}

// globDir matches segs against what folder dir holds. dir is "" for the
// working directory, so that paths stay as the user wrote them.
func (e *expander) globDir(dir, rel string, segs []string, stack []ancestor, out *[]globMatch) {
	if e.ctx.Err() != nil {
		return
	}
	listed := dir
	if listed == "" {
		listed = "."
	}
	entries, id, err := e.readDir(listed)
	if err != nil {
		if len(stack) == 0 && isNotExist(cause(err)) {
			return // the pattern's fixed part does not exist: no match
		}
		e.problem(listed, readError(listed, err, ""))
		return
	}
	if e.prune[id] || e.loop(listed, id, stack) {
		return
	}
	e.globIn(dir, rel, entries, segs, append(stack, ancestor{id: id, path: listed}), out)
}

func (e *expander) globIn(dir, rel string, entries []fs.DirEntry, segs []string, stack []ancestor, out *[]globMatch) {
	if len(segs) == 0 {
		return
	}
	seg := segs[0]
	if seg == "**" && len(segs) > 1 {
		// Zero folders: the rest of the pattern, right here.
		e.globIn(dir, rel, entries, segs[1:], stack, out)
	}
	for _, d := range entries {
		p, r := joinPath(dir, d.Name()), joinRel(rel, d.Name())
		if seg == "**" {
			isDir := d.IsDir()
			if d.Type()&fs.ModeSymlink != 0 {
				info, err := os.Stat(p)
				isDir = err == nil && info.IsDir()
				if isDir && !e.opts.FollowSymlinks {
					e.skipFor(p, ErrLinkedFolderNotFollowed)
					continue
				}
			}
			switch {
			case isDir && e.pruned(r):
				e.res.Filtered++
			case isDir:
				e.globDir(p, r, segs, stack, out)
			case len(segs) == 1:
				*out = append(*out, globMatch{path: p, rel: r})
			}
			continue
		}
		if ok, _ := path.Match(seg, d.Name()); !ok {
			continue
		}
		if len(segs) == 1 {
			*out = append(*out, globMatch{path: p, rel: r})
			continue
		}
		// A folder in the middle of a pattern is entered through links, as
		// a shell would: its depth is bounded by the pattern.
		if d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			if info, err := os.Stat(p); err == nil && info.IsDir() {
				e.globDir(p, r, segs[1:], stack, out)
			}
		}
	}
}

// matched handles one path a pattern matched, like a path named on the
// command line except that problems do not stop the run.
func (e *expander) matched(m globMatch) {
	info, err := os.Stat(m.path)
	if err != nil {
		e.problem(m.path, statError(m.path, err, ""))
		return
	}
	switch {
	case info.IsDir() && e.pruned(m.rel):
		e.res.Filtered++
	case info.IsDir() && !e.opts.Recursive:
		e.skipFor(m.path, ErrDirectory)
	case info.IsDir():
		e.walk(m.path, m.rel, nil, "")
	case info.Mode().IsRegular():
		e.file(m.path, m.rel, "", false)
	case !e.keep(m.rel):
		e.res.Filtered++
	default:
		e.skipFor(m.path, &NotRegularError{Kind: kindOf(info.Mode())})
	}
}
