//! The SQL both backends run, written once.
//!
//! SQLite and PostgreSQL accept the same statements here: `$N` placeholders (SQLite numbers
//! `$1`, `$2`, ... in order of first use, which is their numeric order in every statement
//! below), `ON CONFLICT` upserts, `RETURNING`, and `length()` (bytes of a blob, characters
//! of a text on both). What really differs stays in each backend: connection options, the
//! isolation of a load, and the batch insert of an append.
//!
//! The statements are run through `impl_store!` (in `impl_store.rs`), which writes the `Store`
//! implementation once for both concrete sqlx drivers. sqlx's `Any` driver cannot do it
//! (no timestamps, no arrays), and code generic over `sqlx::Database` needs a bound for
//! every type it binds or reads, repeated on every function.

/// Id of a document, created if missing. Only appends move `updated_at` (the document
/// list's "last edited"); compaction and versions still need the row (and, on PostgreSQL,
/// its lock, which serialises version numbering), so they update it to itself.
#[allow(dead_code)]
pub(super) const DOCUMENT_ID: &str =
    "INSERT INTO documents (name, created_at, updated_at) VALUES ($1, $2, $2)
     ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id";

/// An append touches its document and adds its bytes; the row lock it takes is held to
/// the commit, so appends to one document commit in `seq` order. Returns the document's
/// `last_seq` before the append.
pub(super) const TOUCH_DOCUMENT: &str =
    "INSERT INTO documents (name, created_at, updated_at, size_bytes) VALUES ($1, $2, $2, $3)
     ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at,
         size_bytes = documents.size_bytes + excluded.size_bytes
     RETURNING id, last_seq";

/// [`TOUCH_DOCUMENT`] for a document the writer knows by id: never creates it.
pub(super) const TOUCH_KNOWN: &str =
    "UPDATE documents SET updated_at = $2, size_bytes = size_bytes + $3 WHERE id = $1
     RETURNING id, last_seq";

/// Locks an existing document's row (compaction and versions must not create one that
/// was deleted meanwhile).
pub(super) const LOCK_DOCUMENT: &str =
    "UPDATE documents SET size_bytes = size_bytes WHERE name = $1 RETURNING id";

pub(super) const FIND_DOCUMENT: &str = "SELECT id, last_seq FROM documents WHERE name = $1";

pub(super) const LOAD_SNAPSHOT: &str =
    "SELECT state, upto_seq FROM snapshots WHERE document_id = $1";

pub(super) const LOAD_UPDATES: &str =
    "SELECT seq, data FROM updates WHERE document_id = $1 AND seq > $2 ORDER BY seq";

pub(super) const DELETE_COVERED: &str = "DELETE FROM updates WHERE document_id = $1 AND seq <= $2
     RETURNING CAST(length(data) AS BIGINT) AS bytes";

pub(super) const SAVE_SNAPSHOT: &str =
    "INSERT INTO snapshots (document_id, state, state_vector, upto_seq, created_at)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (document_id) DO UPDATE SET state = excluded.state,
         state_vector = excluded.state_vector, upto_seq = excluded.upto_seq,
         created_at = excluded.created_at
     WHERE excluded.upto_seq >= snapshots.upto_seq";

pub(super) const RECOUNT_SIZE: &str = "UPDATE documents SET size_bytes =
         (SELECT COALESCE(SUM(length(state)), 0) FROM snapshots WHERE document_id = $1)
       + (SELECT COALESCE(SUM(length(data)), 0) FROM updates WHERE document_id = $1)
     WHERE id = $1";

pub(super) const CREATE_DOCUMENT: &str =
    "INSERT INTO documents (name, title, created_at, updated_at, kind) VALUES ($1, $2, $3, $3, $4)
     ON CONFLICT (name) DO NOTHING
     RETURNING id, name, title, created_at, updated_at, size_bytes, kind";

/// Creates the document when it is not stored yet (it exists as soon as someone opens it).
pub(super) const SET_TITLE: &str =
    "INSERT INTO documents (name, title, created_at, updated_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (name) DO UPDATE SET title = excluded.title
     RETURNING id, name, title, created_at, updated_at, size_bytes, kind";

pub(super) const DOCUMENT: &str =
    "SELECT id, name, title, created_at, updated_at, size_bytes, kind FROM documents WHERE name = $1";

pub(super) const LIST_DOCUMENTS: &str =
    "SELECT id, name, title, created_at, updated_at, size_bytes, kind FROM documents
     ORDER BY updated_at DESC, name";

pub(super) const DELETE_DOCUMENT: &str = "DELETE FROM documents WHERE name = $1";

/// One statement picks the number and inserts, so two writers can't pick the same one.
/// A version of an empty document (`$10` null) takes the document's kind.
pub(super) const CREATE_VERSION: &str =
    "INSERT INTO versions (document_id, version, kind, label, state, state_vector, text,
                           size_bytes, created_at, authors, format)
     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9,
            COALESCE(CAST($10 AS TEXT), (SELECT kind FROM documents WHERE id = $1))
     FROM versions WHERE document_id = $1
     RETURNING version, created_at, kind, label, authors, size_bytes,
               CAST(length(text) AS BIGINT) AS text_length, format";

/// What a document with content holds decides its kind; each version records it.
pub(super) const SET_KIND: &str = "UPDATE documents SET kind = $2 WHERE id = $1 AND kind <> $2";

/// The state vector of a document's latest version, to skip an automatic version that
/// would repeat it.
pub(super) const LATEST_VERSION_SV: &str =
    "SELECT state_vector, text FROM versions WHERE document_id = $1
     ORDER BY version DESC LIMIT 1";

/// The latest version's number and what tells its state apart, to name it rather than
/// store the same state again.
pub(super) const LATEST_VERSION: &str =
    "SELECT version, state_vector, text FROM versions WHERE document_id = $1
     ORDER BY version DESC LIMIT 1";

/// Names an existing version: a named one keeps its label (unless it had none).
pub(super) const NAME_VERSION: &str = "UPDATE versions
     SET label = CASE WHEN kind = 'named' THEN COALESCE(label, $3) ELSE $3 END, kind = 'named'
     WHERE document_id = $1 AND version = $2
     RETURNING version, created_at, kind, label, authors, size_bytes,
               CAST(length(text) AS BIGINT) AS text_length, format";

pub(super) const LIST_VERSIONS: &str =
    "SELECT v.version, v.created_at, v.kind, v.label, v.authors, v.size_bytes,
            CAST(length(v.text) AS BIGINT) AS text_length, v.format
     FROM versions v JOIN documents d ON d.id = v.document_id
     WHERE d.name = $1 ORDER BY v.version DESC";

pub(super) const VERSION: &str =
    "SELECT v.version, v.created_at, v.kind, v.label, v.authors, v.size_bytes,
            CAST(length(v.text) AS BIGINT) AS text_length, v.format, v.text, v.state
     FROM versions v JOIN documents d ON d.id = v.document_id
     WHERE d.name = $1 AND v.version = $2";
