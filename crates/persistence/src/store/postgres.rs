//! PostgreSQL backend: what docker-compose runs.
//!
//! A group commit is one statement, so one round trip, however many documents and updates
//! it carries (`append.rs`), on a connection of its own (`lanes.rs`). The statements it
//! shares with SQLite are in [`super::sql`].

use std::time::Duration;

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
    PgConnection, PgPool, Row,
};

use super::{
    impl_links::impl_links, impl_store::impl_store, impl_webhooks::impl_webhooks, webhook_sql,
    LockKind,
};
use crate::{migrations, AppendItem, Appended, Durability, Result};

mod append;
mod lanes;

pub struct PostgresStore {
    pool: PgPool,
    /// The same pool: PostgreSQL takes concurrent writers.
    writes: PgPool,
    /// The appends' own connections.
    lanes: lanes::Lanes,
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
        migrations::POSTGRES.migrator().await?.run(&pool).await?;
        let options: PgConnectOptions = url.parse()?;
        let store = PostgresStore {
            writes: pool.clone(),
            pool,
            lanes: lanes::Lanes::new(options, Self::CONCURRENT_APPENDS),
            durability,
        };
        if durability == Durability::Process {
            store.lanes.warm(append::APPEND_PROCESS).await;
        }
        Ok(store)
    }

    /// A write transaction: PostgreSQL takes row locks as it goes.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.writes.begin().await?)
    }

    /// Appends are one statement each (`append.rs`).
    async fn append_batch(&self, items: &[AppendItem]) -> Result<Vec<Appended>> {
        self.append_items(items).await
    }

    /// An append's transaction, when it cannot be one statement (`append.rs`). At the
    /// `process` level its commit returns before the WAL flush: safe from a crash of Tandem
    /// (the database server has it) but not from a crash of the database server. Only
    /// appends: compaction, versions and deletes keep the server's setting. The setting
    /// rides in the `BEGIN` round trip.
    async fn begin_append(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(match self.durability {
            Durability::Process => {
                self.writes
                    .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                    .await?
            }
            Durability::Disk => self.writes.begin().await?,
        })
    }

    /// Snapshot and log must come from the same instant, or a compaction committed between
    /// the two reads could hide updates from us.
    async fn begin_load(tx: &mut PgConnection) -> Result<()> {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

impl PostgresStore {
    async fn read_last_seqs(pool: &PgPool, docs: &[String]) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT name, last_seq FROM documents WHERE name = ANY($1)")
            .bind(docs)
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("name")?, row.try_get("last_seq")?)))
            .collect()
    }

    /// `false` if another transaction holds the lock: the caller skips the work.
    async fn try_lock(tx: &mut PgConnection, kind: LockKind, doc_id: i64) -> Result<bool> {
        // The two-key form keeps these apart from any other advisory lock user; a document
        // id past 2^31 shares a key with another document, which only skips work sometimes.
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
            .bind(kind as i32)
            .bind(doc_id as i32)
            .fetch_one(&mut *tx)
            .await?;
        Ok(locked)
    }
}

impl PostgresStore {
    /// How long a feed read waits for the transactions that might still commit a position
    /// below its horizon before it answers "nothing yet".
    const SETTLE_FOR: Duration = Duration::from_secs(2);

    /// The change feed's horizon (see `crate::feed`): the identity sequence's value, read
    /// before a list of the write transactions then in flight in this database, which are
    /// then waited for. An append takes its positions after it has written (and so holds a
    /// transaction id): any position at or below the value read belongs to a transaction
    /// that has committed, aborted, or is in that list. Once none of those is in progress,
    /// no row at or below the value can appear any more. Only this database's transactions
    /// count (`pg_stat_activity`), so a long transaction elsewhere on the server does not
    /// hold the feed back. Adds nothing to the commit of an append.
    async fn feed_horizon(&self) -> Result<Option<i64>> {
        let mut conn = self.pool.acquire().await?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM updates_seq_seq",
        )
        .fetch_one(&mut *conn)
        .await?;
        // A separate statement, so it looks after the sequence was read. A transaction is
        // its backend and its id: once that pair is gone from the list, it has ended (and
        // a new snapshot sees its rows).
        let (mut pids, mut xids): (Vec<i32>, Vec<i64>) = sqlx::query_as(
            "SELECT COALESCE(array_agg(pid), '{}'), COALESCE(array_agg(backend_xid::text::bigint), '{}')
             FROM pg_stat_activity
             WHERE datname = current_database() AND backend_xid IS NOT NULL
               AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *conn)
        .await?;
        let deadline = tokio::time::Instant::now() + Self::SETTLE_FOR;
        while !pids.is_empty() {
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            (pids, xids) = sqlx::query_as(
                "SELECT COALESCE(array_agg(a.pid), '{}'), COALESCE(array_agg(p.xid), '{}')
                 FROM pg_stat_activity a
                 JOIN unnest($1::int[], $2::bigint[]) AS p(pid, xid)
                   ON a.pid = p.pid AND a.backend_xid::text::bigint = p.xid",
            )
            .bind(&pids)
            .bind(&xids)
            .fetch_one(&mut *conn)
            .await?;
        }
        Ok(Some(seq))
    }
}

impl_store!(PostgresStore, PgRow, PgConnection, "postgres");
impl_webhooks!(PostgresStore, PgRow, PgConnection);
impl_links!(PostgresStore, PgRow);
