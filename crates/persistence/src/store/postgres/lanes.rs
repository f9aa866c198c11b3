//! Connections of their own for appends, outside the pool.
//!
//! sqlx's pool pings a connection when it hands it out and again when it takes it back:
//! two round trips around every use, as many as the one-statement append itself costs
//! twice over. An append instead holds one of a few connections kept here, one per append
//! in flight, and sends its statement alone. A connection that fails other than with an
//! error from the server (the server restarted, the network dropped it) is closed, and the
//! next append on its lane connects again: the failed append reports its error and the
//! writer retries it, which is what a ping would have spared.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{postgres::PgConnectOptions, ConnectOptions, Executor, PgConnection};
use tokio::sync::{Mutex, MutexGuard};

use crate::Result;

pub(super) struct Lanes {
    options: PgConnectOptions,
    lanes: Vec<Mutex<Option<PgConnection>>>,
    /// Where an append waits when every lane is busy, taken in turn.
    next: AtomicUsize,
}

/// One lane, held for one append: its connection, opened on first use.
pub(super) struct Lane<'a> {
    options: &'a PgConnectOptions,
    conn: MutexGuard<'a, Option<PgConnection>>,
}

impl Lanes {
    pub(super) fn new(options: PgConnectOptions, count: usize) -> Lanes {
        Lanes {
            options,
            lanes: (0..count.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Opens every lane now and prepares `sql` on it, so that the first appends after a
    /// start do not each pay for a connection and a parse (about 10 ms on a local server,
    /// which was the p99 of a quiet document). A lane that does not open now stays closed
    /// and connects on its first use, as before.
    pub(super) async fn warm(&self, sql: &str) {
        for lane in &self.lanes {
            let mut conn = lane.lock().await;
            if conn.is_some() {
                continue;
            }
            match self.options.connect().await {
                Ok(mut fresh) => {
                    // Prepared statements are cached per connection: the append's first
                    // use then skips its parse and plan.
                    if let Err(error) = (&mut fresh).prepare(sql).await {
                        tracing::warn!(%error, "preparing the append statement failed");
                    }
                    *conn = Some(fresh);
                }
                Err(error) => {
                    tracing::warn!(%error, "opening an append connection failed; it opens on first use")
                }
            }
        }
    }

    /// A free lane, or (more appends at once than lanes) a busy one's turn.
    pub(super) async fn lane(&self) -> Lane<'_> {
        let conn = match self.lanes.iter().find_map(|l| l.try_lock().ok()) {
            Some(free) => free,
            None => {
                let next = self.next.fetch_add(1, Ordering::Relaxed);
                self.lanes[next % self.lanes.len()].lock().await
            }
        };
        Lane {
            options: &self.options,
            conn,
        }
    }
}

impl Lane<'_> {
    pub(super) async fn conn(&mut self) -> Result<&mut PgConnection> {
        if self.conn.is_none() {
            *self.conn = Some(self.options.connect().await?);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Keeps the connection after a server's error (the statement's transaction ended,
    /// the connection is fine); closes it after any other.
    pub(super) fn failed(&mut self, error: &sqlx::Error) {
        if !matches!(error, sqlx::Error::Database(_)) {
            *self.conn = None;
        }
    }
}
