//go:build linux

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// smallFiles writes n files of 4 to 36 KiB under dir and returns their
// paths by base name.
func smallFiles(t *testing.T, dir string, n int) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("seg-%04d.ts", i)
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%10), name)
		writeRandom(t, p, int64(4<<10+(i*977)%(32<<10)), uint64(i))
		paths[name] = p
	}
	return paths
}

// checkOnceAndIntact: every file is registered exactly once, and the
// object each registration names holds the file's bytes.
func (b *bulkEnv) checkOnceAndIntact(t *testing.T, paths map[string]string) {
	t.Helper()
	regs := b.api.Registrations()
	per := map[string]int{}
	for _, r := range regs {
		per[r.Filename]++
	}
	for name := range paths {
		if per[name] != 1 {
			t.Errorf("%s registered %d times, want once", name, per[name])
		}
	}
	if len(regs) != len(paths) {
		t.Fatalf("%d videos registered for %d files", len(regs), len(paths))
	}
	for _, r := range regs {
		if b.objectSHA(t, r.Key) != sha256File(t, paths[r.Filename]) {
			t.Errorf("%s arrived damaged at %s", r.Filename, r.Key)
		}
	}
}

// A server with batch registration (contract v1.1 3c) registers a bulk
// run's files in a few calls per session, none of them one by one.
func TestBulkRegistersInBatches(t *testing.T) {
	b := newBulkEnv(t)
	b.api.Set(func(a *transfertest.API) { a.Batch = true })
	dir := filepath.Join(t.TempDir(), "in")
	paths := smallFiles(t, dir, 250)
	code, stdout, stderr := b.run(t, "-r", dir, "-o", "json", "-q")
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr:\n%.3000s", code, stderr)
	}
	if doc := parseDoc(t, stdout); doc.Summary.Uploaded != len(paths) {
		t.Fatalf("summary %+v, want %d uploaded", doc.Summary, len(paths))
	}
	b.checkOnceAndIntact(t, paths)
	sessions, batches := b.count.sessions.Load(), b.count.batches.Load()
	if n := b.count.registering.Load(); n != 0 {
		t.Errorf("%d registrations one by one; want all in batches", n)
	}
	// A batch goes when its session's files have ended or a second after
	// the first of them completed: on a loaded machine a session may need
	// a few.
	if batches < sessions || batches*5 > int64(len(paths)) {
		t.Errorf("%d batch calls for %d files in %d sessions; want a few per session", batches, len(paths), sessions)
	}
	t.Logf("%d files, %d sessions, %d batch calls", len(paths), sessions, batches)
}

// Against a v1 server (404 on the batch path) the run falls back to one
// registration per file, and remembers it: no batch call starts once one
// was refused.
func TestBulkBatchFallsBackOnV1Server(t *testing.T) {
	b := newBulkEnv(t) // transfertest's server is v1 unless Batch is set
	dir := filepath.Join(t.TempDir(), "in")
	paths := smallFiles(t, dir, 250)
	code, stdout, stderr := b.run(t, "-r", dir, "-o", "json", "-q")
	if code != ExitOK {
		t.Fatalf("exit code %d; stderr:\n%.3000s", code, stderr)
	}
	if doc := parseDoc(t, stdout); doc.Summary.Uploaded != len(paths) || doc.Summary.Failed != 0 {
		t.Fatalf("summary %+v, want %d uploaded", doc.Summary, len(paths))
	}
	b.checkOnceAndIntact(t, paths)
	if n := b.count.batches.Load(); n == 0 {
		t.Error("no batch registration was tried")
	}
	if n := b.count.lateBatches.Load(); n != 0 {
		t.Errorf("%d batch calls began after the server had refused one", n)
	}
	if n := b.count.registering.Load(); n != int64(len(paths)) {
		t.Errorf("%d single registrations, want %d", n, len(paths))
	}
}

// The bulk crash test: 2,000 small files, the run killed (SIGKILL)
// at random moments four times, then run again until it ends: every file
// is registered exactly once, and every object is intact.
func TestBulkKilledAtRandomRegistersEachFileOnce(t *testing.T) {
	b := newBulkEnv(t)
	b.api.Set(func(a *transfertest.API) { a.Batch = true })
	dir := filepath.Join(t.TempDir(), "in")
	paths := smallFiles(t, dir, 2000)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 13))
	t.Logf("seed %d", seed)
	for round := range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := b.command(ctx, "-r", dir, "-o", "ndjson", "-q")
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The first round dies anywhere from its start; the others once a
		// random number of files are on S3 (their registrations gathering
		// or in flight), at a random moment after.
		if round > 0 {
			k, uploaded := 1+rng.IntN(400), 0
			readEvents(t, stdout, func(ev map[string]any) bool {
				if ev["type"] == "file_uploaded" {
					uploaded++
				}
				return uploaded >= k
			})
		} else {
			go io.Copy(io.Discard, stdout)
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cancel()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Logf("round %d: the run ended before it was killed (stderr %q)", round, errOut.String())
			break
		}
		t.Logf("round %d: killed with %d videos registered", round, len(b.api.Registrations()))
	}
	if len(b.api.Registrations()) == len(paths) {
		t.Fatal("every file was registered before the last kill: the kills proved nothing")
	}
	for attempt := 0; ; attempt++ {
		code, stdout, stderr := b.run(t, "-r", dir, "-o", "json", "-q")
		if code == ExitOK {
			doc := parseDoc(t, stdout)
			if doc.Summary.Uploaded+doc.Summary.Skipped != len(paths) {
				t.Fatalf("last run summary %+v", doc.Summary)
			}
			break
		}
		if attempt == 2 {
			t.Fatalf("the run after the kills fails: exit code %d; stderr:\n%.3000s", code, stderr)
		}
	}
	b.checkOnceAndIntact(t, paths)
	if open := b.api.OpenUploads(t); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
}
