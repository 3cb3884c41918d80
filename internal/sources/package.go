package sources

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/manifest"
)

// Errors of Package.
var (
	ErrEmptyPackage = errors.New("the folder holds no file; nothing to upload as a package")
	ErrNotAFolder   = errors.New("is a file; a package is a folder's tree")
)

// Package reads the package folder dir (internal/manifest: an HLS or DASH
// rendition set, or any folder) into one item whose Objects are its files
// in upload order (media, then media playlists, then entry points), each
// stated once. onlyReferenced leaves out the files of an HLS or DASH
// folder that no manifest references. The manifest.Package says what the
// folder holds beyond that (files left out, what the walk skipped). A
// package that cannot be uploaded as it is returns the Package and a
// *manifest.RefusedError.
func Package(dir string, onlyReferenced bool) (*asset.Item, *manifest.Package, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, nil, err
	}
	if !info.IsDir() {
		return nil, nil, fmt.Errorf("%s: %w", dir, ErrNotAFolder)
	}
	pkg, err := manifest.OpenDir(dir, manifest.Options{})
	if err != nil {
		return nil, pkg, err
	}
	objs := pkg.Objects
	if onlyReferenced {
		objs = make([]manifest.Object, 0, len(pkg.Objects))
		for _, ob := range pkg.Objects {
			if ob.Role != manifest.RoleSidecar {
				objs = append(objs, ob)
			}
		}
	}
	switch {
	case len(objs) == 0:
		return nil, pkg, ErrEmptyPackage
	case len(objs) > contract.MaxFilesPerPackage:
		return nil, pkg, fmt.Errorf("%d files; a package may hold at most %d (contract v1.1 1b)", len(objs), contract.MaxFilesPerPackage)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, pkg, err
	}
	name := filepath.Base(abs)
	it := &asset.Item{Path: dir, Abs: abs, Rel: name, Name: name, Info: info, ModTime: info.ModTime(),
		Kind: string(pkg.Kind), Entries: pkg.Entries}
	it.Objects = make([]*asset.Object, len(objs))
	for i, ob := range objs {
		if ob.Role == manifest.RoleEntry && it.ContentType == "" {
			it.ContentType = ob.ContentType
		}
		p := filepath.Join(dir, filepath.FromSlash(ob.Path))
		fi, err := os.Stat(p)
		if err != nil {
			return nil, pkg, err
		}
		it.Objects[i] = &asset.Object{Rel: ob.Path, Path: p, Info: fi, Size: fi.Size(), ContentType: ob.ContentType,
			CacheControl: ob.CacheControl, Role: string(ob.Role), Phase: int(ob.Phase)}
		it.Size += fi.Size()
	}
	return it, pkg, nil
}
