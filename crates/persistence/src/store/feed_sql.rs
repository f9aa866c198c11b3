//! The change feed's half of the store's SQL (see `crate::feed`): pages of committed
//! changes below the backend's horizon, and a document's state at a position. Written once
//! for both drivers, like `log_sql.rs`; `impl_store!` calls this.

/// Changes of one document (`$3` its name) in `($1, $2]`, oldest first, at most `$4`.
pub(super) const CHANGES_OF_DOC: &str =
    "SELECT u.seq, u.document_id, d.name, u.created_at, u.data, u.author
     FROM updates u JOIN documents d ON d.id = u.document_id
     WHERE u.seq > $1 AND u.seq <= $2
       AND u.document_id = (SELECT id FROM documents WHERE name = $3)
     ORDER BY u.seq LIMIT $4";

/// Changes of the documents whose name starts with `$3` (all of them for "").
pub(super) const CHANGES_UNDER_PREFIX: &str =
    "SELECT u.seq, u.document_id, d.name, u.created_at, u.data, u.author
     FROM updates u JOIN documents d ON d.id = u.document_id
     WHERE u.seq > $1 AND u.seq <= $2 AND substr(d.name, 1, length($3)) = $3
     ORDER BY u.seq LIMIT $4";

pub(super) const COMPACTED_DOC: &str = "SELECT d.name, s.document_id, s.upto_seq, s.created_at
     FROM snapshots s JOIN documents d ON d.id = s.document_id
     WHERE s.upto_seq > $1 AND s.upto_seq <= $2 AND d.name = $3";

pub(super) const COMPACTED_UNDER_PREFIX: &str =
    "SELECT d.name, s.document_id, s.upto_seq, s.created_at
     FROM snapshots s JOIN documents d ON d.id = s.document_id
     WHERE s.upto_seq > $1 AND s.upto_seq <= $2 AND substr(d.name, 1, length($3)) = $3";

/// A document's log rows in `($2, $3]` (its snapshot covers up to `$2`).
pub(super) const UPDATES_BETWEEN: &str =
    "SELECT seq, data FROM updates WHERE document_id = $1 AND seq > $2 AND seq <= $3
     ORDER BY seq";

/// The names that wrote a document's rows in `($2, $3]`, each once, sorted.
pub(super) const AUTHORS_BETWEEN: &str = "SELECT DISTINCT author FROM updates
     WHERE document_id = $1 AND seq > $2 AND seq <= $3 AND author IS NOT NULL
     ORDER BY author";

/// Adds `read_changes` and `read_until` to a backend type that has `feed_horizon`.
macro_rules! impl_feed {
    ($store:ty) => {
        impl $store {
            /// See [`Store::changes_after`](crate::Store::changes_after).
            async fn read_changes(
                &self,
                after: i64,
                filter: &$crate::FeedFilter,
                limit: usize,
            ) -> $crate::Result<$crate::ChangePage> {
                use sqlx::Row;
                use $crate::store::feed_sql as q;
                use $crate::{ChangeRow, Compacted, FeedFilter, FeedItem};
                // Before the read's snapshot, so that snapshot sees every row below it.
                // `None`: writers still in flight kept the horizon from settling.
                let Some(horizon) = self.feed_horizon().await? else {
                    return Ok($crate::ChangePage {
                        items: Vec::new(),
                        next: after,
                    });
                };
                if horizon <= after {
                    return Ok($crate::ChangePage {
                        items: Vec::new(),
                        next: after,
                    });
                }
                let limit = limit.clamp(1, 10_000);
                let mut tx = self.pool.begin().await?;
                Self::begin_load(&mut tx).await?;
                let (changes_sql, compacted_sql, key) = match filter {
                    FeedFilter::Doc(name) => (q::CHANGES_OF_DOC, q::COMPACTED_DOC, name.as_str()),
                    FeedFilter::Prefix(p) => (
                        q::CHANGES_UNDER_PREFIX,
                        q::COMPACTED_UNDER_PREFIX,
                        p.as_str(),
                    ),
                    FeedFilter::All => (q::CHANGES_UNDER_PREFIX, q::COMPACTED_UNDER_PREFIX, ""),
                };
                let rows = sqlx::query(changes_sql)
                    .bind(after)
                    .bind(horizon)
                    .bind(key)
                    .bind(limit as i64)
                    .fetch_all(&mut *tx)
                    .await?;
                let full = rows.len() == limit;
                let mut items = Vec::with_capacity(rows.len());
                for row in rows {
                    items.push(FeedItem::Change(ChangeRow {
                        doc: row.try_get("name")?,
                        doc_id: row.try_get("document_id")?,
                        position: row.try_get("seq")?,
                        at: row.try_get("created_at")?,
                        data: row.try_get("data")?,
                        author: row.try_get("author")?,
                    }));
                }
                // A full page ends at its last change; the rest starts there next time.
                let next = match items.last() {
                    Some(last) if full => last.position(),
                    _ => horizon,
                };
                let compacted = sqlx::query(compacted_sql)
                    .bind(after)
                    .bind(next)
                    .bind(key)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                for row in compacted {
                    items.push(FeedItem::Compacted(Compacted {
                        doc: row.try_get("name")?,
                        doc_id: row.try_get("document_id")?,
                        upto: row.try_get("upto_seq")?,
                        at: row.try_get("created_at")?,
                    }));
                }
                // A compaction sorts before the changes that follow it at its position.
                items.sort_by_key(|item| (item.position(), matches!(item, FeedItem::Change(_))));
                Ok($crate::ChangePage { items, next })
            }

            /// See [`Store::change_authors`](crate::Store::change_authors).
            async fn read_authors(
                &self,
                doc_id: i64,
                after: i64,
                upto: i64,
            ) -> $crate::Result<Vec<String>> {
                Ok(sqlx::query_scalar($crate::store::feed_sql::AUTHORS_BETWEEN)
                    .bind(doc_id)
                    .bind(after)
                    .bind(upto)
                    .fetch_all(&self.pool)
                    .await?)
            }

            /// See [`Store::load_until`](crate::Store::load_until).
            async fn read_until(
                &self,
                doc: &str,
                upto: i64,
            ) -> $crate::Result<Option<$crate::StoredDoc>> {
                use sqlx::Row;
                use $crate::store::{feed_sql as q, sql};
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
                let snapshot = sqlx::query(sql::LOAD_SNAPSHOT)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (snapshot, covered) = match snapshot {
                    Some(row) => (
                        Some(row.try_get::<Vec<u8>, _>("state")?),
                        row.try_get::<i64, _>("upto_seq")?,
                    ),
                    None => (None, 0),
                };
                let rows = sqlx::query(q::UPDATES_BETWEEN)
                    .bind(id)
                    .bind(covered)
                    .bind(upto)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let updates = rows
                    .iter()
                    .map(|row| row.try_get("data"))
                    .collect::<Result<Vec<Vec<u8>>, _>>()?;
                Ok(Some($crate::StoredDoc {
                    id,
                    snapshot,
                    updates,
                    last_seq: upto.max(covered),
                }))
            }
        }
    };
}

pub(super) use impl_feed;
