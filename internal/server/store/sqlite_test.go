package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/contract"
)

func openTemp(t *testing.T) (*SQLite, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "vidup.db")
	s, err := OpenSQLite(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, file
}

func seedSession(t *testing.T, s Store, sid string, uploadIDs ...string) {
	t.Helper()
	var ups []Upload
	for _, id := range uploadIDs {
		ups = append(ups, Upload{ID: id, SessionID: sid, Key: "uploads/" + sid + "/" + id + "/a.mp4", Name: "a.mp4", Size: 10})
	}
	if err := s.CreateSession(context.Background(), Session{ID: sid, CreatedAt: time.Now()}, ups); err != nil {
		t.Fatal(err)
	}
}

func video(id, uploadID, sid string) contract.Video {
	return contract.Video{
		ID: id, UploadID: uploadID, SessionID: sid, Bucket: "videos",
		Key: "uploads/" + sid + "/" + uploadID + "/a.mp4", Filename: "a.mp4", Size: 10,
		Checksum:  &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: "AAAAAAAAAAA="},
		Metadata:  map[string]string{"camera": "cam-3"},
		CreatedAt: time.Now().UTC(),
	}
}

func TestMigrationsReapplyAndKeepData(t *testing.T) {
	ctx := context.Background()
	s, file := openTemp(t)
	seedSession(t, s, "s1", "u1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenSQLite(ctx, file)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer again.Close()
	u, err := again.Upload(ctx, "u1")
	if err != nil {
		t.Fatalf("upload after reopen: %v", err)
	}
	if u.SessionID != "s1" || u.Size != 10 {
		t.Fatalf("upload after reopen = %+v", u)
	}
	var versions int
	if err := again.db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	files, _ := migrations.ReadDir("migrations")
	if versions != len(files) {
		t.Fatalf("schema_migrations has %d rows, want %d (one per migration)", versions, len(files))
	}
	var mode string
	if err := again.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}

func TestRegisterVideoOncePerUpload(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	seedSession(t, s, "s1", "u1")

	first, created, err := s.RegisterVideo(ctx, video("v1", "u1", "s1"))
	if err != nil || !created {
		t.Fatalf("first register: created=%v err=%v", created, err)
	}
	// Concurrent replays with other video ids: the UNIQUE constraint must
	// keep the first row and hand it back to every one of them.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, created, err := s.RegisterVideo(ctx, video(fmt.Sprintf("other-%d", i), "u1", "s1"))
			switch {
			case err != nil:
				errs <- err
			case created:
				errs <- fmt.Errorf("replay %d created a row", i)
			case got.ID != first.ID:
				errs <- fmt.Errorf("replay %d got video %s, want %s", i, got.ID, first.ID)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM videos WHERE upload_id = 'u1'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d rows for upload u1, want 1", n)
	}
	got, err := s.Video(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Checksum == nil || got.Checksum.Value != "AAAAAAAAAAA=" || got.Metadata["camera"] != "cam-3" {
		t.Fatalf("stored video lost fields: %+v", got)
	}
	if _, err := s.Video(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown video: err = %v, want ErrNotFound", err)
	}
}

func TestRegisterVideoNeedsKnownUpload(t *testing.T) {
	s, _ := openTemp(t)
	seedSession(t, s, "s1", "u1")
	if _, _, err := s.RegisterVideo(context.Background(), video("v1", "unknown", "s1")); err == nil {
		t.Fatal("a video of an unknown upload was stored; the foreign key must refuse it")
	}
}

func TestListVideosPages(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, fmt.Sprintf("u%d", i))
	}
	seedSession(t, s, "s1", ids...)
	for i, u := range ids {
		if _, _, err := s.RegisterVideo(ctx, video(fmt.Sprintf("v%d", i), u, "s1")); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var before int64
	pages := 0
	for {
		page, next, err := s.ListVideos(ctx, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range page {
			got = append(got, v.ID)
		}
		if next == 0 {
			break
		}
		before = next
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	want := []string{"v4", "v3", "v2", "v1", "v0"}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Fatalf("pages=%d ids=%v, want 3 pages of %v", pages, got, want)
	}
}
