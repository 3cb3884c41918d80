// Package resume is vidup's resume module: it claims each file before a run
// uploads it, records the upload as it goes (transfer.Hooks over the
// journal), decides what becomes of what earlier runs left (Decide, a pure
// function), and lists, resumes and aborts the unfinished uploads of the
// journal for `vidup uploads`.
//
// A run claims each file first (Claim: reads its identity, takes its lock,
// never contacts the API), uploads the claimed ones with Hooks, and
// releases them. Its errors and skips carry facts, not advice: the command
// line says what to do about them.
package resume

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
)

// Run is what an upload run needs of the resume module: a claim on each
// file before it is uploaded, and the engine's hooks that record the
// uploads. *Tracker implements it over the journal; command tests replace
// it.
type Run interface {
	// Claim decides whether it is uploaded in this run and, when it is,
	// locks it until the Claim's Release.
	Claim(it *asset.Item, force bool) (Claim, error)
	Hooks() transfer.Hooks
	// Err reports journal writes that failed (the uploads went on).
	Err() error
	Close() error
}

var _ Run = (*Tracker)(nil)

// Tracker is an open journal and the files claimed from it by this run.
type Tracker struct {
	store *journal.Store

	mu     sync.Mutex
	claims map[*asset.Item]*claim
	// problems: journal writes that failed, reported once by Err.
	problems []error
}

// claim is one file of the run.
type claim struct {
	id journal.Identity
	// entries of this run's uploads of the file, by upload id; nil until
	// the first (most claims of a run wait for their turn without one).
	entries map[string]*journal.Entry
}

// put records e as the entry of upload id; the caller holds the tracker's
// lock.
func (c *claim) put(uploadID string, e *journal.Entry) {
	if c.entries == nil {
		c.entries = map[string]*journal.Entry{}
	}
	c.entries[uploadID] = e
}

// Claim is the answer of Tracker.Claim.
type Claim struct {
	// Skip, when not nil: do not upload the file, and why.
	Skip *Skip
	// Release releases the file's lock; call it when its upload ends. It
	// is never nil and safe to call more than once.
	Release func()
}

// Skip is why a run does not upload a file: another run holds it (Busy),
// or it was uploaded and registered before (VideoID, RegisteredAt).
type Skip struct {
	Busy         bool
	VideoID      string
	RegisteredAt time.Time
}

func (s *Skip) String() string {
	if s.Busy {
		return "another vidup run is uploading it now"
	}
	return fmt.Sprintf("already uploaded and registered as video %s on %s", s.VideoID, s.RegisteredAt.Local().Format(time.DateOnly))
}

// ErrBusy is the error (wrapped) when another vidup run holds the file an
// upload belongs to.
var ErrBusy = errors.New("another vidup run is uploading it now")

// Open opens the journal in stateDir ("" is journal.DefaultDir()).
func Open(stateDir string) (*Tracker, error) {
	if stateDir == "" {
		stateDir = journal.DefaultDir()
	}
	s, err := journal.Open(stateDir)
	if err != nil {
		return nil, err
	}
	return &Tracker{store: s, claims: map[*asset.Item]*claim{}}, nil
}

// Dir is the state folder of the journal.
func (t *Tracker) Dir() string { return t.store.Dir() }

// Close releases what the tracker holds: the journal's run log, which the
// next run folds into the journal. Locks are released by each Claim's
// Release.
func (t *Tracker) Close() error { return t.store.Close() }

var nopClaim = Claim{Release: func() {}}

// Claim decides whether it is uploaded in this run, without contacting
// the API or opening the file again (its identity is what was read when it
// was found): a file the journal records as registered with the same identity
// is skipped unless force, and a file another run is uploading now (its
// lock is held) is skipped. Otherwise the file is locked until Release.
// Sources that cannot be resumed (stdin, pipes) are never skipped nor
// recorded.
func (t *Tracker) Claim(it *asset.Item, force bool) (Claim, error) {
	if it.Stdin {
		return nopClaim, nil
	}
	id, err := journal.IdentityOfItem(it)
	if errors.Is(err, journal.ErrNotRegular) {
		return nopClaim, nil
	}
	if err != nil {
		return nopClaim, err
	}
	unlock, ok, err := t.store.Lock(id.Key())
	if err != nil {
		return nopClaim, err
	}
	if !ok {
		return Claim{Skip: &Skip{Busy: true}, Release: func() {}}, nil
	}
	if !force {
		e, err := t.store.FindBySource(id)
		switch {
		case err == nil && Decide(e, id, transfer.S3State{}).Action == transfer.Skip:
			unlock()
			return Claim{Skip: &Skip{VideoID: e.VideoID, RegisteredAt: e.UpdatedAt}, Release: func() {}}, nil
		case err != nil && !errors.Is(err, journal.ErrNotFound):
			unlock()
			return nopClaim, err
		}
	}
	k := it
	t.mu.Lock()
	t.claims[k] = &claim{id: id}
	t.mu.Unlock()
	var once sync.Once
	return Claim{Release: func() {
		once.Do(func() {
			t.mu.Lock()
			delete(t.claims, k)
			t.mu.Unlock()
			unlock()
		})
	}}, nil
}

// Err reports the journal writes that failed during the run (the uploads
// went on; what was not recorded is uploaded again by a later run).
func (t *Tracker) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Join(t.problems...)
}

func (t *Tracker) problem(err error) {
	if err == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.problems) < 10 {
		t.problems = append(t.problems, err)
	}
}

// Hooks returns the engine hooks that record the run in the journal.
func (t *Tracker) Hooks() transfer.Hooks { return hooks{t} }

// Registered reports, without taking a lock or writing anything, whether
// the journal records path as uploaded and registered, unchanged since: the
// skip a dry run shows. It is nil when not, or when the journal cannot say.
func (t *Tracker) Registered(it *asset.Item) *Skip {
	id, err := journal.IdentityOfItem(it)
	if err != nil {
		return nil
	}
	e, err := t.store.FindBySource(id)
	if err != nil || Decide(e, id, transfer.S3State{}).Action != transfer.Skip {
		return nil
	}
	return &Skip{VideoID: e.VideoID, RegisteredAt: e.UpdatedAt}
}
