//! The room as one of several copies of a document (cluster mode), and the log position
//! every room tracks.
//!
//! `applied` is the highest log sequence number such that every row up to it is in the
//! room's document, as far as the room knows. Appends to one document commit in sequence
//! order (the store locks the document row), so a room can take the next commit straight
//! from the bus when the commit's `prev` equals `applied`, and otherwise reads what it
//! misses from the database: nothing in between can be missed.
//!
//! PostgreSQL is the only truth and the bus a hint, even signed (docs/cluster-bus.md).
//! Positions only the bus vouched for are `claims` (`claims.rs`); a second claim on one,
//! or this room's own commit landing on one, makes the room read from the oldest claim on,
//! so a false claim cannot hide a real commit. Compaction folds only up to `confirmed()`,
//! and in cluster mode it and versions use the database's state (`db_state.rs`). A bus
//! commit with missing dependencies is read from the database instead (see `awaiting_deps.rs`).
//!
//! A single instance is the degenerate case: its own commits always follow `applied`,
//! and `confirmed()` equals `applied`.

use std::collections::HashMap;

use bytes::Bytes;
use tandem_persistence::{Appended, StoredDoc};
use yrs::{
    sync::{Message, SyncMessage},
    updates::decoder::Decode,
    ClientID, ReadTxn, StateVector, Transact, Update,
};

use super::{
    claims::Claims,
    heavy,
    mailbox::{CaughtUp, Control},
    Flow, Room,
};
use crate::{
    cluster::{Body, BusMessage, MAX_INLINE_BYTES},
    metric_names as m,
    peer::PeerId,
    protocol, text, yjs_bounds,
};

#[derive(Default)]
pub(super) struct Replica {
    pub(super) applied: i64,
    /// Log positions this room took from the bus and no read from the database has
    /// covered since.
    claims: Claims,
    /// The bus contradicted itself or the database: the next read starts at the oldest
    /// claim rather than `applied`, so it brings what a false claim hid. (Otherwise reads
    /// start at `applied`: re-reading what the bus brought would cost every catch-up.)
    distrust: bool,
    /// The highest sequence number this room has heard of (its own commits, the bus):
    /// past `applied` means rows are missing here.
    seen: i64,
    /// The document's row id once it is stored: writes then never recreate it.
    pub(super) doc_id: Option<i64>,
    catching_up: bool,
    /// Another gap was seen while a catch-up ran: run one more after it.
    again: bool,
    /// Checks against the database's head started by joins, not yet answered.
    checks: u32,
    /// Sync step 1s of peers that joined while this copy may be behind the database:
    /// answered once it has caught up, so a late joiner never gets an old document.
    deferred: Vec<(PeerId, StateVector)>,
    /// Awareness client ids announced through another instance, and which one.
    pub(super) remote: HashMap<ClientID, String>,
}

impl Replica {
    /// The highest sequence number such that every row up to it is in the room by the
    /// word of the database or of this room's own writer: the bus never moves it.
    pub(super) fn confirmed(&self) -> i64 {
        self.claims.confirmed(self.applied)
    }

    /// Whether a sync reply now could miss commits other instances made.
    pub(super) fn gated(&self) -> bool {
        self.catching_up || self.checks > 0
    }

    pub(super) fn defer(&mut self, peer: PeerId, sv: StateVector) {
        self.deferred.push((peer, sv));
    }

    /// Whether another instance announced `client` (its peers own it there).
    pub(super) fn is_remote(&self, client: ClientID) -> bool {
        self.remote.contains_key(&client)
    }

    pub(super) fn loaded(&mut self, stored: &StoredDoc) {
        self.applied = stored.last_seq;
        self.claims.clear();
        self.doc_id = Some(stored.id);
    }
}

impl Room {
    /// Takes in the writer's answer for this room. Returns `Flow::Vanish` if the document
    /// was deleted meanwhile (by another instance): nothing was written.
    pub(super) fn on_appended(&mut self, appended: &Appended, frames: &[Bytes]) -> Flow {
        if appended.gone {
            return Flow::Vanish;
        }
        self.replica.doc_id = Some(appended.id);
        let r = &mut self.replica;
        r.seen = r.seen.max(appended.last_seq);
        if r.claims.overlap(appended.prev_seq, appended.last_seq) {
            // The database gave this commit positions the bus had claimed for another
            // instance's commit: the bus was wrong. Read what is really there.
            r.applied = r.applied.max(appended.last_seq);
            r.distrust = true;
            metrics::counter!(m::BUS_CONFLICTS).increment(1);
            tracing::warn!(doc = %self.name, prev = appended.prev_seq, last = appended.last_seq,
                "a bus commit claimed the position of this instance's own commit; re-reading from the database");
            self.catch_up();
        } else if appended.prev_seq <= r.applied {
            // Rows up to `prev` are here, and the rest of this commit is ours.
            r.applied = r.applied.max(appended.last_seq);
        } else {
            metrics::counter!(m::BUS_GAPS).increment(1);
            self.catch_up();
        }
        if let Some(cluster) = &self.ctx.cluster {
            let bytes: usize = frames.iter().map(Bytes::len).sum();
            let (prev, last) = (appended.prev_seq, appended.last_seq);
            let body = if frames.is_empty() || bytes > MAX_INLINE_BYTES {
                Body::UpdateRef { prev, last }
            } else {
                Body::Update {
                    prev,
                    last,
                    frames: frames.to_vec(),
                }
            };
            cluster.publish(&self.name, body);
        }
        Flow::Continue
    }

    /// A message from another instance about this document.
    pub(super) fn on_bus(&mut self, msg: BusMessage) -> Flow {
        match msg.body {
            Body::Update { prev, last, frames } => {
                self.replica.seen = self.replica.seen.max(last);
                if last <= self.replica.applied {
                    metrics::counter!(m::BUS_DUPLICATES).increment(1);
                    self.second_claim(prev, last);
                } else if prev == self.replica.applied && !self.replica.catching_up {
                    if self.apply_remote(&frames) {
                        self.replica.applied = last;
                        self.replica.claims.add(prev, last);
                    } else {
                        // Its rows are in the database: read them from there instead.
                        metrics::counter!(m::BUS_DROPPED).increment(1);
                        self.catch_up();
                    }
                } else {
                    metrics::counter!(m::BUS_GAPS).increment(1);
                    self.catch_up();
                }
            }
            Body::UpdateRef { prev, last } => {
                self.replica.seen = self.replica.seen.max(last);
                if last > self.replica.applied {
                    self.catch_up();
                } else {
                    metrics::counter!(m::BUS_DUPLICATES).increment(1);
                    self.second_claim(prev, last);
                }
            }
            Body::Awareness(frame) => self.on_remote_awareness(msg.origin, &frame),
            Body::AwarenessQuery => self.answer_awareness_query(),
            // Only the database says a document is gone: a room whose row is gone ends
            // when the read finds nothing (`on_caught_up`).
            Body::Deleted => self.catch_up(),
            Body::Heartbeat => {}
        }
        Flow::Continue
    }

    /// A bus commit for positions this room has. If only the bus vouched for them, two
    /// claims disagree (a repeat cannot pass the replay check): one of them is false, and
    /// only the database can tell which, so the room reads from the oldest claim on.
    fn second_claim(&mut self, prev: i64, last: i64) {
        if self.replica.claims.overlap(prev, last) {
            self.replica.distrust = true;
            self.catch_up();
        }
    }

    /// Applies committed updates another instance relayed, and relays them here. False
    /// if a frame did not decode or apply: the room must not count those rows as applied.
    fn apply_remote(&mut self, frames: &[Bytes]) -> bool {
        let mut whole = true;
        for frame in frames {
            let Ok(msgs) = protocol::decode_frame(frame) else {
                whole = false;
                break;
            };
            for msg in msgs {
                if let Message::Sync(SyncMessage::Update(u) | SyncMessage::SyncStep2(u)) = msg {
                    whole &= self.apply_committed(&u);
                }
            }
            if !whole {
                break;
            }
            self.broadcast(frame);
        }
        self.after_remote_change();
        whole
    }

    /// Applies an update another instance says it committed. One that builds on changes
    /// this room does not have is refused (false) rather than left to `yrs` as pending:
    /// the caller reads the commit from the database instead.
    fn apply_committed(&mut self, update: &[u8]) -> bool {
        let doc = self.awareness.doc().clone();
        let have = doc.transact().state_vector();
        match yjs_bounds::missing_dependency(update, &have) {
            Ok(None) => {}
            Ok(Some((client, clock))) => {
                tracing::debug!(doc = %self.name, client, clock, "bus commit builds on changes this room lacks; reading it from the database");
                return false;
            }
            Err(err) => {
                tracing::warn!(doc = %self.name, error = %err, "bus commit is not a valid update");
                return false;
            }
        }
        let applied = heavy::run(update.len(), || {
            let decoded = Update::decode_v1(update).map_err(|e| e.to_string())?;
            doc.transact_mut()
                .apply_update(decoded)
                .map_err(|e| e.to_string())
        });
        if let Err(err) = applied {
            tracing::error!(doc = %self.name, error = %err, "committed update from the bus did not apply");
            return false;
        }
        // Counted against the size limit; versions and compaction are the business of
        // the instance whose clients wrote it.
        self.upkeep.grew(update);
        self.report_weight();
        true
    }

    /// Reads what this copy misses from the database in place (writing out before an
    /// unload: compaction must cover everything this room wrote).
    pub(super) async fn catch_up_now(&mut self) {
        if self.replica.seen <= self.replica.applied && !self.replica.distrust {
            return;
        }
        let after = self.read_from();
        match self.ctx.store.load_since(&self.name, after).await {
            Ok(Some(stored)) => self.apply_stored(&stored, after),
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(doc = %self.name, error = %err, "catching up from the database failed")
            }
        }
    }

    /// Where the next read from the database starts (see `Replica::distrust`).
    fn read_from(&mut self) -> i64 {
        if std::mem::take(&mut self.replica.distrust) {
            self.replica.confirmed()
        } else {
            self.replica.applied
        }
    }

    /// Reads what this copy misses from the database, off the room's task.
    pub(super) fn catch_up(&mut self) {
        if self.replica.catching_up {
            self.replica.again = true;
            return;
        }
        self.replica.catching_up = true;
        metrics::counter!(m::CATCH_UPS).increment(1);
        let store = self.ctx.store.clone();
        let after = self.read_from();
        let (name, ctrl) = (self.name.clone(), self.ctrl_tx.clone());
        // A sequence number means a commit, so a stored document.
        let knew_stored = self.replica.doc_id.is_some() || self.replica.seen > 0;
        tokio::spawn(async move {
            let result = store.load_since(&name, after).await;
            let answer = CaughtUp {
                knew_stored,
                after,
                result,
            };
            let _ = ctrl.send(Control::CaughtUp(Box::new(answer)));
        });
    }

    pub(super) fn on_caught_up(&mut self, answer: CaughtUp) -> Flow {
        self.replica.catching_up = false;
        match answer.result {
            Ok(Some(stored)) => self.apply_stored(&stored, answer.after),
            Ok(None) if answer.knew_stored => return Flow::Vanish,
            Ok(None) => {}
            Err(err) => {
                // The next bus message or periodic check tries again.
                tracing::warn!(doc = %self.name, error = %err, "catching up from the database failed");
            }
        }
        if std::mem::take(&mut self.replica.again) {
            self.catch_up();
        }
        self.release_deferred();
        Flow::Continue
    }

    /// Applies rows read from the database and relays to this instance's peers what they
    /// did not have: the difference, in one update.
    /// `after`: where the read started; the bus claims the read covered are settled.
    pub(super) fn apply_stored(&mut self, stored: &StoredDoc, after: i64) {
        let doc = self.awareness.doc().clone();
        let before = doc.transact().state_vector();
        for err in text::replay(&doc, stored) {
            tracing::error!(doc = %self.name, error = %err, "stored update skipped");
        }
        // Everything past what the read started from is in `stored`.
        self.replica.applied = self.replica.applied.max(stored.last_seq);
        self.replica.claims.settle(after, stored.last_seq);
        self.replica.doc_id = Some(stored.id);
        let diff = doc.transact().encode_diff_v1(&before);
        // An empty update is two zero bytes.
        if diff.len() > 2 {
            self.upkeep.grew(&diff);
            self.report_weight();
            self.broadcast(&protocol::sync_update(diff));
            self.after_remote_change();
        }
    }

    /// The database's latest sequence number for this document (`None`: not stored), from
    /// the periodic check or a join's check.
    pub(super) fn on_head(&mut self, head: Option<i64>, for_join: bool) -> Flow {
        if for_join {
            self.replica.checks = self.replica.checks.saturating_sub(1);
        }
        match head {
            // The check may predate this room's first write: a read made now confirms.
            None if self.replica.doc_id.is_some() => self.catch_up(),
            None => {}
            Some(head) if head > self.replica.applied => {
                self.replica.seen = self.replica.seen.max(head);
                self.catch_up();
            }
            // Positions past the database's head that only the bus vouched for: forget
            // them, so the next real commit is read rather than taken for one of them.
            // (Lowering `applied` costs at most a read; it never skips a row.)
            Some(head)
                if head < self.replica.applied && self.replica.claims.overlap(head, i64::MAX) =>
            {
                self.replica.applied = head;
                self.replica.claims.drop_past(head);
            }
            Some(_) => {}
        }
        self.release_deferred();
        Flow::Continue
    }

    /// A peer joined: until the database confirms this copy is current, its sync step 1
    /// waits (only in cluster mode: alone, the room is always current).
    pub(super) fn check_head_for_join(&mut self) {
        if self.ctx.cluster.is_none() {
            return;
        }
        self.replica.checks += 1;
        let store = self.ctx.store.clone();
        let (name, ctrl) = (self.name.clone(), self.ctrl_tx.clone());
        tokio::spawn(async move {
            let head = match store.last_seqs(std::slice::from_ref(&name)).await {
                Ok(seqs) => seqs.into_iter().next().map(|(_, seq)| seq),
                // Unknown: answer from what the room has rather than never.
                Err(_) => Some(0),
            };
            let _ = ctrl.send(Control::Head {
                seq: head,
                for_join: true,
            });
        });
    }

    fn release_deferred(&mut self) {
        if self.replica.gated() {
            return;
        }
        for (peer, sv) in std::mem::take(&mut self.replica.deferred) {
            self.answer_step1(peer, &sv);
        }
    }
}
