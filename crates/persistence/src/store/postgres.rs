//! PostgreSQL backend: what docker-compose runs.
//!
//! Appends go in as one `INSERT ... SELECT FROM UNNEST(...)` per batch so a group commit
//! costs one round trip however many updates it carries. The statements it shares with
//! SQLite are in [`super::sql`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{
    postgres::{PgPoolOptions, PgRow},
    PgConnection, PgPool, Row,
};

use super::sql::impl_store;
use crate::{AppendItem, Durability, Result};

pub struct PostgresStore {
    pool: PgPool,
    /// The same pool: PostgreSQL takes concurrent writers.
    writes: PgPool,
    durability: Durability,
}

impl PostgresStore {
    /// Appends the server may have in flight at once (on different documents), out of the
    /// pool's 8 connections: one slow transaction then no longer holds up every document.
    const CONCURRENT_APPENDS: usize = 2;

    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, Durability::default()).await
    }

    pub async fn open_with(url: &str, durability: Durability) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await?;
        Ok(PostgresStore {
            writes: pool.clone(),
            pool,
            durability,
        })
    }

    async fn begin_append(&self, tx: &mut PgConnection) -> Result<()> {
        if self.durability == Durability::Process {
            // Return before the WAL flush: the commit is then safe from a crash of Tandem
            // (the database server has it) but not from a crash of the database server.
            // Only appends: compaction, versions and deletes keep the server's setting.
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    /// Snapshot and log must come from the same instant, or a compaction committed between
    /// the two reads could hide updates from us.
    async fn begin_load(tx: &mut PgConnection) -> Result<()> {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    async fn insert_updates(
        tx: &mut PgConnection,
        doc_ids: &[i64],
        items: &[AppendItem],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, i64)>> {
        let data: Vec<&[u8]> = items.iter().map(|item| item.data.as_slice()).collect();
        let rows = sqlx::query(
            "INSERT INTO updates (document_id, data, created_at)
             SELECT d, u, $3 FROM UNNEST($1::bigint[], $2::bytea[]) AS t(d, u)
             RETURNING document_id, seq",
        )
        .bind(doc_ids)
        .bind(&data)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("document_id")?, row.try_get("seq")?)))
            .collect()
    }
}

impl_store!(PostgresStore, PgRow, "postgres");
