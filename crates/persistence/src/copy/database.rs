//! One database seen by a copy: a single connection (so a whole backup reads one instant),
//! the schema brought up to date first, and the bookkeeping a copy needs around the rows:
//! whether it is empty, its counters, its documents and how far each was copied.

use std::{collections::BTreeMap, str::FromStr, time::Duration};

use sqlx::{
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode},
    ConnectOptions, Connection, PgConnection, Row as _, SqliteConnection,
};

use super::{
    tables::{DOCUMENT_TABLES, OTHER_TABLES},
    CopyError, DocEntry,
};
use crate::migrations;

/// Which kind of database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

pub(super) enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Runs `$body` with `$c` bound to the driver's connection: the same statements, type
/// checked once for each driver (as `impl_store!` does for the store).
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::copy::database::Conn::Sqlite($c) => $body,
            $crate::copy::database::Conn::Postgres($c) => $body,
        }
    };
}
pub(super) use on_conn;

/// The value of each database-numbered column's counter (table name to the last number
/// handed out). Carried over so that positions compaction deleted are never reused: a
/// change feed reader's position keeps its meaning in the copy.
pub type Counters = BTreeMap<String, i64>;

pub struct Database {
    pub(super) conn: Conn,
    backend: Backend,
}

impl Database {
    /// Connects to the database named by a URL as `--database-url` takes it and brings its
    /// schema up to date (what the server does when it starts). A SQLite file is created
    /// only when `create` says so: a mistyped source path is an error, not an empty copy.
    pub async fn open(url: &str, create: bool) -> Result<Database, CopyError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .disable_statement_logging();
            let mut conn = SqliteConnection::connect_with(&options).await?;
            migrations::SQLITE.migrator().await?.run(&mut conn).await?;
            Ok(Database {
                conn: Conn::Sqlite(conn),
                backend: Backend::Sqlite,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
            let mut conn = PgConnection::connect_with(&options).await?;
            migrations::POSTGRES
                .migrator()
                .await?
                .run(&mut conn)
                .await?;
            Ok(Database {
                conn: Conn::Postgres(conn),
                backend: Backend::Postgres,
            })
        } else {
            Err(crate::StoreError::UnsupportedUrl(url.to_string()).into())
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(super) async fn execute(&mut self, sql: &str) -> Result<(), CopyError> {
        on_conn!(&mut self.conn, c => { sqlx::query(sql).execute(&mut *c).await?; });
        Ok(())
    }

    /// Whether a commit waits for the disk. Either way a commit that does wait also makes
    /// every earlier one durable: the log (SQLite's WAL, PostgreSQL's WAL) is written in
    /// order and flushed as a whole.
    pub async fn set_synchronous(&mut self, wait: bool) -> Result<(), CopyError> {
        self.execute(match (self.backend, wait) {
            (Backend::Sqlite, true) => "PRAGMA synchronous = FULL",
            (Backend::Sqlite, false) => "PRAGMA synchronous = NORMAL",
            (Backend::Postgres, true) => "SET synchronous_commit = on",
            (Backend::Postgres, false) => "SET synchronous_commit = off",
        })
        .await
    }

    /// Starts a read of one instant, kept until [`Database::end_read`]: a backup of a
    /// running server then holds every change committed before its first read and none
    /// committed later, across all its tables.
    pub async fn begin_read(&mut self) -> Result<(), CopyError> {
        match self.backend {
            // A SQLite read transaction sees the database as of its first read (WAL).
            Backend::Sqlite => self.execute("BEGIN").await,
            Backend::Postgres => {
                self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
            }
        }
    }

    pub async fn end_read(&mut self) -> Result<(), CopyError> {
        self.execute("COMMIT").await
    }

    /// The newest migration applied: which schema the rows are in.
    pub async fn schema_version(&mut self) -> Result<i64, CopyError> {
        let v: i64 = on_conn!(&mut self.conn, c => sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM _sqlx_migrations")
            .fetch_one(&mut *c).await?);
        Ok(v)
    }

    /// Documents and webhook endpoints stored: a copy goes only into a database with
    /// neither (unless told to replace them).
    pub async fn contents(&mut self) -> Result<(i64, i64), CopyError> {
        let row = on_conn!(&mut self.conn, c => {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM documents) AS d,
                        (SELECT COUNT(*) FROM webhook_endpoints) AS w",
            )
            .fetch_one(&mut *c)
            .await?;
            (row.try_get::<i64, _>("d")?, row.try_get::<i64, _>("w")?)
        });
        Ok(row)
    }

    /// Deletes every row of Tandem's tables, in one transaction.
    pub async fn wipe(&mut self) -> Result<(), CopyError> {
        self.execute("BEGIN").await?;
        for table in OTHER_TABLES.iter().chain(DOCUMENT_TABLES).rev() {
            self.execute(&format!("DELETE FROM {}", table.name)).await?;
        }
        self.execute("COMMIT").await
    }

    /// Every document with its size and what tells a complete copy of it apart from a
    /// stale or partial one (see [`DocEntry::fingerprint`]), by id.
    pub async fn documents(&mut self) -> Result<Vec<DocEntry>, CopyError> {
        const LIST: &str = "SELECT d.id, d.name,
                CAST(d.size_bytes + COALESCE((SELECT SUM(v.size_bytes) FROM versions v
                     WHERE v.document_id = d.id), 0) AS BIGINT) AS bytes,
                d.title, d.kind, d.last_seq, d.size_bytes,
                (SELECT COUNT(*) FROM versions v WHERE v.document_id = d.id) AS versions,
                (SELECT COUNT(*) FROM versions v WHERE v.document_id = d.id
                     AND v.label IS NOT NULL) AS labels,
                CAST(COALESCE((SELECT MAX(v.version) FROM versions v
                     WHERE v.document_id = d.id), 0) AS BIGINT) AS latest,
                CAST(COALESCE((SELECT s.upto_seq FROM snapshots s
                     WHERE s.document_id = d.id), 0) AS BIGINT) AS upto
             FROM documents d ORDER BY d.id";
        let entries = on_conn!(&mut self.conn, c => {
            let rows = sqlx::query(LIST).fetch_all(&mut *c).await?;
            rows.iter()
                .map(|r| {
                    let fingerprint = format!(
                        "{}|{}|{}|{}|{}|{}|{}|{}",
                        r.try_get::<String, _>("title")?,
                        r.try_get::<String, _>("kind")?,
                        r.try_get::<i64, _>("last_seq")?,
                        r.try_get::<i64, _>("size_bytes")?,
                        r.try_get::<i64, _>("versions")?,
                        r.try_get::<i64, _>("labels")?,
                        r.try_get::<i64, _>("latest")?,
                        r.try_get::<i64, _>("upto")?,
                    );
                    Ok(DocEntry {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        bytes: r.try_get::<i64, _>("bytes")?.max(0) as u64,
                        fingerprint,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(entries)
    }

    /// The counter behind each database-numbered column.
    pub async fn counters(&mut self) -> Result<Counters, CopyError> {
        let mut out = Counters::new();
        for table in DOCUMENT_TABLES.iter().chain(OTHER_TABLES) {
            let Some(column) = table.identity else {
                continue;
            };
            let value: i64 = match &mut self.conn {
                Conn::Sqlite(c) => {
                    sqlx::query_scalar(
                        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = $1), 0)",
                    )
                    .bind(table.name)
                    .fetch_one(&mut *c)
                    .await?
                }
                Conn::Postgres(c) => {
                    sqlx::query_scalar(
                        "SELECT COALESCE(pg_sequence_last_value(
                         CAST(pg_get_serial_sequence($1, $2) AS regclass)), 0)",
                    )
                    .bind(table.name)
                    .bind(column)
                    .fetch_one(&mut *c)
                    .await?
                }
            };
            out.insert(table.name.to_string(), value);
        }
        Ok(out)
    }

    /// Moves each counter to at least `counters` and past every number in its table, so
    /// that the next row the server adds gets a number no copied row has (nor had).
    pub async fn raise_counters(&mut self, counters: &Counters) -> Result<(), CopyError> {
        for table in DOCUMENT_TABLES.iter().chain(OTHER_TABLES) {
            let Some(column) = table.identity else {
                continue;
            };
            let at_least = counters.get(table.name).copied().unwrap_or(0);
            match &mut self.conn {
                Conn::Sqlite(c) => {
                    let max: i64 = sqlx::query_scalar(&format!(
                        "SELECT COALESCE(MAX({column}), 0) FROM {}",
                        table.name
                    ))
                    .fetch_one(&mut *c)
                    .await?;
                    let value = at_least.max(max);
                    sqlx::query("DELETE FROM sqlite_sequence WHERE name = $1")
                        .bind(table.name)
                        .execute(&mut *c)
                        .await?;
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)")
                        .bind(table.name)
                        .bind(value)
                        .execute(&mut *c)
                        .await?;
                }
                Conn::Postgres(c) => {
                    sqlx::query(&format!(
                        "SELECT setval(pg_get_serial_sequence($1, $2), GREATEST(v, 1), v >= 1)
                         FROM (SELECT GREATEST($3, COALESCE(MAX({column}), 0)) AS v
                               FROM {}) m",
                        table.name
                    ))
                    .bind(table.name)
                    .bind(column)
                    .bind(at_least)
                    .execute(&mut *c)
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// SQLite's own consistent copy of the whole file (`VACUUM INTO`), taken without
    /// stopping writers: the backup is an ordinary database file, compacted.
    pub async fn vacuum_into(&mut self, path: &std::path::Path) -> Result<(), CopyError> {
        let Conn::Sqlite(c) = &mut self.conn else {
            return Err(CopyError::NotSqlite);
        };
        if path.exists() {
            return Err(CopyError::OutputExists(path.to_path_buf()));
        }
        let path = path.to_str().ok_or(CopyError::NotUtf8Path)?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = on_conn!(self.conn, c => c.close().await);
    }
}
