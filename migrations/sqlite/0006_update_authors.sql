-- Who sent each logged update (docs/change-feed.md): the name the room knew its sender
-- by (the access token's name, else the name shown in presence). Written by the same
-- insert as the update; NULL when unknown and for rows logged before this migration.
ALTER TABLE updates ADD COLUMN author TEXT;

-- The readable log view shows it too.
DROP VIEW document_log;
CREATE VIEW document_log AS
SELECT d.name         AS document,
       u.seq          AS seq,
       length(u.data) AS bytes,
       u.created_at   AS created_at,
       u.author       AS author
FROM updates u
JOIN documents d ON d.id = u.document_id;
