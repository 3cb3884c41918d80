package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeSource makes a file of n deterministic bytes and returns its path.
func writeSource(t *testing.T, dir, name string, n int) string {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func sampleEntry(src Identity) *Entry {
	return &Entry{
		Source: src,
		Upload: asset.Upload{
			SessionID:         "sess-1",
			UploadID:          "up-1",
			Key:               "uploads/sess-1/up-1/clip.mp4",
			Bucket:            "videos",
			Region:            "us-east-1",
			Endpoint:          "http://127.0.0.1:9000",
			PathStyle:         true,
			Metadata:          map[string]string{"camera": "cam-3"},
			S3UploadID:        "s3-upload-xyz",
			PartSize:          5 << 20,
			ChecksumAlgorithm: "CRC64NVME",
		},
		Name:        "clip.mp4",
		Size:        src.Size,
		ContentType: "video/mp4",
		State:       Uploading,
	}
}

func testPart(n int32) asset.Part {
	return asset.Part{Number: n, Size: 5<<20 + int64(n), ETag: fmt.Sprintf("\"etag-%d\"", n), Checksum: fmt.Sprintf("crc-%d==", n)}
}

func TestCreateGetRoundTrip(t *testing.T) {
	s := openStore(t)
	src, err := IdentityOf(writeSource(t, t.TempDir(), "clip.mp4", 300<<10))
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry(src)
	e.Parts = []asset.Part{testPart(1), testPart(2)}
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	if checkID(e.ID) != nil || e.CreatedAt.IsZero() || !e.UpdatedAt.Equal(e.CreatedAt) {
		t.Fatalf("Create did not fill ID and times: %q %v %v", e.ID, e.CreatedAt, e.UpdatedAt)
	}
	got, err := s.Get(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("Get = %+v\nwant %+v", got, e)
	}

	again := sampleEntry(src)
	again.ID = e.ID
	if err := s.Create(again); err == nil {
		t.Fatal("Create with an existing ID succeeded")
	}

	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(nope) = %v, want ErrNotFound", err)
	}
	if _, err := s.Get("../escape"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(../escape) = %v, want an invalid id error", err)
	}
}

func TestUpdateRewritesHeaderOnly(t *testing.T) {
	s := openStore(t)
	e := sampleEntry(Identity{})
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPart(e.ID, testPart(1)); err != nil {
		t.Fatal(err)
	}
	created := e.CreatedAt
	s.now = func() time.Time { return created.Add(time.Minute) }
	e.State, e.ETag, e.Checksum = Completed, "\"abc-1\"", "crc=="
	e.Parts = nil // Update ignores Parts, so this must not drop part 1
	if err := s.Update(e); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Completed || got.ETag != "\"abc-1\"" || !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(created.Add(time.Minute)) {
		t.Fatalf("after Update: %+v", got)
	}
	if !reflect.DeepEqual(got.Parts, []asset.Part{testPart(1)}) {
		t.Fatalf("parts after Update = %+v", got.Parts)
	}

	e.Source = Identity{Path: "/elsewhere", Size: 1}
	if err := s.Update(e); err == nil {
		t.Fatal("Update changed the source of an entry")
	}
	e.Source = Identity{}
	e.State, e.VideoID = Registered, "vid-1"
	if err := s.Update(e); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(e.ID); err != nil || got.VideoID != "vid-1" || len(got.Parts) != 0 {
		t.Fatalf("registered entry = %+v, %v; want vid-1 and no parts", got, err)
	}
	if _, err := os.Stat(s.partsPath(e.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the parts log of a registered entry is still there: %v", err)
	}
	if err := s.Update(&Entry{ID: "missing"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update(missing) = %v, want ErrNotFound", err)
	}
}

// A crash after the new header's temporary file is written and before it is
// renamed leaves the old header in place, and the stray file is ignored.
func TestHeaderCrashBeforeRenameKeepsOldState(t *testing.T) {
	s := openStore(t)
	e := sampleEntry(Identity{})
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	next := *e
	next.State, next.VideoID = Registered, "vid-9"
	data, err := json.Marshal(header{Version: headerVersion, Entry: &next})
	if err != nil {
		t.Fatal(err)
	}
	// Both a complete and a torn temporary file: neither may be read.
	if _, err := writeTemp(s.headerPath(e.ID), data); err != nil {
		t.Fatal(err)
	}
	if _, err := writeTemp(s.headerPath(e.ID), data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Uploading || got.VideoID != "" {
		t.Fatalf("after a crash before rename, state = %s %q, want the old uploading state", got.State, got.VideoID)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %d entries, %v; want the one entry", len(list), err)
	}

	// Prune removes the strays once they are old enough not to belong to a
	// write in progress.
	tmps, _ := filepath.Glob(filepath.Join(s.uploads, "*.tmp-*"))
	if len(tmps) != 2 {
		t.Fatalf("temporary files = %v, want 2", tmps)
	}
	s.now = func() time.Time { return time.Now().Add(2 * leftoverAge) }
	if _, err := s.Prune(time.Hour); err != nil {
		t.Fatal(err)
	}
	tmps, _ = filepath.Glob(filepath.Join(s.uploads, "*.tmp-*"))
	if len(tmps) != 0 {
		t.Fatalf("Prune left temporary files %v", tmps)
	}
	if _, err := s.Get(e.ID); err != nil {
		t.Fatalf("Prune removed the uploading entry: %v", err)
	}
}

func TestDamagedHeaderIsReportedNotHidingOthers(t *testing.T) {
	s := openStore(t)
	good, bad := sampleEntry(Identity{}), sampleEntry(Identity{})
	for _, e := range []*Entry{good, bad} {
		if err := s.Create(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.headerPath(bad.ID), []byte(`{"version":1,"id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err == nil || !strings.Contains(err.Error(), bad.ID) {
		t.Fatalf("List error = %v, want one naming %s", err, bad.ID)
	}
	if len(list) != 1 || list[0].ID != good.ID {
		t.Fatalf("List = %v, want only %s", list, good.ID)
	}
}

// Cutting the parts log anywhere inside its last record, as a crash in the
// middle of a write would, loses that record and nothing else.
func TestTornLastPartRecordIsIgnored(t *testing.T) {
	s := openStore(t)
	e := sampleEntry(Identity{})
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := int32(1); i <= n; i++ {
		if err := s.AddPart(e.ID, testPart(i)); err != nil {
			t.Fatal(err)
		}
	}
	full, err := os.ReadFile(s.partsPath(e.ID))
	if err != nil {
		t.Fatal(err)
	}
	lastStart := bytes.LastIndexByte(full[:len(full)-1], '\n') + 1
	for cut := lastStart; cut <= len(full); cut++ {
		if err := os.WriteFile(s.partsPath(e.ID), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(e.ID)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		want := n - 1
		if cut == len(full) {
			want = n
		}
		if len(got.Parts) != want {
			t.Fatalf("cut at %d of %d: %d parts, want %d", cut, len(full), len(got.Parts), want)
		}
		for i, p := range got.Parts {
			if p != testPart(int32(i+1)) {
				t.Fatalf("cut at %d: part %d = %+v", cut, i+1, p)
			}
		}
	}

	// A part recorded after a torn tail lands on a line of its own.
	if err := os.WriteFile(s.partsPath(e.ID), full[:len(full)-7], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPart(e.ID, testPart(9)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []asset.Part{testPart(1), testPart(2), testPart(3), testPart(4), testPart(9)}
	if !reflect.DeepEqual(got.Parts, want) {
		t.Fatalf("after appending to a torn log: %+v, want %+v", got.Parts, want)
	}
}

func TestDamagedPartRecordsAreIgnored(t *testing.T) {
	s := openStore(t)
	e := sampleEntry(Identity{})
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	for i := int32(1); i <= 4; i++ {
		if err := s.AddPart(e.ID, testPart(i)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(s.partsPath(e.ID))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	// Part 2: one bit of its JSON flipped. Part 3: its checksum changed.
	lines[1] = bytes.Replace(lines[1], []byte(`"etag-2`), []byte(`"etag-3`), 1)
	c := lines[2][0]
	if c == '0' {
		c = '1'
	} else {
		c = '0'
	}
	lines[2] = append([]byte{c}, lines[2][1:]...)
	// And lines that are not records at all.
	lines = append(lines, []byte("garbage\n"), []byte("\n"), []byte("00000000 {}\n"))
	if err := os.WriteFile(s.partsPath(e.ID), bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []asset.Part{testPart(1), testPart(4)}
	if !reflect.DeepEqual(got.Parts, want) {
		t.Fatalf("parts = %+v, want %+v", got.Parts, want)
	}
}

func TestLaterRecordOfAPartWins(t *testing.T) {
	s := openStore(t)
	e := sampleEntry(Identity{})
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	retried := testPart(1)
	retried.ETag = "\"second\""
	for _, p := range []asset.Part{testPart(1), testPart(2), retried} {
		if err := s.AddPart(e.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Parts, []asset.Part{retried, testPart(2)}) {
		t.Fatalf("parts = %+v", got.Parts)
	}
	if err := s.AddPart(e.ID, asset.Part{Number: 0}); err == nil {
		t.Fatal("AddPart accepted part number 0")
	}
}

func TestConcurrentAddPart(t *testing.T) {
	s := openStore(t)
	a, b := sampleEntry(Identity{}), sampleEntry(Identity{})
	for _, e := range []*Entry{a, b} {
		if err := s.Create(e); err != nil {
			t.Fatal(err)
		}
	}
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := int32(w*each + i + 1)
				errs <- s.AddPart(a.ID, testPart(n))
				errs <- s.AddPart(b.ID, testPart(n))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []*Entry{a, b} {
		got, err := s.Get(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Parts) != workers*each {
			t.Fatalf("%s: %d parts, want %d", e.ID, len(got.Parts), workers*each)
		}
		for i, p := range got.Parts {
			if p != testPart(int32(i+1)) {
				t.Fatalf("%s: part %d = %+v", e.ID, i+1, p)
			}
		}
		data, _ := os.ReadFile(s.partsPath(e.ID))
		if lines := bytes.Count(data, []byte("\n")); lines != workers*each {
			t.Fatalf("%s: %d lines in the log, want %d (interleaved writes?)", e.ID, lines, workers*each)
		}
	}
}

func TestFindBySource(t *testing.T) {
	s := openStore(t)
	dir := t.TempDir()
	path := writeSource(t, dir, "clip.mp4", 1<<20)
	src, err := IdentityOf(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindBySource(src); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindBySource on an empty journal = %v", err)
	}
	e := sampleEntry(src)
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	other := sampleEntry(Identity{}) // stdin: never found by source
	if err := s.Create(other); err != nil {
		t.Fatal(err)
	}
	again, err := IdentityOf(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.FindBySource(again)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID {
		t.Fatalf("FindBySource = %s, want %s", got.ID, e.ID)
	}
	if _, err := s.FindBySource(Identity{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindBySource(zero) = %v", err)
	}

	// The file grows: the old entry is stale, found by key only.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("more"))
	f.Close()
	changed, err := IdentityOf(path)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Key() != src.Key() {
		t.Fatal("the key of a file changed with its content")
	}
	if _, err := s.FindBySource(changed); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindBySource(changed file) = %v, want ErrNotFound", err)
	}
	stale, err := s.ForSource(changed.Key())
	if err != nil || len(stale) != 1 || stale[0].ID != e.ID {
		t.Fatalf("ForSource = %v, %v; want the stale entry", stale, err)
	}
}

func TestDelete(t *testing.T) {
	s := openStore(t)
	src, err := IdentityOf(writeSource(t, t.TempDir(), "a", 1000))
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry(src)
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(e.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if err := s.AddPart(e.ID, testPart(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddPart after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(e.ID); err != nil {
		t.Fatalf("second Delete = %v", err)
	}
	for _, dir := range []string{s.uploads, s.sources} {
		names, _ := readDirNames(dir)
		if len(names) != 0 {
			t.Fatalf("%s still holds %v", dir, names)
		}
	}
}

func TestPrune(t *testing.T) {
	s := openStore(t)
	start := time.Now()
	s.now = func() time.Time { return start }
	mk := func(state State) *Entry {
		e := sampleEntry(Identity{})
		e.State = state
		if err := s.Create(e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	oldDone, oldUploading, oldOutbox := mk(Registered), mk(Uploading), mk(Completed)
	s.now = func() time.Time { return start.Add(48 * time.Hour) }
	newDone := mk(Registered)
	// An orphan parts log, as an interrupted Create leaves it.
	if err := os.WriteFile(s.partsPath("orphan"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := start.Add(-2 * leftoverAge)
	os.Chtimes(s.partsPath("orphan"), old, old)

	n, err := s.Prune(24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("Prune = %d, want 1", n)
	}
	for _, e := range []*Entry{oldUploading, oldOutbox, newDone} {
		if _, err := s.Get(e.ID); err != nil {
			t.Fatalf("Prune removed %s (%s): %v", e.ID, e.State, err)
		}
	}
	if _, err := s.Get(oldDone.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Prune kept the old registered entry: %v", err)
	}
	if _, err := os.Stat(s.partsPath("orphan")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Prune kept the orphan parts log: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	src, err := IdentityOf(writeSource(t, t.TempDir(), "a", 1000))
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry(src)
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPart(e.ID, testPart(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(e); err != nil {
		t.Fatal(err)
	}
	done := sampleEntry(src)
	done.State, done.ETag = Completed, `"etag"`
	if err := s.Create(done); err != nil { // in the run log
		t.Fatal(err)
	}
	unlock, ok, err := s.Lock(src.Key())
	if err != nil || !ok {
		t.Fatalf("Lock = %v %v", ok, err)
	}
	defer unlock()
	count := 0
	err = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
		count++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// state, uploads, sources, locks, log, sources/<key>; header, parts,
	// marker, lock table, compaction lock, run log
	if count != 12 {
		t.Fatalf("walked %d paths, want 12", count)
	}

	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Open(open)
	var fe *FolderError
	if !errors.As(err, &fe) || fe.Problem != FolderOpen || fe.Mode != 0o755 || fe.Dir != open ||
		!strings.Contains(err.Error(), "open to other users") {
		t.Fatalf("Open of a 0755 folder = %v, want a FolderError of a folder open to others", err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/srv/state")
	if got := DefaultDir(); got != "/srv/state/vidup" {
		t.Fatalf("DefaultDir = %s", got)
	}
	t.Setenv("XDG_STATE_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/someone")
	if got := DefaultDir(); got != "/home/someone/.local/state/vidup" {
		t.Fatalf("DefaultDir = %s", got)
	}
}

func TestLockWithinProcess(t *testing.T) {
	s := openStore(t)
	key := Identity{Path: "/x", Inode: 1}.Key()
	unlock, ok, err := s.Lock(key)
	if err != nil || !ok {
		t.Fatalf("first Lock = %v %v", ok, err)
	}
	if _, ok, err := s.Lock(key); err != nil || ok {
		t.Fatalf("second Lock while held = %v %v, want false", ok, err)
	}
	other := Identity{Path: "/y", Inode: 1}.Key()
	u2, ok, err := s.Lock(other)
	if err != nil || !ok {
		t.Fatalf("Lock of another key = %v %v", ok, err)
	}
	u2()
	unlock()
	unlock() // twice is safe
	u3, ok, err := s.Lock(key)
	if err != nil || !ok {
		t.Fatalf("Lock after unlock = %v %v", ok, err)
	}
	u3()
	if _, _, err := s.Lock("../../etc/passwd"); err == nil {
		t.Fatal("Lock accepted a key that is a path")
	}
}

// Many goroutines racing for one lock while holders unlock (and remove the
// lock file): never two holders at once.
func TestLockIsExclusiveUnderChurn(t *testing.T) {
	s := openStore(t)
	key := Identity{Path: "/churn", Inode: 1}.Key()
	var holders, maxHolders, wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				unlock, ok, err := s.Lock(key)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					continue
				}
				mu.Lock()
				holders++
				wins++
				maxHolders = max(maxHolders, holders)
				mu.Unlock()
				runtime.Gosched() // hold it while others try
				mu.Lock()
				holders--
				mu.Unlock()
				unlock()
			}
		})
	}
	wg.Wait()
	if maxHolders != 1 || wins == 0 {
		t.Fatalf("max simultaneous holders = %d, wins = %d; want 1 and > 0", maxHolders, wins)
	}
}
