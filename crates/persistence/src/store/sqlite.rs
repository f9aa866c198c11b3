//! SQLite backend: the embedded default, one file in the data directory.
//!
//! WAL mode. The durability level picks `synchronous`: `FULL` fsyncs the WAL on every
//! commit, `NORMAL` leaves a commit in the operating system's hands (it survives a crash
//! of the process, not of the machine). The statements it shares with PostgreSQL are in
//! [`super::sql`].
//!
//! SQLite has a single writer. Appends, the hot path, run on a thread of their own that
//! owns a connection and runs each commit whole ([`super::sqlite_append`]); every other
//! write transaction goes through one sqlx connection (`writes`), where they queue in
//! order. Both begin with `BEGIN IMMEDIATE`, so when the two meet one waits for the other's
//! write lock (busy timeout) instead of failing or deadlocking. Automatic WAL checkpoints
//! are off: they would run inside whichever commit crossed the threshold and stall it. A
//! background task checkpoints passively on its own connection instead.

use std::{
    path::PathBuf,
    str::FromStr,
    sync::{Arc, Weak},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sqlx::{
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
    Connection, Row, Sqlite, SqliteConnection, SqlitePool,
};

use super::{
    impl_links::impl_links, impl_store::impl_store, impl_webhooks::impl_webhooks,
    sqlite_append::AppendThread, webhook_sql, LockKind,
};
use crate::{migrations, AppendItem, Appended, Durability, Result, StoreError};

/// The connection settings the sqlx pools and the append thread share.
pub(crate) mod settings {
    use std::time::Duration;

    use crate::Durability;

    /// How long a writer waits for the other's write lock before its transaction fails.
    pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

    /// Once a checkpoint lets the WAL start over, its file is trimmed back to this size.
    pub(crate) const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

    /// `FULL` fsyncs the WAL on every commit; `NORMAL` leaves it to checkpoints.
    pub(crate) fn synchronous(durability: Durability) -> &'static str {
        match durability {
            Durability::Process => "NORMAL",
            Durability::Disk => "FULL",
        }
    }
}

pub struct SqliteStore {
    /// Reads (loads, listings): WAL readers never wait for the writer.
    pool: SqlitePool,
    /// The one sqlx connection that writes (everything but appends).
    writes: SqlitePool,
    /// Appends; `None` for an in-memory database, which another connection cannot open
    /// (its appends then go through `writes`, as every write did before).
    appends: Option<AppendThread>,
    durability: Durability,
    /// The checkpoint task stops once this is gone.
    _alive: Arc<()>,
}

/// How often the background task copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

impl SqliteStore {
    /// One writer: more appends in flight would only queue for its lock.
    const CONCURRENT_APPENDS: usize = 1;

    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, Durability::default()).await
    }

    pub async fn open_with(url: &str, durability: Durability) -> Result<Self> {
        let synchronous = SqliteSynchronous::from_str(settings::synchronous(durability))
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(settings::BUSY_TIMEOUT)
            .pragma("wal_autocheckpoint", "0")
            .pragma(
                "journal_size_limit",
                settings::JOURNAL_SIZE_LIMIT.to_string(),
            );
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        migrations::SQLITE.migrator().await?.run(&writes).await?;
        let appends = match database_file(&writes).await? {
            Some(path) => Some(AppendThread::start(path, durability).await?),
            None => None,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        let checkpointer = SqliteConnection::connect_with(&options).await?;
        let alive = Arc::new(());
        tokio::spawn(checkpoint(checkpointer, Arc::downgrade(&alive)));
        Ok(SqliteStore {
            pool,
            writes,
            appends,
            durability,
            _alive: alive,
        })
    }

    /// A write transaction that holds the write lock from its start (see the module doc).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.writes.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// An append's transaction on `writes`, for an in-memory database: `synchronous` is a
    /// connection option.
    async fn begin_append(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.begin_write().await
    }

    /// A group commit on `writes` (an in-memory database; see [`Store::append`](crate::Store::append)).
    async fn append_items(&self, items: &[AppendItem]) -> Result<Vec<Appended>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let groups = super::group_by_doc(items);
        let (heads, last) = self.append_in_steps(items, &groups, Utc::now()).await?;
        Ok(super::appended(groups, heads, last))
    }

    /// On the append thread when there is one: one hand-off per commit.
    async fn append_batch(&self, items: &[AppendItem]) -> Result<Vec<Appended>> {
        match &self.appends {
            Some(thread) => thread.append(items).await,
            None => self.append_items(items).await,
        }
    }

    /// A SQLite transaction already reads one instant (one writer, WAL snapshots).
    async fn begin_load(_tx: &mut SqliteConnection) -> Result<()> {
        Ok(())
    }

    /// One multi-row insert per chunk, then one statement that moves every document's
    /// `last_seq`: with sqlx's SQLite worker every statement is a thread hop, so a commit
    /// costs the same few hops however many keystrokes it carries.
    async fn insert_updates(
        tx: &mut SqliteConnection,
        doc_ids: &[i64],
        data: &[&[u8]],
        authors: &[Option<&str>],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, i64)>> {
        let mut out = Vec::with_capacity(data.len());
        // 4 parameters a row stays far below SQLite's variable limit.
        let rows = data.chunks(500).zip(doc_ids.chunks(500));
        for ((chunk, ids), authors) in rows.zip(authors.chunks(500)) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO updates (document_id, data, created_at, author) ",
            );
            let values = chunk.iter().zip(ids).zip(authors);
            insert.push_values(values, |mut row, ((data, id), author)| {
                row.push_bind(*id)
                    .push_bind(*data)
                    .push_bind(now)
                    .push_bind(*author);
            });
            insert.push(" RETURNING document_id, seq");
            for row in insert.build().fetch_all(&mut *tx).await? {
                out.push((row.try_get("document_id")?, row.try_get("seq")?));
            }
        }
        let mut moved: Vec<i64> = doc_ids.to_vec();
        moved.sort_unstable();
        moved.dedup();
        Self::set_last_seqs(tx, &moved).await?;
        Ok(out)
    }
}

impl SqliteStore {
    /// [`super::sql::TOUCH_KNOWN`] for many documents at once: `(id, bytes added)` in,
    /// `(id, last_seq before)` out for those that still exist. The writer is alone, so the
    /// order rows are touched in cannot deadlock anyone: one statement for the batch (a
    /// thread hop saved per document).
    async fn touch_known(
        tx: &mut SqliteConnection,
        known: &[(i64, i64)],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<(i64, i64)>>> {
        let mut out = Vec::with_capacity(known.len());
        for chunk in known.chunks(500) {
            let mut update =
                sqlx::QueryBuilder::<Sqlite>::new("UPDATE documents SET updated_at = ");
            update.push_bind(now);
            update.push(", size_bytes = size_bytes + CASE id");
            for (id, bytes) in chunk {
                update
                    .push(" WHEN ")
                    .push_bind(*id)
                    .push(" THEN ")
                    .push_bind(*bytes);
            }
            update.push(" ELSE 0 END WHERE id IN (");
            let mut ids = update.separated(", ");
            for (id, _) in chunk {
                ids.push_bind(*id);
            }
            update.push(") RETURNING id, last_seq");
            for row in update.build().fetch_all(&mut *tx).await? {
                out.push((row.try_get("id")?, row.try_get("last_seq")?));
            }
        }
        Ok(Some(out))
    }

    /// One statement for the whole batch: every statement is a hop to sqlx's SQLite thread.
    /// The writer is alone, so the highest row of each document is its `last_seq`.
    async fn set_last_seqs(tx: &mut SqliteConnection, moved: &[i64]) -> Result<()> {
        for chunk in moved.chunks(500) {
            let mut update = sqlx::QueryBuilder::<Sqlite>::new(
                "UPDATE documents SET last_seq = (SELECT MAX(seq) FROM updates
                 WHERE document_id = documents.id) WHERE id IN (",
            );
            let mut ids = update.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            update.push(")");
            update.build().execute(&mut *tx).await?;
        }
        Ok(())
    }

    async fn read_last_seqs(pool: &SqlitePool, docs: &[String]) -> Result<Vec<(String, i64)>> {
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            let seq: Option<i64> =
                sqlx::query_scalar("SELECT last_seq FROM documents WHERE name = $1")
                    .bind(doc)
                    .fetch_optional(pool)
                    .await?;
            if let Some(seq) = seq {
                out.push((doc.clone(), seq));
            }
        }
        Ok(out)
    }

    /// SQLite has one writer: nobody else can be doing the same work.
    async fn try_lock(_tx: &mut SqliteConnection, _kind: LockKind, _doc_id: i64) -> Result<bool> {
        Ok(true)
    }
}

impl SqliteStore {
    /// The change feed's horizon (see `crate::feed`): one writer, so positions are taken
    /// in commit order and the highest one committed is final at once.
    async fn feed_horizon(&self) -> Result<Option<i64>> {
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'updates'), 0)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(seq))
    }
}

/// The file behind the pool's main database; `None` when it has none (in memory).
async fn database_file(pool: &SqlitePool) -> Result<Option<PathBuf>> {
    let rows = sqlx::query("PRAGMA database_list").fetch_all(pool).await?;
    for row in rows {
        let name: String = row.try_get("name")?;
        let file: String = row.try_get("file")?;
        if name == "main" && !file.is_empty() {
            return Ok(Some(PathBuf::from(file)));
        }
    }
    Ok(None)
}

/// Copies committed WAL pages into the database file without blocking the writer
/// (`PASSIVE`), for as long as the store exists. With `synchronous=NORMAL` this is where
/// the fsync happens, away from any commit.
async fn checkpoint(mut conn: SqliteConnection, alive: Weak<()>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 {
            break;
        }
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
    }
    let _ = conn.close().await;
}

impl_store!(SqliteStore, SqliteRow, SqliteConnection, "sqlite");
super::log_sql::impl_append!(SqliteStore);

#[cfg(test)]
#[path = "sqlite_append_tests.rs"]
mod append_tests;
impl_webhooks!(SqliteStore, SqliteRow, SqliteConnection);
impl_links!(SqliteStore, SqliteRow);
