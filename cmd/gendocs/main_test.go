package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI reference in docs/cli is what this command generates from the
// commands; this fails when a flag or help text changed and `make docs`
// was not run.
func TestCLIReferenceIsCurrent(t *testing.T) {
	dir := t.TempDir()
	var stderr strings.Builder
	if code := run([]string{dir}, &stderr); code != 0 {
		t.Fatalf("gendocs %s: exit %d: %s", dir, code, stderr.String())
	}
	committed := filepath.Join("..", "..", "docs", "cli")
	generated, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(generated) == 0 {
		t.Fatal("gendocs wrote no pages")
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

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	var stderr strings.Builder
	if code := run([]string{"-man", dir}, &stderr); code != 0 {
		t.Fatalf("gendocs -man %s: exit %d: %s", dir, code, stderr.String())
	}
	page, err := os.ReadFile(filepath.Join(dir, "vidup-upload.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `.TH "VIDUP" "1"`) {
		t.Fatalf("vidup-upload.1 has no VIDUP(1) header:\n%.300s", page)
	}
}

func TestUsage(t *testing.T) {
	var stderr strings.Builder
	if code := run(nil, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage: gendocs") {
		t.Fatalf("gendocs without DIR: exit %d, stderr %q; want 2 and the usage", code, stderr.String())
	}
}
