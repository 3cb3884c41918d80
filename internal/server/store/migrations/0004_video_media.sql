-- media (contract v1.1, section 3) is what the uploader read of the video's
-- container before sending it: the registration's "media" object, kept as
-- the JSON the server returns. NULL when the request had none (a file not
-- recognised as media, an older client, a row stored before).
ALTER TABLE videos ADD COLUMN media TEXT;
