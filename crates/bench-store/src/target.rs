//! Where a run writes: a fresh store (a temp dir for SQLite, a throwaway PostgreSQL
//! database) and a raw pool on the same database for the size queries.

use std::sync::Arc;

use anyhow::{Context, Result};
use sqlx::Connection;
use tandem_persistence::Store;

use crate::{Args, Backend};
/// A fresh store: a temp dir for SQLite, a throwaway database for PostgreSQL.
pub(crate) struct Target {
    pub(crate) store: Arc<dyn Store>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

pub(crate) enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Target {
    pub(crate) async fn open(args: &Args) -> Result<Target> {
        match args.backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
                let store = tandem_persistence::open_with(&url, args.durability).await?;
                let raw = sqlx::SqlitePool::connect(&url).await?;
                Ok(Target {
                    store,
                    raw: Raw::Sqlite(raw),
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let admin = args.pg_url.clone();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .with_context(|| format!("PostgreSQL unreachable at {admin}"))?;
                let name = format!("tandem_bench_{:016x}", rand::random::<u64>());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let url = with_database(&admin, &name);
                let store = tandem_persistence::open_with(&url, args.durability).await?;
                let raw = sqlx::PgPool::connect(&url).await?;
                Ok(Target {
                    store,
                    raw: Raw::Pg(raw),
                    _dir: None,
                    pg: Some((admin, name)),
                })
            }
        }
    }

    /// Bytes the tables really occupy on disk, as opposed to the payload sum the store keeps.
    pub(crate) async fn physical_bytes(&self) -> Result<i64> {
        match &self.raw {
            Raw::Sqlite(pool) => {
                // Fold the WAL in so the main file's pages are the whole story; freed
                // pages are excluded since SQLite reuses them before growing the file.
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await?;
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(pool)
                    .await?;
                let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                    .fetch_one(pool)
                    .await?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(pool)
                    .await?;
                Ok((pages - free) * size)
            }
            Raw::Pg(pool) => {
                // Deleted rows only give their space back to the OS through VACUUM FULL.
                sqlx::query("VACUUM FULL updates, snapshots")
                    .execute(pool)
                    .await?;
                Ok(sqlx::query_scalar(
                    "SELECT (pg_total_relation_size('updates')
                           + pg_total_relation_size('snapshots'))::bigint",
                )
                .fetch_one(pool)
                .await?)
            }
        }
    }

    pub(crate) async fn close(self) -> Result<()> {
        let Target { raw, pg, store, .. } = self;
        drop(store);
        match raw {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Pg(pool) => pool.close().await,
        }
        if let Some((admin, name)) = pg {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }
}

pub(crate) fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[start..].find('/') {
        Some(slash) => &base[..start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}
