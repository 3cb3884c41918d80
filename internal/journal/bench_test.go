package journal

import (
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkAddPart measures recording one part, fsync included. A part of
// 5 MiB or more takes tens of milliseconds to upload on a fast link, so
// this must stay well below that for the journal not to matter.
func BenchmarkAddPart(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "state"))
	if err != nil {
		b.Fatal(err)
	}
	e := sampleEntry(Identity{})
	if err := s.Create(e); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int32
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.AddPart(e.ID, testPart(n.Add(1)%10000+1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGet10000Parts measures loading the entry of a resumed 10,000-part
// upload.
func BenchmarkGet10000Parts(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "state"))
	if err != nil {
		b.Fatal(err)
	}
	e := sampleEntry(Identity{})
	for n := int32(1); n <= 10000; n++ {
		e.Parts = append(e.Parts, testPart(n))
	}
	if err := s.Create(e); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := s.Get(e.ID)
		if err != nil || len(got.Parts) != 10000 {
			b.Fatalf("%d parts, %v", len(got.Parts), err)
		}
	}
}
