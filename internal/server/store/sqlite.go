package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure Go driver: the binary stays cgo-free
)

//go:embed migrations/*.sql
var migrations embed.FS

// SQLite is the embedded Store: one file, WAL mode, for a single API instance.
type SQLite struct {
	core
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// sqliteIdleConns is how many idle connections the pool keeps open.
const sqliteIdleConns = 32

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
	// Keep the connections that concurrent registrations open (a batch
	// runs 16 at once, several batches run together): database/sql keeps 2
	// idle by default and closes the others after each use, and every new
	// SQLite connection runs its pragmas and parses the schema again, which
	// was a seventh of the server's CPU in a run of 5,000 small files.
	db.SetMaxIdleConns(sqliteIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &SQLite{core: core{d: sqlDB{db, newStmtCache(db)}}, db: db}
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

// DB is the database, for the job queue that shares it.
func (s *SQLite) DB() *sql.DB { return s.db }

// SetEnqueuer turns events on: f inserts the job that delivers an event,
// inside the transaction that records it.
func (s *SQLite) SetEnqueuer(f func(ctx context.Context, tx *sql.Tx, ev Event) error) {
	s.enqueue = func(ctx context.Context, t tx, ev Event) error { return f(ctx, t.(sqlTx).tx, ev) }
}

// sqlDB and sqlTx run the core's statements through database/sql.
type sqlDB struct {
	db    *sql.DB
	stmts *stmtCache
}

type sqlTx struct {
	tx    *sql.Tx
	stmts *stmtCache
}

// stmtCache keeps each query the store runs prepared, on every connection
// that ran it: SQLite parses a statement anew at each unprepared run, which
// was a sixth of the server's CPU in a run of 5,000 small files (the
// registration's INSERT ... RETURNING above all). The queries are the
// store's own texts, a bounded set.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache, in case a query text were ever built
// from data: past it, queries run unprepared.
const maxCachedStmts = 256

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// stmt returns q prepared, or nil when the cache is full or q does not
// prepare: the caller then runs q unprepared, which reports the error.
func (c *stmtCache) stmt(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s
	}
	if len(c.m) >= maxCachedStmts {
		return nil
	}
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.m[q] = s
	return s
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// sqliteArgs writes times as RFC 3339 text.
func sqliteArgs(args []any) []any {
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = formatTime(t)
		}
	}
	return args
}

func sqlExec(ctx context.Context, e interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args []any) (int64, error) {
	res, err := e.ExecContext(ctx, q, sqliteArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// stmtExec runs a prepared statement as sqlExec runs a query.
type stmtExec struct{ s *sql.Stmt }

func (e stmtExec) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return e.s.ExecContext(ctx, args...)
}

func (d sqlDB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if s := d.stmts.stmt(ctx, q); s != nil {
		return sqlExec(ctx, stmtExec{s}, q, args)
	}
	return sqlExec(ctx, d.db, q, args)
}

func (d sqlDB) queryRow(ctx context.Context, q string, args ...any) scanner {
	if s := d.stmts.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, sqliteArgs(args)...)
	}
	return d.db.QueryRowContext(ctx, q, sqliteArgs(args)...)
}

func (d sqlDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	if s := d.stmts.stmt(ctx, q); s != nil {
		r, err := s.QueryContext(ctx, sqliteArgs(args)...)
		if err != nil {
			return nil, err
		}
		return sqlRows{r}, nil
	}
	r, err := d.db.QueryContext(ctx, q, sqliteArgs(args)...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (d sqlDB) begin(ctx context.Context) (tx, error) {
	t, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return sqlTx{t, d.stmts}, nil
}

// prepared returns q's cached statement bound to the transaction (prepared
// on its connection once, then reused), or nil.
func (t sqlTx) prepared(ctx context.Context, q string) *sql.Stmt {
	if s := t.stmts.stmt(ctx, q); s != nil {
		return t.tx.StmtContext(ctx, s)
	}
	return nil
}

func (t sqlTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if s := t.prepared(ctx, q); s != nil {
		return sqlExec(ctx, stmtExec{s}, q, args)
	}
	return sqlExec(ctx, t.tx, q, args)
}

func (t sqlTx) queryRow(ctx context.Context, q string, args ...any) scanner {
	if s := t.prepared(ctx, q); s != nil {
		return s.QueryRowContext(ctx, sqliteArgs(args)...)
	}
	return t.tx.QueryRowContext(ctx, q, sqliteArgs(args)...)
}

func (t sqlTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	if s := t.prepared(ctx, q); s != nil {
		r, err := s.QueryContext(ctx, sqliteArgs(args)...)
		if err != nil {
			return nil, err
		}
		return sqlRows{r}, nil
	}
	r, err := t.tx.QueryContext(ctx, q, sqliteArgs(args)...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (t sqlTx) commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) rollback(context.Context) error { return t.tx.Rollback() }
