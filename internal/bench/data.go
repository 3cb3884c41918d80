// Package bench measures vidup against other S3 uploaders (mc, s5cmd,
// rclone, aws-cli) on a local MinIO: the data it uploads, how it measures a
// client and the server next to it, and the table it reports.
package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// EnsureFile makes path hold size bytes of incompressible data from seed,
// reusing a file already there with the right size. Files are written under a
// temporary name and renamed, so a run stopped half-way never leaves a short
// file that a later run would take as complete.
func EnsureFile(path string, size int64, seed uint64) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() == size {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fill(f, size, seed); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// fill writes size bytes of a splitmix64 stream: compressors and
// deduplicating servers find nothing to save in it, and it runs at several
// GB/s, so generating gigabytes costs little next to uploading them.
func fill(f *os.File, size int64, seed uint64) error {
	state := seed*0x9E3779B97F4A7C15 + 1
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		for i := 0; i < len(buf); i += 8 {
			state += 0x9E3779B97F4A7C15
			z := state
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
			z = (z ^ (z >> 27)) * 0x94D049BB133111EB
			binary.LittleEndian.PutUint64(buf[i:], z^(z>>31))
		}
		chunk := buf
		if int64(len(chunk)) > left {
			chunk = chunk[:left]
		}
		if _, err := f.Write(chunk); err != nil {
			return err
		}
		left -= int64(len(chunk))
	}
	return nil
}

// EnsureFileSet makes dir hold count files of size bytes each, named
// seg-00000.ts and on, like an HLS package.
func EnsureFileSet(dir string, count int, size int64) ([]string, error) {
	paths := make([]string, count)
	for i := range count {
		paths[i] = filepath.Join(dir, fmt.Sprintf("seg-%05d.ts", i))
		if err := EnsureFile(paths[i], size, uint64(1000+i)); err != nil {
			return nil, err
		}
	}
	return paths, nil
}
