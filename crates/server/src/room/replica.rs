//! The room's shell for [`ClusterCopy`] (cluster mode): feeds it the bus, the writer's
//! answers and the database's, and carries out what it decides (applies updates, starts
//! reads, publishes, answers waiting joins, vanishes). The rules are in `cluster_copy.rs`.

use bytes::Bytes;
use tandem_persistence::{Appended, StoredDoc};
use yrs::{
    sync::{Message, SyncMessage},
    updates::decoder::Decode,
    ReadTxn, StateVector, Transact, Update,
};

use super::{
    cluster_copy::{Actions, Count, Found, Read},
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

/// A join waiting for the copy to be current: the peer and its sync step 1.
pub(super) type WaitingJoin = (PeerId, StateVector);

impl Room {
    /// Takes in the writer's answer for this room; `frames`: what it committed, for the
    /// other instances. Returns `Flow::Vanish` if the document was deleted meanwhile (by
    /// another instance): nothing was written.
    pub(super) fn on_appended(&mut self, appended: &Appended, frames: &[Bytes]) -> Flow {
        let (prev, last) = (appended.prev_seq, appended.last_seq);
        let actions = self.copy.committed(prev, last, appended.id, appended.gone);
        if actions.count.contains(&Count::Conflict) {
            tracing::warn!(doc = %self.name, prev, last,
                "a bus commit claimed the position of this instance's own commit; re-reading from the database");
        }
        self.carry_out(actions, frames, &[])
    }

    /// A message from another instance about this document.
    pub(super) fn on_bus(&mut self, msg: BusMessage) -> Flow {
        match msg.body {
            Body::Update { prev, last, frames } => {
                let actions = self.copy.bus_commit(prev, last, true);
                self.carry_out(actions, &[], &frames)
            }
            Body::UpdateRef { prev, last } => {
                let actions = self.copy.bus_commit(prev, last, false);
                self.carry_out(actions, &[], &[])
            }
            Body::Awareness(frame) => {
                self.on_remote_awareness(msg.origin, &frame);
                Flow::Continue
            }
            Body::AwarenessQuery => {
                self.answer_awareness_query();
                Flow::Continue
            }
            Body::Deleted => {
                let actions = self.copy.deleted_elsewhere();
                self.carry_out(actions, &[], &[])
            }
            Body::Heartbeat => Flow::Continue,
        }
    }

    /// A peer's sync step 1: answered once the copy is current (at once, alone).
    pub(super) fn sync_step1_when_current(&mut self, peer: PeerId, sv: StateVector) {
        let actions = self.copy.sync_step1((peer, sv));
        let _ = self.carry_out(actions, &[], &[]);
    }

    /// A peer joined: until the database confirms this copy is current, its sync step 1
    /// waits (only in cluster mode: alone, the room is always current).
    pub(super) fn check_head_for_join(&mut self) {
        let actions = self.copy.joined();
        let _ = self.carry_out(actions, &[], &[]);
    }

    pub(super) fn on_caught_up(&mut self, answer: CaughtUp) -> Flow {
        let read = Read {
            after: answer.after,
            knew_stored: answer.knew_stored,
        };
        let mut diff = Vec::new();
        let found = match answer.result {
            Ok(Some(stored)) => {
                diff = self.replay_stored(&stored);
                Found::Rows {
                    last_seq: stored.last_seq,
                    doc_id: stored.id,
                }
            }
            Ok(None) => Found::Nothing,
            Err(err) => {
                tracing::warn!(doc = %self.name, error = %err, "catching up from the database failed");
                Found::Failed
            }
        };
        let actions = self.copy.read_done(read, found);
        if !actions.vanish {
            self.relay_stored(diff);
        }
        self.carry_out(actions, &[], &[])
    }

    /// The database's latest sequence number for this document (`None`: not stored), from
    /// the periodic check or a join's check.
    pub(super) fn on_head(&mut self, head: Option<i64>, for_join: bool) -> Flow {
        let actions = self.copy.head(head, for_join);
        self.carry_out(actions, &[], &[])
    }

    /// Reads what this copy misses from the database in place (writing out before an
    /// unload: compaction must cover everything this room wrote).
    pub(super) async fn catch_up_now(&mut self) {
        let Some(after) = self.copy.read_in_place() else {
            return;
        };
        match self.ctx.store.load_since(&self.name, after).await {
            Ok(Some(stored)) => {
                let diff = self.replay_stored(&stored);
                self.copy.rows_applied(after, stored.last_seq, stored.id);
                self.relay_stored(diff);
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(doc = %self.name, error = %err, "catching up from the database failed")
            }
        }
    }

    /// Does what the copy's rules decided. `own`: this room's commit, for the bus;
    /// `bus_frames`: the bus commit to apply if asked. Returns `Flow::Vanish` when the
    /// document is gone.
    fn carry_out(
        &mut self,
        actions: Actions<WaitingJoin>,
        own: &[Bytes],
        bus_frames: &[Bytes],
    ) -> Flow {
        let Actions {
            apply_bus_commit,
            read,
            check_head,
            publish,
            answer_joins,
            vanish,
            count,
        } = actions;
        for c in count {
            metrics::counter!(match c {
                Count::Gap => m::BUS_GAPS,
                Count::Duplicate => m::BUS_DUPLICATES,
                Count::Dropped => m::BUS_DROPPED,
                Count::Conflict => m::BUS_CONFLICTS,
                Count::CatchUp => m::CATCH_UPS,
            })
            .increment(1);
        }
        if vanish {
            return Flow::Vanish;
        }
        if let (Some((prev, last)), Some(cluster)) = (publish, &self.ctx.cluster) {
            let bytes: usize = own.iter().map(Bytes::len).sum();
            let body = if own.is_empty() || bytes > MAX_INLINE_BYTES {
                Body::UpdateRef { prev, last }
            } else {
                Body::Update {
                    prev,
                    last,
                    frames: own.to_vec(),
                }
            };
            cluster.publish(&self.name, body);
        }
        if let Some(read) = read {
            self.start_read(read);
        }
        if check_head {
            self.start_head_check();
        }
        for (peer, sv) in answer_joins {
            self.answer_step1(peer, &sv);
        }
        let Some((prev, last)) = apply_bus_commit else {
            return Flow::Continue;
        };
        if self.apply_remote(bus_frames) {
            self.copy.took_from_bus(prev, last);
            Flow::Continue
        } else {
            let actions = self.copy.bus_commit_refused();
            self.carry_out(actions, &[], &[])
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

    /// Reads what this copy misses from the database, off the room's task.
    fn start_read(&self, read: Read) {
        let store = self.ctx.store.clone();
        let (name, ctrl) = (self.name.clone(), self.ctrl_tx.clone());
        tokio::spawn(async move {
            let result = store.load_since(&name, read.after).await;
            let answer = CaughtUp {
                knew_stored: read.knew_stored,
                after: read.after,
                result,
            };
            let _ = ctrl.send(Control::CaughtUp(Box::new(answer)));
        });
    }

    /// Asks the database for the document's head, for a join.
    fn start_head_check(&self) {
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

    /// Applies rows read from the database; returns what they added (one update).
    fn replay_stored(&mut self, stored: &StoredDoc) -> Vec<u8> {
        let doc = self.awareness.doc().clone();
        let before = doc.transact().state_vector();
        for err in text::replay(&doc, stored) {
            tracing::error!(doc = %self.name, error = %err, "stored update skipped");
        }
        let diff = doc.transact().encode_diff_v1(&before);
        diff
    }

    /// Relays to this instance's peers what rows read from the database added (once the
    /// rules know the rows are in: a write this starts needs the document's row id).
    fn relay_stored(&mut self, diff: Vec<u8>) {
        // An empty update is two zero bytes.
        if diff.len() > 2 {
            self.upkeep.grew(&diff);
            self.report_weight();
            self.broadcast(&protocol::sync_update(diff));
            self.after_remote_change();
        }
    }
}
