package cli

import (
	"errors"
	"fmt"

	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/resume"
)

// resumeAdvice says what to do about the resume module's and the journal's
// typed errors: rows of the advice table whose sentence depends on the
// error (an upload id, a folder). advise asks it after the table.
func resumeAdvice(err error) string {
	var (
		nr *resume.NotResumableError
		ab *resume.AbortError
	)
	switch {
	case errors.As(err, &nr):
		return fmt.Sprintf("abort it with `vidup uploads abort %s`", nr.ID)
	case errors.Is(err, resume.ErrBusy):
		return "stop that run first"
	case errors.As(err, &ab):
		return "try again later"
	}
	return journalAdvice(err)
}

// claimSkipReason is why the resume module skips a file, for the user.
func claimSkipReason(s *resume.Skip) string {
	if s.Busy {
		return s.String()
	}
	return s.String() + "; --force uploads it again"
}

// journalAdvice is the advice table of the journal's typed errors.
func journalAdvice(err error) string {
	const stateDir = "set --state-dir or VIDUP_STATE_DIR"
	var (
		fe *journal.FolderError
		ee *journal.EntryError
	)
	switch {
	case errors.Is(err, journal.ErrNoStateDir):
		return stateDir + " (or HOME, for the default)"
	case errors.As(err, &fe):
		switch fe.Problem {
		case journal.FolderNotAFolder:
			return stateDir + " to a folder"
		case journal.FolderOtherOwner:
			return stateDir + " to a folder of yours"
		case journal.FolderOpen:
			return "make it private with: chmod 700 " + fe.Dir
		}
		if fe.Create {
			return stateDir + " to a folder you can write"
		}
	case errors.As(err, &ee):
		switch ee.Problem {
		case journal.EntryMissing:
			return "list the uploads with `vidup uploads`"
		case journal.EntryDamaged, journal.EntryMisnamed:
			return "remove it with `vidup uploads abort " + ee.ID + "`"
		case journal.EntryOtherFormat:
			return "use that version to resume or abort it"
		}
	}
	return ""
}
