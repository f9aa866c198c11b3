//! Copying a whole Tandem database: backups, restores and moves between SQLite and
//! PostgreSQL (`tandem backup`, `tandem restore`, `tandem migrate`).
//!
//! Everything is a [`transfer`] from a [`Source`] to a [`Target`]: a database read at one
//! instant ([`DbSource`]), or a backup file in the portable format ([`PortableReader`]),
//! into a database ([`DbTarget`]) or a portable file ([`PortableWriter`]). Rows move as
//! they are, keys included (see `tables`), one document at a time: a database target
//! writes each document in one transaction, so an interrupted copy leaves whole documents
//! behind and a second run can skip those ([`plan_resume`]).
//!
//! Unlike the [`crate::Store`], which moves Yjs updates one document at a time for the
//! server, this works on tables: it knows nothing about Yjs, and the server checks the
//! copy by replaying both sides.

mod database;
mod db_source;
mod portable;
mod portable_read;
mod rows;
pub mod tables;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

pub use database::{Backend, Counters, Database};
pub use db_source::{DbSource, DbTarget};
pub use portable::{PortableWriter, FORMAT};
pub use portable_read::PortableReader;
pub use tables::{Row, Table, Value};

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("bringing the schema up to date failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {line} of the backup: {reason}")]
    Format { line: u64, reason: String },
    #[error("the backup ends before its last line: it was cut short (copy it again)")]
    Truncated,
    #[error("the backup was made by a newer Tandem (schema {backup}, this one knows {ours}): restore it with that version or later")]
    NewerSchema { backup: i64, ours: i64 },
    #[error("the target database is not empty ({documents} documents, {endpoints} webhook endpoints): restore into an empty one, or pass --replace-existing to delete what it holds first")]
    NotEmpty { documents: i64, endpoints: i64 },
    #[error("the target holds document {0:?}, which is not a copy of the source's: migrate only into an empty database (or one an interrupted migrate of this source left), or pass --replace-existing")]
    Foreign(String),
    #[error("the SQLite format needs a SQLite database (use --format portable)")]
    NotSqlite,
    #[error("{0} already exists: a backup never overwrites a file")]
    OutputExists(std::path::PathBuf),
    #[error("the path is not valid UTF-8")]
    NotUtf8Path,
}

/// A document as a copy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocEntry {
    pub id: i64,
    pub name: String,
    /// Its log, snapshot and versions, in bytes (for progress).
    pub bytes: u64,
    /// What changes whenever the document does (title, kind, log position, size, versions
    /// and their labels, snapshot): equal on both sides means the copy is complete and
    /// current. Empty when not known (a portable backup's documents).
    pub fingerprint: String,
}

/// What a copy says about its source before the rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The newest migration of the source's schema.
    pub schema: i64,
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub created_at: DateTime<Utc>,
    pub documents: u64,
    pub bytes: u64,
    pub counters: Counters,
}

/// Where the rows come from, document by document, then the other tables.
#[async_trait::async_trait]
pub trait Source: Send {
    fn header(&self) -> &Header;
    /// Moves to the next document (leaving whatever of the current one was not read);
    /// `None` once every document has been given.
    async fn next_document(&mut self) -> Result<Option<DocEntry>, CopyError>;
    /// The next rows of the current document, or after the last document the next rows
    /// of the other tables; `None` when there are no more.
    async fn next_rows(&mut self) -> Result<Option<(&'static Table, Vec<Row>)>, CopyError>;
}

/// Where the rows go.
#[async_trait::async_trait]
pub trait Target: Send {
    async fn start(&mut self, header: &Header) -> Result<(), CopyError>;
    async fn begin_document(&mut self, entry: &DocEntry) -> Result<(), CopyError>;
    async fn rows(&mut self, table: &'static Table, rows: &[Row]) -> Result<(), CopyError>;
    async fn end_document(&mut self) -> Result<(), CopyError>;
    /// After the last document: the other tables' rows follow, then [`Target::finish`].
    async fn begin_rest(&mut self) -> Result<(), CopyError>;
    async fn finish(&mut self, header: &Header, summary: &Summary) -> Result<(), CopyError>;
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Documents (by id) already complete at the target: not copied again.
    pub skip: HashSet<i64>,
    /// Stop after copying this many documents, as an interruption would (for tests of
    /// resuming).
    pub stop_after: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Documents copied (not counting those skipped).
    pub documents: u64,
    pub skipped: u64,
    pub rows: u64,
    /// Bytes of values copied.
    pub bytes: u64,
    /// Stopped early by [`Options::stop_after`]: the other tables were not copied.
    pub stopped: bool,
}

/// What [`transfer`] reports after each document.
#[derive(Debug)]
pub struct Step<'a> {
    pub entry: &'a DocEntry,
    pub skipped: bool,
    /// Bytes of values copied for it.
    pub bytes: u64,
}

/// Copies every document of `source` into `target`, then the other tables, calling
/// `progress` after each document.
pub async fn transfer(
    source: &mut dyn Source,
    target: &mut dyn Target,
    options: &Options,
    progress: &mut (dyn FnMut(Step<'_>) + Send),
) -> Result<Summary, CopyError> {
    let header = source.header().clone();
    let mut summary = Summary::default();
    target.start(&header).await?;
    while let Some(entry) = source.next_document().await? {
        if options.skip.contains(&entry.id) {
            summary.skipped += 1;
            progress(Step {
                entry: &entry,
                skipped: true,
                bytes: 0,
            });
            continue;
        }
        if options.stop_after.is_some_and(|n| summary.documents >= n) {
            summary.stopped = true;
            return Ok(summary);
        }
        target.begin_document(&entry).await?;
        let mut bytes = 0;
        while let Some((table, rows)) = source.next_rows().await? {
            bytes += size_of_rows(&rows);
            summary.rows += rows.len() as u64;
            target.rows(table, &rows).await?;
        }
        target.end_document().await?;
        summary.documents += 1;
        summary.bytes += bytes;
        progress(Step {
            entry: &entry,
            skipped: false,
            bytes,
        });
    }
    target.begin_rest().await?;
    while let Some((table, rows)) = source.next_rows().await? {
        summary.bytes += size_of_rows(&rows);
        summary.rows += rows.len() as u64;
        target.rows(table, &rows).await?;
    }
    target.finish(&header, &summary).await?;
    Ok(summary)
}

fn size_of_rows(rows: &[Row]) -> u64 {
    rows.iter().flatten().map(Value::size).sum()
}

/// Which documents an interrupted copy already finished: those the target holds with the
/// same id, name and fingerprint as the source. A target document with the same id and
/// name but another fingerprint is stale (the source changed since) and is copied again;
/// one that is not the source's at all makes the copy refuse ([`CopyError::Foreign`]).
pub fn plan_resume(source: &[DocEntry], target: &[DocEntry]) -> Result<HashSet<i64>, CopyError> {
    let by_id: HashMap<i64, &DocEntry> = source.iter().map(|e| (e.id, e)).collect();
    let mut done = HashSet::new();
    for t in target {
        match by_id.get(&t.id) {
            Some(s) if s.name == t.name => {
                if s.fingerprint == t.fingerprint {
                    done.insert(t.id);
                }
            }
            _ => return Err(CopyError::Foreign(t.name.clone())),
        }
    }
    Ok(done)
}
