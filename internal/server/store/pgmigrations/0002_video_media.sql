-- media (contract v1.1, section 3) is what the uploader read of the video's
-- container before sending it: the registration's "media" object, kept as
-- the JSON the server returns (text, as SQLite keeps it, so that one query
-- serves both). NULL when the request had none.
ALTER TABLE videos ADD COLUMN media TEXT;
