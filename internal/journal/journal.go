// Package journal is vidup's resume journal: what the uploader knows about
// every upload it started, kept in the state folder so that a later run can
// continue an interrupted upload, register a completed one exactly once, and
// skip a file it already uploaded without asking the API.
//
// # Layout
//
// The journal lives in the state folder (DefaultDir, or --state-dir). The
// folder and every directory under it are 0700, every file 0600:
//
//	<dir>/uploads/<id>.json    the entry's header: everything but the parts
//	<dir>/uploads/<id>.parts   the entry's finished parts, one line each
//	<dir>/sources/<key>/<id>   an empty marker: entry id belongs to source key
//	<dir>/log/<run>.log        entries without parts, one run's log (runlog.go)
//	<dir>/log/snapshot         the logs of ended runs, folded
//	<dir>/locks/table          every source's lock, a byte each (lock.go)
//
// Entries with parts (multipart uploads, created Uploading) have files of
// their own, as described below. Entries created without parts (uploads
// sent in one request, recorded once complete) live in the run log, where
// the records written at the same moment share one fsync: a run of 5,000
// small files would otherwise create, fsync and rename thousands of files.
//
// The header and the parts are kept apart because they change at different
// rates: a 500 GiB upload finishes thousands of parts, and rewriting a header
// that lists all of them after each one would cost O(parts²) bytes. The
// sources index exists so that looking up a file (once per file of a run)
// reads one tiny directory instead of every header of the journal.
//
// # Crash safety
//
// A kill -9 or a power loss at any instant leaves each file either in its
// old or in its new state:
//
//   - Headers are never written in place. A new header goes to a temporary
//     file in the same directory, is fsynced, then renamed over the old one
//     (or hard-linked to its name by Create, which must not replace an
//     existing entry), and the directory is fsynced. rename(2) is atomic, so
//     a reader sees the old header or the new one. Stray temporary files are
//     ignored and removed by Prune.
//   - The parts log is append-only. Each record is one line,
//     "<crc32c of json, 8 hex digits> <json>\n", written with a single
//     write(2) and fsynced before AddPart returns. One fsync per part
//     costs about 0.4 ms here (BenchmarkAddPart), against tens of
//     milliseconds to upload a part of 5 MiB or more, so records are not
//     batched: a part S3 acknowledged is recorded before it is reported. On
//     load, a line whose checksum does not match, or a last line without its
//     newline (torn by a crash or a full disk), is ignored: a part is either
//     recorded or not, and a part that is not recorded is uploaded again. The
//     next AddPart cuts a torn tail off before it appends, so that a new
//     record is never glued onto a broken one. When a part number appears
//     twice, the later record wins, as it does on S3.
//   - Entries appear and disappear atomically too: the existence of the
//     header is the existence of the entry. Create writes the parts log and
//     the index marker before the header; Delete removes the header first.
//     Leftovers of an interrupted Create or Delete (markers and parts logs
//     without a header) are invisible and removed by Prune.
//
// # Locking
//
// Store.Lock takes a non-blocking record lock on the source's byte of the
// lock table, so two runs (or two goroutines) never upload the same file at
// the same time. The kernel drops the lock when the process dies, kill -9
// included, so a lock is never stale.
//
// # What is not in the journal
//
// Credentials. The journal names the session, the bucket and the key of each
// upload; a run that resumes asks the API for fresh credentials.
package journal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

// State is where an upload stands.
type State string

// The states of an entry, in the order an upload goes through them.
const (
	// Uploading: the multipart upload exists on S3; its finished parts are
	// in Entry.Parts.
	Uploading State = "uploading"
	// Completed: the object is complete and verified on S3 (ETag and
	// Checksum are set) but not yet registered with the API: the entry is in
	// the registration outbox.
	Completed State = "completed"
	// Registered: the API registered the video (VideoID is set). The entry
	// stays as the record that the source is done, until Prune removes it.
	Registered State = "registered"
)

// Entry is one upload: where it comes from, where it goes and how far it got.
// Entries never hold credentials.
type Entry struct {
	// ID names the entry in the journal (and for `vidup uploads abort ID`).
	// Create fills it in when it is empty.
	ID string `json:"id"`
	// Source identifies the local file. It is zero for sources that cannot
	// be resumed (stdin, pipes): such entries are never found by source.
	Source Identity `json:"source"`

	// Upload is the upload as the engine knows it: the API's session and
	// upload ids, the bucket and key, and the multipart upload on S3. Its
	// fields are inline in the header, as they were before it was a type
	// of its own, so that journals of earlier versions read the same.
	asset.Upload

	// Name is the file name sent to the API; Size the size of the object,
	// -1 while unknown (stdin before its end).
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`

	State State `json:"state"`
	// Completed and Registered: the object's ETag and full-object checksum
	// (base64, of ChecksumAlgorithm).
	ETag     string `json:"etag,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	// Registered: the id the API gave the video.
	VideoID string `json:"video_id,omitempty"`
	// LastError is why the last attempt stopped, for `vidup uploads`. It
	// must not contain secrets (no error message of vidup does).
	LastError string `json:"last_error,omitempty"`

	// Set by the store: CreatedAt by Create, UpdatedAt by Create and
	// Update. AddPart does not touch the header, so it does not move
	// UpdatedAt.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Parts are the finished parts in part number order, filled by Get,
	// FindBySource, ForSource and List. Create records them; Update ignores
	// them (record a part with AddPart). Registered entries have none.
	Parts []asset.Part `json:"-"`
}

// ErrNotFound is the error (wrapped) when the journal has no such entry.
var ErrNotFound = errors.New("no such upload in the journal")

// headerVersion is the version of the header format. A header of a newer
// version is an error, not something to guess at.
const headerVersion = 1

type header struct {
	Version int `json:"version"`
	*Entry
}

// Store is an open journal. Its methods are safe for concurrent use, also
// by several processes sharing the folder (see Lock for what they must not
// share).
type Store struct {
	dir     string
	uploads string
	sources string
	locks   string

	logDir string

	now func() time.Time // tests move the clock for Prune

	mu    sync.Mutex
	parts map[string]*sync.Mutex // per-entry: orders appends to its parts log

	// The run logs (runlog.go): ix folds the snapshot and every log, as
	// far as they were read; others are other runs' logs.
	ixMu     sync.Mutex
	ix       *logIndex
	snapInfo fs.FileInfo
	others   map[string]*logFile
	// log is this process's own, created at its first record.
	logOnce sync.Once
	log     *runLog
	logErr  error
	// refreshes counts refreshLocked's reads of the log folder, for tests.
	refreshes int
}

// DefaultDir is the default state folder: $XDG_STATE_HOME/vidup, or
// ~/.local/state/vidup when XDG_STATE_HOME is unset (or, against the XDG
// rules, not absolute). It returns "" when neither is known.
func DefaultDir() string {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "vidup")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "state", "vidup")
}

// Open opens the journal in the state folder dir, creating the folder (0700)
// when it does not exist. A folder that others may read or write, or that
// belongs to another user, is refused: the journal says which files you
// upload and where to, and a journal others can write could make vidup skip
// a file.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, ErrNoStateDir
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, &FolderError{Dir: dir, Problem: FolderUnusable, Err: err}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &FolderError{Dir: dir, Problem: FolderUnusable, Create: true, Err: err}
	}
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	s := &Store{
		dir:     dir,
		uploads: filepath.Join(dir, "uploads"),
		sources: filepath.Join(dir, "sources"),
		locks:   filepath.Join(dir, "locks"),
		logDir:  filepath.Join(dir, "log"),
		now:     time.Now,
		parts:   map[string]*sync.Mutex{},
		ix:      newLogIndex(),
		others:  map[string]*logFile{},
	}
	for _, sub := range []string{s.uploads, s.sources, s.locks, s.logDir} {
		if err := os.Mkdir(sub, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s in the state folder: %w", sub, err)
		}
		if err := checkPrivate(sub); err != nil {
			return nil, err
		}
	}
	if err := s.compact(); err != nil {
		return nil, fmt.Errorf("journal: fold the logs of ended runs in %s: %w", s.logDir, err)
	}
	return s, nil
}

// Close closes the store's run log, which a later Open then folds into
// the snapshot. Every record was synced when it was written; Close only
// lets go.
func (s *Store) Close() error {
	s.logOnce.Do(func() {}) // no log is created after Close
	s.ixMu.Lock()
	for name, lf := range s.others {
		lf.f.Close()
		delete(s.others, name)
	}
	s.ixMu.Unlock()
	if s.log == nil {
		return nil
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	if s.log.err == nil {
		s.log.err = fmt.Errorf("journal: the store is closed")
	}
	return s.log.f.Close()
}

// Dir is the state folder the store lives in.
func (s *Store) Dir() string { return s.dir }

func checkPrivate(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return &FolderError{Dir: dir, Problem: FolderUnusable, Err: err}
	}
	if !fi.IsDir() {
		return &FolderError{Dir: dir, Problem: FolderNotAFolder}
	}
	return checkOwner(dir, fi)
}

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

func checkID(id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("journal: upload id %q is not valid (letters, digits, - and _, at most 128)", id)
	}
	return nil
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b)
}

func (s *Store) headerPath(id string) string { return filepath.Join(s.uploads, id+".json") }
func (s *Store) partsPath(id string) string  { return filepath.Join(s.uploads, id+".parts") }

// Create records a new entry: its header and the parts in e.Parts. It fills
// in e.ID when empty and sets e.CreatedAt and e.UpdatedAt. It fails when an
// entry with that ID exists.
func (s *Store) Create(e *Entry) error {
	fresh := e.ID == ""
	if fresh {
		// 64 random bits: no other entry has it, which spares the
		// lookups below.
		e.ID = newID()
	}
	if err := checkID(e.ID); err != nil {
		return err
	}
	if !fresh {
		if _, err := os.Lstat(s.headerPath(e.ID)); err == nil {
			return fmt.Errorf("journal: upload %s exists already", e.ID)
		}
	}
	if e.State != Uploading && len(e.Parts) == 0 {
		// No parts will follow: the entry goes to the run log, whose one
		// fsync it shares with the other records written meanwhile.
		if !fresh {
			if _, known, err := s.logged(e.ID); err != nil {
				return err
			} else if known {
				return fmt.Errorf("journal: upload %s exists already", e.ID)
			}
		}
		now := s.now().UTC()
		e.CreatedAt, e.UpdatedAt = now, now
		return s.put(e)
	}
	var log []byte
	for _, p := range e.Parts {
		rec, err := encodePart(p)
		if err != nil {
			return err
		}
		log = append(log, rec...)
	}
	// The parts log and the marker first: until the header exists they are
	// leftovers nobody reads, so a crash in between loses nothing.
	if err := writeFileSync(s.partsPath(e.ID), log); err != nil {
		return fmt.Errorf("journal: create the parts log of %s: %w", e.ID, err)
	}
	if key := e.Source.Key(); key != "" {
		if err := s.addMarker(key, e.ID); err != nil {
			return err
		}
	}
	now := s.now().UTC()
	e.CreatedAt, e.UpdatedAt = now, now
	if err := s.writeHeader(e, false); err != nil {
		return err
	}
	return nil
}

// Update rewrites e's header (atomically) and sets e.UpdatedAt. It does not
// record parts (that is AddPart's job), but an update to Registered drops
// the entry's parts log: from then on the entry is only the record that its
// source is done. The source of an entry cannot change.
func (s *Store) Update(e *Entry) error {
	if err := checkID(e.ID); err != nil {
		return err
	}
	old, inLog, err := s.lookup(e.ID)
	if err != nil {
		return err
	}
	if old.Source.Key() != e.Source.Key() {
		return fmt.Errorf("journal: upload %s: the source of an entry cannot change (from %q to %q); create a new entry", e.ID, old.Source.Path, e.Source.Path)
	}
	e.CreatedAt = old.CreatedAt
	e.UpdatedAt = s.now().UTC()
	if inLog {
		// Records of the logs are ordered by time: a newer one must not
		// share the time of the one it replaces.
		if !e.UpdatedAt.After(old.UpdatedAt) {
			e.UpdatedAt = old.UpdatedAt.Add(time.Nanosecond)
		}
		return s.put(e)
	}
	if err := s.writeHeader(e, true); err != nil {
		return err
	}
	if e.State == Registered {
		// A registered video needs its parts no more, and done records
		// are kept for months: keep them small and quick to list.
		if err := os.Remove(s.partsPath(e.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: drop the parts of registered upload %s: %w", e.ID, err)
		}
	}
	return nil
}

// put records e's header in the run log.
func (s *Store) put(e *Entry) error {
	c := *e
	c.Parts = nil
	if err := s.commit(logRecord{Put: &header{Version: headerVersion, Entry: &c}}); err != nil {
		return fmt.Errorf("journal: write upload %s: %w", e.ID, err)
	}
	return nil
}

// lookup is the header of entry id, from the run logs (inLog) or from its
// own file.
func (s *Store) lookup(id string) (e *Entry, inLog bool, err error) {
	e, known, err := s.logged(id)
	if err != nil {
		return nil, false, err
	}
	if known {
		if e == nil {
			return nil, true, &EntryError{ID: id, Path: s.logDir, Problem: EntryMissing, Err: ErrNotFound}
		}
		return e, true, nil
	}
	e, err = s.readHeader(id)
	return e, false, err
}

func (s *Store) writeHeader(e *Entry, replace bool) error {
	data, err := json.MarshalIndent(header{Version: headerVersion, Entry: e}, "", "  ")
	if err != nil {
		return fmt.Errorf("journal: encode upload %s: %w", e.ID, err)
	}
	data = append(data, '\n')
	if err := writeFileAtomic(s.headerPath(e.ID), data, replace); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("journal: upload %s exists already", e.ID)
		}
		return fmt.Errorf("journal: write upload %s: %w", e.ID, err)
	}
	return nil
}

func (s *Store) readHeader(id string) (*Entry, error) {
	data, err := readRegular(s.headerPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &EntryError{ID: id, Path: s.headerPath(id), Problem: EntryMissing, Err: ErrNotFound}
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read upload %s: %w", id, err)
	}
	h := header{Entry: &Entry{}}
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, &EntryError{ID: id, Path: s.headerPath(id), Problem: EntryDamaged, Err: err}
	}
	if h.Version != headerVersion {
		return nil, &EntryError{ID: id, Path: s.headerPath(id), Problem: EntryOtherFormat, Format: h.Version}
	}
	if h.ID != id {
		return nil, &EntryError{ID: id, Path: s.headerPath(id), Problem: EntryMisnamed, Names: h.ID}
	}
	return h.Entry, nil
}

// Get loads the entry id with its parts. The error wraps ErrNotFound when
// there is no such entry.
func (s *Store) Get(id string) (*Entry, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	e, inLog, err := s.lookup(id)
	if err != nil || inLog {
		return e, err
	}
	if e.Parts, err = s.loadParts(id); err != nil {
		return nil, err
	}
	return e, nil
}

// List loads every entry, oldest first. An entry that cannot be read does
// not hide the others: List returns all it could read, and an error (all
// problems joined) when some could not.
func (s *Store) List() ([]*Entry, error) {
	names, err := readDirNames(s.uploads)
	if err != nil {
		return nil, fmt.Errorf("journal: list %s: %w", s.uploads, err)
	}
	var entries []*Entry
	var errs []error
	for _, name := range names {
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || checkID(id) != nil {
			continue
		}
		e, err := s.Get(id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, e)
	}
	logged, err := s.loggedAll()
	if err != nil {
		errs = append(errs, err)
	}
	entries = append(entries, logged...)
	sortEntries(entries, false)
	return entries, errors.Join(errs...)
}

// ForSource loads every entry recorded for the source key (Identity.Key),
// newest first, whether or not the file is still the same. Entries whose
// source changed since are stale: their uploads should be aborted.
func (s *Store) ForSource(key string) ([]*Entry, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	entries, err := s.loggedForSource(key)
	if err != nil {
		return nil, err
	}
	ids, err := readDirNames(filepath.Join(s.sources, key))
	if errors.Is(err, fs.ErrNotExist) {
		sortEntries(entries, true)
		return entries, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: look up source %s: %w", key, err)
	}
	for _, id := range ids {
		if checkID(id) != nil {
			continue
		}
		e, err := s.Get(id)
		if errors.Is(err, ErrNotFound) {
			continue // a marker left by an interrupted Create or Delete
		}
		if err != nil {
			return nil, err
		}
		if e.Source.Key() == key {
			entries = append(entries, e)
		}
	}
	sortEntries(entries, true)
	return entries, nil
}

// FindBySource returns the most recently updated entry whose source is the
// same file, unchanged (Identity.Same), as src: the upload to resume, the
// completed upload to register, or the record that src is done. The error
// wraps ErrNotFound when there is none.
func (s *Store) FindBySource(src Identity) (*Entry, error) {
	key := src.Key()
	if key == "" {
		return nil, fmt.Errorf("journal: a source without identity is never in the journal: %w", ErrNotFound)
	}
	entries, err := s.ForSource(key)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Source.Same(src) {
			return e, nil
		}
	}
	return nil, fmt.Errorf("journal: %s: %w", src.Path, ErrNotFound)
}

// Delete removes the entry id: its header, its parts and its index marker.
// It does not touch S3: abort the multipart upload first. Deleting an entry
// that does not exist is not an error.
func (s *Store) Delete(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if old, known, err := s.logged(id); err != nil {
		return err
	} else if known {
		if old == nil {
			return nil
		}
		at := s.now().UTC()
		if !at.After(old.UpdatedAt) {
			at = old.UpdatedAt.Add(time.Nanosecond)
		}
		if err := s.commit(logRecord{Del: &tombstone{ID: id, At: at}}); err != nil {
			return fmt.Errorf("journal: delete upload %s: %w", id, err)
		}
		return nil
	}
	e, err := s.readHeader(id)
	if errors.Is(err, ErrNotFound) {
		return s.removeLeftovers(id, "")
	}
	key := ""
	if err == nil {
		key = e.Source.Key()
	}
	// The header goes first: from that moment the entry does not exist,
	// whatever a crash leaves of the rest.
	if err := os.Remove(s.headerPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: delete upload %s: %w", id, err)
	}
	if err := syncDir(s.uploads); err != nil {
		return fmt.Errorf("journal: delete upload %s: %w", id, err)
	}
	return s.removeLeftovers(id, key)
}

func (s *Store) removeLeftovers(id, key string) error {
	var errs []error
	remove := func(path string) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	remove(s.partsPath(id))
	if tmps, err := filepath.Glob(filepath.Join(s.uploads, id+".json.tmp-*")); err == nil {
		for _, t := range tmps {
			remove(t)
		}
	}
	if key != "" {
		remove(filepath.Join(s.sources, key, id))
		_ = os.Remove(filepath.Join(s.sources, key)) // only when empty
	}
	s.mu.Lock()
	delete(s.parts, id)
	s.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("journal: delete upload %s: %w", id, err)
	}
	return nil
}

// Prune deletes the registered entries last updated more than olderThan
// ago (0 prunes all of them), and the leftovers of interrupted writes. It
// returns how many entries it deleted. Entries that are still uploading or
// waiting for registration are never pruned: they stand for work on S3 that
// must be finished or aborted (`vidup uploads abort`).
func (s *Store) Prune(olderThan time.Duration) (int, error) {
	entries, listErr := s.List()
	cutoff := s.now().Add(-olderThan)
	n := 0
	var errs []error
	if listErr != nil {
		errs = append(errs, listErr)
	}
	live := map[string]bool{}
	for _, e := range entries {
		if e.State == Registered && !e.UpdatedAt.After(cutoff) {
			if err := s.Delete(e.ID); err != nil {
				errs = append(errs, err)
				live[e.ID] = true
				continue
			}
			n++
			continue
		}
		live[e.ID] = true
	}
	if err := s.pruneLeftovers(live); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// leftoverAge is how old a file without its header must be before Prune
// removes it: younger ones may belong to a Create in progress elsewhere.
const leftoverAge = time.Hour

func (s *Store) pruneLeftovers(live map[string]bool) error {
	old := func(path string) bool {
		fi, err := os.Lstat(path)
		return err == nil && s.now().Sub(fi.ModTime()) > leftoverAge
	}
	exists := func(id string) bool {
		if live[id] {
			return true
		}
		_, err := os.Lstat(s.headerPath(id))
		return err == nil
	}
	var errs []error
	names, err := readDirNames(s.uploads)
	if err != nil {
		return err
	}
	for _, name := range names {
		id := name
		if i := strings.IndexByte(name, '.'); i >= 0 {
			id = name[:i]
		}
		orphan := strings.HasSuffix(name, ".parts") && !exists(id)
		if (orphan || strings.Contains(name, ".tmp-")) && old(filepath.Join(s.uploads, name)) {
			if err := os.Remove(filepath.Join(s.uploads, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	keys, err := readDirNames(s.sources)
	if err != nil {
		return err
	}
	for _, key := range keys {
		dir := filepath.Join(s.sources, key)
		ids, err := readDirNames(dir)
		if err != nil {
			continue
		}
		for _, id := range ids {
			if !exists(id) && old(filepath.Join(dir, id)) {
				if err := os.Remove(filepath.Join(dir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
		_ = os.Remove(dir) // only when empty
	}
	return errors.Join(errs...)
}

func (s *Store) addMarker(key, id string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	dir := filepath.Join(s.sources, key)
	// Prune removes empty source folders; if it removes this one between
	// Mkdir and the marker's creation, make it again.
	for attempt := 0; ; attempt++ {
		err := os.Mkdir(dir, 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("journal: index upload %s: %w", id, err)
		}
		err = writeFileSync(filepath.Join(dir, id), nil)
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("journal: index upload %s: %w", id, err)
		}
		break
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("journal: index upload %s: %w", id, err)
	}
	if err := syncDir(s.sources); err != nil {
		return fmt.Errorf("journal: index upload %s: %w", id, err)
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func sortEntries(entries []*Entry, newestFirst bool) {
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if newestFirst {
			a, b = b, a
			return a.UpdatedAt.Before(b.UpdatedAt) || (a.UpdatedAt.Equal(b.UpdatedAt) && a.ID < b.ID)
		}
		return a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID)
	})
}
