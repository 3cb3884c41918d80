// Package resume connects the upload engine to the journal: it records
// every upload as it goes (transfer.Hooks), tells the engine what earlier
// runs left of a file, and decides before a run which files to skip
// (already registered, or being uploaded by another vidup run right now).
//
// A run claims each file first (Claim: reads its identity, takes its lock,
// never contacts the API), uploads the claimed ones with Hooks, and
// releases them.
package resume

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
)

// Tracker is an open journal and the files claimed from it by this run.
type Tracker struct {
	store *journal.Store

	mu     sync.Mutex
	claims map[string]*claim // by absolute path
	// problems: journal writes that failed, reported once by Err.
	problems []error
}

// claim is one file of the run.
type claim struct {
	id    journal.Identity
	force bool
	// entries of this run's uploads of the file, by upload id.
	entries map[string]*journal.Entry
}

// Claim is the answer of Tracker.Claim.
type Claim struct {
	// Skip: do not upload the file; Reason says why.
	Skip   bool
	Reason string
	// Release releases the file's lock; call it when its upload ends. It
	// is never nil and safe to call more than once.
	Release func()
}

// Open opens the journal in stateDir ("" is journal.DefaultDir()).
func Open(stateDir string) (*Tracker, error) {
	if stateDir == "" {
		stateDir = journal.DefaultDir()
	}
	s, err := journal.Open(stateDir)
	if err != nil {
		return nil, err
	}
	return &Tracker{store: s, claims: map[string]*claim{}}, nil
}

// Store is the journal the tracker writes.
func (t *Tracker) Store() *journal.Store { return t.store }

// Close releases what the tracker holds. Locks are released by each
// Claim's Release.
func (t *Tracker) Close() error { return nil }

func key(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// Claim decides whether path is uploaded in this run, without contacting
// the API: a file the journal records as registered with the same identity
// is skipped unless force, and a file another run is uploading now (its
// lock is held) is skipped. Otherwise the file is locked until Release.
// Sources that cannot be resumed (stdin, pipes) are never skipped nor
// recorded.
func (t *Tracker) Claim(path string, force bool) (Claim, error) {
	nop := Claim{Release: func() {}}
	if path == "-" {
		return nop, nil
	}
	id, err := journal.IdentityOf(path)
	if errors.Is(err, journal.ErrNotRegular) {
		return nop, nil
	}
	if err != nil {
		return nop, err
	}
	unlock, ok, err := t.store.Lock(id.Key())
	if err != nil {
		return nop, err
	}
	if !ok {
		return Claim{Skip: true, Reason: "another vidup run is uploading it now", Release: func() {}}, nil
	}
	if !force {
		if e, err := t.store.FindBySource(id); err == nil && e.State == journal.Registered {
			unlock()
			return Claim{Skip: true, Release: func() {},
				Reason: fmt.Sprintf("already uploaded and registered as video %s on %s; --force uploads it again", e.VideoID, e.UpdatedAt.Local().Format(time.DateOnly))}, nil
		} else if err != nil && !errors.Is(err, journal.ErrNotFound) {
			unlock()
			return nop, err
		}
	}
	k := key(path)
	t.mu.Lock()
	t.claims[k] = &claim{id: id, force: force, entries: map[string]*journal.Entry{}}
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
