package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"sync"

	"github.com/vidup/vidup/internal/asset"
)

// encodePart is one record of the parts log: "<crc32c hex> <json>\n". JSON
// never holds a raw newline, so a newline always ends a record.
func encodePart(p asset.Part) ([]byte, error) {
	if p.Number < 1 || p.Number > 10000 {
		return nil, fmt.Errorf("journal: part number %d is out of S3's range 1-10000", p.Number)
	}
	js, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("journal: encode part %d: %w", p.Number, err)
	}
	return appendRecord(make([]byte, 0, 8+1+len(js)+1), js), nil
}

// decodePart reads one record without its newline; ok is false for a
// record that is damaged in any way.
func decodePart(line []byte) (p asset.Part, ok bool) {
	js, ok := recordJSON(line)
	if !ok {
		return asset.Part{}, false
	}
	if err := json.Unmarshal(js, &p); err != nil || p.Number < 1 || p.Number > 10000 {
		return asset.Part{}, false
	}
	return p, true
}

// parseParts reads a parts log: damaged records and a last line without its
// newline are skipped; of two records of one part number the later wins.
func parseParts(data []byte) []asset.Part {
	byNumber := map[int32]asset.Part{}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break // torn by a crash: the part is not recorded
		}
		if p, ok := decodePart(data[:i]); ok {
			byNumber[p.Number] = p
		}
		data = data[i+1:]
	}
	parts := make([]asset.Part, 0, len(byNumber))
	for _, p := range byNumber {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts
}

func (s *Store) loadParts(id string) ([]asset.Part, error) {
	data, err := readRegular(s.partsPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		// Create writes the log before the header, so only a hand-removed
		// log gets here: no part is recorded, the upload sends them again.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read the parts of upload %s: %w", id, err)
	}
	return parseParts(data), nil
}

func (s *Store) partsLock(id string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.parts[id]
	if m == nil {
		m = &sync.Mutex{}
		s.parts[id] = m
	}
	return m
}

// AddPart records a finished part of the upload id, durably (fsynced) before
// it returns. Calls for one upload are serialized in the order they take its
// lock; calls for different uploads run in parallel. A part recorded twice
// keeps its last record.
func (s *Store) AddPart(id string, p asset.Part) error {
	if err := checkID(id); err != nil {
		return err
	}
	rec, err := encodePart(p)
	if err != nil {
		return err
	}
	m := s.partsLock(id)
	m.Lock()
	defer m.Unlock()

	// Without O_CREATE: an entry that was never created or was deleted has
	// no parts log, and its parts must not resurrect it.
	f, err := openRegular(s.partsPath(id), os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: record part %d of upload %s: %w", p.Number, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("journal: record part %d of upload %s: %w", p.Number, id, err)
	}
	defer f.Close()
	if err := cutTornTail(f); err != nil {
		return fmt.Errorf("journal: record part %d of upload %s: %w", p.Number, id, err)
	}
	if _, err := f.Write(rec); err != nil {
		// A short write leaves a torn tail, cut by the next AddPart and
		// ignored by every load.
		return fmt.Errorf("journal: record part %d of upload %s: %w", p.Number, id, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: record part %d of upload %s: %w", p.Number, id, err)
	}
	return nil
}

// cutTornTail truncates a log that does not end with a newline (a crash or
// a full disk interrupted its last write) back to its last newline, so that
// the next record starts on a line of its own.
func cutTornTail(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	// Records are short; read back in small blocks until a newline.
	const block = 4096
	buf := make([]byte, block)
	end := size
	for end > 0 {
		start := max(end-block, 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return truncateSync(f, start+int64(i)+1)
		}
		end = start
	}
	return truncateSync(f, 0)
}

func truncateSync(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}
