-- Packages (contract v1.1 sections 1b and 3b): one upload holds many files.
-- package_spec is the session's package as JSON (name, kind, files with
-- path, size and content type), NULL for a single file. A registered
-- package keeps its kind, its objects (JSON: path, size, etag, checksum,
-- sealed key) and the key of its entry point.
ALTER TABLE uploads ADD COLUMN package_spec TEXT;
ALTER TABLE videos ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE videos ADD COLUMN objects TEXT;
ALTER TABLE videos ADD COLUMN entry TEXT NOT NULL DEFAULT '';
