//! The SQL both backends run, written once.
//!
//! SQLite and PostgreSQL accept the same statements here: `$N` placeholders (SQLite numbers
//! `$1`, `$2`, ... in order of first use, which is their numeric order in every statement
//! below), `ON CONFLICT` upserts, `RETURNING`, and `length()` (bytes of a blob, characters
//! of a text on both). What really differs stays in each backend: connection options, the
//! isolation of a load, and the batch insert of an append.
//!
//! The statements are run through [`impl_store!`], which writes the [`Store`](super::Store)
//! implementation once for both concrete sqlx drivers. sqlx's `Any` driver cannot do it
//! (no timestamps, no arrays), and code generic over `sqlx::Database` needs a bound for
//! every type it binds or reads, repeated on every function.

/// Id of a document, created if missing. Only appends move `updated_at` (the document
/// list's "last edited"); compaction and versions still need the row (and, on PostgreSQL,
/// its lock, which serialises version numbering), so they update it to itself.
pub(super) const DOCUMENT_ID: &str =
    "INSERT INTO documents (name, created_at, updated_at) VALUES ($1, $2, $2)
     ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id";

/// An append touches its document and adds its bytes.
pub(super) const TOUCH_DOCUMENT: &str =
    "INSERT INTO documents (name, created_at, updated_at, size_bytes) VALUES ($1, $2, $2, $3)
     ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at,
         size_bytes = documents.size_bytes + excluded.size_bytes
     RETURNING id";

pub(super) const FIND_DOCUMENT: &str = "SELECT id FROM documents WHERE name = $1";

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
    "INSERT INTO documents (name, title, created_at, updated_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (name) DO NOTHING
     RETURNING name, title, created_at, updated_at, size_bytes";

/// Creates the document when it is not stored yet (it exists as soon as someone opens it).
pub(super) const SET_TITLE: &str =
    "INSERT INTO documents (name, title, created_at, updated_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (name) DO UPDATE SET title = excluded.title
     RETURNING name, title, created_at, updated_at, size_bytes";

pub(super) const DOCUMENT: &str =
    "SELECT name, title, created_at, updated_at, size_bytes FROM documents WHERE name = $1";

pub(super) const LIST_DOCUMENTS: &str =
    "SELECT name, title, created_at, updated_at, size_bytes FROM documents
     ORDER BY updated_at DESC, name";

pub(super) const DELETE_DOCUMENT: &str = "DELETE FROM documents WHERE name = $1";

/// One statement picks the number and inserts, so two writers can't pick the same one.
pub(super) const CREATE_VERSION: &str =
    "INSERT INTO versions (document_id, version, kind, label, state, state_vector, text,
                           size_bytes, created_at, authors)
     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9
     FROM versions WHERE document_id = $1
     RETURNING version, created_at, kind, label, authors, size_bytes,
               CAST(length(text) AS BIGINT) AS text_length";

pub(super) const LIST_VERSIONS: &str =
    "SELECT v.version, v.created_at, v.kind, v.label, v.authors, v.size_bytes,
            CAST(length(v.text) AS BIGINT) AS text_length
     FROM versions v JOIN documents d ON d.id = v.document_id
     WHERE d.name = $1 ORDER BY v.version DESC";

pub(super) const VERSION: &str =
    "SELECT v.version, v.created_at, v.kind, v.label, v.authors, v.size_bytes,
            CAST(length(v.text) AS BIGINT) AS text_length, v.text, v.state
     FROM versions v JOIN documents d ON d.id = v.document_id
     WHERE d.name = $1 AND v.version = $2";

/// Implements [`Store`](super::Store) for a backend type (whose rows are `$row`) with a
/// `pool` field (reads), a `writes` field (write transactions), a `durability` field,
/// a `CONCURRENT_APPENDS` constant and these associated functions, the parts that differ:
/// - `begin_load(&mut tx)`: makes the load's reads see one instant;
/// - `begin_append(&self, &mut tx)`: sets up an append transaction (its durability);
/// - `insert_updates(&mut tx, &doc_ids, items, now)`: inserts the batch and returns each
///   row's `(document_id, seq)`.
macro_rules! impl_store {
    ($store:ty, $row:ty, $backend:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn durability(&self) -> $crate::Durability {
                self.durability
            }

            fn concurrent_appends(&self) -> usize {
                Self::CONCURRENT_APPENDS
            }

            async fn load(&self, doc: &str) -> $crate::Result<Option<$crate::StoredDoc>> {
                use sqlx::Row;
                use $crate::store::sql;
                let mut tx = self.pool.begin().await?;
                Self::begin_load(&mut tx).await?;
                let Some(id) = sqlx::query_scalar::<_, i64>(sql::FIND_DOCUMENT)
                    .bind(doc)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                let snapshot = sqlx::query(sql::LOAD_SNAPSHOT)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (snapshot, upto) = match snapshot {
                    Some(row) => (
                        Some(row.try_get::<Vec<u8>, _>("state")?),
                        row.try_get("upto_seq")?,
                    ),
                    None => (None, 0i64),
                };
                let rows = sqlx::query(sql::LOAD_UPDATES)
                    .bind(id)
                    .bind(upto)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut last_seq = upto;
                let mut updates = Vec::with_capacity(rows.len());
                for row in rows {
                    last_seq = last_seq.max(row.try_get("seq")?);
                    updates.push(row.try_get("data")?);
                }
                Ok(Some($crate::StoredDoc {
                    snapshot,
                    updates,
                    last_seq,
                }))
            }

            async fn append(
                &self,
                items: &[$crate::AppendItem],
            ) -> $crate::Result<Vec<$crate::Appended>> {
                if items.is_empty() {
                    return Ok(Vec::new());
                }
                let now = chrono::Utc::now();
                let groups = $crate::store::group_by_doc(items);
                let mut tx = self.writes.begin().await?;
                self.begin_append(&mut tx).await?;
                let mut doc_ids = Vec::with_capacity(groups.len());
                for (doc, bytes) in &groups {
                    let id: i64 = sqlx::query_scalar($crate::store::sql::TOUCH_DOCUMENT)
                        .bind(doc)
                        .bind(now)
                        .bind(bytes)
                        .fetch_one(&mut *tx)
                        .await?;
                    doc_ids.push(id);
                }
                let ids: Vec<i64> = items
                    .iter()
                    .map(|item| {
                        let i = groups.iter().position(|(d, _)| *d == item.doc).unwrap_or(0);
                        doc_ids[i]
                    })
                    .collect();
                let rows = Self::insert_updates(&mut tx, &ids, items, now).await?;
                tx.commit().await?;
                let mut last = vec![0i64; groups.len()];
                for (id, seq) in rows {
                    if let Some(i) = doc_ids.iter().position(|d| *d == id) {
                        last[i] = last[i].max(seq);
                    }
                }
                Ok(groups
                    .into_iter()
                    .zip(last)
                    .map(|((doc, _), last_seq)| $crate::Appended {
                        doc: doc.to_string(),
                        last_seq,
                    })
                    .collect())
            }

            async fn compact(
                &self,
                doc: &str,
                snapshot: &$crate::Snapshot,
            ) -> $crate::Result<$crate::CompactStats> {
                use sqlx::Row;
                use $crate::store::sql;
                let now = chrono::Utc::now();
                let mut tx = self.writes.begin().await?;
                let id: i64 = sqlx::query_scalar(sql::DOCUMENT_ID)
                    .bind(doc)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let removed = sqlx::query(sql::DELETE_COVERED)
                    .bind(id)
                    .bind(snapshot.upto_seq)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut stats = $crate::CompactStats::default();
                for row in &removed {
                    stats.updates_removed += 1;
                    stats.bytes_removed += row.try_get::<i64, _>("bytes")?;
                }
                sqlx::query(sql::SAVE_SNAPSHOT)
                    .bind(id)
                    .bind(&snapshot.state)
                    .bind(&snapshot.state_vector)
                    .bind(snapshot.upto_seq)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(sql::RECOUNT_SIZE)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(stats)
            }

            async fn create_titled(
                &self,
                doc: &str,
                title: &str,
            ) -> $crate::Result<$crate::DocumentInfo> {
                let row = sqlx::query($crate::store::sql::CREATE_DOCUMENT)
                    .bind(doc)
                    .bind(title)
                    .bind(chrono::Utc::now())
                    .fetch_optional(&self.writes)
                    .await?;
                match row {
                    Some(row) => document_info(&row),
                    None => Err($crate::StoreError::AlreadyExists(doc.to_string())),
                }
            }

            async fn set_title(
                &self,
                doc: &str,
                title: &str,
            ) -> $crate::Result<$crate::DocumentInfo> {
                let row = sqlx::query($crate::store::sql::SET_TITLE)
                    .bind(doc)
                    .bind(title)
                    .bind(chrono::Utc::now())
                    .fetch_one(&self.writes)
                    .await?;
                document_info(&row)
            }

            async fn document(&self, doc: &str) -> $crate::Result<Option<$crate::DocumentInfo>> {
                let row = sqlx::query($crate::store::sql::DOCUMENT)
                    .bind(doc)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(document_info).transpose()
            }

            async fn list_documents(&self) -> $crate::Result<Vec<$crate::DocumentInfo>> {
                let rows = sqlx::query($crate::store::sql::LIST_DOCUMENTS)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(document_info).collect()
            }

            async fn delete_document(&self, doc: &str) -> $crate::Result<bool> {
                let done = sqlx::query($crate::store::sql::DELETE_DOCUMENT)
                    .bind(doc)
                    .execute(&self.writes)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_version(
                &self,
                doc: &str,
                version: &$crate::NewVersion,
            ) -> $crate::Result<$crate::VersionInfo> {
                use $crate::store::sql;
                let now = chrono::Utc::now();
                let mut tx = self.writes.begin().await?;
                let id: i64 = sqlx::query_scalar(sql::DOCUMENT_ID)
                    .bind(doc)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let row = sqlx::query(sql::CREATE_VERSION)
                    .bind(id)
                    .bind(version.kind.as_str())
                    .bind(&version.label)
                    .bind(&version.state)
                    .bind(&version.state_vector)
                    .bind(&version.text)
                    .bind(version.state.len() as i64)
                    .bind(now)
                    .bind($crate::store::authors_json(&version.authors))
                    .fetch_one(&mut *tx)
                    .await?;
                let info = version_info(&row)?;
                tx.commit().await?;
                Ok(info)
            }

            async fn list_versions(&self, doc: &str) -> $crate::Result<Vec<$crate::VersionInfo>> {
                let rows = sqlx::query($crate::store::sql::LIST_VERSIONS)
                    .bind(doc)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(version_info).collect()
            }

            async fn version(
                &self,
                doc: &str,
                version: i64,
            ) -> $crate::Result<Option<$crate::Version>> {
                use sqlx::Row;
                let row = sqlx::query($crate::store::sql::VERSION)
                    .bind(doc)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(row) => Ok(Some($crate::Version {
                        info: version_info(&row)?,
                        text: row.try_get("text")?,
                        state: row.try_get("state")?,
                    })),
                }
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }

        fn document_info(row: &$row) -> $crate::Result<$crate::DocumentInfo> {
            use sqlx::Row;
            Ok($crate::DocumentInfo {
                name: row.try_get("name")?,
                title: row.try_get("title")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                size_bytes: row.try_get("size_bytes")?,
            })
        }

        fn version_info(row: &$row) -> $crate::Result<$crate::VersionInfo> {
            use sqlx::Row;
            Ok($crate::VersionInfo {
                version: row.try_get("version")?,
                created_at: row.try_get("created_at")?,
                // The CHECK constraint only admits the three known kinds.
                kind: $crate::VersionKind::parse(&row.try_get::<String, _>("kind")?)
                    .unwrap_or($crate::VersionKind::Auto),
                label: row.try_get("label")?,
                size_bytes: row.try_get("size_bytes")?,
                text_length: row.try_get("text_length")?,
                authors: $crate::store::parse_authors(&row.try_get::<String, _>("authors")?),
            })
        }
    };
}

pub(super) use impl_store;
