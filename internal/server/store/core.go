package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vidup/vidup/internal/contract"
)

// The queries are written once, with ? placeholders, and run on both
// databases through a small seam: SQLite through database/sql, PostgreSQL
// through pgx (whose adapter numbers the placeholders). Times go in as
// time.Time (SQLite's adapter writes RFC 3339 text) and come out through
// dbTime, which reads either.

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// querier runs statements on a database or inside a transaction. queryRow's
// Scan returns sql.ErrNoRows on both databases.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	queryRow(ctx context.Context, q string, args ...any) scanner
	query(ctx context.Context, q string, args ...any) (rows, error)
}

type tx interface {
	querier
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

type database interface {
	querier
	begin(ctx context.Context) (tx, error)
}

// enqueueFunc inserts the job that delivers ev, inside t.
type enqueueFunc func(ctx context.Context, t tx, ev Event) error

// core is the Store of both databases.
type core struct {
	d       database
	enqueue enqueueFunc // nil: events are off
}

type scanner interface{ Scan(dest ...any) error }

// dbTime scans a time column of either database: RFC 3339 text (SQLite),
// time.Time (PostgreSQL), or empty/NULL (the zero time).
type dbTime struct{ time.Time }

func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = v.UTC()
	case string:
		if v == "" {
			t.Time = time.Time{}
			return nil
		}
		p, err := parseTime(v)
		if err != nil {
			return err
		}
		t.Time = p
	case []byte:
		return t.Scan(string(v))
	default:
		return fmt.Errorf("time column of type %T", src)
	}
	return nil
}

func (c *core) inTx(ctx context.Context, what string, f func(t tx) error) error {
	t, err := c.d.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer t.rollback(context.WithoutCancel(ctx))
	if err := f(t); err != nil {
		return err
	}
	if err := t.commit(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// CreateSession stores a session and its uploads in one transaction.
func (c *core) CreateSession(ctx context.Context, sess Session, uploads []Upload) error {
	if sess.Principal == "" {
		return fmt.Errorf("store session %s: no principal", sess.ID)
	}
	return c.inTx(ctx, "store session "+sess.ID, func(t tx) error {
		if _, err := t.exec(ctx, `INSERT INTO sessions (id, principal, created_at) VALUES (?, ?, ?)`,
			sess.ID, sess.Principal, sess.CreatedAt.UTC()); err != nil {
			return fmt.Errorf("store session %s: %w", sess.ID, err)
		}
		for i, u := range uploads {
			var spec *string
			if u.Package != nil {
				b, err := json.Marshal(u.Package)
				if err != nil {
					return fmt.Errorf("store upload %s of session %s: %w", u.ID, sess.ID, err)
				}
				j := string(b)
				spec = &j
			}
			if _, err := t.exec(ctx, `INSERT INTO uploads
				(id, session_id, position, object_key, name, size, content_type, package_spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				u.ID, sess.ID, i, u.Key, u.Name, u.Size, u.ContentType, spec); err != nil {
				return fmt.Errorf("store upload %s of session %s: %w", u.ID, sess.ID, err)
			}
		}
		return nil
	})
}

const sessionColumns = `id, principal, created_at, closed_at`

func scanSession(r scanner) (Session, error) {
	var sess Session
	var created, closed dbTime
	if err := r.Scan(&sess.ID, &sess.Principal, &created, &closed); err != nil {
		return Session{}, err
	}
	sess.CreatedAt, sess.ClosedAt = created.Time, closed.Time
	return sess, nil
}

// Session returns a session, or ErrNotFound.
func (c *core) Session(ctx context.Context, id string) (Session, error) {
	sess, err := scanSession(c.d.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session %s: %w", id, err)
	}
	return sess, nil
}

const uploadColumns = `u.id, u.session_id, u.object_key, u.name, u.size, u.content_type, u.package_spec`

func scanUpload(r scanner) (Upload, error) {
	var u Upload
	var spec *string
	if err := r.Scan(&u.ID, &u.SessionID, &u.Key, &u.Name, &u.Size, &u.ContentType, &spec); err != nil {
		return Upload{}, err
	}
	if spec != nil && *spec != "" {
		if err := json.Unmarshal([]byte(*spec), &u.Package); err != nil {
			return Upload{}, fmt.Errorf("upload %s: package_spec column: %w", u.ID, err)
		}
	}
	return u, nil
}

// Upload returns an upload, or ErrNotFound.
func (c *core) Upload(ctx context.Context, id string) (Upload, error) {
	u, err := scanUpload(c.d.queryRow(ctx, `SELECT `+uploadColumns+` FROM uploads u WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, ErrNotFound
	}
	if err != nil {
		return Upload{}, fmt.Errorf("read upload %s: %w", id, err)
	}
	return u, nil
}

// UnregisteredUploads returns the uploads of a session without a video.
func (c *core) UnregisteredUploads(ctx context.Context, sessionID string) ([]Upload, error) {
	return c.unregistered(ctx, c.d, sessionID)
}

func (c *core) unregistered(ctx context.Context, q querier, sessionID string) ([]Upload, error) {
	rs, err := q.query(ctx, `SELECT `+uploadColumns+`
		FROM uploads u WHERE u.session_id = ?
		AND NOT EXISTS (SELECT 1 FROM videos v WHERE v.upload_id = u.id)
		ORDER BY u.position`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("read uploads of session %s: %w", sessionID, err)
	}
	defer rs.Close()
	var out []Upload
	for rs.Next() {
		u, err := scanUpload(rs)
		if err != nil {
			return nil, fmt.Errorf("read uploads of session %s: %w", sessionID, err)
		}
		out = append(out, u)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read uploads of session %s: %w", sessionID, err)
	}
	return out, nil
}

const videoColumns = `seq, id, upload_id, session_id, bucket, object_key, filename, size, content_type, etag,
	checksum_algorithm, checksum_type, checksum_value, metadata, created_at, principal, source_key, request_digest,
	status, status_error, status_at, media, kind, objects, entry`

// RegisterVideo inserts r; on a conflict on upload_id it returns the row
// already there. The UNIQUE constraint decides, so concurrent replays of one
// registration, on any number of API instances, store exactly one row. The
// video.registered event and its job commit with the row.
func (c *core) RegisterVideo(ctx context.Context, r Registration) (Registration, bool, error) {
	res, err := c.RegisterVideos(ctx, []Registration{r})
	if err != nil {
		return Registration{}, false, err
	}
	return res[0].Stored, res[0].Created, res[0].Err
}

// RegisterVideos stores many registrations as RegisterVideo stores one, in
// one transaction: one commit (one fsync, one WAL frame set) for a batch
// instead of one per video, each video's event and job inside it.
//
// A statement that fails fails the transaction, and with it every
// registration of the batch. So that one registration's fault (an unknown
// upload, say) is its own, a failed transaction is tried once more with a
// savepoint around each registration: the ones that fail again are left
// out with their error, the others commit. Only when that transaction fails
// too is the error returned for all of them.
func (c *core) RegisterVideos(ctx context.Context, rs []Registration) ([]RegisterResult, error) {
	out := make([]RegisterResult, len(rs))
	var todo []preparedVideo
	for i, r := range rs {
		p, err := prepareVideo(r)
		if err != nil {
			out[i].Err = err
			continue
		}
		p.index = i
		todo = append(todo, p)
	}
	// The same order in every transaction, so that two instances inserting
	// overlapping batches into PostgreSQL wait on each other's rows in one
	// order rather than deadlock.
	slices.SortFunc(todo, func(a, b preparedVideo) int { return strings.Compare(a.r.Video.UploadID, b.r.Video.UploadID) })
	if len(todo) == 0 {
		return out, nil
	}
	what := fmt.Sprintf("register %d videos", len(todo))
	if len(todo) == 1 {
		what = "register video of upload " + todo[0].r.Video.UploadID
	}
	err := c.inTx(ctx, what, func(t tx) error { return c.insertVideos(ctx, t, todo, out, false) })
	if err != nil && len(todo) > 1 && ctx.Err() == nil {
		for _, p := range todo {
			out[p.index] = RegisterResult{}
		}
		err = c.inTx(ctx, what, func(t tx) error { return c.insertVideos(ctx, t, todo, out, true) })
	}
	if err != nil {
		return nil, err
	}
	for _, p := range todo {
		res := &out[p.index]
		if res.Created || res.Err != nil {
			continue
		}
		// A replay: the row there is read after the transaction, once
		// the one that stored it (another instance's) has committed.
		existing, err := c.VideoByUpload(ctx, p.r.Video.UploadID)
		if err != nil {
			res.Err = fmt.Errorf("register video of upload %s: read the existing row: %w", p.r.Video.UploadID, err)
			continue
		}
		res.Stored = existing
	}
	return out, nil
}

// preparedVideo is a registration with its columns encoded.
type preparedVideo struct {
	index     int
	r         Registration
	sourceKey string
	meta      []byte
	ck        contract.Checksum
	media     *string
	objects   *string
}

func prepareVideo(r Registration) (preparedVideo, error) {
	v := r.Video
	p := preparedVideo{r: r, sourceKey: r.SourceKey, meta: []byte("{}")}
	if v.Principal == "" {
		return p, fmt.Errorf("register video of upload %s: no principal", v.UploadID)
	}
	if p.sourceKey == "" {
		p.sourceKey = v.Key
	}
	if len(v.Metadata) > 0 {
		var err error
		if p.meta, err = json.Marshal(v.Metadata); err != nil {
			return p, fmt.Errorf("register video of upload %s: %w", v.UploadID, err)
		}
	}
	if v.Checksum != nil {
		p.ck = *v.Checksum
	}
	// media is NULL for a video registered without one.
	if v.Media != nil {
		b, err := json.Marshal(v.Media)
		if err != nil {
			return p, fmt.Errorf("register video of upload %s: %w", v.UploadID, err)
		}
		m := string(b)
		p.media = &m
	}
	// objects is NULL for a single video.
	if len(v.Objects) > 0 {
		b, err := json.Marshal(v.Objects)
		if err != nil {
			return p, fmt.Errorf("register video of upload %s: %w", v.UploadID, err)
		}
		o := string(b)
		p.objects = &o
	}
	return p, nil
}

// insertVideos inserts ps inside t, setting out[p.index] for each: Created
// with the row stored, or neither (a replay: the caller reads the existing
// row). isolated puts each registration inside a savepoint, and records a
// registration that fails in its Err instead of failing t.
func (c *core) insertVideos(ctx context.Context, t tx, ps []preparedVideo, out []RegisterResult, isolated bool) error {
	for _, p := range ps {
		if !isolated {
			if err := c.insertVideo(ctx, t, p, &out[p.index]); err != nil {
				return err
			}
			continue
		}
		if _, err := t.exec(ctx, `SAVEPOINT register_video`); err != nil {
			return fmt.Errorf("register video of upload %s: %w", p.r.Video.UploadID, err)
		}
		if err := c.insertVideo(ctx, t, p, &out[p.index]); err != nil {
			if _, rerr := t.exec(ctx, `ROLLBACK TO SAVEPOINT register_video`); rerr != nil {
				return fmt.Errorf("register video of upload %s: %w (and rolling it back: %v)", p.r.Video.UploadID, err, rerr)
			}
			out[p.index] = RegisterResult{Err: err}
		}
		if _, err := t.exec(ctx, `RELEASE SAVEPOINT register_video`); err != nil {
			return fmt.Errorf("register video of upload %s: %w", p.r.Video.UploadID, err)
		}
	}
	return nil
}

// insertVideo inserts one registration; on a conflict on upload_id it
// stores nothing and leaves res unset.
func (c *core) insertVideo(ctx context.Context, t tx, p preparedVideo, res *RegisterResult) error {
	v := p.r.Video
	what := "register video of upload " + v.UploadID
	row := t.queryRow(ctx, `INSERT INTO videos
		(id, upload_id, session_id, bucket, object_key, filename, size, content_type, etag,
		 checksum_algorithm, checksum_type, checksum_value, metadata, created_at, principal, source_key, request_digest,
		 status, status_error, status_at, media, kind, objects, entry)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?)
		ON CONFLICT (upload_id) DO NOTHING
		RETURNING `+videoColumns,
		v.ID, v.UploadID, v.SessionID, v.Bucket, v.Key, v.Filename, v.Size, v.ContentType, v.ETag,
		p.ck.Algorithm, p.ck.Type, p.ck.Value, string(p.meta), v.CreatedAt.UTC(), v.Principal, p.sourceKey, p.r.RequestDigest,
		contract.StatusRegistered, v.CreatedAt.UTC(), p.media, v.Kind, p.objects, v.Entry)
	stored, _, err := scanRegistration(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // a replay
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := c.record(ctx, t, contract.EventVideoRegistered, stored.Video, v.CreatedAt); err != nil {
		return err
	}
	*res = RegisterResult{Stored: stored, Created: true}
	return nil
}

// record stores the webhook event of v inside t and enqueues its job;
// nothing when events are off.
func (c *core) record(ctx context.Context, t tx, typ string, v contract.Video, at time.Time) error {
	if c.enqueue == nil {
		return nil
	}
	at = at.UTC()
	ev := Event{ID: "msg_" + uuid.NewString(), VideoID: v.ID, Type: typ, Status: v.Status, CreatedAt: at}
	payload, err := json.Marshal(contract.WebhookEvent{Type: typ, Timestamp: at, Data: v})
	if err != nil {
		return fmt.Errorf("event %s of video %s: %w", typ, v.ID, err)
	}
	ev.Payload = payload
	if _, err := t.exec(ctx, `INSERT INTO events (id, video_id, type, status, payload, created_at, state, attempts, last_error, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, '', ?)`,
		ev.ID, ev.VideoID, ev.Type, ev.Status, string(payload), at, contract.DeliveryPending, at); err != nil {
		return fmt.Errorf("store event %s of video %s: %w", typ, v.ID, err)
	}
	if err := c.enqueue(ctx, t, ev); err != nil {
		return fmt.Errorf("enqueue the webhook of event %s of video %s: %w", typ, v.ID, err)
	}
	return nil
}

// SetStatus moves a video forward in its status cycle. The UPDATE's own
// condition decides, so two instances setting a status at once change it
// once and record one event.
func (c *core) SetStatus(ctx context.Context, id, status, errText string, at time.Time) (contract.Video, bool, error) {
	var from []any
	for _, s := range []string{contract.StatusRegistered, contract.StatusProcessing} {
		if NextStatusAllowed(s, status) {
			from = append(from, s)
		}
	}
	if status != contract.StatusFailed {
		errText = ""
	}
	var (
		v       contract.Video
		changed bool
	)
	what := "set status of video " + id
	err := c.inTx(ctx, what, func(t tx) error {
		if len(from) > 0 {
			args := append([]any{status, errText, at.UTC(), id}, from...)
			in := "?"
			if len(from) == 2 {
				in = "?, ?"
			}
			n, err := t.exec(ctx, `UPDATE videos SET status = ?, status_error = ?, status_at = ?
				WHERE id = ? AND status IN (`+in+`)`, args...)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			changed = n == 1
		}
		var err error
		v, _, err = scanVideo(t.queryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !changed {
			if v.Status == status {
				return nil
			}
			return fmt.Errorf("video %s is %s: %w to %s", id, v.Status, ErrTransition, status)
		}
		return c.record(ctx, t, contract.EventVideoStatus, v, at)
	})
	if errors.Is(err, ErrTransition) {
		return v, false, err
	}
	if err != nil {
		return contract.Video{}, false, err
	}
	return v, changed, nil
}

// VideoByUpload returns the registration of an upload, or ErrNotFound.
func (c *core) VideoByUpload(ctx context.Context, uploadID string) (Registration, error) {
	r, _, err := scanRegistration(c.d.queryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE upload_id = ?`, uploadID))
	if errors.Is(err, sql.ErrNoRows) {
		return Registration{}, ErrNotFound
	}
	if err != nil {
		return Registration{}, fmt.Errorf("read video of upload %s: %w", uploadID, err)
	}
	return r, nil
}

// Video returns a video by id, or ErrNotFound.
func (c *core) Video(ctx context.Context, id string) (contract.Video, error) {
	v, _, err := scanVideo(c.d.queryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return contract.Video{}, ErrNotFound
	}
	if err != nil {
		return contract.Video{}, fmt.Errorf("read video %s: %w", id, err)
	}
	return v, nil
}

// listColumns are videoColumns without a package's objects (up to 100,000
// each): a page of the list stays small; Video has them.
var listColumns = strings.Replace(videoColumns, ", objects,", ", CAST(NULL AS TEXT),", 1)

// ListVideos returns a page of videos, newest first. The position is the
// database's sequence, so a cursor from one instance pages on any other.
func (c *core) ListVideos(ctx context.Context, principal string, before int64, limit int) ([]contract.Video, int64, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("list videos: limit %d must be positive", limit)
	}
	if before <= 0 {
		before = int64(^uint64(0) >> 1)
	}
	// One row more than asked tells whether another page exists.
	rs, err := c.d.query(ctx, `SELECT `+listColumns+` FROM videos
		WHERE seq < ? AND (CAST(? AS TEXT) = '' OR principal = ?) ORDER BY seq DESC LIMIT ?`,
		before, principal, principal, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("list videos: %w", err)
	}
	defer rs.Close()
	videos := []contract.Video{}
	var seqs []int64
	for rs.Next() {
		v, seq, err := scanVideo(rs)
		if err != nil {
			return nil, 0, fmt.Errorf("list videos: %w", err)
		}
		videos = append(videos, v)
		seqs = append(seqs, seq)
	}
	if err := rs.Err(); err != nil {
		return nil, 0, fmt.Errorf("list videos: %w", err)
	}
	if len(videos) <= limit {
		return videos, 0, nil
	}
	return videos[:limit], seqs[limit-1], nil
}

// Event returns a webhook event, or ErrNotFound.
func (c *core) Event(ctx context.Context, id string) (Event, error) {
	var ev Event
	var payload string
	var created dbTime
	err := c.d.queryRow(ctx, `SELECT id, video_id, type, status, payload, created_at FROM events WHERE id = ?`, id).
		Scan(&ev.ID, &ev.VideoID, &ev.Type, &ev.Status, &payload, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	if err != nil {
		return Event{}, fmt.Errorf("read event %s: %w", id, err)
	}
	ev.Payload, ev.CreatedAt = []byte(payload), created.Time
	return ev, nil
}

// MarkDelivery records the outcome of delivering an event. A delivered
// event stays delivered: a late failure of a duplicate attempt does not
// hide that the receiver has it.
func (c *core) MarkDelivery(ctx context.Context, eventID string, d Delivery) error {
	n, err := c.d.exec(ctx, `UPDATE events SET state = ?, attempts = ?, last_error = ?, updated_at = ?
		WHERE id = ? AND (state <> ? OR CAST(? AS TEXT) = ?)`,
		d.State, d.Attempts, d.LastError, d.At.UTC(), eventID, contract.DeliveryDelivered, d.State, contract.DeliveryDelivered)
	if err != nil {
		return fmt.Errorf("record delivery of event %s: %w", eventID, err)
	}
	if n == 0 {
		if _, err := c.Event(ctx, eventID); err != nil {
			return err
		}
	}
	return nil
}

// Deliveries returns the webhooks of a video, oldest first.
func (c *core) Deliveries(ctx context.Context, videoID string) ([]contract.WebhookDelivery, error) {
	rs, err := c.d.query(ctx, `SELECT id, type, status, state, attempts, last_error, updated_at
		FROM events WHERE video_id = ? ORDER BY seq`, videoID)
	if err != nil {
		return nil, fmt.Errorf("read webhooks of video %s: %w", videoID, err)
	}
	defer rs.Close()
	var out []contract.WebhookDelivery
	for rs.Next() {
		var d contract.WebhookDelivery
		var at dbTime
		if err := rs.Scan(&d.ID, &d.Type, &d.Status, &d.State, &d.Attempts, &d.LastError, &at); err != nil {
			return nil, fmt.Errorf("read webhooks of video %s: %w", videoID, err)
		}
		d.UpdatedAt = at.Time
		out = append(out, d)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read webhooks of video %s: %w", videoID, err)
	}
	return out, nil
}

// StaleSessions returns open sessions created before cutoff, oldest first,
// with their unregistered uploads.
func (c *core) StaleSessions(ctx context.Context, cutoff time.Time, limit int) ([]StaleSession, error) {
	rs, err := c.d.query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE closed_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?`, cutoff.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("list stale sessions: %w", err)
	}
	var out []StaleSession
	for rs.Next() {
		sess, err := scanSession(rs)
		if err != nil {
			rs.Close()
			return nil, fmt.Errorf("list stale sessions: %w", err)
		}
		out = append(out, StaleSession{Session: sess})
	}
	err = rs.Err()
	rs.Close()
	if err != nil {
		return nil, fmt.Errorf("list stale sessions: %w", err)
	}
	for i := range out {
		if out[i].Uploads, err = c.unregistered(ctx, c.d, out[i].Session.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CloseSession marks a session closed.
func (c *core) CloseSession(ctx context.Context, id string, at time.Time) error {
	n, err := c.d.exec(ctx, `UPDATE sessions SET closed_at = ? WHERE id = ? AND closed_at IS NULL`, at.UTC(), id)
	if err != nil {
		return fmt.Errorf("close session %s: %w", id, err)
	}
	if n == 0 {
		if _, err := c.Session(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func scanVideo(r scanner) (contract.Video, int64, error) {
	reg, seq, err := scanRegistration(r)
	return reg.Video, seq, err
}

func scanRegistration(r scanner) (Registration, int64, error) {
	var (
		reg              Registration
		seq              int64
		alg, typ, val    string
		meta             string
		created, status_ dbTime
		media, objects   *string
	)
	v := &reg.Video
	if err := r.Scan(&seq, &v.ID, &v.UploadID, &v.SessionID, &v.Bucket, &v.Key, &v.Filename, &v.Size,
		&v.ContentType, &v.ETag, &alg, &typ, &val, &meta, &created, &v.Principal, &reg.SourceKey, &reg.RequestDigest,
		&v.Status, &v.Error, &status_, &media, &v.Kind, &objects, &v.Entry); err != nil {
		return Registration{}, 0, err
	}
	if objects != nil && *objects != "" {
		if err := json.Unmarshal([]byte(*objects), &v.Objects); err != nil {
			return Registration{}, 0, fmt.Errorf("video %s: objects column: %w", v.ID, err)
		}
	}
	if alg != "" {
		v.Checksum = &contract.Checksum{Algorithm: alg, Type: typ, Value: val}
	}
	if meta != "" && meta != "{}" {
		if err := json.Unmarshal([]byte(meta), &v.Metadata); err != nil {
			return Registration{}, 0, fmt.Errorf("video %s: metadata column: %w", v.ID, err)
		}
	}
	if media != nil && *media != "" {
		if err := json.Unmarshal([]byte(*media), &v.Media); err != nil {
			return Registration{}, 0, fmt.Errorf("video %s: media column: %w", v.ID, err)
		}
	}
	v.CreatedAt = created.Time
	if !status_.IsZero() {
		at := status_.Time
		v.StatusAt = &at
	}
	return reg, seq, nil
}

// Times are stored by SQLite as RFC 3339 text in UTC: readable in the
// sqlite3 shell. PostgreSQL keeps them as timestamptz.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time column %q: %w", s, err)
	}
	return t.UTC(), nil
}
