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

/// The state vector of a document's latest version, to skip an automatic version that
/// would repeat it.
pub(super) const LATEST_VERSION_SV: &str =
    "SELECT state_vector, text FROM versions WHERE document_id = $1
     ORDER BY version DESC LIMIT 1";

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
                self.read_doc(doc, 0).await
            }

            async fn load_since(
                &self,
                doc: &str,
                after_seq: i64,
            ) -> $crate::Result<Option<$crate::StoredDoc>> {
                self.read_doc(doc, after_seq).await
            }

            async fn last_seqs(&self, docs: &[String]) -> $crate::Result<Vec<(String, i64)>> {
                Self::read_last_seqs(&self.pool, docs).await
            }

            async fn append(
                &self,
                items: &[$crate::AppendItem],
            ) -> $crate::Result<Vec<$crate::Appended>> {
                use sqlx::Row;
                use $crate::store::sql;
                if items.is_empty() {
                    return Ok(Vec::new());
                }
                let now = chrono::Utc::now();
                let groups = $crate::store::group_by_doc(items);
                let mut tx = self.writes.begin().await?;
                self.begin_append(&mut tx).await?;
                // Rows are locked in name order: two writers' batches over the same
                // documents then queue instead of deadlocking.
                let mut order: Vec<usize> = (0..groups.len()).collect();
                order.sort_by(|a, b| groups[*a].doc.cmp(groups[*b].doc));
                // (id, last_seq before) per group; `None`: deleted meanwhile.
                let mut heads: Vec<Option<(i64, i64)>> = vec![None; groups.len()];
                for i in order {
                    let g = &groups[i];
                    let row = match g.doc_id {
                        Some(id) => {
                            sqlx::query(sql::TOUCH_KNOWN)
                                .bind(id)
                                .bind(now)
                                .bind(g.bytes)
                                .fetch_optional(&mut *tx)
                                .await?
                        }
                        None => Some(
                            sqlx::query(sql::TOUCH_DOCUMENT)
                                .bind(g.doc)
                                .bind(now)
                                .bind(g.bytes)
                                .fetch_one(&mut *tx)
                                .await?,
                        ),
                    };
                    heads[i] = match row {
                        Some(row) => Some((row.try_get("id")?, row.try_get("last_seq")?)),
                        None => None,
                    };
                }
                let mut ids = Vec::with_capacity(items.len());
                let mut data = Vec::with_capacity(items.len());
                for item in items {
                    let g = groups.iter().position(|g| g.doc == item.doc).unwrap_or(0);
                    if let Some((id, _)) = heads[g] {
                        ids.push(id);
                        data.push(item.data.as_slice());
                    }
                }
                let rows = Self::insert_updates(&mut tx, &ids, &data, now).await?;
                let mut last: Vec<i64> = heads.iter().map(|h| h.map_or(0, |h| h.1)).collect();
                for (id, seq) in rows {
                    if let Some(i) = heads.iter().position(|h| h.is_some_and(|h| h.0 == id)) {
                        last[i] = last[i].max(seq);
                    }
                }
                let moved: Vec<(i64, i64)> = heads
                    .iter()
                    .zip(&last)
                    .filter_map(|(h, last)| h.map(|(id, _)| (id, *last)))
                    .collect();
                Self::set_last_seqs(&mut tx, &moved).await?;
                tx.commit().await?;
                Ok(groups
                    .into_iter()
                    .zip(heads)
                    .zip(last)
                    .map(|((g, head), last_seq)| $crate::Appended {
                        doc: g.doc.to_string(),
                        id: head.map_or(0, |h| h.0),
                        prev_seq: head.map_or(0, |h| h.1),
                        last_seq,
                        gone: head.is_none(),
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
                let mut stats = $crate::CompactStats::default();
                let mut tx = self.writes.begin().await?;
                let Some(id) = sqlx::query_scalar::<_, i64>(sql::LOCK_DOCUMENT)
                    .bind(doc)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    stats.skipped = true;
                    return Ok(stats);
                };
                if !Self::try_lock(&mut tx, $crate::store::LockKind::Compaction, id).await? {
                    stats.skipped = true;
                    return Ok(stats);
                }
                let removed = sqlx::query(sql::DELETE_COVERED)
                    .bind(id)
                    .bind(snapshot.upto_seq)
                    .fetch_all(&mut *tx)
                    .await?;
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

            async fn create_auto_version(
                &self,
                doc: &str,
                version: &$crate::NewVersion,
                unchanged: &(dyn for<'s> Fn(&'s [u8], &'s str) -> bool + Send + Sync),
            ) -> $crate::Result<Option<$crate::VersionInfo>> {
                use $crate::store::sql;
                let now = chrono::Utc::now();
                let mut tx = self.writes.begin().await?;
                let Some(id) = sqlx::query_scalar::<_, i64>(sql::LOCK_DOCUMENT)
                    .bind(doc)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                if !Self::try_lock(&mut tx, $crate::store::LockKind::Versions, id).await? {
                    return Ok(None);
                }
                let latest = sqlx::query(sql::LATEST_VERSION_SV)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = latest {
                    use sqlx::Row;
                    let sv: Vec<u8> = row.try_get("state_vector")?;
                    let text: String = row.try_get("text")?;
                    if unchanged(&sv, &text) {
                        return Ok(None);
                    }
                }
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
                Ok(Some(info))
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

        impl $store {
            /// Snapshot plus log after `after_seq`, read at one instant. The snapshot is
            /// left out when it covers nothing past `after_seq` (a reader that has applied
            /// up to there needs only the newer rows); when compaction has already deleted
            /// rows the reader lacks, the snapshot comes with the rows after it.
            async fn read_doc(
                &self,
                doc: &str,
                after_seq: i64,
            ) -> $crate::Result<Option<$crate::StoredDoc>> {
                use sqlx::Row;
                use $crate::store::sql;
                let mut tx = self.pool.begin().await?;
                Self::begin_load(&mut tx).await?;
                let Some(found) = sqlx::query(sql::FIND_DOCUMENT)
                    .bind(doc)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                let id: i64 = found.try_get("id")?;
                let head: i64 = found.try_get("last_seq")?;
                let snapshot = sqlx::query(sql::LOAD_SNAPSHOT)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (snapshot, upto) = match snapshot {
                    Some(row) => {
                        let upto: i64 = row.try_get("upto_seq")?;
                        if upto > after_seq {
                            (Some(row.try_get::<Vec<u8>, _>("state")?), upto)
                        } else {
                            (None, after_seq)
                        }
                    }
                    None => (None, after_seq),
                };
                let rows = sqlx::query(sql::LOAD_UPDATES)
                    .bind(id)
                    .bind(upto)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut last_seq = upto.max(head);
                let mut updates = Vec::with_capacity(rows.len());
                for row in rows {
                    last_seq = last_seq.max(row.try_get("seq")?);
                    updates.push(row.try_get("data")?);
                }
                Ok(Some($crate::StoredDoc {
                    id,
                    snapshot,
                    updates,
                    last_seq,
                }))
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
