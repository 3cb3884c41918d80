package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/vidup/vidup/internal/asset"
)

// Open makes the item of the file at path, for callers that have a bare
// path rather than what internal/sources found (vidup uploads resume, tests):
// it checks that path is a regular file vidup can read, and detects its
// content type (contentType, when not empty, wins). Its errors name the
// path.
func Open(path, contentType string) (*asset.Item, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such file; check the path", path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%s: permission denied; vidup needs read access to the file and its folders", path)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch mode := info.Mode(); {
	case mode.IsDir():
		return nil, fmt.Errorf("%s: is a directory; name the files in it (vidup upload %s/*)", path, strings.TrimSuffix(path, "/"))
	case mode&fs.ModeNamedPipe != 0:
		return nil, fmt.Errorf("%s: is a named pipe (FIFO); vidup uploads regular files only", path)
	case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return nil, fmt.Errorf("%s: is a device; vidup uploads regular files only", path)
	case !mode.IsRegular():
		return nil, fmt.Errorf("%s: is not a regular file (%s); vidup uploads regular files only", path, mode.Type())
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%s: permission denied; vidup needs read access to the file", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	if contentType == "" {
		head := make([]byte, 512)
		n, err := io.ReadFull(f, head)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: cannot read: %w", path, err)
		}
		contentType = DetectContentType(head[:n], path)
	}
	return &asset.Item{
		Path:        path,
		Abs:         abs(path),
		Rel:         filepath.Base(path),
		Name:        filepath.Base(path),
		Info:        info,
		Size:        info.Size(),
		ModTime:     info.ModTime(),
		ContentType: contentType,
	}, nil
}

// errFileChanged is the cause of a failure when the file changed while it
// was read: what S3 holds may mix old and new bytes.
var errFileChanged = errors.New("the file changed while it was uploaded; upload it again once it is complete")

func abs(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// checkUnchanged compares the file at its path with what was seen when the
// item was found: the same file, size and modification time.
func checkUnchanged(f *asset.Item) error {
	info, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	if f.Info != nil && !os.SameFile(info, f.Info) || info.Size() != f.Size || !info.ModTime().Equal(f.ModTime) {
		return errFileChanged
	}
	return nil
}

// checkOpen compares an open handle's state with what was seen when the
// item was found. It is cheap (fstat), so it runs before every part
// attempt.
func checkOpen(f *asset.Item, h *os.File) error {
	info, err := h.Stat()
	if err != nil {
		return err
	}
	if info.Size() != f.Size || !info.ModTime().Equal(f.ModTime) {
		return errFileChanged
	}
	return nil
}

// DetectContentType names a file's media type from its first bytes, then
// its extension. http.DetectContentType knows few video containers, so the
// common ones are recognised here first.
func DetectContentType(head []byte, name string) string {
	if t := videoMagic(head); t != "" {
		return t
	}
	if t := http.DetectContentType(head); t != "application/octet-stream" && !strings.HasPrefix(t, "text/plain") {
		return t
	}
	ext := strings.ToLower(filepath.Ext(name))
	// Ours first: the system's MIME table differs between machines.
	if t, ok := videoExtensions[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	if len(head) == 0 {
		return "application/octet-stream"
	}
	return http.DetectContentType(head)
}

var videoExtensions = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime",
	".mkv": "video/x-matroska", ".webm": "video/webm", ".ts": "video/mp2t",
	".m2ts": "video/mp2t", ".mxf": "application/mxf", ".avi": "video/x-msvideo",
}

// mxfKey is the start of every MXF partition pack key (SMPTE 377).
var mxfKey = []byte{0x06, 0x0e, 0x2b, 0x34, 0x02, 0x05, 0x01, 0x01, 0x0d, 0x01, 0x02}

func videoMagic(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		brand := string(b[8:12])
		if brand == "qt  " {
			return "video/quicktime"
		}
		if strings.HasPrefix(brand, "M4A") {
			return "audio/mp4"
		}
		return "video/mp4"
	case len(b) >= 4 && bytes.Equal(b[:4], []byte{0x1a, 0x45, 0xdf, 0xa3}):
		// EBML: the DocType tells WebM from Matroska.
		if bytes.Contains(b, []byte("webm")) {
			return "video/webm"
		}
		return "video/x-matroska"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "AVI ":
		return "video/x-msvideo"
	case len(b) >= len(mxfKey) && bytes.Equal(b[:len(mxfKey)], mxfKey):
		return "application/mxf"
	case isMPEGTS(b):
		return "video/mp2t"
	}
	return ""
}

// isMPEGTS tells a transport stream by its sync byte every 188 bytes.
func isMPEGTS(b []byte) bool {
	if len(b) < 188+1 {
		return false
	}
	for i := 0; i < len(b); i += 188 {
		if b[i] != 0x47 {
			return false
		}
	}
	return true
}
