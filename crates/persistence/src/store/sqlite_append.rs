//! SQLite appends in one hand-off: a thread of their own owns a connection and runs each
//! group commit there from `BEGIN` to `COMMIT`.
//!
//! Through sqlx every statement of a transaction is a round trip to sqlx's worker thread
//! for that connection (a channel send and a futex wake-up each way): an append's `BEGIN`,
//! touches, inserts, `last_seq` update and `COMMIT` were five or more, and under load the
//! writer spent a third of its time switching threads. Here the batch crosses to the
//! thread once and the answer comes back once, whatever the transaction holds.
//!
//! The connection is rusqlite's rather than sqlx's raw handle (`lock_handle()` driving
//! libsqlite3-sys by hand): rusqlite 0.32 links libsqlite3-sys 0.30, the crate sqlx's SQLite
//! driver links, and Cargo builds one crate per `links = "sqlite3"`, so both drive the same
//! SQLite library, compiled once. rusqlite is its safe API; the raw handle would be
//! `unsafe` FFI calls made while holding sqlx's connection locked from a tokio task.
//!
//! The connection opens the file the store's sqlx pools opened (after the migrations) with
//! the same settings ([`super::sqlite`]): WAL, `synchronous` per durability level, foreign
//! keys, no automatic checkpoints, the same busy timeout and WAL size limit.
//!
//! Two writers share the file: this thread (appends) and the store's sqlx `writes`
//! connection (compaction, versions, deletes, titles, webhooks, links). SQLite lets one
//! write at a time. Both begin their transactions with `BEGIN IMMEDIATE`, which takes the
//! write lock before reading anything, so one waits in the busy handler for the other
//! (up to the busy timeout) and neither can deadlock on a lock upgrade or fail on a stale
//! snapshot. Sequence numbers are still taken in commit order (one write lock), which the
//! change feed's horizon relies on.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
    sync::mpsc,
    thread,
};

use chrono::{SecondsFormat, Utc};
use rusqlite::{named_params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::{group_by_doc, sql, sqlite::settings};
use crate::{AppendItem, Appended, Durability, Result, StoreError};

/// One row of the log; the batch's rows go in one by one through a cached statement, as
/// cheap as a multi-row insert once no statement costs a thread hop.
const INSERT_UPDATE: &str =
    "INSERT INTO updates (document_id, data, created_at, author) VALUES ($1, $2, $3, $4)";

/// Moves a document's `last_seq` to its highest new row (the writer holds the write lock,
/// so that row is the document's highest).
const SET_LAST_SEQ: &str = "UPDATE documents SET last_seq = $2 WHERE id = $1";

/// Work for the thread: runs on its connection, answers on a channel of its own.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The append thread's handle. Dropping it ends the thread once queued appends are done.
pub(crate) struct AppendThread {
    jobs: mpsc::Sender<Job>,
}

impl AppendThread {
    /// Opens the connection on a new thread; fails as opening it fails.
    pub(crate) async fn start(path: PathBuf, durability: Durability) -> Result<AppendThread> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (opened, open_result) = oneshot::channel();
        thread::Builder::new()
            .name("tandem-sqlite-append".into())
            .spawn(move || match open(&path, durability) {
                Ok(conn) => {
                    let _ = opened.send(Ok(()));
                    serve(conn, queue);
                }
                Err(err) => {
                    let _ = opened.send(Err(err));
                }
            })
            .map_err(|err| StoreError::Unavailable(format!("append thread: {err}")))?;
        open_result.await.map_err(|_| stopped())??;
        Ok(AppendThread { jobs })
    }

    /// A group commit; see [`Store::append`](crate::Store::append). The items are copied
    /// for the thread. A caller that stops waiting does not stop the commit.
    pub(crate) async fn append(&self, items: &[AppendItem]) -> Result<Vec<Appended>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let items = items.to_vec();
        Ok(self.run(move |conn| append(conn, &items)).await??)
    }

    /// Runs `work` on the thread's connection and returns what it returns.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> Result<T> {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = done.send(work(conn));
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite append thread stopped".into())
}

fn open(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(settings::BUSY_TIMEOUT)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", settings::synchronous(durability))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", settings::JOURNAL_SIZE_LIMIT)?;
    Ok(conn)
}

/// Runs jobs in order until the store is gone. A job that panics rolls its transaction
/// back as it unwinds; its caller sees the thread's answer go missing, later jobs still run.
fn serve(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    for job in queue {
        if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
            tracing::error!("an append panicked on the SQLite append thread");
        }
        if !conn.is_autocommit() {
            // A failed rollback left the transaction open: the next `BEGIN` would fail.
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

/// The group commit, as the sqlx path (`log_sql.rs`) does it: documents touched in name
/// order (new ones created, so their ids come out the same), rows inserted in item order,
/// each document's `last_seq` moved, and for a document known by id that is gone, nothing
/// written and `gone` answered. Any error rolls the whole batch back.
fn append(conn: &mut Connection, items: &[AppendItem]) -> rusqlite::Result<Vec<Appended>> {
    // The text sqlx writes for a `DateTime<Utc>`, so readers decode both alike.
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, false);
    let groups = group_by_doc(items);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|a, b| groups[*a].doc.cmp(groups[*b].doc));
    // (id, last_seq before) per group; `None`: deleted meanwhile.
    let mut heads: Vec<Option<(i64, i64)>> = vec![None; groups.len()];
    for i in order {
        let g = &groups[i];
        let head = |row: &rusqlite::Row<'_>| Ok((row.get("id")?, row.get("last_seq")?));
        heads[i] = match g.doc_id {
            Some(id) => tx
                .prepare_cached(sql::TOUCH_KNOWN)?
                .query_row(named_params! {"$1": id, "$2": now, "$3": g.bytes}, head)
                .optional()?,
            None => Some(
                tx.prepare_cached(sql::TOUCH_DOCUMENT)?
                    .query_row(named_params! {"$1": g.doc, "$2": now, "$3": g.bytes}, head)?,
            ),
        };
    }
    let mut last: Vec<i64> = heads.iter().map(|h| h.map_or(0, |h| h.1)).collect();
    {
        let mut insert = tx.prepare_cached(INSERT_UPDATE)?;
        for item in items {
            let g = groups.iter().position(|g| g.doc == item.doc).unwrap_or(0);
            if let Some((id, _)) = heads[g] {
                insert.execute(named_params! {
                    "$1": id, "$2": item.data, "$3": now, "$4": item.author,
                })?;
                last[g] = tx.last_insert_rowid();
            }
        }
        let mut moved = tx.prepare_cached(SET_LAST_SEQ)?;
        for (head, seq) in heads.iter().zip(&last) {
            if let Some((id, _)) = head {
                moved.execute(named_params! {"$1": id, "$2": seq})?;
            }
        }
    }
    tx.commit()?;
    Ok(super::appended(groups, heads, last))
}
