//! Group commit: one task gathers every room's updates into transactions.
//!
//! Rooms hand over a batch and keep accepting edits; the writer puts everything queued
//! since its last commit started (optionally waiting up to `window` for more) into a
//! single transaction, so a burst of keystrokes across many documents costs one commit
//! instead of one each. Each room has at most one batch in flight, which keeps its updates
//! in log order, so commits of different rooms may overlap: up to
//! [`Store::concurrent_appends`] run at once (one on SQLite, whose single writer would
//! only queue them; several on PostgreSQL), and one slow commit does not hold up the
//! rooms in the others.
//!
//! Hand-offs are kept few: a room queues its batch itself (no task in between) and the
//! answer is handed straight back to the room ([`Reply`]); with one commit at a time
//! (SQLite) the writer's task commits itself instead of starting one per commit.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use tandem_persistence::{AppendItem, Appended, Store, StoreError};
use tokio::sync::{
    mpsc::{self, error::TrySendError},
    Semaphore,
};

use crate::metric_names as m;

/// What the writer answers: where the document's log stood before and after the commit.
pub(crate) type WriteResult = Result<Appended, Arc<StoreError>>;

pub(crate) struct WriteRequest {
    pub doc: String,
    /// The document's id once known: the write then never recreates a deleted document.
    pub doc_id: Option<i64>,
    pub updates: Vec<Bytes>,
    /// Who sent each of `updates`, when known (stored with it in the log).
    pub authors: Vec<Option<Arc<str>>>,
    pub done: Reply,
    queued: Instant,
}

/// Where the writer's answer goes: called once, on the writer's side, with the result.
/// Dropped unanswered (the writer stopped, or its commit panicked), it answers that the
/// write failed, so the room retries instead of waiting for ever.
pub(crate) struct Reply(Option<Box<dyn FnOnce(WriteResult) + Send>>);

impl Reply {
    pub(crate) fn new(answer: impl FnOnce(WriteResult) + Send + 'static) -> Reply {
        Reply(Some(Box::new(answer)))
    }

    fn send(mut self, result: WriteResult) {
        if let Some(answer) = self.0.take() {
            answer(result);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(answer) = self.0.take() {
            answer(Err(Arc::new(StoreError::Unavailable(
                "writer stopped".into(),
            ))));
        }
    }
}

#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<WriteRequest>,
}

/// Most requests folded into one transaction: bounds the size of one commit.
const MAX_BATCH: usize = 512;

impl Writer {
    pub(crate) fn spawn(store: Arc<dyn Store>, window: Duration) -> Writer {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(store, window, rx));
        Writer { tx }
    }

    /// Queues a batch; `done` is called with the answer once it is committed. Never
    /// waits: the queue has room for far more batches than rooms normally write at once
    /// (each has one in flight); when it is full, a task waits for room instead of the caller.
    pub(crate) fn write(
        &self,
        doc: String,
        doc_id: Option<i64>,
        updates: Vec<Bytes>,
        authors: Vec<Option<Arc<str>>>,
        done: Reply,
    ) {
        let req = WriteRequest {
            doc,
            doc_id,
            updates,
            authors,
            done,
            queued: Instant::now(),
        };
        // The writer only stops when the process does; a failed send drops `done`, which
        // answers that the write failed, and the room retries.
        if let Err(TrySendError::Full(req)) = self.tx.try_send(req) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(req).await;
            });
        }
    }
}

async fn run(store: Arc<dyn Store>, window: Duration, mut rx: mpsc::Receiver<WriteRequest>) {
    let concurrent = store.concurrent_appends().max(1);
    let slots = Arc::new(Semaphore::new(concurrent));
    loop {
        // A free slot first, then the requests: while every slot is busy, requests pile
        // up in the channel and the next commit takes them all.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        // Whatever queued up while the previous commit ran goes into this one: under load
        // that alone turns N fsyncs into one, and an idle server commits at once. A window
        // trades latency for bigger batches when commits are expensive.
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) if window.is_zero() => break,
                Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(req)) => batch.push(req),
                    _ => break,
                },
            }
        }
        if concurrent == 1 {
            // Nothing could run beside it: commit here rather than hand it to a new task.
            commit(&*store, batch).await;
            drop(slot);
            continue;
        }
        let store = store.clone();
        tokio::spawn(async move {
            commit(&*store, batch).await;
            drop(slot);
        });
    }
}

async fn commit(store: &dyn Store, batch: Vec<WriteRequest>) {
    let items: Vec<AppendItem> = batch
        .iter()
        .flat_map(|req| {
            req.updates.iter().enumerate().map(|(i, u)| AppendItem {
                doc: req.doc.clone(),
                doc_id: req.doc_id,
                data: u.to_vec(),
                author: req
                    .authors
                    .get(i)
                    .and_then(|a| a.as_deref())
                    .map(String::from),
            })
        })
        .collect();
    let started = Instant::now();
    for req in &batch {
        metrics::histogram!(m::WRITE_QUEUE_SECONDS)
            .record(started.duration_since(req.queued).as_secs_f64());
    }
    let result = store.append(&items).await;
    metrics::histogram!(m::PERSIST_SECONDS).record(started.elapsed().as_secs_f64());
    match result {
        Ok(appended) => {
            metrics::counter!(m::UPDATES_PERSISTED).increment(items.len() as u64);
            for req in batch {
                let result = appended
                    .iter()
                    .find(|a| a.doc == req.doc)
                    .cloned()
                    .ok_or_else(|| Arc::new(StoreError::Unavailable("no answer".into())));
                req.done.send(result);
            }
        }
        Err(err) => {
            metrics::counter!(m::DB_ERRORS).increment(1);
            if err.is_deadlock() {
                metrics::counter!(m::DB_DEADLOCKS).increment(1);
            }
            tracing::warn!(error = %err, updates = items.len(), "writing updates failed");
            let err = Arc::new(err);
            for req in batch {
                req.done.send(Err(err.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A batch the writer drops unanswered (it stopped, or its commit panicked) is
    /// answered as failed, so the room retries instead of waiting for ever; an answered
    /// one is answered once.
    #[test]
    fn a_reply_dropped_unanswered_answers_that_the_write_failed() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = |seen: &Arc<Mutex<Vec<String>>>| {
            let seen = seen.clone();
            Reply::new(move |result: WriteResult| {
                let what = result.err().map_or("ok".into(), |e| e.to_string());
                seen.lock().unwrap().push(what);
            })
        };
        drop(record(&seen));
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert!(seen.lock().unwrap()[0].contains("writer stopped"));
        let failed = Arc::new(StoreError::Unavailable("disk full".into()));
        record(&seen).send(Err(failed));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "answered once: {seen:?}");
        assert!(seen[1].contains("disk full"));
    }
}
