package sources

import (
	"fmt"
	"github.com/vidup/vidup/internal/units"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// ancestor is a folder on the path from a walk's root to where it is now.
// Comparing identities on that path alone (not every folder seen) catches
// loops without remembering the whole tree.
type ancestor struct {
	id   fileID
	path string
}

// readDir lists dir in name order and returns its identity.
func (e *expander) readDir(dir string) ([]fs.DirEntry, fileID, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fileID{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fileID{}, err
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fileID{}, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, idOf(info, e.abs(dir)), nil
}

// loop reports whether id is already on the path from the root and, if so,
// records the folder as skipped.
func (e *expander) loop(dir string, id fileID, stack []ancestor) bool {
	for _, a := range stack {
		if a.id == id {
			e.skip(dir, fmt.Sprintf("leads back to %s, a folder above it; not entered again", units.Path(a.path)))
			return true
		}
	}
	return false
}

// walk handles what folder dir holds, in name order. rel is dir's Rel. A
// folder that cannot be listed is a problem and the walk goes on; a folder
// in Prune is not entered.
func (e *expander) walk(dir, rel string, stack []ancestor, from string) {
	if e.ctx.Err() != nil {
		return
	}
	entries, id, err := e.readDir(dir)
	if err != nil {
		e.problem(dir, readError(dir, err, from))
		return
	}
	if e.prune[id] || e.loop(dir, id, stack) {
		return
	}
	stack = append(stack, ancestor{id: id, path: dir})
	for _, d := range entries {
		e.entry(joinPath(dir, d.Name()), joinRel(rel, d.Name()), d.Type(), stack)
	}
}

// entry handles one thing found while walking.
func (e *expander) entry(p, rel string, typ fs.FileMode, stack []ancestor) {
	if typ&fs.ModeSymlink != 0 {
		if e.pruned(rel) {
			e.res.Filtered++
			return
		}
		if !e.opts.FollowSymlinks {
			e.skipFor(p, ErrLinkNotFollowed)
			return
		}
		info, err := os.Stat(p)
		if err != nil {
			e.problem(p, statError(p, err, ""))
			return
		}
		typ = info.Mode().Type()
	}
	switch {
	case typ.IsDir():
		if e.pruned(rel) {
			e.res.Filtered++
			return
		}
		e.walk(p, rel, stack, "")
	case typ.IsRegular():
		e.file(p, rel, "", false)
	case !e.keep(rel):
		e.res.Filtered++
	default:
		e.skipFor(p, &NotRegularError{Kind: kindOf(typ)})
	}
}
