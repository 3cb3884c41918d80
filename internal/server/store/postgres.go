package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed pgmigrations/*.sql
var pgMigrations embed.FS

// migrationLock is the PostgreSQL advisory lock that serialises the
// migrations of instances starting at once.
const migrationLock int64 = 0x76696475705f6d67 // "vidup_mg"

// Postgres is the Store that several API instances share.
type Postgres struct {
	core
	pool *pgxpool.Pool
}

var _ Store = (*Postgres)(nil)

// IsPostgresURL tells a PostgreSQL connection URL from a SQLite file name.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// OpenPostgres connects to the database at url (a postgres:// URL; pgxpool
// settings such as pool_max_conns may be added to it) and applies the
// migrations it lacks.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's error may quote the URL, password included.
		return nil, errors.New("the PostgreSQL URL does not parse; write it as postgres://user:password@host:port/database")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", cfg.ConnConfig.Host, err)
	}
	p := &Postgres{core: core{d: pgDB{pool}}, pool: pool}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return p, nil
}

// Pool is the connection pool, for the job queue that shares the database.
func (p *Postgres) Pool() *pgxpool.Pool { return p.pool }

// SetEnqueuer turns events on: f inserts the job that delivers an event,
// inside the transaction that records it.
func (p *Postgres) SetEnqueuer(f func(ctx context.Context, tx pgx.Tx, ev Event) error) {
	p.enqueue = func(ctx context.Context, t tx, ev Event) error { return f(ctx, t.(pgTx).tx, ev) }
}

func (p *Postgres) migrate(ctx context.Context) error {
	files, err := fs.Glob(pgMigrations, "pgmigrations/*.sql")
	if err != nil {
		return err
	}
	type migration struct {
		version int
		name    string
	}
	var all []migration
	for _, f := range files {
		num, _, ok := strings.Cut(path.Base(f), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return fmt.Errorf("migration %s: the name must start with a positive version, as 0001_name.sql", f)
		}
		all = append(all, migration{v, f})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })
	for _, m := range all {
		if err := p.apply(ctx, m.version, m.name); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration in a transaction that holds the advisory lock:
// instances starting together take turns, and each later one sees the
// version recorded.
func (p *Postgres) apply(ctx context.Context, version int, name string) error {
	body, err := pgMigrations.ReadFile(name)
	if err != nil {
		return err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now()); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	return nil
}

// Close closes the pool.
func (p *Postgres) Close() error { p.pool.Close(); return nil }

// Ping checks the database answers.
func (p *Postgres) Ping(ctx context.Context) error { return p.pool.Ping(ctx) }

// CheckWrite rewrites the one row of the health table and commits: a
// read-only standby or a full disk fails it.
func (p *Postgres) CheckWrite(ctx context.Context) error {
	if _, err := p.pool.Exec(ctx, `INSERT INTO health (id, checked_at) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, time.Now()); err != nil {
		return fmt.Errorf("write to the database: %w", err)
	}
	return nil
}

// pgDB and pgTx run the core's statements through pgx.
type pgDB struct{ pool *pgxpool.Pool }

type pgTx struct{ tx pgx.Tx }

// numbered turns the core's ? placeholders into PostgreSQL's $1, $2, …
// (no statement of the core holds a ? inside a literal).
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

type pgRow struct{ pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	return err
}

type pgRows struct{ pgx.Rows }

type pgQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func pgExec(ctx context.Context, q pgQuerier, s string, args []any) (int64, error) {
	tag, err := q.Exec(ctx, numbered(s), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func pgQuery(ctx context.Context, q pgQuerier, s string, args []any) (rows, error) {
	r, err := q.Query(ctx, numbered(s), args...)
	if err != nil {
		return nil, err
	}
	return pgRows{r}, nil
}

func (d pgDB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return pgExec(ctx, d.pool, q, args)
}

func (d pgDB) queryRow(ctx context.Context, q string, args ...any) scanner {
	return pgRow{d.pool.QueryRow(ctx, numbered(q), args...)}
}

func (d pgDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	return pgQuery(ctx, d.pool, q, args)
}

func (d pgDB) begin(ctx context.Context) (tx, error) {
	t, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgTx{t}, nil
}

func (t pgTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return pgExec(ctx, t.tx, q, args)
}

func (t pgTx) queryRow(ctx context.Context, q string, args ...any) scanner {
	return pgRow{t.tx.QueryRow(ctx, numbered(q), args...)}
}

func (t pgTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	return pgQuery(ctx, t.tx, q, args)
}

func (t pgTx) commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t pgTx) rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// CheckPostgresURL checks that url parses as a PostgreSQL connection URL,
// without connecting; its error never quotes the URL (it holds a password).
func CheckPostgresURL(url string) error {
	if _, err := pgxpool.ParseConfig(url); err != nil {
		return errors.New("the PostgreSQL URL does not parse; write it as postgres://user:password@host:port/database")
	}
	return nil
}
