package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// The connections that concurrent registrations open stay open for the
// next ones: a batch's 16 registrations at once close none of them (each
// new SQLite connection runs its pragmas and parses the schema again).
func TestSQLiteKeepsConcurrentConnections(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	seedSession(t, s, "s1", "u1")
	for range 5 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 16 {
			wg.Go(func() {
				<-start
				tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				if err != nil {
					t.Error(err)
					return
				}
				defer tx.Rollback()
				time.Sleep(20 * time.Millisecond) // all 16 hold a connection at once
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM uploads`).Scan(&n); err != nil || n != 1 {
					t.Errorf("count uploads: %d, %v", n, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	if st := s.db.Stats(); st.MaxIdleClosed != 0 || st.OpenConnections < 16 {
		t.Fatalf("after 5 rounds of 16 concurrent transactions: %d connections closed as idle, %d open; want 0 closed, 16 or more open",
			st.MaxIdleClosed, st.OpenConnections)
	}
}

// The store's queries, in a transaction or not, run prepared statements
// kept across calls: the registration's INSERT is prepared once for any
// number of registrations, and answers as before.
func TestSQLiteReusesPreparedStatements(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	seedSession(t, s, "s1", "u1", "u2", "u3")
	cache := s.core.d.(sqlDB).stmts
	insert := func() *sql.Stmt {
		cache.mu.Lock()
		defer cache.mu.Unlock()
		for q, st := range cache.m {
			if strings.HasPrefix(strings.TrimSpace(q), "INSERT INTO videos") {
				return st
			}
		}
		return nil
	}
	if _, created, err := s.RegisterVideo(ctx, video("v1", "u1", "s1")); err != nil || !created {
		t.Fatalf("register: %v, %v", created, err)
	}
	first, n := insert(), len(cache.m)
	if first == nil {
		t.Fatalf("the registration's INSERT is not kept prepared: %d statements cached", n)
	}
	for i, u := range []string{"u2", "u3"} {
		if _, created, err := s.RegisterVideo(ctx, video(fmt.Sprintf("v%d", i+2), u, "s1")); err != nil || !created {
			t.Fatalf("register %s: %v, %v", u, created, err)
		}
	}
	cache.mu.Lock()
	now := len(cache.m)
	cache.mu.Unlock()
	if insert() != first || now != n {
		t.Fatalf("registrations prepared their statements again: %d cached after the first, %d now", n, now)
	}
	// A replay goes through the same INSERT and reads the stored row.
	got, created, err := s.RegisterVideo(ctx, video("other", "u2", "s1"))
	if err != nil || created || got.Video.ID != "v2" || insert() != first {
		t.Fatalf("replay: %+v, %v, %v", got.Video, created, err)
	}
}
