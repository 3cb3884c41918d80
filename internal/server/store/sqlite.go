package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure Go driver: the binary stays cgo-free

	"github.com/vidup/vidup/internal/contract"
)

//go:embed migrations/*.sql
var migrations embed.FS

// SQLite is the embedded Store: one file, WAL mode, for a single API instance.
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it if needed) the database file at path and
// applies the migrations it lacks.
func OpenSQLite(ctx context.Context, file string) (*SQLite, error) {
	if file == "" {
		return nil, errors.New("the database path is empty; set --db")
	}
	// The driver reads options after '?' in its DSN and has no escaping.
	if strings.ContainsAny(file, "?#") {
		return nil, fmt.Errorf("database path %q holds ? or #, which SQLite's DSN cannot carry; choose another --db", file)
	}
	q := url.Values{}
	// WAL lets readers run beside the one writer; the busy timeout makes a
	// writer wait for the lock instead of failing at once; IMMEDIATE
	// transactions take the write lock at BEGIN, so two writers never
	// deadlock upgrading read locks.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	if err := createPrivate(file); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	s := &SQLite{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", file, err)
	}
	return s, nil
}

// createPrivate creates the database file 0600 when it is absent, and takes
// group and other permissions off one that has them: it holds who uploaded
// what. SQLite gives its -wal and -shm files the main file's permissions.
func createPrivate(file string) error {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database %s: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("database %s: %w", file, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("database %s is not a regular file", file)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(st.Mode().Perm() &^ 0o077); err != nil {
			return fmt.Errorf("database %s: make it private to its owner: %w", file, err)
		}
	}
	return nil
}

// migrate applies every embedded migration newer than the database, each in
// its own transaction with the version it brings, so a crash leaves the
// database at a known version.
func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	type migration struct {
		version int
		name    string
	}
	var all []migration
	for _, f := range files {
		base := path.Base(f)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return fmt.Errorf("migration %s: the name must start with a positive version, as 0001_name.sql", base)
		}
		all = append(all, migration{v, f})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })
	for i := 1; i < len(all); i++ {
		if all[i].version == all[i-1].version {
			return fmt.Errorf("migrations %s and %s have the same version", all[i-1].name, all[i].name)
		}
	}
	for _, m := range all {
		if err := s.apply(ctx, m.version, m.name); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLite) apply(ctx context.Context, version int, name string) error {
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	defer tx.Rollback()
	// Checked inside the transaction: two servers starting on the same file
	// serialise here and the second one sees the first one's work.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		version, formatTime(time.Now())); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	return nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// Ping checks the database answers.
func (s *SQLite) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// CheckWrite rewrites the one row of the health table and commits.
func (s *SQLite) CheckWrite(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO health (id, checked_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, formatTime(time.Now())); err != nil {
		return fmt.Errorf("write to the database: %w", err)
	}
	return nil
}

// CreateSession stores a session and its uploads in one transaction.
func (s *SQLite) CreateSession(ctx context.Context, sess Session, uploads []Upload) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store session %s: %w", sess.ID, err)
	}
	defer tx.Rollback()
	if sess.Principal == "" {
		return fmt.Errorf("store session %s: no principal", sess.ID)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, principal, created_at) VALUES (?, ?, ?)`,
		sess.ID, sess.Principal, formatTime(sess.CreatedAt)); err != nil {
		return fmt.Errorf("store session %s: %w", sess.ID, err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO uploads
		(id, session_id, position, object_key, name, size, content_type) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store session %s: %w", sess.ID, err)
	}
	defer stmt.Close()
	for i, u := range uploads {
		if _, err := stmt.ExecContext(ctx, u.ID, sess.ID, i, u.Key, u.Name, u.Size, u.ContentType); err != nil {
			return fmt.Errorf("store upload %s of session %s: %w", u.ID, sess.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store session %s: %w", sess.ID, err)
	}
	return nil
}

// Session returns a session, or ErrNotFound.
func (s *SQLite) Session(ctx context.Context, id string) (Session, error) {
	var sess Session
	var created string
	err := s.db.QueryRowContext(ctx, `SELECT id, principal, created_at FROM sessions WHERE id = ?`, id).Scan(&sess.ID, &sess.Principal, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session %s: %w", id, err)
	}
	if sess.CreatedAt, err = parseTime(created); err != nil {
		return Session{}, fmt.Errorf("read session %s: %w", id, err)
	}
	return sess, nil
}

// Upload returns an upload, or ErrNotFound.
func (s *SQLite) Upload(ctx context.Context, id string) (Upload, error) {
	var u Upload
	err := s.db.QueryRowContext(ctx, `SELECT id, session_id, object_key, name, size, content_type
		FROM uploads WHERE id = ?`, id).Scan(&u.ID, &u.SessionID, &u.Key, &u.Name, &u.Size, &u.ContentType)
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, ErrNotFound
	}
	if err != nil {
		return Upload{}, fmt.Errorf("read upload %s: %w", id, err)
	}
	return u, nil
}

// UnregisteredUploads returns the uploads of a session without a video.
func (s *SQLite) UnregisteredUploads(ctx context.Context, sessionID string) ([]Upload, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT u.id, u.session_id, u.object_key, u.name, u.size, u.content_type
		FROM uploads u WHERE u.session_id = ?
		AND NOT EXISTS (SELECT 1 FROM videos v WHERE v.upload_id = u.id)
		ORDER BY u.position`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("read uploads of session %s: %w", sessionID, err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		var u Upload
		if err := rows.Scan(&u.ID, &u.SessionID, &u.Key, &u.Name, &u.Size, &u.ContentType); err != nil {
			return nil, fmt.Errorf("read uploads of session %s: %w", sessionID, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read uploads of session %s: %w", sessionID, err)
	}
	return out, nil
}

const videoColumns = `seq, id, upload_id, session_id, bucket, object_key, filename, size, content_type, etag,
	checksum_algorithm, checksum_type, checksum_value, metadata, created_at, principal, source_key, request_digest, media`

// RegisterVideo inserts r; on a conflict on upload_id it returns the row
// already there. The UNIQUE constraint decides, so concurrent replays of one
// registration store exactly one row.
func (s *SQLite) RegisterVideo(ctx context.Context, r Registration) (Registration, bool, error) {
	v := r.Video
	if v.Principal == "" {
		return Registration{}, false, fmt.Errorf("register video of upload %s: no principal", v.UploadID)
	}
	sourceKey := r.SourceKey
	if sourceKey == "" {
		sourceKey = v.Key
	}
	meta := []byte("{}")
	if len(v.Metadata) > 0 {
		var err error
		if meta, err = json.Marshal(v.Metadata); err != nil {
			return Registration{}, false, fmt.Errorf("register video of upload %s: %w", v.UploadID, err)
		}
	}
	var ck contract.Checksum
	if v.Checksum != nil {
		ck = *v.Checksum
	}
	var media sql.NullString
	if v.Media != nil {
		b, err := json.Marshal(v.Media)
		if err != nil {
			return Registration{}, false, fmt.Errorf("register video of upload %s: %w", v.UploadID, err)
		}
		media = sql.NullString{String: string(b), Valid: true}
	}
	row := s.db.QueryRowContext(ctx, `INSERT INTO videos
		(id, upload_id, session_id, bucket, object_key, filename, size, content_type, etag,
		 checksum_algorithm, checksum_type, checksum_value, metadata, created_at, principal, source_key, request_digest, media)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (upload_id) DO NOTHING
		RETURNING `+videoColumns,
		v.ID, v.UploadID, v.SessionID, v.Bucket, v.Key, v.Filename, v.Size, v.ContentType, v.ETag,
		ck.Algorithm, ck.Type, ck.Value, string(meta), formatTime(v.CreatedAt), v.Principal, sourceKey, r.RequestDigest, media)
	stored, _, err := scanRegistration(row)
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Registration{}, false, fmt.Errorf("register video of upload %s: %w", v.UploadID, err)
	}
	existing, err := s.VideoByUpload(ctx, v.UploadID)
	if err != nil {
		return Registration{}, false, fmt.Errorf("register video of upload %s: read the existing row: %w", v.UploadID, err)
	}
	return existing, false, nil
}

// VideoByUpload returns the registration of an upload, or ErrNotFound.
func (s *SQLite) VideoByUpload(ctx context.Context, uploadID string) (Registration, error) {
	r, _, err := scanRegistration(s.db.QueryRowContext(ctx, `SELECT `+videoColumns+` FROM videos WHERE upload_id = ?`, uploadID))
	if errors.Is(err, sql.ErrNoRows) {
		return Registration{}, ErrNotFound
	}
	if err != nil {
		return Registration{}, fmt.Errorf("read video of upload %s: %w", uploadID, err)
	}
	return r, nil
}

// Video returns a video by id, or ErrNotFound.
func (s *SQLite) Video(ctx context.Context, id string) (contract.Video, error) {
	v, _, err := scanVideo(s.db.QueryRowContext(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return contract.Video{}, ErrNotFound
	}
	if err != nil {
		return contract.Video{}, fmt.Errorf("read video %s: %w", id, err)
	}
	return v, nil
}

// ListVideos returns a page of videos, newest first.
func (s *SQLite) ListVideos(ctx context.Context, principal string, before int64, limit int) ([]contract.Video, int64, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("list videos: limit %d must be positive", limit)
	}
	if before <= 0 {
		before = int64(^uint64(0) >> 1)
	}
	// One row more than asked tells whether another page exists.
	rows, err := s.db.QueryContext(ctx, `SELECT `+videoColumns+` FROM videos
		WHERE seq < ? AND (? = '' OR principal = ?) ORDER BY seq DESC LIMIT ?`,
		before, principal, principal, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("list videos: %w", err)
	}
	defer rows.Close()
	videos := []contract.Video{}
	var seqs []int64
	for rows.Next() {
		v, seq, err := scanVideo(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list videos: %w", err)
		}
		videos = append(videos, v)
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list videos: %w", err)
	}
	if len(videos) <= limit {
		return videos, 0, nil
	}
	return videos[:limit], seqs[limit-1], nil
}

type scanner interface{ Scan(dest ...any) error }

func scanVideo(r scanner) (contract.Video, int64, error) {
	reg, seq, err := scanRegistration(r)
	return reg.Video, seq, err
}

func scanRegistration(r scanner) (Registration, int64, error) {
	var (
		reg               Registration
		seq               int64
		alg, typ, val     string
		meta, createdText string
		media             sql.NullString
	)
	v := &reg.Video
	if err := r.Scan(&seq, &v.ID, &v.UploadID, &v.SessionID, &v.Bucket, &v.Key, &v.Filename, &v.Size,
		&v.ContentType, &v.ETag, &alg, &typ, &val, &meta, &createdText, &v.Principal, &reg.SourceKey, &reg.RequestDigest, &media); err != nil {
		return Registration{}, 0, err
	}
	if alg != "" {
		v.Checksum = &contract.Checksum{Algorithm: alg, Type: typ, Value: val}
	}
	if meta != "" && meta != "{}" {
		if err := json.Unmarshal([]byte(meta), &v.Metadata); err != nil {
			return Registration{}, 0, fmt.Errorf("video %s: metadata column: %w", v.ID, err)
		}
	}
	if media.Valid && media.String != "" {
		if err := json.Unmarshal([]byte(media.String), &v.Media); err != nil {
			return Registration{}, 0, fmt.Errorf("video %s: media column: %w", v.ID, err)
		}
	}
	created, err := parseTime(createdText)
	if err != nil {
		return Registration{}, 0, fmt.Errorf("video %s: %w", v.ID, err)
	}
	v.CreatedAt = created
	return reg, seq, nil
}

// Times are stored as RFC 3339 text in UTC: readable in the sqlite3 shell and
// portable to another database.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time column %q: %w", s, err)
	}
	return t.UTC(), nil
}
