-- vidup serve's schema on PostgreSQL: the SQLite migrations 0001 to 0003 in
-- one, with PostgreSQL's types. Several API instances share it.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    principal  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    closed_at  TIMESTAMPTZ
);
CREATE INDEX sessions_open ON sessions (created_at) WHERE closed_at IS NULL;

CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL REFERENCES sessions (id),
    position     INTEGER NOT NULL,
    object_key   TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL DEFAULT ''
);
CREATE INDEX uploads_session ON uploads (session_id, position);

-- seq orders the list newest first with a cursor every instance reads the
-- same way; upload_id is UNIQUE so that registrations of one upload on any
-- number of instances store one row.
CREATE TABLE videos (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    upload_id          TEXT NOT NULL UNIQUE REFERENCES uploads (id),
    session_id         TEXT NOT NULL REFERENCES sessions (id),
    bucket             TEXT NOT NULL,
    object_key         TEXT NOT NULL,
    filename           TEXT NOT NULL,
    size               BIGINT NOT NULL,
    content_type       TEXT NOT NULL DEFAULT '',
    etag               TEXT NOT NULL DEFAULT '',
    checksum_algorithm TEXT NOT NULL DEFAULT '',
    checksum_type      TEXT NOT NULL DEFAULT '',
    checksum_value     TEXT NOT NULL DEFAULT '',
    metadata           TEXT NOT NULL DEFAULT '{}',
    created_at         TIMESTAMPTZ NOT NULL,
    principal          TEXT NOT NULL,
    source_key         TEXT NOT NULL DEFAULT '',
    request_digest     TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL DEFAULT 'registered',
    status_error       TEXT NOT NULL DEFAULT '',
    status_at          TIMESTAMPTZ
);
CREATE INDEX videos_principal ON videos (principal, seq);
CREATE INDEX videos_session ON videos (session_id);

CREATE TABLE events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    video_id   TEXT NOT NULL REFERENCES videos (id),
    type       TEXT NOT NULL,
    status     TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_video ON events (video_id, seq);

CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TIMESTAMPTZ NOT NULL
);
