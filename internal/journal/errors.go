package journal

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrNoStateDir is the error of Open when no state folder is known: none
// was given and there is no home folder for the default.
var ErrNoStateDir = errors.New("no state folder")

// FolderProblem is what is wrong with a state folder.
type FolderProblem int

// The problems of a state folder.
const (
	// FolderUnusable: it cannot be made or looked at (FolderError.Err).
	FolderUnusable FolderProblem = iota + 1
	// FolderNotAFolder: something else has its name.
	FolderNotAFolder
	// FolderOtherOwner: it belongs to another user (FolderError.UID).
	FolderOtherOwner
	// FolderOpen: others may read or write it (FolderError.Mode).
	FolderOpen
)

// FolderError is a state folder the journal refuses or cannot use.
type FolderError struct {
	Dir     string
	Problem FolderProblem
	// Create: FolderUnusable because it could not be created.
	Create bool
	UID    int
	Mode   fs.FileMode
	Err    error
}

func (e *FolderError) Error() string {
	switch e.Problem {
	case FolderNotAFolder:
		return fmt.Sprintf("state folder %s is not a folder", e.Dir)
	case FolderOtherOwner:
		return fmt.Sprintf("state folder %s belongs to another user (uid %d)", e.Dir, e.UID)
	case FolderOpen:
		return fmt.Sprintf("state folder %s has mode %04o, open to other users", e.Dir, e.Mode.Perm())
	}
	if e.Create {
		return fmt.Sprintf("create the state folder %s: %v", e.Dir, e.Err)
	}
	return fmt.Sprintf("state folder %s: %v", e.Dir, e.Err)
}

func (e *FolderError) Unwrap() error { return e.Err }

// EntryProblem is what is wrong with an entry of the journal.
type EntryProblem int

// The problems of an entry.
const (
	// EntryMissing: there is no such entry (EntryError.Err is ErrNotFound).
	EntryMissing EntryProblem = iota + 1
	// EntryDamaged: its header cannot be decoded (EntryError.Err says why).
	EntryDamaged
	// EntryMisnamed: its header names another entry (EntryError.Names).
	EntryMisnamed
	// EntryOtherFormat: another version of vidup wrote it, in a format
	// this one does not read (EntryError.Format).
	EntryOtherFormat
)

// EntryError is an entry of the journal that cannot be read.
type EntryError struct {
	ID      string
	Path    string // its header file
	Problem EntryProblem
	Names   string // EntryMisnamed
	Format  int    // EntryOtherFormat
	Err     error
}

func (e *EntryError) Error() string {
	switch e.Problem {
	case EntryMissing:
		return fmt.Sprintf("journal: upload %s: %v", e.ID, ErrNotFound)
	case EntryDamaged:
		return fmt.Sprintf("journal: upload %s: %s is damaged (%v)", e.ID, e.Path, e.Err)
	case EntryMisnamed:
		return fmt.Sprintf("journal: upload %s: %s names upload %q", e.ID, e.Path, e.Names)
	}
	return fmt.Sprintf("journal: upload %s was written by another version of vidup (format %d, this one reads %d)", e.ID, e.Format, headerVersion)
}

func (e *EntryError) Unwrap() error { return e.Err }
