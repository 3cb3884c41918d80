-- Sessions and their uploads are written when a session opens, so that a
-- registration can prove its key belongs to the session and upload it names.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL REFERENCES sessions (id),
    position     INTEGER NOT NULL,
    object_key   TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content_type TEXT NOT NULL DEFAULT ''
);

CREATE INDEX uploads_session ON uploads (session_id, position);

-- seq orders the list newest first with a cursor that is stable under
-- inserts; upload_id is UNIQUE so that a replayed registration can never
-- store a second row, whatever the timing of the replay.
CREATE TABLE videos (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT NOT NULL UNIQUE,
    upload_id          TEXT NOT NULL UNIQUE REFERENCES uploads (id),
    session_id         TEXT NOT NULL REFERENCES sessions (id),
    bucket             TEXT NOT NULL,
    object_key         TEXT NOT NULL,
    filename           TEXT NOT NULL,
    size               INTEGER NOT NULL,
    content_type       TEXT NOT NULL DEFAULT '',
    etag               TEXT NOT NULL DEFAULT '',
    checksum_algorithm TEXT NOT NULL DEFAULT '',
    checksum_type      TEXT NOT NULL DEFAULT '',
    checksum_value     TEXT NOT NULL DEFAULT '',
    metadata           TEXT NOT NULL DEFAULT '{}',
    created_at         TEXT NOT NULL
);
