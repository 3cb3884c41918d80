-- Status (contract v1.1 section 5): registered, processing, ready or failed,
-- set by the pipeline. Videos registered before it existed are registered.
ALTER TABLE videos ADD COLUMN status TEXT NOT NULL DEFAULT 'registered';
ALTER TABLE videos ADD COLUMN status_error TEXT NOT NULL DEFAULT '';
ALTER TABLE videos ADD COLUMN status_at TEXT NOT NULL DEFAULT '';

-- The cleanup closes sessions past their age: never refreshed again.
ALTER TABLE sessions ADD COLUMN closed_at TEXT;
CREATE INDEX sessions_open ON sessions (created_at) WHERE closed_at IS NULL;

-- Webhook events, written in the transaction of the change they announce,
-- with the state of their delivery. payload is the body as it was then.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    video_id   TEXT NOT NULL REFERENCES videos (id),
    type       TEXT NOT NULL,
    status     TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE INDEX events_video ON events (video_id, seq);
