-- Titles: free text shown to people (any script, spaces, emoji), separate from the URL-safe
-- name. Empty means "not set": the name is shown instead.
ALTER TABLE documents ADD COLUMN title TEXT NOT NULL DEFAULT '';

-- Who edited since the previous version: a JSON array of names (the token's name, or the
-- name the editor chose), e.g. ["Ann","Bob"]. Empty array when nobody edited through a
-- connection (a restore through the API, a version named without edits).
ALTER TABLE versions ADD COLUMN authors TEXT NOT NULL DEFAULT '[]';

DROP VIEW document_history;
CREATE VIEW document_history AS
SELECT d.name          AS document,
       d.title         AS title,
       v.version       AS version,
       v.created_at    AS created_at,
       v.kind          AS kind,
       v.label         AS label,
       v.authors       AS authors,
       v.size_bytes    AS size_bytes,
       length(v.text)  AS text_length,
       v.text          AS text
FROM versions v
JOIN documents d ON d.id = v.document_id;
