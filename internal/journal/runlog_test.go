package journal

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

// doneEntry is an entry of a single-request upload, complete on S3: it
// lives in the run log.
func doneEntry(path string, n int) *Entry {
	return &Entry{
		Source: Identity{Path: path, Size: 65536, Inode: uint64(n + 1), Sample: "sha256:x"},
		Upload: asset.Upload{SessionID: "sess", UploadID: fmt.Sprintf("up-%s-%d", filepath.Base(path), n),
			Bucket: "videos", Key: "uploads/" + path, ChecksumAlgorithm: "CRC32C"},
		Name: filepath.Base(path), Size: 65536, State: Completed, ETag: `"e"`, Checksum: "AAAAAA==",
	}
}

func logFiles(t *testing.T, s *Store) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.logDir, "*"+logExt))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Entries without parts go to the run log, not to files of their own, and
// read, update, list and delete like any other; a later Open folds the log
// into the snapshot and sees the same.
func TestRunLogRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := doneEntry("/in/a.ts", 0), doneEntry("/in/b.ts", 1)
	for _, e := range []*Entry{a, b} {
		if err := s.Create(e); err != nil {
			t.Fatal(err)
		}
	}
	dup := doneEntry("/in/a.ts", 0)
	dup.ID = a.ID
	if err := s.Create(dup); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("Create of an existing id = %v, want exists already", err)
	}
	if names, _ := readDirNames(s.uploads); len(names) != 0 {
		t.Fatalf("entries of the run log made files in %s: %v", s.uploads, names)
	}
	a.State, a.VideoID = Registered, "vid-a"
	if err := s.Update(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(b.ID); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, when string) {
		t.Helper()
		got, err := s.FindBySource(a.Source)
		if err != nil || got.State != Registered || got.VideoID != "vid-a" || !got.CreatedAt.Equal(a.CreatedAt) || !got.UpdatedAt.After(got.CreatedAt) {
			t.Fatalf("%s: FindBySource(a) = %+v, %v", when, got, err)
		}
		if _, err := s.Get(b.ID); !isNotFound(err) {
			t.Fatalf("%s: Get of a deleted entry = %v, want not found", when, err)
		}
		if list, err := s.List(); err != nil || len(list) != 1 || list[0].ID != a.ID {
			t.Fatalf("%s: List = %v, %v", when, list, err)
		}
	}
	check(s, "same store")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if left := logFiles(t, again); len(left) != 0 {
		t.Fatalf("logs left after Open folded them: %v", left)
	}
	check(again, "after the log was folded")
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Writers that record at the same time share fsyncs: 400 records from 16
// goroutines take far fewer than 400 syncs, and every one of them is there.
func TestRunLogGroupCommit(t *testing.T) {
	s := openStore(t)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 25 {
				e := doneEntry(fmt.Sprintf("/in/%d-%d.ts", g, i), g*100+i)
				if err := s.Create(e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	list, err := s.List()
	if err != nil || len(list) != 400 {
		t.Fatalf("List = %d entries, %v; want 400", len(list), err)
	}
	if syncs := s.log.syncs; syncs >= 400 || syncs == 0 {
		t.Fatalf("%d fsyncs for 400 records; want them shared", syncs)
	}
	t.Logf("400 records, %d fsyncs", s.log.syncs)
}

// What one process records, another sees at its next lookup, without
// reopening: two runs must not upload the same file twice.
func TestRunLogSeenByAnotherStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	one, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := doneEntry("/in/x.ts", 7)
	if _, err := two.FindBySource(e.Source); !isNotFound(err) {
		t.Fatalf("FindBySource before = %v", err)
	}
	if err := one.Create(e); err != nil {
		t.Fatal(err)
	}
	e.State, e.VideoID = Registered, "vid-x"
	if err := one.Update(e); err != nil {
		t.Fatal(err)
	}
	got, err := two.FindBySource(e.Source)
	if err != nil || got.State != Registered {
		t.Fatalf("the other store sees %+v, %v; want it registered", got, err)
	}
	// A deletion in the second store wins over the first one's put, also
	// once the second store's log is folded while the first still lives.
	if err := two.Delete(e.ID); err != nil {
		t.Fatal(err)
	}
	two.Close()
	three, err := Open(dir) // folds two's log; one's is live
	if err != nil {
		t.Fatal(err)
	}
	if _, err := three.Get(e.ID); !isNotFound(err) {
		t.Fatalf("deleted entry after folding the deleter's log = %v", err)
	}
	one.Close()
	three.Close()
	four, err := Open(dir) // folds one's log, with the older put
	if err != nil {
		t.Fatal(err)
	}
	defer four.Close()
	if _, err := four.Get(e.ID); !isNotFound(err) {
		t.Fatalf("deleted entry came back once every log was folded: %v", err)
	}
}

// A crash tears the last record of a log, or a disk garbles one: those are
// ignored, the records before and after them stand, and folding keeps them.
func TestRunLogTornAndDamagedRecords(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	entries := []*Entry{doneEntry("/in/0.ts", 0), doneEntry("/in/1.ts", 1), doneEntry("/in/2.ts", 2), doneEntry("/in/3.ts", 3)}
	for _, e := range entries {
		e.ID = newID()
		e.CreatedAt, e.UpdatedAt = time.Now().UTC(), time.Now().UTC()
		rec, err := encodeRecord(logRecord{Put: &header{Version: headerVersion, Entry: e}})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	damaged := append([]byte{}, recs[1]...)
	damaged[20] ^= 0x20 // one flipped bit in the JSON: the CRC no longer matches
	for cut := 1; cut < len(recs[3]); cut += 7 {
		var log []byte
		log = append(log, recs[0]...)
		log = append(log, damaged...)
		log = append(log, recs[2]...)
		log = append(log, recs[3][:cut]...) // torn: no newline
		name := filepath.Join(s.logDir, fmt.Sprintf("dead-%d%s", cut, logExt))
		if err := os.WriteFile(name, log, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			_, err := s.Get(e.ID)
			want := e == entries[0] || e == entries[2]
			if (err == nil) != want {
				t.Fatalf("cut %d: Get(%s) = %v; want present %v", cut, e.Name, err, want)
			}
		}
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	// Folded by Open: the snapshot keeps what the log held, nothing more.
	var log []byte
	log = append(log, recs[0]...)
	log = append(log, damaged...)
	log = append(log, recs[2]...)
	log = append(log, recs[3][:len(recs[3])/2]...)
	if err := os.WriteFile(filepath.Join(s.logDir, "dead"+logExt), log, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if left := logFiles(t, again); len(left) != 0 {
		t.Fatalf("logs left after Open: %v", left)
	}
	list, err := again.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("after folding: List = %d entries, %v; want the 2 whole records", len(list), err)
	}
}

// Processes recording completed and registered uploads in the run log, 8
// at a time, are killed at random moments, five times; after each kill the
// journal loads, every upload the killed process was told is complete or
// registered is there in that state or later, and nothing is garbled.
func TestKill9WhileLogging(t *testing.T) {
	s := openStore(t)
	completed, registered := map[string]bool{}, map[string]bool{}
	for round := range 5 {
		cmd := startLogger(t, s, round)
		lines := make(chan string, 1<<16)
		go func(out *bufio.Scanner) {
			for out.Scan() {
				lines <- out.Text()
			}
			close(lines)
		}(cmd.out)
		time.Sleep(time.Duration(20_000+rand.IntN(80_000)) * time.Microsecond)
		kill9(t, cmd.Cmd)
		for l := range lines {
			what, id, _ := strings.Cut(l, " ")
			switch what {
			case "completed":
				completed[id] = true
			case "registered":
				registered[id] = true
			}
		}
		again, err := Open(s.Dir()) // folds the killed run's log
		if err != nil {
			t.Fatalf("round %d: the journal does not open after kill -9: %v", round, err)
		}
		list, err := again.List()
		if err != nil {
			t.Fatalf("round %d: List: %v", round, err)
		}
		got := map[string]*Entry{}
		for _, e := range list {
			got[e.ID] = e
		}
		for id := range completed {
			e := got[id]
			if e == nil || (e.State != Completed && e.State != Registered) {
				t.Fatalf("round %d: upload %s was recorded complete; the journal has %+v", round, id, e)
			}
		}
		for id := range registered {
			if e := got[id]; e == nil || e.State != Registered || e.VideoID != "vid-"+id {
				t.Fatalf("round %d: upload %s was recorded registered; the journal has %+v", round, id, e)
			}
		}
		again.Close()
	}
	if len(registered) == 0 {
		t.Fatal("no process recorded a registration: the test proved nothing")
	}
	t.Logf("%d complete, %d registered over 5 killed processes", len(completed), len(registered))
}

type logger struct {
	*exec.Cmd
	out *bufio.Scanner
}

func startLogger(t *testing.T, s *Store, round int) logger {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=log", "HELPER_DIR="+s.Dir(), "HELPER_KEY="+Identity{Path: "/log", Inode: 1}.Key(),
		fmt.Sprintf("HELPER_ID=r%d", round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("logger said %q", sc.Text())
	}
	return logger{Cmd: cmd, out: sc}
}

// logHelper records entries as an upload run does, from 8 workers, and
// says which records returned.
func logHelper(s *Store, prefix string) int {
	fmt.Println("ready")
	var mu sync.Mutex
	say := func(what, id string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Println(what, id)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e := doneEntry(fmt.Sprintf("/bulk/%s-%d-%d", prefix, w, i), w*1_000_000+i)
				e.ID = fmt.Sprintf("%s-%d-%d", prefix, w, i)
				if err := s.Create(e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(5)
				}
				say("completed", e.ID)
				e.State, e.VideoID = Registered, "vid-"+e.ID
				if err := s.Update(e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(6)
				}
				say("registered", e.ID)
			}
		})
	}
	wg.Wait()
	return 0
}

// A run records each of its files twice (completed, then registered). Its
// own records need no look at the other runs' logs: 200 records of 100
// files read the log folder no more than a handful of times, not 200.
// Another store still sees them.
func TestRunLogOwnRecordsNeedNoRefresh(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entries := make([]*Entry, 100)
	for i := range entries {
		entries[i] = doneEntry(fmt.Sprintf("/in/%03d.ts", i), i)
		if err := s.Create(entries[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range entries {
		e.State, e.VideoID = Registered, fmt.Sprintf("vid-%d", i)
		if err := s.Update(e); err != nil {
			t.Fatal(err)
		}
	}
	if s.refreshes > 2 {
		t.Fatalf("%d refreshes of the logs for 200 records of this store's own; want none per record", s.refreshes)
	}
	other, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	got, err := other.FindBySource(entries[42].Source)
	if err != nil || got.State != Registered || got.VideoID != "vid-42" {
		t.Fatalf("another store sees %+v, %v; want it registered as vid-42", got, err)
	}
}

// TestCompactForgetsEntriesWhoseSourceIsGone: a registered entry whose
// file was removed or replaced is dropped by the compaction after
// forgetGoneAfter, so that the journal of a run over a folder emptied after
// upload does not grow with every file ever sent. What could still match a
// file, what is still work on S3, what is recent, and what may only be on
// an unmounted file system stay.
func TestCompactForgetsEntriesWhoseSourceIsGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	identityOf := func(name string) Identity {
		id, err := IdentityOf(writeSource(t, src, name, 2000))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	long := time.Now().Add(-forgetGoneAfter - time.Hour)
	create := func(id Identity, state State, at time.Time) *Entry {
		s.now = func() time.Time { return at }
		e := sampleEntry(id)
		e.State = state
		if state == Registered {
			e.VideoID = "video-" + filepath.Base(id.Path)
		}
		if err := s.Create(e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	kept := create(identityOf("kept.mp4"), Registered, long)
	removed := create(identityOf("removed.mp4"), Registered, long)
	replaced := create(identityOf("replaced.mp4"), Registered, long)
	removedDir := identityOf("sub-removed.mp4")
	recent := create(identityOf("recent.mp4"), Registered, time.Now().Add(-forgetGoneAfter+time.Hour))
	unfinished := create(identityOf("unfinished.mp4"), Completed, long)
	// A file whose folder is missing and whose nearest existing folder is
	// on another device: its file system may just not be mounted.
	unmounted := removedDir
	unmounted.Path = filepath.Join(src, "card", "DCIM", "clip.mp4")
	unmounted.Device++
	offline := create(unmounted, Registered, long)
	// The same, on the same device: the folder was removed with the file.
	gone := removedDir
	gone.Path = filepath.Join(src, "day-1", "clip.mp4")
	folderGone := create(gone, Registered, long)

	for _, name := range []string{"removed.mp4", "recent.mp4", "unfinished.mp4", "sub-removed.mp4"} {
		if err := os.Remove(filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeSource(t, src, "replaced.mp4", 3000) // another file at the path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir) // folds the run's log: the compaction
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, e := range []*Entry{kept, recent, unfinished, offline} {
		if _, err := s.Get(e.ID); err != nil {
			t.Errorf("the compaction dropped %s (%s, %s): %v", filepath.Base(e.Source.Path), e.State, e.UpdatedAt, err)
		}
	}
	for _, e := range []*Entry{removed, replaced, folderGone} {
		if _, err := s.Get(e.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("the compaction kept %s, whose source is gone: %v", e.Source.Path, err)
		}
	}
	// The snapshot keeps of a registered entry only what skips its file:
	// of the four entries left, only the unfinished one keeps its key.
	snap, err := os.ReadFile(s.logPath(snapshotName))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(snap), kept.Key); n != 1 {
		t.Errorf("the snapshot holds the upload key %d times, want 1 (the unfinished entry's):\n%s", n, snap)
	}
	// The file still in place is still found by its source, and skipped.
	got, err := s.ForSource(kept.Source.Key())
	if err != nil || len(got) != 1 || got[0].VideoID != kept.VideoID {
		t.Fatalf("ForSource(kept) = %v, %v; want its registered entry", got, err)
	}
}

// TestCompactWaitsUntilFoldingIsWorthIt: a run that adds a few records to a
// large journal does not rewrite its snapshot; its ended log is read along
// with it, and folded once the ended logs add up to a quarter of it.
func TestCompactWaitsUntilFoldingIsWorthIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	run := func(n int) []*Entry {
		t.Helper()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var made []*Entry
		for range n {
			e := sampleEntry(Identity{})
			e.State = Completed // no parts follow: it goes to the run log
			if err := s.Create(e); err != nil {
				t.Fatal(err)
			}
			made = append(made, e)
		}
		return made
	}
	logs := func() (n int) {
		names, err := readDirNames(filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, logExt) {
				n++
			}
		}
		return n
	}
	all := run(40)
	all = append(all, run(1)...) // its Open folds the first run's log
	if n := logs(); n != 1 {
		t.Fatalf("%d logs after two runs, want 1 (the second's, not yet folded)", n)
	}
	all = append(all, run(1)...) // 1 record beside a snapshot of 40: left
	if n := logs(); n != 2 {
		t.Fatalf("%d logs, want 2: a log of one record next to 40 is not worth a rewrite", n)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if _, err := s.Get(e.ID); err != nil {
			t.Fatalf("entry %s is lost while its log waits to be folded: %v", e.ID, err)
		}
	}
	s.Close()
	all = append(all, run(12)...)
	s, err = Open(dir) // 14 records in ended logs beside 40: folded
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := logs(); n != 0 {
		t.Fatalf("%d logs left, want them folded into the snapshot", n)
	}
	for _, e := range all {
		if _, err := s.Get(e.ID); err != nil {
			t.Fatalf("entry %s is lost by the fold: %v", e.ID, err)
		}
	}
}
