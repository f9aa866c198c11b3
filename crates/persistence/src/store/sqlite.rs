//! SQLite backend: the embedded default, one file in the data directory.
//!
//! WAL mode with `synchronous = FULL`: a committed append is on disk before the server
//! relays it, which is what the durability promise in the README rests on.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Row, SqlitePool,
};

use super::{group_by_doc, version_info, Store};
use crate::{
    AppendItem, Appended, CompactStats, DocumentInfo, NewVersion, Result, Snapshot, StoreError,
    StoredDoc, Version, VersionInfo,
};

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../../migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    async fn document_id(
        conn: &mut sqlx::SqliteConnection,
        doc: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        // Only appends move `updated_at` (the document list's "last edited"); compaction and
        // versions still need the row (and, on PostgreSQL, its lock), so they update it to
        // itself.
        let id: i64 = sqlx::query_scalar(LOOKUP_SQL)
            .bind(doc)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
        Ok(id)
    }
}

const LOOKUP_SQL: &str = "INSERT INTO documents (name, created_at, updated_at) VALUES (?1, ?2, ?2)
     ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id";

fn document_info(row: &sqlx::sqlite::SqliteRow) -> Result<DocumentInfo> {
    Ok(DocumentInfo {
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        size_bytes: row.try_get("size_bytes")?,
    })
}

fn version_row(row: &sqlx::sqlite::SqliteRow) -> Result<VersionInfo> {
    Ok(version_info(
        row.try_get("version")?,
        row.try_get("created_at")?,
        row.try_get::<String, _>("kind")?.as_str(),
        row.try_get("label")?,
        row.try_get("size_bytes")?,
        row.try_get("text_length")?,
    ))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn load(&self, doc: &str) -> Result<Option<StoredDoc>> {
        let mut tx = self.pool.begin().await?;
        let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM documents WHERE name = ?1")
            .bind(doc)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let snapshot = sqlx::query("SELECT state, upto_seq FROM snapshots WHERE document_id = ?1")
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
        let rows = sqlx::query(
            "SELECT seq, data FROM updates WHERE document_id = ?1 AND seq > ?2 ORDER BY seq",
        )
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
        Ok(Some(StoredDoc {
            snapshot,
            updates,
            last_seq,
        }))
    }

    async fn append(&self, items: &[AppendItem]) -> Result<Vec<Appended>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let groups = group_by_doc(items);
        let mut tx = self.pool.begin().await?;
        // One statement per document (touch it, add the bytes) and one multi-row insert per
        // chunk: with sqlx's SQLite worker every statement is a thread hop, so a commit costs
        // the same few hops however many keystrokes it carries.
        let mut ids = Vec::with_capacity(groups.len());
        for (doc, bytes) in &groups {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO documents (name, created_at, updated_at, size_bytes) VALUES (?1, ?2, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at,
                     size_bytes = size_bytes + excluded.size_bytes
                 RETURNING id",
            )
            .bind(doc)
            .bind(now)
            .bind(bytes)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        let mut last = vec![0i64; groups.len()];
        let doc_index = |name: &str| groups.iter().position(|(d, _)| *d == name).unwrap_or(0);
        // 3 parameters a row stays far below SQLite's variable limit.
        for chunk in items.chunks(500) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO updates (document_id, data, created_at) ",
            );
            insert.push_values(chunk, |mut row, item| {
                row.push_bind(ids[doc_index(&item.doc)])
                    .push_bind(&item.data)
                    .push_bind(now);
            });
            insert.push(" RETURNING document_id, seq");
            for row in insert.build().fetch_all(&mut *tx).await? {
                let id: i64 = row.try_get("document_id")?;
                let seq: i64 = row.try_get("seq")?;
                if let Some(i) = ids.iter().position(|d| *d == id) {
                    last[i] = last[i].max(seq);
                }
            }
        }
        tx.commit().await?;
        Ok(groups
            .into_iter()
            .zip(last)
            .map(|((doc, _), last_seq)| Appended {
                doc: doc.to_string(),
                last_seq,
            })
            .collect())
    }

    async fn compact(&self, doc: &str, snapshot: &Snapshot) -> Result<CompactStats> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let id = Self::document_id(&mut tx, doc, now).await?;
        let removed = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(length(data)), 0) AS bytes
             FROM updates WHERE document_id = ?1 AND seq <= ?2",
        )
        .bind(id)
        .bind(snapshot.upto_seq)
        .fetch_one(&mut *tx)
        .await?;
        let stats = CompactStats {
            updates_removed: removed.try_get::<i64, _>("n")? as u64,
            bytes_removed: removed.try_get("bytes")?,
        };
        sqlx::query("DELETE FROM updates WHERE document_id = ?1 AND seq <= ?2")
            .bind(id)
            .bind(snapshot.upto_seq)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO snapshots (document_id, state, state_vector, upto_seq, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (document_id) DO UPDATE SET state = excluded.state,
                 state_vector = excluded.state_vector, upto_seq = excluded.upto_seq,
                 created_at = excluded.created_at
             WHERE excluded.upto_seq >= snapshots.upto_seq",
        )
        .bind(id)
        .bind(&snapshot.state)
        .bind(&snapshot.state_vector)
        .bind(snapshot.upto_seq)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE documents SET size_bytes =
                 (SELECT COALESCE(SUM(length(state)), 0) FROM snapshots WHERE document_id = ?1)
               + (SELECT COALESCE(SUM(length(data)), 0) FROM updates WHERE document_id = ?1)
             WHERE id = ?1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stats)
    }

    async fn create_document(&self, doc: &str) -> Result<DocumentInfo> {
        let now = Utc::now();
        let row = sqlx::query(
            "INSERT INTO documents (name, created_at, updated_at) VALUES (?1, ?2, ?2)
             ON CONFLICT (name) DO NOTHING
             RETURNING name, created_at, updated_at, size_bytes",
        )
        .bind(doc)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => document_info(&row),
            None => Err(StoreError::AlreadyExists(doc.to_string())),
        }
    }

    async fn document(&self, doc: &str) -> Result<Option<DocumentInfo>> {
        let row = sqlx::query(
            "SELECT name, created_at, updated_at, size_bytes FROM documents WHERE name = ?1",
        )
        .bind(doc)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(document_info).transpose()
    }

    async fn list_documents(&self) -> Result<Vec<DocumentInfo>> {
        let rows = sqlx::query(
            "SELECT name, created_at, updated_at, size_bytes FROM documents
             ORDER BY updated_at DESC, name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(document_info).collect()
    }

    async fn delete_document(&self, doc: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM documents WHERE name = ?1")
            .bind(doc)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_version(&self, doc: &str, version: &NewVersion) -> Result<VersionInfo> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let id = Self::document_id(&mut tx, doc, now).await?;
        // One statement picks the number and inserts, so two writers can't pick the same one.
        let row = sqlx::query(
            "INSERT INTO versions (document_id, version, kind, label, state, state_vector, text,
                                   size_bytes, created_at)
             SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
             FROM versions WHERE document_id = ?1
             RETURNING version, created_at, kind, label, size_bytes, length(text) AS text_length",
        )
        .bind(id)
        .bind(version.kind.as_str())
        .bind(&version.label)
        .bind(&version.state)
        .bind(&version.state_vector)
        .bind(&version.text)
        .bind(version.state.len() as i64)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let info = version_row(&row)?;
        tx.commit().await?;
        Ok(info)
    }

    async fn list_versions(&self, doc: &str) -> Result<Vec<VersionInfo>> {
        let rows = sqlx::query(
            "SELECT v.version, v.created_at, v.kind, v.label, v.size_bytes,
                    length(v.text) AS text_length
             FROM versions v JOIN documents d ON d.id = v.document_id
             WHERE d.name = ?1 ORDER BY v.version DESC",
        )
        .bind(doc)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_row).collect()
    }

    async fn version(&self, doc: &str, version: i64) -> Result<Option<Version>> {
        let row = sqlx::query(
            "SELECT v.version, v.created_at, v.kind, v.label, v.size_bytes,
                    length(v.text) AS text_length, v.text, v.state
             FROM versions v JOIN documents d ON d.id = v.document_id
             WHERE d.name = ?1 AND v.version = ?2",
        )
        .bind(doc)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(Version {
                info: version_row(&row)?,
                text: row.try_get("text")?,
                state: row.try_get("state")?,
            })),
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
