//! Messages from peers: the y-sync protocol, the read-only policy and accepting updates.

use bytes::Bytes;
use yrs::{
    sync::{Message, SyncMessage},
    ReadTxn, StateVector, Transact,
};

use super::{
    accept::Rate,
    admission::{self, MessageVerdict},
    apply_budget,
    mailbox::{PeerEvent, RoomError},
    Room, Waiter,
};
use crate::{
    metric_names as m,
    peer::{Access, CloseReason, Features, Outgoing, PeerId},
    protocol::{self, UpdateFrame},
    yjs_bounds::Walked,
};

impl Room {
    pub(super) fn on_peer_event(&mut self, ev: PeerEvent) {
        match ev {
            PeerEvent::Leave { peer } => self.leave(peer),
            PeerEvent::Message { peer, access, data } => {
                // A peer that was closed (a limit, bad input) may have more frames queued
                // behind the one that closed it: they are dropped, not applied.
                if !self.peers.contains(&peer) {
                    return;
                }
                // The walk of each update is kept: admission reads it instead of walking again.
                let msgs = match protocol::decode_frame_walked(&data) {
                    Ok(msgs) => msgs,
                    Err(err) => {
                        metrics::counter!(m::BAD_MESSAGES, "reason" => "undecodable").increment(1);
                        tracing::info!(doc = %self.name, peer, error = %err, "closing peer: undecodable message");
                        self.kick(peer, CloseReason::invalid(err));
                        return;
                    }
                };
                for decoded in msgs {
                    let awareness =
                        matches!(decoded, protocol::Decoded::Message(Message::Awareness(_)));
                    // A writer's update is counted against its client's rate in admission,
                    // in the one look at the client's accounts (`accept::Rate::Here`).
                    let rate = match &decoded {
                        protocol::Decoded::Update { .. } if access == Access::Write => Rate::Here,
                        _ => Rate::Counted,
                    };
                    match self.within_rate(peer, awareness, rate == Rate::Counted) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(reason) => {
                            self.kick(peer, reason);
                            return;
                        }
                    }
                    let done = match decoded {
                        protocol::Decoded::Update {
                            step2: _,
                            update,
                            walked,
                        } => self.on_update(peer, access, update, Some(walked), rate),
                        protocol::Decoded::Message(msg) => self.on_message(peer, access, msg),
                    };
                    if let Err(reason) = done {
                        self.kick(peer, reason);
                        return;
                    }
                }
            }
        }
    }

    fn on_message(
        &mut self,
        peer: PeerId,
        access: Access,
        msg: Message,
    ) -> Result<(), CloseReason> {
        match msg {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                // The answer costs the whole document: it counts against the client.
                let client = self.client_of(peer);
                if let Err(RoomError::RateLimited(why)) = self.within_apply_budget(client.as_ref())
                {
                    return Err(CloseReason::work_limited(why));
                }
                self.sync_step1_when_current(peer, sv);
            }
            // `decode_frame_walked` hands updates on as `Decoded::Update`; should one come
            // as a message, it is walked in admission.
            Message::Sync(SyncMessage::SyncStep2(update))
            | Message::Sync(SyncMessage::Update(update)) => {
                self.on_update(peer, access, UpdateFrame::new(&update), None, Rate::Counted)?;
            }
            Message::Awareness(update) => self.on_awareness(peer, update)?,
            Message::AwarenessQuery => {
                if let Some(frame) = protocol::all_awareness(&self.awareness) {
                    self.send_to(peer, frame);
                }
            }
            Message::Auth(_) => {}
            Message::Custom(tag, payload) if u64::from(tag) == protocol::STATELESS => {
                self.relay_stateless(peer, protocol::encode(&Message::Custom(tag, payload)));
            }
            Message::Custom(0x7f, _)
                if self.ctx.settings.test_panic_doc.as_deref() == Some(&self.name) =>
            {
                panic!("panic requested for {} (--test-panic-doc)", self.name);
            }
            Message::Custom(tag, _) => {
                metrics::counter!(m::UNKNOWN_MESSAGES).increment(1);
                tracing::debug!(doc = %self.name, peer, tag, "skipping unknown message type");
            }
        }
        Ok(())
    }

    /// A sync step 2 or update (`walked`: the frame check's walk of it; `rate`: whether
    /// its client's rate is still to take, which only a writer's can be).
    fn on_update(
        &mut self,
        peer: PeerId,
        access: Access,
        update: UpdateFrame,
        walked: Option<Walked>,
        rate: Rate,
    ) -> Result<(), CloseReason> {
        let acks = self.features_of(peer).update_status;
        if access == Access::Read && acks {
            // Nothing new is "saved"; a real edit is refused, as the provider expects.
            let saved = update.update() == [0, 0];
            let status = if saved {
                Outgoing::Committed(1)
            } else {
                Outgoing::Refused
            };
            self.send_to(peer, status);
            return Ok(());
        }
        if access == Access::Read {
            self.refuse_read_only(peer, update.update());
            return Ok(());
        }
        // An empty step 2 (a client with nothing new) is no update.
        let edit = update.update() != [0, 0];
        if edit {
            metrics::counter!(m::UPDATES_RECEIVED).increment(1);
        }
        let client = self.client_of(peer);
        let author = self.author_of(peer);
        match self.accept_update(update, walked, client.as_ref(), author, rate) {
            Ok(()) if edit => self.note_author(peer),
            Ok(()) => {}
            Err(err) => {
                if let RoomError::InvalidUpdate(_) = err {
                    metrics::counter!(m::BAD_MESSAGES, "reason" => "bad_update").increment(1);
                }
                return Err(err.close_reason());
            }
        }
        if acks {
            // "Saved" once this update and every one before it is committed.
            if let Some(Waiter::Ack(peer)) = self.commit.when_committed(Waiter::Ack(peer)) {
                self.send_to(peer, Outgoing::Committed(1));
            }
        }
        Ok(())
    }

    /// Sends `peer` what it lacks. The diff may hold updates not yet committed: it waits
    /// until they are. Its time is charged to the peer's client.
    pub(super) fn answer_step1(&mut self, peer: PeerId, sv: &StateVector) {
        let doc = self.awareness.doc();
        let (update, cost) = apply_budget::measure(|| doc.transact().encode_diff_v1(sv));
        let client = self.client_of(peer);
        self.charge_apply(client.as_ref(), cost, false);
        let frame = protocol::sync_step2(update);
        if let Some(frame) = self.commit.reply_after_commit(peer, frame) {
            self.send_to(peer, frame);
        }
    }

    /// Changes from elsewhere may complete updates held for what they build on.
    pub(super) fn after_remote_change(&mut self) {
        self.release_awaiting();
    }

    fn features_of(&self, peer: PeerId) -> Features {
        self.peers
            .get(&peer)
            .map_or_else(Features::default, |p| p.handle.features)
    }

    /// Stateless messages go to the document's other peers that have them only: other
    /// clients have no such message type. A full queue is the slow-client rule as for updates.
    fn relay_stateless(&mut self, from: PeerId, frame: Bytes) {
        if !self.features_of(from).stateless {
            metrics::counter!(m::UNKNOWN_MESSAGES).increment(1);
            return;
        }
        for id in self.peers.stateless_except(from) {
            self.send_to(id, Outgoing::Stateless(frame.clone()));
        }
    }

    /// Takes one message from the peer's rate allowance and, with `count_client`, its client's
    /// (the rule is `admission::message_rate`): `Ok(false)` drops it, `Err` closes the peer.
    fn within_rate(
        &mut self,
        peer: PeerId,
        awareness: bool,
        count_client: bool,
    ) -> Result<bool, CloseReason> {
        let Some(p) = self.peers.get_mut(&peer) else {
            return Ok(true);
        };
        let now = tokio::time::Instant::now();
        let bucket = if awareness {
            &mut p.awareness
        } else {
            &mut p.messages
        };
        let peer_within = bucket.take(now);
        // Every message also counts for its client over all its connections (`usage`); a
        // writer's update does in admission (`count_client` false here).
        let client = p.handle.client.as_ref();
        let usage = self.ctx.client_limits.usage();
        // Presence past its client's allowance is dropped without a strike (many users
        // behind one address is no flood); a document message past it closes and strikes.
        let of_client = || -> Result<(), String> {
            let Some(c) = client.filter(|_| count_client) else {
                return Ok(());
            };
            if awareness {
                return match usage.awareness(c.ip(), c.token()) {
                    true => Ok(()),
                    false => Err(String::new()),
                };
            }
            usage.message(c.ip(), c.token()).map_err(|e| e.to_string())
        };
        let max = self.ctx.settings.max_updates_per_sec;
        match admission::message_rate(awareness, peer_within, of_client, max) {
            MessageVerdict::Pass => Ok(true),
            MessageVerdict::Drop => {
                metrics::counter!(m::LIMIT_REFUSALS, "limit" => "awareness_rate").increment(1);
                Ok(false)
            }
            MessageVerdict::Close { reason, limit } => {
                if let Some(limit) = limit {
                    metrics::counter!(m::LIMIT_REFUSALS, "limit" => limit).increment(1);
                    // The peer's own rate: a strike towards its address's cool-down (its
                    // client's rate strikes inside `usage.message`).
                    if let Some(c) = client {
                        usage.strike(c.ip());
                    }
                }
                tracing::info!(doc = %self.name, peer, reason = %reason.reason, "closing peer: message rate limit");
                Err(reason)
            }
        }
    }

    /// A read-only peer tried to edit: it is told once, and the edit goes nowhere.
    fn refuse_read_only(&mut self, peer: PeerId, update: &[u8]) {
        // Every client answers the server's step 1 with a step 2, empty when it has
        // nothing new: that is no edit, so no refusal (the one-time notice is kept for a
        // real attempt).
        if update == [0, 0] {
            return;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            if !p.told_read_only {
                p.told_read_only = true;
                let frame = protocol::permission_denied("read-only access");
                self.send_to(peer, frame);
            }
        }
    }
}
