package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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
	seedSessionOf(t, s, "cam-1", sid, uploadIDs...)
}

func seedSessionOf(t *testing.T, s Store, principal, sid string, uploadIDs ...string) {
	t.Helper()
	var ups []Upload
	for _, id := range uploadIDs {
		ups = append(ups, Upload{ID: id, SessionID: sid, Key: "uploads/" + sid + "/" + id + "/a.mp4", Name: "a.mp4", Size: 10})
	}
	if err := s.CreateSession(context.Background(), Session{ID: sid, Principal: principal, CreatedAt: time.Now()}, ups); err != nil {
		t.Fatal(err)
	}
}

func video(id, uploadID, sid string) Registration {
	return videoOf("cam-1", id, uploadID, sid)
}

func videoOf(principal, id, uploadID, sid string) Registration {
	return Registration{
		Video: contract.Video{
			ID: id, UploadID: uploadID, SessionID: sid, Bucket: "videos",
			Key: "videos/" + id + "/a.mp4", Filename: "a.mp4", Size: 10,
			Checksum:  &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: "AAAAAAAAAAA="},
			Metadata:  map[string]string{"camera": "cam-3"},
			CreatedAt: time.Now().UTC(),
			Principal: principal,
		},
		SourceKey:     "uploads/" + sid + "/" + uploadID + "/a.mp4",
		RequestDigest: "digest-" + id,
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
			case got.Video.ID != first.Video.ID || got.RequestDigest != first.RequestDigest:
				errs <- fmt.Errorf("replay %d got video %s (%s), want %s (%s)", i, got.Video.ID, got.RequestDigest, first.Video.ID, first.RequestDigest)
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
	if got.Checksum == nil || got.Checksum.Value != "AAAAAAAAAAA=" || got.Metadata["camera"] != "cam-3" || got.Principal != "cam-1" {
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
		page, next, err := s.ListVideos(ctx, "", before, 2)
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

// A database of the first schema, with a session and a video, opens with
// its rows owned by the default principal and still readable.
func TestMigrationKeepsV1Database(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	init, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		string(init),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '2026-01-01T00:00:00Z')`,
		`INSERT INTO sessions VALUES ('s1', '2026-01-01T00:00:00Z')`,
		`INSERT INTO uploads VALUES ('u1', 's1', 0, 'uploads/s1/u1/a.mp4', 'a.mp4', 10, ''),
			('u2', 's1', 1, 'uploads/s1/u2/b.mp4', 'b.mp4', 10, '')`,
		`INSERT INTO videos (id, upload_id, session_id, bucket, object_key, filename, size, created_at)
			VALUES ('v1', 'u1', 's1', 'videos', 'uploads/s1/u1/a.mp4', 'a.mp4', 10, '2026-01-01T00:00:00Z')`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("build a v1 database: %v", err)
		}
	}
	db.Close()

	s, err := OpenSQLite(ctx, file)
	if err != nil {
		t.Fatalf("open a v1 database: %v", err)
	}
	defer s.Close()
	sess, err := s.Session(ctx, "s1")
	if err != nil || sess.Principal != "default" {
		t.Fatalf("v1 session = %+v, %v; want principal default", sess, err)
	}
	reg, err := s.VideoByUpload(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if reg.Video.Principal != "default" || reg.SourceKey != "uploads/s1/u1/a.mp4" || reg.Video.Key != reg.SourceKey || reg.RequestDigest != "" || reg.Video.Media != nil {
		t.Fatalf("v1 video after migration = %+v", reg)
	}
	if list, _, err := s.ListVideos(ctx, "default", 0, 10); err != nil || len(list) != 1 {
		t.Fatalf("list of default after migration: %v, %v", list, err)
	}
	left, err := s.UnregisteredUploads(ctx, "s1")
	if err != nil || len(left) != 1 || left[0].ID != "u2" {
		t.Fatalf("unregistered uploads = %+v, %v; want u2 only", left, err)
	}
}

func TestListVideosOfOnePrincipal(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	seedSessionOf(t, s, "cam-1", "s1", "u1", "u2")
	seedSessionOf(t, s, "cam-2", "s2", "u3")
	for _, r := range []Registration{videoOf("cam-1", "v1", "u1", "s1"), videoOf("cam-2", "v3", "u3", "s2"), videoOf("cam-1", "v2", "u2", "s1")} {
		if _, _, err := s.RegisterVideo(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for principal, want := range map[string]string{"cam-1": "[v2 v1]", "cam-2": "[v3]", "nobody": "[]", "": "[v2 v3 v1]"} {
		page, _, err := s.ListVideos(ctx, principal, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range page {
			ids = append(ids, v.ID)
		}
		if got := fmt.Sprint(ids); got != want {
			t.Errorf("list of %q = %s, want %s", principal, got, want)
		}
	}
	if _, _, err := s.RegisterVideo(ctx, videoOf("", "v9", "u9", "s1")); err == nil {
		t.Fatal("a video without principal was stored")
	}
}

func TestDatabaseFileIsPrivate(t *testing.T) {
	s, file := openTemp(t)
	seedSession(t, s, "s1", "u1") // the WAL file exists after a write
	for _, f := range []string{file, file + "-wal"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or other permission", filepath.Base(f), perm)
		}
	}
	// An existing file readable by others is made private.
	loose := filepath.Join(t.TempDir(), "loose.db")
	if err := os.WriteFile(loose, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenSQLite(context.Background(), loose)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if st, _ := os.Stat(loose); st.Mode().Perm() != 0o600 {
		t.Fatalf("existing database left at %v, want 0600", st.Mode().Perm())
	}
}

// CheckWrite fails when the database answers but takes no write, which
// Ping does not see.
func TestCheckWriteSeesAReadOnlyDatabase(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if err := s.CheckWrite(ctx); err != nil {
		t.Fatalf("CheckWrite on a healthy database: %v", err)
	}
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.ExecContext(ctx, `PRAGMA query_only = 1`); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.CheckWrite(ctx); err == nil {
		t.Fatal("CheckWrite passed on a database that takes no write")
	}
}

// TestRegisterVideoKeepsMedia: the registration's media object is stored
// and read back whole by every read; a video registered without one has
// none (NULL, not an empty object).
func TestRegisterVideoKeepsMedia(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	seedSession(t, s, "s1", "u1", "u2")
	with := video("v1", "u1", "s1")
	with.Video.Media = &contract.Media{
		Container: "mov", DurationS: 2.002, Complete: false, FastStart: true, StartTimecode: "10:00:00:00",
		Incomplete: &contract.MediaIncomplete{Reason: "truncated", Detail: "the file ends inside its mdat box"},
		Streams: []contract.MediaStream{
			{Type: "video", Codec: "h264", Profile: "High", Width: 1920, Height: 1080, FPS: 29.97},
			{Type: "audio", Codec: "aac", Profile: "LC", SampleRate: 48000, Channels: 2},
		},
	}
	if _, created, err := s.RegisterVideo(ctx, with); err != nil || !created {
		t.Fatalf("register: created=%v err=%v", created, err)
	}
	if _, _, err := s.RegisterVideo(ctx, video("v2", "u2", "s1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Video(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Media, with.Video.Media) {
		t.Fatalf("media read back = %+v, want %+v", got.Media, with.Video.Media)
	}
	reg, err := s.VideoByUpload(ctx, "u1")
	if err != nil || !reflect.DeepEqual(reg.Video.Media, with.Video.Media) {
		t.Fatalf("media by upload = %+v, %v", reg.Video.Media, err)
	}
	list, _, err := s.ListVideos(ctx, "", 0, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if list[0].ID != "v2" || list[0].Media != nil || !reflect.DeepEqual(list[1].Media, with.Video.Media) {
		t.Fatalf("listed media: v2 %+v, v1 %+v", list[0].Media, list[1].Media)
	}
	var null bool
	if err := s.db.QueryRow(`SELECT media IS NULL FROM videos WHERE id = 'v2'`).Scan(&null); err != nil || !null {
		t.Fatalf("a video without media stores NULL: %v, %v", null, err)
	}
}
