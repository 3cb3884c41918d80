package sources

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
)

// planFilesFrom reads the --files-from list and checks each entry as a path
// named on the command line.
func (e *expander) planFilesFrom() []root {
	name := e.opts.FilesFrom
	var r io.Reader
	if name == "-" {
		if e.opts.Stdin == nil {
			e.usageErr(name, &OptionError{Option: FilesFrom, Value: name, NoStdin: true})
			return nil
		}
		r = e.opts.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			e.usageErr(name, fmt.Errorf("the %s %w", FilesFrom, statError(name, err, "")))
			return nil
		}
		defer f.Close()
		r = f
	}
	sep, unit := byte('\n'), "line"
	if e.opts.NullSeparated {
		sep, unit = 0, "entry"
	}
	var roots []root
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		entry, err := br.ReadBytes(sep)
		if len(entry) > 0 && entry[len(entry)-1] == sep {
			entry = entry[:len(entry)-1]
		}
		if sep == '\n' {
			entry = bytes.TrimSuffix(entry, []byte("\r"))
		}
		if len(entry) > 0 {
			from := listedIn(name, unit, n)
			if rt, ok := e.planPath(string(entry), from); ok {
				roots = append(roots, rt)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			e.usageErr(name, &OptionError{Option: FilesFrom, Value: name, Err: fmt.Errorf("could not be read after %s %d: %w", unit, n-1, cause(err))})
			break
		}
		if n%1024 == 0 && e.ctx.Err() != nil {
			break
		}
	}
	return roots
}
