//! The IO side of [`super::commit`]: hands batches to the writer, arms the retry timer,
//! and carries out what the commit state machine decides.

use std::sync::Arc;

use super::{
    commit::{Actions, Batch},
    mailbox::{Control, WriteDone},
    Flow, Room, Waiter,
};
use crate::{
    metric_names as m,
    peer::{Outgoing, PeerId},
    protocol::UpdateFrame,
};

impl Room {
    /// Queues an update already applied to the document for the log and the peers;
    /// `author`: who sent it, when known (logged with it).
    pub(super) fn enqueue(&mut self, update: UpdateFrame, author: Option<Arc<str>>) {
        let actions = self.commit.accept_from(update, author);
        self.perform(actions);
    }

    pub(super) fn on_write_done(&mut self, done: WriteDone) -> Flow {
        let actions = match done.result {
            Ok(appended) => {
                let actions = self.commit.written(done.id, appended.last_seq);
                if let Flow::Vanish = self.on_appended(&appended, &actions.relay) {
                    return Flow::Vanish;
                }
                actions
            }
            Err(err) => {
                let actions = self.commit.failed(done.id);
                if actions.degraded == Some(true) {
                    tracing::warn!(doc = %self.name, error = %err, "database write failed; serving from memory and retrying");
                }
                actions
            }
        };
        self.perform(actions);
        Flow::Continue
    }

    pub(super) fn perform(&mut self, actions: Actions<Waiter>) {
        metrics::counter!(m::BURSTS_MERGED).increment(actions.merged);
        for frame in &actions.relay {
            self.broadcast(frame);
        }
        for (peer, frame) in actions.release {
            self.send_to(peer, frame);
        }
        // One counted acknowledgement per peer and commit: a burst must not fill its queue.
        let mut acks: Vec<(PeerId, u64)> = Vec::new();
        for waiter in actions.applied {
            match waiter {
                Waiter::Api(done) => {
                    let _ = done.send(Ok(()));
                }
                Waiter::Ack(peer) => match acks.iter_mut().find(|(p, _)| *p == peer) {
                    Some((_, n)) => *n += 1,
                    None => acks.push((peer, 1)),
                },
            }
        }
        for (peer, n) in acks {
            self.send_to(peer, Outgoing::Committed(n));
        }
        if actions.degraded == Some(false) {
            tracing::info!(doc = %self.name, "database writes recovered");
        }
        if let Some(committed) = actions.committed {
            self.on_committed(committed);
        }
        if let Some(batch) = actions.submit {
            self.submit(batch);
        }
        if let Some(wait) = actions.retry_after {
            let ctrl = self.ctrl_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let _ = ctrl.send(Control::RetryWrite);
            });
        }
    }

    fn submit(&self, batch: Batch) {
        let Batch {
            id,
            updates,
            authors,
        } = batch;
        let ctrl = self.ctrl_tx.clone();
        // The writer answers the room itself: no task waits in between.
        let done = crate::writer::Reply::new(move |result| {
            let _ = ctrl.send(Control::WriteDone(Box::new(WriteDone { id, result })));
        });
        let doc_id = self.copy.doc_id();
        self.ctx
            .writer
            .write(self.name.clone(), doc_id, updates, authors, done);
    }
}
