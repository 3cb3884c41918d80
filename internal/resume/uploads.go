package resume

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
)

// Unfinished lists the uploads of the journal that are not registered,
// oldest first: still uploading, or complete and waiting for their
// registration (the outbox). An entry that cannot be read does not hide the
// others: they are returned with an error.
func (t *Tracker) Unfinished() ([]*journal.Entry, error) {
	all, err := t.store.List()
	var out []*journal.Entry
	for _, e := range all {
		if e.State != journal.Registered {
			out = append(out, e)
		}
	}
	return out, err
}

// Get is the journal's entry id (its error wraps journal.ErrNotFound when
// there is none).
func (t *Tracker) Get(id string) (*journal.Entry, error) { return t.store.Get(id) }

// Done is how much of an entry's object is on S3: all of it once complete,
// else the sum of its recorded parts.
func Done(e *journal.Entry) int64 {
	if e.State == journal.Completed || e.State == journal.Registered {
		return e.Size
	}
	return asset.Bytes(e.Parts)
}

// NotResumableError is an unfinished upload whose file cannot be read
// again: it came from standard input, or its file is gone or unreadable.
type NotResumableError struct {
	ID   string
	Name string // the name it was uploaded as
	Path string // "" for standard input
	Err  error  // why the file cannot be opened; nil for standard input
}

func (e *NotResumableError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("upload %s of %s came from standard input and cannot be resumed", e.ID, e.Name)
	}
	return fmt.Sprintf("upload %s cannot be resumed: %v", e.ID, e.Err)
}

func (e *NotResumableError) Unwrap() error { return e.Err }

// ClaimError is a file of an unfinished upload that could not be claimed.
type ClaimError struct {
	ID, Path string
	Err      error
}

func (e *ClaimError) Error() string { return fmt.Sprintf("upload %s: %s: %v", e.ID, e.Path, e.Err) }
func (e *ClaimError) Unwrap() error { return e.Err }

// Pending is what a run that resumes every unfinished upload works on.
type Pending struct {
	// Files are claimed: upload them with the tracker's Hooks, then call
	// Release.
	Files []*asset.Item
	// Problems are the uploads that cannot be resumed
	// (*NotResumableError) or claimed (*ClaimError).
	Problems []error
	// Skipped are the files another run holds, or registered meanwhile.
	Skipped []Skipped
	// ListErr: some entries of the journal cannot be read.
	ListErr error
	// Release releases every claim; safe to call more than once.
	Release func()
}

// Skipped is a file Pending does not resume, and why.
type Skipped struct {
	Path string
	Skip *Skip
}

// Pending opens and claims the file of every unfinished upload of the
// journal, once per file, for a run that continues them all.
func (t *Tracker) Pending() Pending {
	entries, listErr := t.Unfinished()
	p := Pending{ListErr: listErr}
	var releases []func()
	p.Release = func() {
		for _, r := range releases {
			r()
		}
		releases = nil
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Source.IsZero() {
			p.Problems = append(p.Problems, &NotResumableError{ID: e.ID, Name: e.Name})
			continue
		}
		path := e.Source.Path
		if seen[path] {
			continue
		}
		seen[path] = true
		f, err := transfer.Open(path, e.ContentType)
		if err != nil {
			p.Problems = append(p.Problems, &NotResumableError{ID: e.ID, Name: e.Name, Path: path, Err: err})
			continue
		}
		c, err := t.Claim(f, false)
		if err != nil {
			p.Problems = append(p.Problems, &ClaimError{ID: e.ID, Path: path, Err: err})
			continue
		}
		releases = append(releases, c.Release)
		if c.Skip != nil {
			p.Skipped = append(p.Skipped, Skipped{Path: path, Skip: c.Skip})
			continue
		}
		p.Files = append(p.Files, f)
	}
	return p
}

// Aborter aborts a multipart upload on S3 with fresh credentials of its
// session (transfer.Engine does). An upload S3 no longer has is not an
// error; a session the API forgot wraps contract.ErrSessionGone.
type Aborter interface {
	Abort(ctx context.Context, ref asset.Upload) error
}

// Outcome is what Abort did with an entry.
type Outcome int

// The outcomes of Abort.
const (
	// Aborted: the multipart upload was aborted on S3 and the entry forgotten.
	Aborted Outcome = iota + 1
	// ForgotRegistered: the entry was the record of a registered video.
	ForgotRegistered
	// ForgotUnregistered: the object is complete on S3 but was never
	// registered; it stays there.
	ForgotUnregistered
	// ForgotSessionGone: the API forgot the session, so S3 could not be
	// asked to abort; the bucket's lifecycle rule cleans the parts.
	ForgotSessionGone
)

// AbortError is an upload that S3 could not be made to abort; its entry is
// kept, so that a later attempt can.
type AbortError struct{ Err error }

func (e *AbortError) Error() string { return fmt.Sprintf("%v; the entry is kept", e.Err) }
func (e *AbortError) Unwrap() error { return e.Err }

// Abort gives up the upload e: it aborts its multipart upload on S3 (with
// ab) and forgets it. A file another run is uploading now is left alone
// (the error wraps ErrBusy).
func (t *Tracker) Abort(ctx context.Context, ab Aborter, e *journal.Entry) (Outcome, error) {
	if key := e.Source.Key(); key != "" {
		unlock, ok, err := t.store.Lock(key)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, ErrBusy
		}
		defer unlock()
	}
	out := Aborted
	switch {
	case e.State == journal.Registered:
		out = ForgotRegistered
	case e.State == journal.Completed || e.S3UploadID == "":
		out = ForgotUnregistered
	default:
		err := ab.Abort(ctx, e.Upload)
		switch {
		case errors.Is(err, contract.ErrSessionGone):
			out = ForgotSessionGone
		case err != nil:
			return 0, &AbortError{Err: err}
		}
	}
	if err := t.store.Delete(e.ID); err != nil {
		return 0, err
	}
	return out, nil
}

// Prune forgets the records of registered uploads last updated more than
// olderThan ago, and the leftovers of interrupted journal writes; it says
// how many records it forgot.
func (t *Tracker) Prune(olderThan time.Duration) (int, error) { return t.store.Prune(olderThan) }
