package journal

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeFileAtomic puts data at path so that a crash at any instant leaves
// either the old file or the new one: a temporary file in the same folder
// (rename is only atomic within one file system), fsynced before it takes
// path's name, then the folder fsynced so that the name survives a power
// loss. With replace false an existing path is an error (fs.ErrExist),
// checked atomically by link(2).
func writeFileAtomic(path string, data []byte, replace bool) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if !replace || err != nil {
		_ = os.Remove(tmp)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data to a new, fsynced temporary file beside path and
// returns its name. A crash after it and before the rename leaves that file
// behind, which nothing reads.
func writeTemp(path string, data []byte) (tmp string, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp = f.Name()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// writeFileSync creates (or truncates) path with data, 0600, and fsyncs it
// and its folder.
func writeFileSync(path string, data []byte) error {
	// O_RDWR, not O_WRONLY: a FIFO planted at path must not block the
	// open before openRegular refuses it.
	f, err := openRegular(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes the folder's entries (created, renamed, removed names)
// durable.
func syncDir(dir string) error {
	if !folderSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
