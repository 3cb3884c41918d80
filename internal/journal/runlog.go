package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The run log: where entries without parts live (single-request uploads,
// recorded once complete), so that a run of thousands of small files pays
// one fsync for many records instead of a handful of file creations,
// renames and fsyncs per file.
//
// Every process that writes appends to a log of its own,
// <dir>/log/<run>.log, flock(2)ed for its life. A record is one line, as in
// a parts log: "<crc32c of json, 8 hex digits> <json>\n", holding an
// entry's whole header (a put) or a deletion (a tombstone). Writers append
// their records and wait for an fsync that covers them; whoever finds no
// fsync in progress writes and syncs everything pending at once (group
// commit), so concurrent writers share one fsync. A record is on disk,
// synced, before its writer returns.
//
// Readers fold the snapshot <dir>/log/snapshot and every log into one
// index: of the records of an entry, the one with the latest time wins
// (UpdatedAt of a put, the deletion time of a tombstone; the later read on
// a tie). A torn or damaged line (a crash mid-write) is ignored: its
// writer never returned, so nothing acted on it. Logs of other live runs
// are read again, from where the last read stopped, before every lookup.
//
// When a store is opened, the logs of runs that ended (their flock is
// free) are folded into a new snapshot (written to a temporary file,
// fsynced, renamed) and removed, once they add up to a quarter of the
// snapshot (until then they are read along with it). Tombstones stay in the snapshot while
// some run still lives, whose log might hold an older put of the entry.

const (
	logExt       = ".log"
	snapshotName = "snapshot"
	compactName  = "compact.lock"
)

// logRecord is one line of a log or of the snapshot.
type logRecord struct {
	Put *header    `json:"put,omitempty"`
	Del *tombstone `json:"del,omitempty"`
}

type tombstone struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

func encodeRecord(r logRecord) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("journal: encode a log record: %w", err)
	}
	return appendRecord(make([]byte, 0, 8+1+len(js)+1), js), nil
}

// decodeRecord reads one line without its newline; ok is false for a line
// that is damaged in any way.
func decodeRecord(line []byte) (r logRecord, ok bool) {
	js, ok := recordJSON(line)
	if !ok {
		return r, false
	}
	if err := json.Unmarshal(js, &r); err != nil {
		return logRecord{}, false
	}
	switch {
	case r.Put != nil && r.Del == nil && r.Put.Entry != nil && r.Put.Version == headerVersion && checkID(r.Put.ID) == nil:
	case r.Del != nil && r.Put == nil && checkID(r.Del.ID) == nil:
	default:
		return logRecord{}, false
	}
	return r, true
}

// indexed is what the index holds of one entry: its latest put, or a
// tombstone (e nil).
type indexed struct {
	e  *Entry
	at time.Time
	// own: the record is this process's. Entries are written by the run
	// that holds their source's lock, so no other process writes a newer
	// record of it meanwhile: a lookup of it needs no refresh.
	own bool
}

// logIndex is the fold of the snapshot and the logs.
type logIndex struct {
	entries map[string]indexed
	// bySource: the ids of each source key; almost always one, so a
	// slice (a map per source cost a few hundred bytes per file).
	bySource map[string][]string
}

func newLogIndex() *logIndex {
	return &logIndex{entries: map[string]indexed{}, bySource: map[string][]string{}}
}

func (x *logIndex) apply(r logRecord) { x.applyRecord(r, false) }

func (x *logIndex) applyRecord(r logRecord, own bool) {
	var id string
	var in indexed
	if r.Put != nil {
		id, in = r.Put.ID, indexed{e: r.Put.Entry, at: r.Put.UpdatedAt, own: own}
	} else {
		id, in = r.Del.ID, indexed{at: r.Del.At, own: own}
	}
	if old, ok := x.entries[id]; ok && old.at.After(in.at) {
		return
	}
	x.entries[id] = in
	if in.e != nil {
		if key := in.e.Source.Key(); key != "" {
			if ids := x.bySource[key]; !slices.Contains(ids, id) {
				x.bySource[key] = append(ids, id)
			}
		}
	}
}

// applyLines applies the complete lines of data and returns how many bytes
// they take: a last line without its newline is left for a later read.
func (x *logIndex) applyLines(data []byte) int {
	done := 0
	for {
		i := bytes.IndexByte(data[done:], '\n')
		if i < 0 {
			return done
		}
		if r, ok := decodeRecord(data[done : done+i]); ok {
			x.apply(r)
		}
		done += i + 1
	}
}

// entry is a copy of the live entry id, or nil.
func (x *logIndex) entry(id string) *Entry {
	in, ok := x.entries[id]
	if !ok || in.e == nil {
		return nil
	}
	c := *in.e
	return &c
}

// logFile is another run's log as this process has read it so far.
type logFile struct {
	f    *os.File
	read int64
}

// runLog is this process's log: created at its first record.
type runLog struct {
	path string
	f    *os.File

	mu       sync.Mutex
	cond     *sync.Cond
	pending  []byte
	spare    []byte
	appended uint64 // records handed to append
	synced   uint64 // records written and fsynced
	flushing bool
	err      error // the log failed: nothing more is written to it
	syncs    int   // fsyncs done, for tests
}

// commit appends rec and returns once it is written and fsynced, with
// every other record pending meanwhile.
func (w *runLog) commit(rec []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.pending = append(w.pending, rec...)
	w.appended++
	mine := w.appended
	for w.synced < mine {
		if w.err != nil {
			return w.err
		}
		if w.flushing {
			w.cond.Wait()
			continue
		}
		w.flushing = true
		buf, upTo := w.pending, w.appended
		w.pending, w.spare = w.spare[:0], nil
		w.mu.Unlock()
		_, err := w.f.Write(buf)
		if err == nil {
			err = w.f.Sync()
		}
		w.mu.Lock()
		w.spare = buf[:0]
		w.flushing = false
		if err != nil {
			// A short write may have left a torn line, which readers
			// skip; records after it could be glued onto it, so the log
			// takes no more.
			w.err = fmt.Errorf("journal: write the run log %s: %w", w.path, err)
		} else {
			w.synced = upTo
			w.syncs++
		}
		w.cond.Broadcast()
	}
	return nil
}

func (s *Store) logPath(name string) string { return filepath.Join(s.logDir, name) }

// commit writes r to this process's log, durably, and applies it to the
// index.
func (s *Store) commit(r logRecord) error {
	rec, err := encodeRecord(r)
	if err != nil {
		return err
	}
	w, err := s.runLog()
	if err != nil {
		return err
	}
	if err := w.commit(rec); err != nil {
		return err
	}
	s.ixMu.Lock()
	s.ix.applyRecord(r, true)
	s.ixMu.Unlock()
	return nil
}

// runLog opens this process's log at its first record.
func (s *Store) runLog() (*runLog, error) {
	s.logOnce.Do(func() {
		name := fmt.Sprintf("%s-%d-%s%s", time.Now().UTC().Format("20060102T150405"), os.Getpid(), newID(), logExt)
		path := s.logPath(name)
		f, ok, err := lockFile(path)
		if err == nil && !ok {
			err = fmt.Errorf("%s is locked by another process", path)
		}
		if err == nil {
			// Its name must survive a power loss with its records.
			err = syncDir(s.logDir)
		}
		if err != nil {
			if f != nil {
				unlockFile(f, path)
			}
			s.logErr = fmt.Errorf("journal: create the run log: %w", err)
			return
		}
		w := &runLog{path: path, f: f}
		w.cond = sync.NewCond(&w.mu)
		s.log = w
	})
	if s.log == nil && s.logErr == nil {
		return nil, errors.New("journal: the store is closed")
	}
	return s.log, s.logErr
}

// refreshLocked reads what other processes added to the snapshot and the
// logs since the last read.
func (s *Store) refreshLocked() error {
	s.refreshes++
	if _, err := s.readSnapshot(); err != nil {
		return err
	}
	names, err := readDirNames(s.logDir)
	if err != nil {
		return fmt.Errorf("journal: list %s: %w", s.logDir, err)
	}
	own := ""
	if s.log != nil {
		own = filepath.Base(s.log.path)
	}
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if !strings.HasSuffix(name, logExt) || name == own {
			continue
		}
		seen[name] = true
		lf := s.others[name]
		if lf == nil {
			f, err := openRegular(s.logPath(name), os.O_RDONLY, 0)
			if errors.Is(err, fs.ErrNotExist) {
				continue // folded and removed meanwhile: the snapshot has it
			}
			if err != nil {
				return fmt.Errorf("journal: read %s: %w", s.logPath(name), err)
			}
			lf = &logFile{f: f}
			s.others[name] = lf
		}
		fi, err := lf.f.Stat()
		if err != nil || fi.Size() <= lf.read {
			continue
		}
		data := make([]byte, fi.Size()-lf.read)
		n, err := lf.f.ReadAt(data, lf.read)
		if err != nil && err != io.EOF {
			return fmt.Errorf("journal: read %s: %w", s.logPath(name), err)
		}
		lf.read += int64(s.ix.applyLines(data[:n]))
	}
	for name, lf := range s.others {
		if !seen[name] {
			lf.f.Close()
			delete(s.others, name)
		}
	}
	// A compaction writes the new snapshot before it removes the logs it
	// folded: a log that vanished before it was read is in the snapshot
	// that replaced the one read above.
	changed, err := s.readSnapshot()
	if err == nil && changed {
		return s.refreshLocked()
	}
	return err
}

// readSnapshot reads the snapshot again when a compaction replaced it since
// the last read (records fold idempotently, so whole).
func (s *Store) readSnapshot() (changed bool, err error) {
	path := s.logPath(snapshotName)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("journal: read %s: %w", path, err)
	}
	if old := s.snapInfo; old != nil && os.SameFile(fi, old) && fi.ModTime().Equal(old.ModTime()) && fi.Size() == old.Size() {
		return false, nil
	}
	data, err := readRegular(path)
	if err != nil {
		return false, fmt.Errorf("journal: read %s: %w", path, err)
	}
	s.ix.applyLines(data)
	s.snapInfo = fi
	return true, nil
}

// logged is a copy of the entry id the logs hold, after a refresh: live
// (e), deleted (known), or never seen there.
func (s *Store) logged(id string) (e *Entry, known bool, err error) {
	s.ixMu.Lock()
	defer s.ixMu.Unlock()
	if in, ok := s.ix.entries[id]; ok && in.own {
		// Written by this process (see indexed.own): listing the log
		// folder and reading the other logs again for it was a tenth of
		// the CPU of a run of many small files.
		return s.ix.entry(id), true, nil
	}
	if err := s.refreshLocked(); err != nil {
		return nil, false, err
	}
	_, known = s.ix.entries[id]
	return s.ix.entry(id), known, nil
}

// loggedForSource is a copy of every live entry of source key in the logs.
func (s *Store) loggedForSource(key string) ([]*Entry, error) {
	s.ixMu.Lock()
	defer s.ixMu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	var out []*Entry
	for _, id := range s.ix.bySource[key] {
		if e := s.ix.entry(id); e != nil && e.Source.Key() == key {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Store) loggedAll() ([]*Entry, error) {
	s.ixMu.Lock()
	defer s.ixMu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	var out []*Entry
	for id := range s.ix.entries {
		if e := s.ix.entry(id); e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// compact folds the logs of runs that ended into the snapshot and removes
// them, when they are worth it (worthFolding), and forgets registered entries whose source is gone (sourceGone).
// Another process compacting at the same time makes this one a no-op.
func (s *Store) compact() error {
	cl, ok, err := lockFile(s.logPath(compactName))
	if err != nil || !ok {
		return err
	}
	// The compaction lock file stays: removing it would let a third
	// process lock a new file while we still hold the old one.
	defer cl.Close()

	names, err := readDirNames(s.logDir)
	if err != nil {
		return err
	}
	type dead struct {
		f    *os.File
		path string
	}
	var ended []dead
	defer func() {
		for _, d := range ended {
			d.f.Close()
		}
	}()
	live := false
	for _, name := range names {
		if !strings.HasSuffix(name, logExt) {
			continue
		}
		path := s.logPath(name)
		f, ok, err := lockFile(path)
		if err != nil {
			return err
		}
		if !ok {
			live = true
			continue
		}
		ended = append(ended, dead{f: f, path: path})
	}
	var logBytes int64
	for _, d := range ended {
		if fi, err := d.f.Stat(); err == nil {
			logBytes += fi.Size()
		}
	}
	if len(ended) == 0 || !worthFolding(s.logPath(snapshotName), len(ended), logBytes) {
		return nil
	}
	x := newLogIndex()
	snap, err := readRegular(s.logPath(snapshotName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", s.logPath(snapshotName), err)
	}
	x.applyLines(snap)
	for _, d := range ended {
		data, err := io.ReadAll(d.f)
		if err != nil {
			return fmt.Errorf("read %s: %w", d.path, err)
		}
		x.applyLines(data)
	}
	var out []byte
	now := s.now()
	for id, in := range x.entries {
		var r logRecord
		switch {
		case in.e != nil && !sourceGone(in.e, now):
			r.Put = &header{Version: headerVersion, Entry: slim(in.e)}
		case live:
			// Deleted, or forgotten because its source is gone: a
			// tombstone outranks an older put a live run's log may hold.
			r.Del = &tombstone{ID: id, At: in.at}
		default:
			continue // no run left that could hold an older put of it
		}
		rec, err := encodeRecord(r)
		if err != nil {
			return err
		}
		out = append(out, rec...)
	}
	if err := writeFileAtomic(s.logPath(snapshotName), out, true); err != nil {
		return fmt.Errorf("write %s: %w", s.logPath(snapshotName), err)
	}
	// Folded: the logs may go. A crash before they do folds them again
	// next time, to the same result.
	for _, d := range ended {
		_ = os.Remove(d.path)
	}
	return syncDir(s.logDir)
}

// Folding rewrites the whole snapshot, which costs a run with a large
// journal more than reading a few ended logs along with it: readers fold
// every log in the folder, ended or not. So the logs of ended runs are
// folded once they add up to a quarter of the snapshot, or are many.
const (
	foldRatio = 4
	foldLogs  = 64
)

// worthFolding reports whether n ended logs of logBytes in all should be
// folded into the snapshot at path now.
func worthFolding(path string, n int, logBytes int64) bool {
	if n >= foldLogs {
		return true
	}
	snap, err := os.Stat(path)
	if err != nil {
		return true // none yet, or unreadable: folding says why
	}
	return logBytes*foldRatio >= snap.Size()
}

// slim is what the snapshot keeps of an entry: all of it while it is work
// to finish, and of a registered one only what tells its file again and
// skips it (its source, name, size and video id, and its times). The
// upload's session, key, multipart id, ETag and checksum served its
// registration; dropping them halves the line that every run reads.
func slim(e *Entry) *Entry {
	if e.State != Registered {
		return e
	}
	return &Entry{ID: e.ID, Source: e.Source, Name: e.Name, Size: e.Size, State: e.State,
		VideoID: e.VideoID, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// forgetGoneAfter is how long a registered entry whose source is gone stays
// in the journal: long enough that a file moved away and back (same path,
// same inode) is still known, short enough that the journal of a daily
// run over a folder that is emptied after upload (--move-to,
// --delete-after, a card formatted for reuse) stays the size of a few
// days' work instead of growing with every file ever sent. Every run reads
// the whole journal, so its size is each run's start-up time and memory.
const forgetGoneAfter = 14 * 24 * time.Hour

// sourceGone reports whether e is a registered entry, last updated more
// than forgetGoneAfter before now, whose source file no longer exists or
// was replaced: its path is missing or holds another file (size, mtime,
// inode or device differ). Such an entry can never match a source again,
// so it only costs every run that reads the journal; compact drops it.
//
// A path that is missing because its file system is not mounted (a card
// taken out, a network share down) is not gone: the entry stays when the
// nearest folder that still exists is on another device than the file
// was. Otherwise an outage seen by one compaction would make the next run
// upload an archive's every file again. Entries that are not registered
// are never dropped here: they stand for work on S3 (`vidup uploads`).
func sourceGone(e *Entry, now time.Time) bool {
	src := e.Source
	if e.State != Registered || src.IsZero() || now.Sub(e.UpdatedAt) < forgetGoneAfter {
		return false
	}
	fi, err := os.Lstat(src.Path)
	if err == nil {
		ino, dev := inodeOf(fi)
		return !fi.Mode().IsRegular() || fi.Size() != src.Size || !fi.ModTime().Equal(src.ModTime) ||
			ino != src.Inode || dev != src.Device
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false // cannot tell (permissions, I/O): keep it
	}
	for dir := filepath.Dir(src.Path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err == nil {
			_, dev := inodeOf(fi)
			return dev == src.Device
		}
		if !errors.Is(err, fs.ErrNotExist) || dir == filepath.Dir(dir) {
			return false
		}
	}
}
