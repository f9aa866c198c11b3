//! The log half of the store's SQL, as methods of each backend: reading a document (whole
//! or past a sequence number), appending a group commit, and compacting. Written once for
//! both drivers, like `sql.rs`; `impl_store!` calls `impl_log!`, each backend `impl_append!`.

/// Adds `read_doc` and `compact_doc` to a backend type.
macro_rules! impl_log {
    ($store:ty) => {
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

            async fn compact_doc(
                &self,
                doc: &str,
                snapshot: &$crate::Snapshot,
            ) -> $crate::Result<$crate::CompactStats> {
                use sqlx::Row;
                use $crate::store::sql;
                let now = chrono::Utc::now();
                let mut stats = $crate::CompactStats::default();
                let mut tx = self.begin_write().await?;
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
        }
    };
}

/// Adds `append_in_steps` to a backend type: the group commit as a transaction of several
/// statements (begin, touch each document, insert, commit), returning each group's
/// `(id, last_seq before)` (`None`: deleted meanwhile) and its new `last_seq`, for
/// `store::appended`. SQLite's in-memory store commits this way (`append_items`);
/// PostgreSQL only when its one statement cannot (`postgres/append.rs`: a batch that
/// creates a document). The backend supplies `begin_append`, `insert_updates` and
/// `touch_known` (every known document in one statement, or `None` to touch each in turn).
macro_rules! impl_append {
    ($store:ty) => {
        impl $store {
            async fn append_in_steps(
                &self,
                items: &[$crate::AppendItem],
                groups: &[$crate::store::Group<'_>],
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<(Vec<Option<(i64, i64)>>, Vec<i64>)> {
                use sqlx::Row;
                use $crate::store::sql;
                let mut tx = self.begin_append().await?;
                // Rows are locked in name order: two writers' batches over the same
                // documents then queue instead of deadlocking.
                let mut order: Vec<usize> = (0..groups.len()).collect();
                order.sort_by(|a, b| groups[*a].doc.cmp(groups[*b].doc));
                // (id, last_seq before) per group; `None`: deleted meanwhile.
                let mut heads: Vec<Option<(i64, i64)>> = vec![None; groups.len()];
                let mut touched = vec![false; groups.len()];
                let known: Vec<(i64, i64)> = groups
                    .iter()
                    .filter_map(|g| g.doc_id.map(|id| (id, g.bytes)))
                    .collect();
                if let Some(found) = Self::touch_known(&mut tx, &known, now).await? {
                    for (i, g) in groups.iter().enumerate() {
                        if let Some(id) = g.doc_id {
                            touched[i] = true;
                            heads[i] = found.iter().find(|f| f.0 == id).copied();
                        }
                    }
                }
                for i in order {
                    if touched[i] {
                        continue;
                    }
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
                let mut authors = Vec::with_capacity(items.len());
                for item in items {
                    let g = groups.iter().position(|g| g.doc == item.doc).unwrap_or(0);
                    if let Some((id, _)) = heads[g] {
                        ids.push(id);
                        data.push(item.data.as_slice());
                        authors.push(item.author.as_deref());
                    }
                }
                let rows = Self::insert_updates(&mut tx, &ids, &data, &authors, now).await?;
                let mut last: Vec<i64> = heads.iter().map(|h| h.map_or(0, |h| h.1)).collect();
                for (id, seq) in rows {
                    if let Some(i) = heads.iter().position(|h| h.is_some_and(|h| h.0 == id)) {
                        last[i] = last[i].max(seq);
                    }
                }
                tx.commit().await?;
                Ok((heads, last))
            }
        }
    };
}

pub(super) use {impl_append, impl_log};
