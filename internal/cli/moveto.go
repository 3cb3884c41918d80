package cli

import (
	"os"
	"path/filepath"

	"github.com/vidup/vidup/internal/units"
)

// checkMoveTo refuses a --move-to folder that is itself a folder being
// uploaded: each file would be moved onto itself.
//
// A --move-to folder inside a folder being uploaded (-r /srv/in --move-to
// /srv/in/done, the usual layout of a watch folder) is allowed: the walk
// never enters it (sources' Prune), so a moved file is not found, and
// uploaded, again on the next run. Refusing that layout would make every
// such setup move its done folder; excluding it is what the user meant.
func checkMoveTo(moveTo string, paths []string) error {
	dst, err := os.Stat(moveTo)
	if err != nil || !dst.IsDir() {
		return nil // created by the first move: it holds nothing yet
	}
	for _, p := range paths {
		if p == "-" {
			continue
		}
		src, err := os.Stat(p)
		if err != nil || !src.IsDir() || !os.SameFile(src, dst) {
			continue
		}
		return usageErrorf("--move-to %s is the folder being uploaded (%s): each file would be moved onto itself; give a folder outside it or inside it, e.g. --move-to %s",
			units.Path(moveTo), units.Path(p), units.Path(filepath.Join(p, "done")))
	}
	return nil
}
