-- Tandem schema (SQLite). Timestamps are RFC 3339 text in UTC so they sort and read as-is.
-- Every table and view is meant to be read with plain SQL: see README "Reading history in SQL".

CREATE TABLE documents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    -- bytes held for the document: current snapshot plus logged updates
    size_bytes  INTEGER NOT NULL DEFAULT 0
);

-- Append-only log of Yjs updates (v1 encoding). Rows are only ever inserted, and deleted
-- by compaction once a snapshot covers them.
CREATE TABLE updates (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    data         BLOB    NOT NULL,
    created_at   TEXT    NOT NULL
);
CREATE INDEX updates_by_document ON updates(document_id, seq);

-- The latest compacted state of a document; it covers every update with seq <= upto_seq.
CREATE TABLE snapshots (
    document_id   INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    state         BLOB    NOT NULL,
    state_vector  BLOB    NOT NULL,
    upto_seq      INTEGER NOT NULL,
    created_at    TEXT    NOT NULL
);

-- History: full states kept forever (compaction never touches this table).
CREATE TABLE versions (
    document_id   INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('auto', 'named', 'restore')),
    label         TEXT,
    state         BLOB    NOT NULL,
    state_vector  BLOB    NOT NULL,
    text          TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    created_at    TEXT    NOT NULL,
    PRIMARY KEY (document_id, version)
);

CREATE VIEW document_history AS
SELECT d.name          AS document,
       v.version       AS version,
       v.created_at    AS created_at,
       v.kind          AS kind,
       v.label         AS label,
       v.size_bytes    AS size_bytes,
       length(v.text)  AS text_length,
       v.text          AS text
FROM versions v
JOIN documents d ON d.id = v.document_id;

CREATE VIEW document_log AS
SELECT d.name         AS document,
       u.seq          AS seq,
       length(u.data) AS bytes,
       u.created_at   AS created_at
FROM updates u
JOIN documents d ON d.id = u.document_id;
