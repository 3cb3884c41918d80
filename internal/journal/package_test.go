package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/asset"
)

func openPackages(t *testing.T) *Packages {
	t.Helper()
	p, err := OpenPackages(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPackageRecordRoundTripsAndGroupsItsWrites(t *testing.T) {
	p := openPackages(t)
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	h := &PackageHeader{Source: "/in/film-42", Upload: asset.Upload{SessionID: "s1", UploadID: "u1", Key: "uploads/s1/u1/", Bucket: "videos"},
		Name: "film-42", Kind: "hls", Fingerprint: "fp"}
	log, err := p.Begin(h)
	if err != nil {
		t.Fatal(err)
	}
	objects := p.path(h.Source, ".objects")
	size := func() int64 {
		fi, err := os.Stat(objects)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	for i := range PackageGroup - 1 {
		log.Add(PackageObject{Path: fmt.Sprintf("v0/seg%04d.ts", i), Size: int64(i), ModTime: 7, ETag: `"e"`, Checksum: "c", Type: "FULL_OBJECT"})
	}
	if n := size(); n != 0 {
		t.Fatalf("%d bytes written before a group was full; want none", n)
	}
	log.Add(PackageObject{Path: "last-of-group.ts", Size: 1})
	if size() == 0 {
		t.Fatalf("a full group was not written")
	}
	log.Add(PackageObject{Path: "pending.ts", Size: 2})
	before := size()
	clock = clock.Add(PackageGroupDelay)
	log.Add(PackageObject{Path: "late.ts", Size: 3})
	if size() == before {
		t.Fatalf("records older than PackageGroupDelay were not written")
	}
	log.Add(PackageObject{Path: "master.m3u8", Size: 4})
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	got, objs, err := p.Load(h.Source)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.UploadID != "u1" || got.Key != "uploads/s1/u1/" || got.State != Uploading || got.Fingerprint != "fp" {
		t.Fatalf("header %+v", got)
	}
	if len(objs) != PackageGroup+3 || objs["master.m3u8"].Size != 4 || objs["v0/seg0003.ts"].ETag != `"e"` {
		t.Fatalf("%d objects loaded, want %d: %v", len(objs), PackageGroup+3, objs["master.m3u8"])
	}
}

func TestPackageLogIgnoresATornOrDamagedRecord(t *testing.T) {
	p := openPackages(t)
	h := &PackageHeader{Source: "/in/a", Upload: asset.Upload{UploadID: "u"}}
	log, err := p.Begin(h)
	if err != nil {
		t.Fatal(err)
	}
	log.Add(PackageObject{Path: "a.ts", Size: 1})
	log.Add(PackageObject{Path: "b.ts", Size: 2})
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	path := p.path(h.Source, ".objects")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[12] ^= 0xff                             // damage the first record
	data = append(data, []byte("0000 {\"pa")...) // a torn last line
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, objs, err := p.Load(h.Source)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs["b.ts"].Size != 2 {
		t.Fatalf("objects %v; want only b.ts", objs)
	}
	// The next run appends after cutting the torn tail.
	log, err = p.Continue(h.Source)
	if err != nil {
		t.Fatal(err)
	}
	log.Add(PackageObject{Path: "c.ts", Size: 3})
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	if _, objs, _ = p.Load(h.Source); len(objs) != 2 || objs["c.ts"].Size != 3 {
		t.Fatalf("after appending: %v", objs)
	}
}

func TestPackageRegisteredDropsTheLogAndLocksExclude(t *testing.T) {
	p := openPackages(t)
	h := &PackageHeader{Source: "/in/b", Upload: asset.Upload{UploadID: "u"}}
	log, err := p.Begin(h)
	if err != nil {
		t.Fatal(err)
	}
	log.Add(PackageObject{Path: "a.ts"})
	log.Close()
	if err := p.Registered(h, "vid-1"); err != nil {
		t.Fatal(err)
	}
	got, objs, err := p.Load(h.Source)
	if err != nil || got.State != Registered || got.VideoID != "vid-1" || len(objs) != 0 {
		t.Fatalf("after Registered: %+v %v %v", got, objs, err)
	}
	if _, err := os.Stat(p.path(h.Source, ".objects")); !os.IsNotExist(err) {
		t.Errorf("the objects log of a registered package is still there (%v)", err)
	}
	unlock, ok, err := p.Lock(h.Source)
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if _, ok2, _ := p.Lock(h.Source); ok2 {
		t.Errorf("a second lock of the same package was granted")
	}
	unlock()
	if err := p.Forget(h.Source); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := p.Load(h.Source); got != nil {
		t.Errorf("a forgotten package still loads: %+v", got)
	}
}
