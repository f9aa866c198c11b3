//! The durability pipeline of one room as a state machine without IO.
//!
//! The promise it keeps: nobody sees an update the database does not have. Accepted
//! updates queue here; one batch at a time goes to the writer; when the writer answers,
//! the committed updates are relayed, and replies that were held back because they might
//! reveal them are released. If the database fails, the room goes *degraded*: it relays
//! from memory (collaboration goes on), keeps the updates within a global byte budget and
//! retries with backoff until a write succeeds.
//!
//! Events come in as method calls (an update accepted, a write done, a write failed, the
//! retry timer); what the room must do comes back as [`Actions`]. The room performs them
//! (sockets, the writer, timers), so every rule here is unit-tested without any of those.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use bytes::Bytes;

pub(crate) use super::budget::Budget;
use crate::{
    peer::PeerId,
    protocol::{self, UpdateFrame},
};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Most updates one merge of a burst takes (see [`Commit::relay`]).
pub(crate) const MAX_MERGE: usize = 256;
/// Most update bytes one merge of a burst takes.
pub(crate) const MAX_MERGE_BYTES: usize = 1024 * 1024;

/// An accepted update on its way to the log.
struct Pending {
    update: UpdateFrame, // the log gets the update, the peers its frame
    /// Who sent it, when known: logged with it.
    author: Option<Arc<str>>,
    relayed: bool,
}

/// A message held back until the updates it may reveal are relayed.
struct Deferred {
    barrier: u64,
    peer: PeerId,
    frame: Bytes,
}

/// A batch for the writer; its answer must carry the same `id`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) id: u64,
    pub(crate) updates: Vec<Bytes>,
    /// Who sent each of `updates`, when known.
    pub(crate) authors: Vec<Option<Arc<str>>>,
}

/// What one successful write added to the log, for compaction accounting.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Committed {
    pub(crate) updates: u64,
    pub(crate) bytes: u64,
    pub(crate) last_seq: i64,
}

/// What the room must do after an event, in this order: broadcast `relay`, send
/// `release`, answer `applied`, then hand `submit` to the writer and arm `retry_after`.
#[must_use]
pub(crate) struct Actions<W> {
    /// Frames for every peer, in order.
    pub(crate) relay: Vec<Bytes>,
    /// How many of `relay` are bursts merged into one update.
    pub(crate) merged: u64,
    /// Held-back replies whose updates are now relayed.
    pub(crate) release: Vec<(PeerId, Bytes)>,
    /// Waiters whose updates are now committed.
    pub(crate) applied: Vec<W>,
    pub(crate) submit: Option<Batch>,
    /// Ask again (call [`Commit::retry`]) after this long.
    pub(crate) retry_after: Option<Duration>,
    pub(crate) committed: Option<Committed>,
    /// `Some(true)` when the room just went degraded, `Some(false)` when it recovered.
    pub(crate) degraded: Option<bool>,
}

impl<W> Default for Actions<W> {
    fn default() -> Self {
        Actions {
            relay: Vec::new(),
            merged: 0,
            release: Vec::new(),
            applied: Vec::new(),
            submit: None,
            retry_after: None,
            committed: None,
            degraded: None,
        }
    }
}

/// One room's commit state; `W` is what waits for a commit (an API caller's reply).
pub(crate) struct Commit<W> {
    budget: Budget,
    /// Past this many updates in one relay, they go out merged into one.
    burst_limit: usize,
    pending: VecDeque<Pending>,
    /// How many of the first `pending` updates the writer has.
    in_flight: usize,
    /// Numbers each write handed to the writer, so an answer is matched to its batch.
    write_id: u64,
    accepted: u64,
    relayed_upto: u64,
    persisted_upto: u64,
    deferred: Vec<Deferred>,
    waiters: Vec<(u64, W)>,
    degraded: bool,
    backoff: Duration,
}

impl<W> Commit<W> {
    /// `outbound_queue` is the peers' queue size: a relay never hands one more than half.
    pub(crate) fn new(budget: Budget, outbound_queue: usize) -> Self {
        Commit {
            budget,
            burst_limit: (outbound_queue / 2).max(1),
            pending: VecDeque::new(),
            in_flight: 0,
            write_id: 0,
            accepted: 0,
            relayed_upto: 0,
            persisted_upto: 0,
            deferred: Vec::new(),
            waiters: Vec::new(),
            degraded: false,
            backoff: FIRST_BACKOFF,
        }
    }

    /// Takes an update already applied to the document.
    #[cfg(test)]
    pub(crate) fn accept(&mut self, update: Bytes) -> Actions<W> {
        self.accept_from(UpdateFrame::new(&update), None)
    }

    /// Takes an update (in its relay frame) already applied, sent by `author` when known.
    pub(crate) fn accept_from(
        &mut self,
        update: UpdateFrame,
        author: Option<Arc<str>>,
    ) -> Actions<W> {
        self.budget.add(update.len());
        self.accepted += 1;
        self.pending.push_back(Pending {
            update,
            author,
            relayed: false,
        });
        let mut actions = Actions::default();
        if self.degraded {
            // Database down: keep collaboration going from memory (see README guarantees).
            self.relay_pending(&mut actions);
        } else {
            self.submit(&mut actions);
        }
        actions
    }

    /// The retry timer fired: hand the writer what is waiting.
    pub(crate) fn retry(&mut self) -> Actions<W> {
        let mut actions = Actions::default();
        self.submit(&mut actions);
        actions
    }

    /// The writer committed batch `id`, up to log sequence `last_seq`.
    pub(crate) fn written(&mut self, id: u64, last_seq: i64) -> Actions<W> {
        let mut actions = Actions::default();
        if id != self.write_id {
            // A batch `write_out` wrote again itself: its late answer means nothing now.
            return actions;
        }
        let n = self.in_flight;
        self.in_flight = 0;
        let mut bytes = 0usize;
        let mut unrelayed = Vec::new();
        for p in self.pending.drain(..n.min(self.pending.len())) {
            bytes += p.update.len();
            if !p.relayed {
                unrelayed.push(p);
            }
        }
        self.relay(&unrelayed, &mut actions);
        self.budget.release(bytes);
        self.persisted_upto += n as u64;
        if self.degraded {
            actions.degraded = Some(false);
        }
        self.degraded = false;
        self.backoff = FIRST_BACKOFF;
        self.release(&mut actions);
        actions.committed = Some(Committed {
            updates: n as u64,
            bytes: bytes as u64,
            last_seq,
        });
        self.submit(&mut actions);
        actions
    }

    /// The writer could not commit batch `id`.
    pub(crate) fn failed(&mut self, id: u64) -> Actions<W> {
        let mut actions = Actions::default();
        if id != self.write_id {
            return actions;
        }
        self.in_flight = 0;
        if !self.degraded {
            actions.degraded = Some(true);
        }
        self.degraded = true;
        self.relay_pending(&mut actions);
        actions.retry_after = Some(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        actions
    }

    /// A reply to `peer` (a sync step 2) that shows the document as it is now: returned if
    /// it may go at once, held back (and later released) if it may hold uncommitted updates.
    pub(crate) fn reply_after_commit(&mut self, peer: PeerId, frame: Bytes) -> Option<Bytes> {
        if self.accepted > self.relayed_upto {
            self.deferred.push(Deferred {
                barrier: self.accepted,
                peer,
                frame,
            });
            None
        } else {
            Some(frame)
        }
    }

    /// Something that must wait until every accepted update is committed: returned if
    /// that is already so, else released through [`Actions::applied`].
    pub(crate) fn when_committed(&mut self, waiter: W) -> Option<W> {
        if self.accepted <= self.persisted_upto {
            Some(waiter)
        } else {
            self.waiters.push((self.accepted, waiter));
            None
        }
    }

    /// A peer left: its held-back replies go nowhere.
    pub(crate) fn forget_peer(&mut self, peer: PeerId) {
        self.deferred.retain(|d| d.peer != peer);
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub(crate) fn is_writing(&self) -> bool {
        self.in_flight > 0
    }

    /// Every update not yet committed, for a write the room makes and awaits itself.
    pub(crate) fn outstanding(&self) -> Vec<Bytes> {
        self.pending
            .iter()
            .map(|p| p.update.update_bytes())
            .collect()
    }

    /// Who sent each of [`Commit::outstanding`], when known.
    pub(crate) fn outstanding_authors(&self) -> Vec<Option<Arc<str>>> {
        self.pending.iter().map(|p| p.author.clone()).collect()
    }

    /// The room itself committed the first `count` pending updates (see
    /// [`Commit::outstanding`]); the batch in flight, if any, is covered by them.
    pub(crate) fn written_out(&mut self, count: usize, last_seq: i64) -> Actions<W> {
        self.in_flight = count;
        self.write_id += 1;
        self.written(self.write_id, last_seq)
    }

    /// While deleting: the writer answered batch `id`; nothing more is submitted.
    pub(crate) fn settle(&mut self, id: u64) {
        if id == self.write_id {
            self.in_flight = 0;
        }
    }

    /// Drops every uncommitted update (the document is being deleted): they no longer
    /// count against the budget.
    pub(crate) fn drop_pending(&mut self) {
        let bytes: usize = self.pending.drain(..).map(|p| p.update.len()).sum();
        self.in_flight = 0;
        self.budget.release(bytes);
    }

    fn submit(&mut self, actions: &mut Actions<W>) {
        if self.in_flight > 0 || self.pending.is_empty() {
            return;
        }
        self.in_flight = self.pending.len();
        self.write_id += 1;
        actions.submit = Some(Batch {
            id: self.write_id,
            updates: self.outstanding(),
            authors: self.outstanding_authors(),
        });
    }

    fn relay_pending(&mut self, actions: &mut Actions<W>) {
        let mut unrelayed = Vec::new();
        for p in self.pending.iter_mut().filter(|p| !p.relayed) {
            p.relayed = true;
            unrelayed.push(Pending {
                update: p.update.clone(),
                author: None,
                relayed: true,
            });
        }
        self.relay(&unrelayed, actions);
        self.release(actions);
    }

    /// Relays committed (or, degraded, accepted) updates, in order.
    ///
    /// Everything that arrived during one commit goes out together. Sent one frame per
    /// update, a slow commit under heavy typing could hand every peer more frames at once
    /// than its queue holds and disconnect even the fastest clients. Past half a queue the
    /// burst is therefore merged, in runs of consecutive updates of at most [`MAX_MERGE`]
    /// updates and [`MAX_MERGE_BYTES`] bytes each: merging runs on the room's task, and
    /// one merge over a whole flood would stall the document for everyone. (Past
    /// `MAX_MERGE` times half a queue, a burst can fill a queue again; the per-peer rate
    /// limit keeps that out of reach of a few clients.)
    fn relay(&mut self, updates: &[Pending], actions: &mut Actions<W>) {
        self.relayed_upto += updates.len() as u64;
        if updates.len() <= self.burst_limit {
            actions
                .relay
                .extend(updates.iter().map(|p| p.update.frame().clone()));
            return;
        }
        let mut rest = updates;
        while !rest.is_empty() {
            let mut take = 0;
            let mut bytes = 0;
            while take < rest.len()
                && take < MAX_MERGE
                && (take == 0 || bytes + rest[take].update.len() <= MAX_MERGE_BYTES)
            {
                bytes += rest[take].update.len();
                take += 1;
            }
            let (run, tail) = rest.split_at(take);
            rest = tail;
            if run.len() == 1 {
                actions.relay.push(run[0].update.frame().clone());
                continue;
            }
            let parts: Vec<&[u8]> = run.iter().map(|p| p.update.update()).collect();
            match yrs::merge_updates_v1(&parts) {
                Ok(merged) => {
                    actions.merged += 1;
                    actions.relay.push(protocol::sync_update(merged));
                }
                // Cannot happen for updates the document accepted; sending them one by
                // one is still correct, at the risk of disconnecting slow peers.
                Err(err) => {
                    tracing::warn!(error = %err, "could not merge a burst of updates");
                    actions
                        .relay
                        .extend(run.iter().map(|p| p.update.frame().clone()));
                }
            }
        }
    }

    fn release(&mut self, actions: &mut Actions<W>) {
        let relayed = self.relayed_upto;
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|d| d.barrier <= relayed);
        self.deferred = wait;
        actions
            .release
            .extend(ready.into_iter().map(|d| (d.peer, d.frame)));
        let persisted = self.persisted_upto;
        let (done, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(barrier, _)| *barrier <= persisted);
        self.waiters = wait;
        actions.applied.extend(done.into_iter().map(|(_, w)| w));
    }
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
