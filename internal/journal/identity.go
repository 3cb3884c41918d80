package journal

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/vidup/vidup/internal/asset"
)

// Identity says which local file an upload reads, and in which state: a
// file that changed since (size, modification time, inode, or the bytes of
// the sampled ranges) is another source, and its old upload must not be
// resumed. The zero Identity stands for a source that cannot be resumed
// (stdin, a pipe).
type Identity struct {
	Path    string    `json:"path,omitempty"` // absolute, symbolic links resolved
	Size    int64     `json:"size,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"`
	Inode   uint64    `json:"inode,omitempty"`
	Device  uint64    `json:"device,omitempty"`
	// Sample is "sha256:<hex>" over the size and a few ranges of the
	// content (see IdentityOf).
	Sample string `json:"sample,omitempty"`
}

// IsZero reports whether i is the identity of a source that cannot be
// resumed.
func (i Identity) IsZero() bool { return i.Path == "" }

// Same reports whether a and b are the same file with the same content, as
// far as the identity can tell. Zero identities are never the same.
func (a Identity) Same(b Identity) bool {
	return !a.IsZero() && a.Path == b.Path && a.Size == b.Size && a.ModTime.Equal(b.ModTime) &&
		a.Inode == b.Inode && a.Device == b.Device && a.Sample == b.Sample
}

// Key names where the source is, not what it holds: the path, device and
// inode, hashed. It is the same before and after the file changes, so that
// Lock keeps two runs apart even while one of them rewrites the file, and
// ForSource finds the stale entries of a changed file. It is "" for the
// zero Identity.
func (i Identity) Key() string {
	if i.IsZero() {
		return ""
	}
	h := sha256.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], i.Device)
	binary.BigEndian.PutUint64(b[8:], i.Inode)
	h.Write(b[:])
	h.Write([]byte(i.Path))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

var validKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

func checkKey(key string) error {
	if !validKey.MatchString(key) {
		return fmt.Errorf("journal: source key %q is not valid; use Identity.Key", key)
	}
	return nil
}

// The sampled ranges: the head and the tail, where containers keep their
// indexes, and a few spots between, so that an edit in place that keeps the
// size and the modification time is still likely to be seen. Reading 224
// KiB costs the same for a 1 GiB and a 500 GiB file. A change that touches
// none of these ranges and restores the modification time goes unnoticed;
// the full-object checksum of the upload still catches a file that changes
// while it is being uploaded.
const (
	sampleEdge  = 64 << 10
	sampleSpot  = 16 << 10
	sampleSpots = 6
)

// ErrNotRegular is the error (wrapped) of IdentityOf for a source that is
// not a regular file: it cannot be read twice, so it cannot be resumed.
var ErrNotRegular = errors.New("not a regular file")

// IdentityOf reads the identity of the regular file at path. A file that
// changes while IdentityOf samples it is an error: it is being written, and
// uploading it now would upload a torn copy. A run reads it once, when the
// file is found (see Sample and IdentityOfItem); IdentityOf serves callers
// that hold only a path.
func IdentityOf(path string) (Identity, error) {
	// Stat before open: opening a FIFO would wait for its writer.
	if fi, err := os.Stat(path); err != nil {
		return Identity{}, err
	} else if !fi.Mode().IsRegular() {
		return Identity{}, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return Identity{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Identity{}, err
	}
	if !info.Mode().IsRegular() {
		return Identity{}, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	sample, err := Sample(f, info)
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", path, err)
	}
	return identity(path, info, sample)
}

// ErrChanging is the error (wrapped) of a file that changed while it was
// sampled: it is being written.
var ErrChanging = errors.New("changed while vidup read it")

// Sample reads the sampled ranges of the open regular file f, whose stat
// is info, and returns their digest (Identity.Sample). It fails with
// ErrChanging when f changed while it was read.
func Sample(f *os.File, info os.FileInfo) (string, error) {
	sample, err := sampleFile(f, info.Size())
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	after, err := f.Stat()
	if err != nil {
		return "", err
	}
	if after.Size() != info.Size() || !after.ModTime().Equal(info.ModTime()) {
		return "", ErrChanging
	}
	return sample, nil
}

// IdentityOfItem is the identity of a file found by internal/sources, from
// what was read when it was found (its stat and Sample), without opening it
// again. An item without a sample (stdin) has the zero identity.
func IdentityOfItem(it *asset.Item) (Identity, error) {
	if it.Stdin || it.Info == nil {
		return Identity{}, fmt.Errorf("%s: %w", it.Path, ErrNotRegular)
	}
	if it.Sample == "" {
		return IdentityOf(it.Path)
	}
	return identity(it.Path, it.Info, it.Sample)
}

func identity(path string, info os.FileInfo, sample string) (Identity, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", path, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	id := Identity{Path: abs, Size: info.Size(), ModTime: info.ModTime().UTC(), Sample: sample}
	id.Inode, id.Device = inodeOf(info)
	return id, nil
}

func sampleFile(r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(size))
	h.Write(b[:])
	if size <= 2*sampleEdge+sampleSpots*sampleSpot {
		if err := hashRange(h, r, 0, size); err != nil {
			return "", err
		}
	} else {
		if err := hashRange(h, r, 0, sampleEdge); err != nil {
			return "", err
		}
		inner := size - 2*sampleEdge
		for i := int64(1); i <= sampleSpots; i++ {
			off := sampleEdge + inner*i/(sampleSpots+1) - sampleSpot/2
			if err := hashRange(h, r, off, sampleSpot); err != nil {
				return "", err
			}
		}
		if err := hashRange(h, r, size-sampleEdge, sampleEdge); err != nil {
			return "", err
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func hashRange(h hash.Hash, r io.ReaderAt, off, n int64) error {
	got, err := io.Copy(h, io.NewSectionReader(r, off, n))
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("file is shorter than its size (%d bytes read at offset %d, %d expected)", got, off, n)
	}
	return nil
}

// identityJSON is Identity on disk. JSON strings hold only UTF-8, and a
// path may be any bytes: such a path is also kept exactly, base64-encoded,
// in path_b64, or the entry would name another file once read back.
type identityJSON struct {
	identityFields
	PathB64 string `json:"path_b64,omitempty"`
}

type identityFields Identity

// MarshalJSON implements json.Marshaler.
func (i Identity) MarshalJSON() ([]byte, error) {
	out := identityJSON{identityFields: identityFields(i)}
	if !utf8.ValidString(i.Path) {
		out.PathB64 = base64.StdEncoding.EncodeToString([]byte(i.Path))
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (i *Identity) UnmarshalJSON(b []byte) error {
	var in identityJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*i = Identity(in.identityFields)
	if in.PathB64 != "" {
		p, err := base64.StdEncoding.DecodeString(in.PathB64)
		if err != nil {
			return fmt.Errorf("journal: source path_b64: %w", err)
		}
		i.Path = string(p)
	}
	return nil
}
