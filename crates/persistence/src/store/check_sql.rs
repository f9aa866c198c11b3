//! The statements of `tandem check` and of version retention, and the methods running
//! them, written once for both drivers like `log_sql.rs`; `impl_store!` calls this.

/// Every log row after the snapshot, with its sequence number.
pub(super) const LOG_ROWS: &str =
    "SELECT seq, data FROM updates WHERE document_id = $1 AND seq > $2 ORDER BY seq";

pub(super) const COVERED_ROWS: &str =
    "SELECT COUNT(*) FROM updates WHERE document_id = $1 AND seq <= $2";

pub(super) const SNAPSHOT_ROW: &str =
    "SELECT state, state_vector, upto_seq FROM snapshots WHERE document_id = $1";

pub(super) const DOCUMENT_ROW: &str =
    "SELECT id, last_seq, size_bytes FROM documents WHERE name = $1";

pub(super) const RAISE_LAST_SEQ: &str =
    "UPDATE documents SET last_seq = $2 WHERE id = $1 AND last_seq < $2";

pub(super) const SET_SNAPSHOT_SV: &str =
    "UPDATE snapshots SET state_vector = $3 WHERE document_id = $1 AND upto_seq = $2";

pub(super) const SET_VERSION_DERIVED: &str =
    "UPDATE versions SET state_vector = $3, text = $4 WHERE document_id = $1 AND version = $2";

/// Automatic versions past the newest `$2` automatic ones of their document, except the
/// document's latest version. `$1`: one document's id, or 0 for every document.
pub(super) const PRUNE_BY_COUNT: &str = "DELETE FROM versions
     WHERE kind = 'auto' AND ($1 = 0 OR document_id = $1)
       AND version < (SELECT MAX(l.version) FROM versions l
                      WHERE l.document_id = versions.document_id)
       AND (SELECT COUNT(*) FROM versions n
            WHERE n.document_id = versions.document_id AND n.kind = 'auto'
              AND n.version > versions.version) >= $2";

/// Automatic versions made before `$2`, except each document's latest version.
pub(super) const PRUNE_BY_AGE: &str = "DELETE FROM versions
     WHERE kind = 'auto' AND ($1 = 0 OR document_id = $1) AND created_at < $2
       AND version < (SELECT MAX(l.version) FROM versions l
                      WHERE l.document_id = versions.document_id)";

/// Adds `read_log_rows`, `apply_repair` and `prune_auto_versions` to a backend type.
macro_rules! impl_check {
    ($store:ty) => {
        impl $store {
            /// The document's rows, read at one instant (one short read transaction, so a
            /// live server's writers are not held up: WAL readers and MVCC snapshots).
            async fn read_log_rows(&self, doc: &str) -> $crate::Result<Option<$crate::LogRows>> {
                use sqlx::Row;
                use $crate::store::check_sql as q;
                let mut tx = self.pool.begin().await?;
                Self::begin_load(&mut tx).await?;
                let Some(found) = sqlx::query(q::DOCUMENT_ROW)
                    .bind(doc)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                let id: i64 = found.try_get("id")?;
                let snapshot = match sqlx::query(q::SNAPSHOT_ROW)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                {
                    Some(row) => Some($crate::SnapshotRow {
                        state: row.try_get("state")?,
                        state_vector: row.try_get("state_vector")?,
                        upto_seq: row.try_get("upto_seq")?,
                    }),
                    None => None,
                };
                let upto = snapshot.as_ref().map_or(0, |s| s.upto_seq);
                let covered_rows: i64 = sqlx::query_scalar(q::COVERED_ROWS)
                    .bind(id)
                    .bind(upto)
                    .fetch_one(&mut *tx)
                    .await?;
                let rows = sqlx::query(q::LOG_ROWS)
                    .bind(id)
                    .bind(upto)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut updates = Vec::with_capacity(rows.len());
                for row in rows {
                    updates.push((row.try_get("seq")?, row.try_get("data")?));
                }
                Ok(Some($crate::LogRows {
                    id,
                    last_seq: found.try_get("last_seq")?,
                    size_bytes: found.try_get("size_bytes")?,
                    snapshot,
                    updates,
                    covered_rows,
                }))
            }

            /// One repair in its own short write transaction; false if the document (or
            /// the row the repair was computed from) is gone or has changed meanwhile.
            async fn apply_repair(
                &self,
                doc: &str,
                repair: &$crate::Repair,
            ) -> $crate::Result<bool> {
                use $crate::store::{check_sql as q, sql};
                use $crate::Repair;
                let mut tx = self.begin_write().await?;
                let Some(id) = sqlx::query_scalar::<_, i64>(sql::LOCK_DOCUMENT)
                    .bind(doc)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(false);
                };
                let done = match repair {
                    Repair::RaiseLastSeq(seq) => {
                        sqlx::query(q::RAISE_LAST_SEQ)
                            .bind(id)
                            .bind(*seq)
                            .execute(&mut *tx)
                            .await?
                    }
                    Repair::RecountSize => {
                        sqlx::query(sql::RECOUNT_SIZE)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?
                    }
                    Repair::SnapshotStateVector {
                        upto_seq,
                        state_vector,
                    } => {
                        sqlx::query(q::SET_SNAPSHOT_SV)
                            .bind(id)
                            .bind(*upto_seq)
                            .bind(state_vector)
                            .execute(&mut *tx)
                            .await?
                    }
                    Repair::VersionDerived {
                        version,
                        state_vector,
                        text,
                    } => {
                        sqlx::query(q::SET_VERSION_DERIVED)
                            .bind(id)
                            .bind(*version)
                            .bind(state_vector)
                            .bind(text)
                            .execute(&mut *tx)
                            .await?
                    }
                };
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            /// Deletes the automatic versions `keep` lets go, of one document or of all.
            async fn prune_auto_versions(
                &self,
                doc: Option<&str>,
                keep: &$crate::VersionRetention,
            ) -> $crate::Result<u64> {
                use $crate::store::{check_sql as q, sql};
                if !keep.prunes() {
                    return Ok(0);
                }
                let mut tx = self.begin_write().await?;
                let id = match doc {
                    Some(doc) => {
                        // The document row's lock orders this after a version being
                        // numbered for it (PostgreSQL), so the latest is seen.
                        match sqlx::query_scalar::<_, i64>(sql::LOCK_DOCUMENT)
                            .bind(doc)
                            .fetch_optional(&mut *tx)
                            .await?
                        {
                            Some(id) => id,
                            None => return Ok(0),
                        }
                    }
                    None => 0,
                };
                let mut removed = 0;
                if keep.keep_count > 0 {
                    removed += sqlx::query(q::PRUNE_BY_COUNT)
                        .bind(id)
                        .bind(keep.keep_count as i64)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                if let Some(before) = keep.older_than {
                    removed += sqlx::query(q::PRUNE_BY_AGE)
                        .bind(id)
                        .bind(before)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(removed)
            }
        }
    };
}

pub(super) use impl_check;
