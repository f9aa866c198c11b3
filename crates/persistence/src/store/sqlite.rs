//! SQLite backend: the embedded default, one file in the data directory.
//!
//! WAL mode with `synchronous = FULL`: a committed append is on disk before the server
//! relays it, which is what the durability promise in the README rests on. The statements
//! it shares with PostgreSQL are in [`super::sql`].

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::{
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
    Row, Sqlite, SqliteConnection, SqlitePool,
};

use super::sql::impl_store;
use crate::{AppendItem, Result};

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

    /// A SQLite transaction already reads one instant (one writer, WAL snapshots).
    async fn begin_load(_tx: &mut SqliteConnection) -> Result<()> {
        Ok(())
    }

    /// One multi-row insert per chunk: with sqlx's SQLite worker every statement is a
    /// thread hop, so a commit costs the same few hops however many keystrokes it carries.
    async fn insert_updates(
        tx: &mut SqliteConnection,
        doc_ids: &[i64],
        items: &[AppendItem],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, i64)>> {
        let mut out = Vec::with_capacity(items.len());
        // 3 parameters a row stays far below SQLite's variable limit.
        for (chunk, ids) in items.chunks(500).zip(doc_ids.chunks(500)) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO updates (document_id, data, created_at) ",
            );
            insert.push_values(chunk.iter().zip(ids), |mut row, (item, id)| {
                row.push_bind(*id).push_bind(&item.data).push_bind(now);
            });
            insert.push(" RETURNING document_id, seq");
            for row in insert.build().fetch_all(&mut *tx).await? {
                out.push((row.try_get("document_id")?, row.try_get("seq")?));
            }
        }
        Ok(out)
    }
}

impl_store!(SqliteStore, SqliteRow, "sqlite");
