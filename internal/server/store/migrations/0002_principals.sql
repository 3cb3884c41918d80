-- Principals (contract v1.1): sessions and videos belong to the principal
-- that opened them. Rows stored before principals existed belong to the
-- principal "default", the one of VIDUP_SERVER_TOKENS, so that a server
-- upgraded in place keeps answering its existing tokens.
ALTER TABLE sessions ADD COLUMN principal TEXT NOT NULL DEFAULT 'default';
ALTER TABLE videos ADD COLUMN principal TEXT NOT NULL DEFAULT 'default';

-- source_key is the key the client uploaded to; object_key is where the
-- server sealed the verified object (a prefix no session credential may
-- write). Older rows were never sealed: both are the uploaded key.
ALTER TABLE videos ADD COLUMN source_key TEXT NOT NULL DEFAULT '';
UPDATE videos SET source_key = object_key;

-- request_digest is the SHA-256 of the first registration's request, so a
-- replay with another body is told apart (409). Empty for older rows: any
-- replay of them answers as before.
ALTER TABLE videos ADD COLUMN request_digest TEXT NOT NULL DEFAULT '';

CREATE INDEX videos_principal ON videos (principal, seq);
CREATE INDEX videos_session ON videos (session_id);

-- One row, rewritten by every health check: a write that fails (disk full,
-- read-only file) shows in /healthz.
CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);
