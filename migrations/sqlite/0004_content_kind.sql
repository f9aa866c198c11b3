-- Rich text. A document holds plain text (a Y.Text, what the built-in editor edits) or rich
-- text (a Y.XmlFragment, what ProseMirror and Tiptap edit). `kind` is chosen when the
-- document is created, so an empty rich document is known as one; once the document holds
-- content, what it holds decides (each version sets it).
ALTER TABLE documents ADD COLUMN kind TEXT NOT NULL DEFAULT 'text'
    CHECK (kind IN ('text', 'rich'));

-- Which model a version's `text` was rendered from: 'text' (the Y.Text as is) or 'rich'
-- (the plain text of the rich-text fields; the full content is in `state`).
ALTER TABLE versions ADD COLUMN format TEXT NOT NULL DEFAULT 'text'
    CHECK (format IN ('text', 'rich'));

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
       v.text          AS text,
       v.format        AS format
FROM versions v
JOIN documents d ON d.id = v.document_id;
