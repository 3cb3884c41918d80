package cli

import (
	"errors"
	"fmt"

	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/resume"
)

// advisedError is an error of a lower layer with what to do about it, which
// only the command line can say (it names commands and flags).
type advisedError struct {
	err    error
	advice string // with its leading separator
}

func (e *advisedError) Error() string { return e.err.Error() + e.advice }
func (e *advisedError) Unwrap() error { return e.err }

// adviseResume completes an error of the resume module or the journal
// with what to do next; other errors are returned as they are.
func adviseResume(err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		// Each problem of a list gets its own advice.
		errs := j.Unwrap()
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = adviseResume(e)
		}
		return errors.Join(out...)
	}
	if a := resumeAdvice(err); a != "" {
		return &advisedError{err: err, advice: a}
	}
	return err
}

// resumeAdvice is the advice table of the resume module's typed errors.
func resumeAdvice(err error) string {
	var (
		nr *resume.NotResumableError
		ab *resume.AbortError
	)
	switch {
	case errors.As(err, &nr):
		return fmt.Sprintf("; abort it with `vidup uploads abort %s`", nr.ID)
	case errors.Is(err, resume.ErrBusy):
		return "; stop that run first"
	case errors.As(err, &ab):
		return ", try again later"
	}
	return journalAdvice(err)
}

// skipReason is why vidup upload skips a file, for the user.
func skipReason(s *resume.Skip) string {
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
		return ": " + stateDir + " (or HOME, for the default)"
	case errors.As(err, &fe):
		switch fe.Problem {
		case journal.FolderNotAFolder:
			return "; " + stateDir + " to a folder"
		case journal.FolderOtherOwner:
			return "; " + stateDir + " to a folder of yours"
		case journal.FolderOpen:
			return "; make it private with: chmod 700 " + fe.Dir
		}
		if fe.Create {
			return "; " + stateDir + " to a folder you can write"
		}
	case errors.As(err, &ee):
		switch ee.Problem {
		case journal.EntryMissing:
			return "; list the uploads with `vidup uploads`"
		case journal.EntryDamaged, journal.EntryMisnamed:
			return "; remove it with `vidup uploads abort " + ee.ID + "`"
		case journal.EntryOtherFormat:
			return "; use that version to resume or abort it"
		}
	}
	return ""
}
