package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// The CLI reference in docs/cli is generated from the commands; this fails
// when a flag or help text changed and `make docs` was not run.
func TestCLIReferenceIsCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := WriteMarkdown(dir); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join("..", "..", "docs", "cli")
	generated, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range generated {
		want, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		got, err := os.ReadFile(filepath.Join(committed, e.Name()))
		if err != nil {
			t.Errorf("docs/cli/%s is missing; run make docs", e.Name())
			continue
		}
		if string(got) != string(want) {
			t.Errorf("docs/cli/%s is out of date; run make docs", e.Name())
		}
	}
	old, err := os.ReadDir(committed)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != len(generated) {
		t.Errorf("docs/cli has %d pages, the commands make %d; run make docs (and remove pages of removed commands)", len(old), len(generated))
	}
}
