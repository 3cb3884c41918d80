package sources

import (
	"errors"
	"fmt"
	"time"

	"github.com/vidup/vidup/internal/units"
)

// The facts below tell the caller why a path was skipped or an option
// refused. Their messages say what is so, never which flag to change: the
// command line's advice table (internal/cli/advice.go) adds that.

var (
	// ErrDirectory is a folder named or matched without Recursive.
	ErrDirectory = errors.New("is a directory")
	// ErrLinkNotFollowed is a symbolic link met while walking, not
	// followed because FollowSymlinks is off.
	ErrLinkNotFollowed = errors.New("symbolic link")
	// ErrLinkedFolderNotFollowed is a symbolic link to a folder met by **,
	// not followed because FollowSymlinks is off.
	ErrLinkedFolderNotFollowed = errors.New("symbolic link to a folder")
	// ErrStdinNeedsName is "-" without StdinName.
	ErrStdinNeedsName = errors.New(`"-" reads the video from stdin and needs a name`)
)

// NotRegularError is a named pipe, socket or device met while walking a
// folder or expanding a pattern: skipped, never opened (opening a pipe
// would wait for a writer), so a watch folder that holds one still runs
// clean.
type NotRegularError struct {
	Kind string // "named pipe", "socket", "character device", ...
}

func (e *NotRegularError) Error() string { return "is a " + e.Kind + ", not a regular file; not read" }

// TooRecentError is a file modified within MinAge: it may still be being
// written. Future is set when its time is ahead of this machine's clock.
type TooRecentError struct {
	Age    time.Duration // how long ago it was modified (in the future: how far ahead)
	MinAge time.Duration
	Future bool
}

func (e *TooRecentError) Error() string {
	if e.Future {
		return fmt.Sprintf("modified %s in the future by this machine's clock, so within the minimum age of %s; check the clocks, it may still be being written",
			e.Age.Round(time.Second), e.MinAge)
	}
	return fmt.Sprintf("modified %s ago, more recently than the minimum age of %s; it may still be being written",
		e.Age.Round(time.Second), e.MinAge)
}

// Option names an option of Options in OptionError.
type Option int

const (
	MinAge Option = iota + 1
	Include
	Exclude
	FilesFrom
)

func (o Option) String() string {
	switch o {
	case MinAge:
		return "minimum age"
	case Include:
		return "include pattern"
	case Exclude:
		return "exclude pattern"
	case FilesFrom:
		return "list of paths"
	}
	return "option"
}

// OptionError is an option's value that cannot be used.
type OptionError struct {
	Option Option
	Value  string
	// NoStdin: the list of paths is "-" but there is no stdin.
	NoStdin bool
	Err     error // what is wrong with the value
}

func (e *OptionError) Error() string {
	if e.NoStdin {
		return fmt.Sprintf("the %s is to be read from stdin, but there is no stdin here", e.Option)
	}
	return fmt.Sprintf("%s %s %v", e.Option, quoteValue(e.Option, e.Value), e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }

func quoteValue(o Option, v string) string {
	if o == MinAge {
		return v
	}
	return fmt.Sprintf("%q", v)
}

// listedIn says where a path came from: a line of the list of paths.
func listedIn(list, unit string, n int) string {
	return fmt.Sprintf("listed in %s, %s %d", units.Path(list), unit, n)
}
